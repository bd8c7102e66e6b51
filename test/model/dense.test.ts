import * as tf from '@tensorflow/tfjs';
import { dense, denseOnPartlyData } from '../../src/model/dense';
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

test('denseOnPartlyData has the value of [z, c]W + b and autodiff\'s gradients for z, W and b', () => {
  const z = tf.randomNormal([5, 3], 0, 1, 'float32', 5) as tf.Tensor2D;
  const c = tf.randomNormal([5, 4], 0, 1, 'float32', 6) as tf.Tensor2D;
  const w = tf.randomNormal([7, 2], 0, 1, 'float32', 7) as tf.Tensor2D;
  const b = tf.randomNormal([2], 0, 1, 'float32', 8);
  const weight = tf.randomNormal([5, 2], 0, 1, 'float32', 9);
  const loss = (f: (z: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor) => tf.Tensor) =>
    (zi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(tf.square(f(zi as tf.Tensor2D, wi as tf.Tensor2D, bi)), weight));
  const ours = tf.grads(loss((zi, wi, bi) => denseOnPartlyData(zi, c, wi, bi)))([z, w, b]);
  const reference = tf.grads(loss((zi, wi, bi) => tf.add(tf.matMul(tf.concat([zi, c], 1), wi), bi)))([z, w, b]);
  const value = denseOnPartlyData(z, c, w, b);
  expect(tf.max(tf.abs(tf.sub(value, tf.add(tf.matMul(tf.concat([z, c], 1), w), b)))).arraySync()).toBeLessThan(1e-5);
  ours.forEach((g, i) => {
    expect(g.shape).toEqual(reference[i].shape);
    expect(tf.max(tf.abs(tf.sub(g, reference[i]))).arraySync() as number).toBeLessThan(1e-4);
  });
});
