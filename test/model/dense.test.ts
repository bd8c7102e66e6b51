import * as tf from '@tensorflow/tfjs';
import { dense } from '../../src/model/dense';
import { useTestBackend } from '../helpers/backend';

beforeAll(useTestBackend);

test('dense has the value and the gradients of xW + b with autodiff', () => {
  const x = tf.randomNormal([5, 7], 0, 1, 'float32', 1) as tf.Tensor2D;
  const w = tf.randomNormal([7, 3], 0, 1, 'float32', 2) as tf.Tensor2D;
  const b = tf.randomNormal([3], 0, 1, 'float32', 3);
  const weight = tf.randomNormal([5, 3], 0, 1, 'float32', 4);
  const loss = (f: (x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor) => tf.Tensor) =>
    (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(tf.square(f(xi as tf.Tensor2D, wi as tf.Tensor2D, bi)), weight));
  const ours = tf.grads(loss(dense))([x, w, b]);
  const reference = tf.grads(loss((xi, wi, bi) => tf.add(tf.matMul(xi, wi), bi)))([x, w, b]);
  expect(dense(x, w, b).arraySync()).toEqual(tf.add(tf.matMul(x, w), b).arraySync());
  ours.forEach((g, i) => {
    const diff = tf.max(tf.abs(tf.sub(g, reference[i]))).arraySync() as number;
    expect(diff).toBeLessThan(1e-4);
    expect(g.shape).toEqual(reference[i].shape);
  });
});
