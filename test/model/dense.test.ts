import * as tf from '@tensorflow/tfjs';
import { dense, denseOnPartlyData, denseWithEveryLabel } from '../../src/model/dense';
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

test('denseWithEveryLabel gives [x, e_k]W + b for every label k, and autodiff\'s gradients for W and b', () => {
  const classes = 3;
  const x = tf.randomNormal([4, 5], 0, 1, 'float32', 10) as tf.Tensor2D;
  const w = tf.randomNormal([5 + classes, 6], 0, 1, 'float32', 11) as tf.Tensor2D;
  const b = tf.randomNormal([6], 0, 1, 'float32', 12);
  const weight = tf.randomNormal([4 * classes, 6], 0, 1, 'float32', 13);
  // The reference: every image repeated once per label (row i·classes + k), with the one-hot label beside it.
  const explicit = (wi: tf.Tensor, bi: tf.Tensor) => {
    const xs = tf.reshape(tf.tile(tf.expandDims(x, 1), [1, classes, 1]), [4 * classes, 5]);
    const ys = tf.tile(tf.eye(classes), [4, 1]);
    return tf.add(tf.matMul(tf.concat([xs, ys], 1), wi), bi);
  };
  const value = denseWithEveryLabel(x, w, b, classes);
  expect(value.shape).toEqual([12, 6]);
  expect(tf.max(tf.abs(tf.sub(value, explicit(w, b)))).arraySync()).toBeLessThan(1e-5);
  const loss = (f: (wi: tf.Tensor, bi: tf.Tensor) => tf.Tensor) => (wi: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(tf.square(f(wi, bi)), weight));
  const ours = tf.grads(loss((wi, bi) => denseWithEveryLabel(x, wi, bi, classes)))([w, b]);
  const reference = tf.grads(loss(explicit))([w, b]);
  ours.forEach((g, i) => {
    expect(g.shape).toEqual(reference[i].shape);
    expect(tf.max(tf.abs(tf.sub(g, reference[i]))).arraySync() as number).toBeLessThan(1e-3);
  });
  expect(() => denseWithEveryLabel(x, w, b, 2)).toThrow(/rows/);
});
