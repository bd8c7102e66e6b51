import * as tf from '@tensorflow/tfjs';
import { nativeAddon } from '../../src/native';
import { ADAM_DEFAULTS, adamStep } from '../../src/engine/adam';
import { useTestBackend } from '../helpers/backend';

beforeAll(useTestBackend);

// Both implementations: JavaScript, and the native addon (the same arithmetic in C++) when it is built.
describe.each([['JavaScript', false], ['native', true]])('%s Adam', (_name, useNative) => {
test('one Adam step by hand: the first step moves each parameter by lr in the direction of −g', () => {
  // m = 0.1·g, v = 0.001·g²; bias-corrected m̂ = g, v̂ = g²; step = lr·g/(|g| + ε).
  const params = new Float32Array([1, -2, 0.5]);
  const state = { m: new Float32Array(3), v: new Float32Array(3) };
  adamStep({ lr: 0.1, ...ADAM_DEFAULTS }, 1, params, state, [new Float32Array([0.5, -3, 0])], 0, 3, useNative);
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
  const variable = tf.variable(tf.tensor1d(init), true, `adam_reference_${_name}`);
  const reference = tf.train.adam(lr, ADAM_DEFAULTS.beta1, ADAM_DEFAULTS.beta2, ADAM_DEFAULTS.epsilon);
  const params = Float32Array.from(init);
  const state = { m: new Float32Array(n), v: new Float32Array(n) };
  for (let t = 1; t <= 6; t++) {
    const a = Float32Array.from({ length: n }, (_, i) => Math.cos(i * t) * 0.3);
    const b = Float32Array.from({ length: n }, (_, i) => (i % 3) - 1 + 0.1 * t);
    const sum = a.map((v, i) => v + b[i]);
    reference.applyGradients([{ name: variable.name, tensor: tf.tensor1d(sum) }]);
    // Two threads' halves of the parameters, as the training threads do it.
    adamStep({ lr, ...ADAM_DEFAULTS }, t, params, state, [a, b], 0, 20, useNative);
    adamStep({ lr, ...ADAM_DEFAULTS }, t, params, state, [a, b], 20, n, useNative);
  }
  const expected = variable.dataSync();
  params.forEach((p, i) => expect(p).toBeCloseTo(expected[i], 5));
  expect(Math.abs(params[3] - init[3])).toBeGreaterThan(0.01); // it moved
});
});

test('the native Adam gives the JavaScript one\'s numbers bit for bit, on shared memory, on a part of the parameters', () => {
  if (!nativeAddon()) return expect(process.env.VAE_NATIVE).toBe('0'); // native.test.ts says why it is missing
  const n = 1000;
  const shared = (f: (i: number) => number) => {
    const a = new Float32Array(new SharedArrayBuffer(4 * n));
    a.forEach((_, i) => { a[i] = f(i); });
    return a;
  };
  const runs = [false, true].map((useNative) => {
    const params = shared((i) => Math.sin(i) * 2);
    const state = { m: shared(() => 0), v: shared(() => 0) };
    for (let t = 1; t <= 5; t++) {
      const grads = [shared((i) => Math.cos(i * t) * 0.3), shared((i) => Math.tan(i + t) * 1e-3), shared((i) => (i % 7) - 3)];
      adamStep({ lr: 3e-3, ...ADAM_DEFAULTS }, t, params, state, grads, 100, 900, useNative);
    }
    return [params, state.m, state.v];
  });
  runs[0].forEach((js, k) => expect(Buffer.from(runs[1][k].buffer).equals(Buffer.from(js.buffer))).toBe(true));
  expect(runs[1][0][99]).toBe(Math.fround(Math.sin(99) * 2)); // outside [start, end): untouched
  expect(runs[1][0][100]).not.toBe(Math.fround(Math.sin(100) * 2));
});
