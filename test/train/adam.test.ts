import * as tf from '@tensorflow/tfjs';
import { ADAM_DEFAULTS, adamStep } from '../../src/train/adam';
import { useTestBackend } from '../helpers/backend';

beforeAll(useTestBackend);

test('one Adam step by hand: the first step moves each parameter by lr in the direction of −g', () => {
  // m = 0.1·g, v = 0.001·g²; bias-corrected m̂ = g, v̂ = g²; step = lr·g/(|g| + ε).
  const params = new Float32Array([1, -2, 0.5]);
  const state = { m: new Float32Array(3), v: new Float32Array(3) };
  adamStep({ lr: 0.1, ...ADAM_DEFAULTS }, 1, params, state, [new Float32Array([0.5, -3, 0])], 0, 3);
  expect(params[0]).toBeCloseTo(0.9, 6);
  expect(params[1]).toBeCloseTo(-1.9, 6);
  expect(params[2]).toBe(0.5);
  expect(state.m[0]).toBeCloseTo(0.05, 7);
  expect(state.v[1]).toBeCloseTo(0.009, 7);
});

test('matches tf.train.adam over several steps, with the gradient summed over shards', () => {
  const n = 50;
  const lr = 0.01;
  const init = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
  const variable = tf.variable(tf.tensor1d(init), true, 'adam_reference');
  const reference = tf.train.adam(lr, ADAM_DEFAULTS.beta1, ADAM_DEFAULTS.beta2, ADAM_DEFAULTS.epsilon);
  const params = Float32Array.from(init);
  const state = { m: new Float32Array(n), v: new Float32Array(n) };
  for (let t = 1; t <= 6; t++) {
    const a = Float32Array.from({ length: n }, (_, i) => Math.cos(i * t) * 0.3);
    const b = Float32Array.from({ length: n }, (_, i) => (i % 3) - 1 + 0.1 * t);
    const sum = a.map((v, i) => v + b[i]);
    reference.applyGradients({ adam_reference: tf.tensor1d(sum) });
    // Two threads' halves of the parameters, as the training threads do it.
    adamStep({ lr, ...ADAM_DEFAULTS }, t, params, state, [a, b], 0, 20);
    adamStep({ lr, ...ADAM_DEFAULTS }, t, params, state, [a, b], 20, n);
  }
  const expected = variable.dataSync();
  params.forEach((p, i) => expect(p).toBeCloseTo(expected[i], 5));
  expect(Math.abs(params[3] - init[3])).toBeGreaterThan(0.01); // it moved
});
