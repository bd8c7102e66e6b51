import * as tf from '@tensorflow/tfjs';
import { readInto, tensorFrom, writeInPlace } from '../../src/model/tensor-io';
import { flatLayout, writeVariables } from '../../src/model/flat';
import { useTestBackend } from '../helpers/backend';

beforeAll(useTestBackend);

test('tensorFrom copies: changing the (shared) source afterwards does not change the tensor', () => {
  const source = new Float32Array(new SharedArrayBuffer(4 * 10)).map((_, i) => i);
  const t = tensorFrom(source, 2, [2, 3]);
  source.fill(-1);
  expect(Array.from(t.dataSync())).toEqual([2, 3, 4, 5, 6, 7]);
  expect(t.shape).toEqual([2, 3]);
});

test('readInto writes exactly the tensor\'s values at the offset, and nothing else', () => {
  const t = tf.tidy(() => tf.add(tf.tensor2d([[1, 2], [3, 4]]), 0.5));
  const out = new Float32Array(8).fill(9);
  readInto(t, out, 3);
  expect(Array.from(out)).toEqual([9, 9, 9, 1.5, 2.5, 3.5, 4.5, 9]);
  // And again after other tensors were allocated and freed around it.
  tf.tidy(() => tf.ones([1000]).add(1));
  readInto(t, out, 0);
  expect(Array.from(out.subarray(0, 4))).toEqual([1.5, 2.5, 3.5, 4.5]);
});

test('writeVariables writes a variable\'s values where they lie when only it holds them, and a new tensor when another shares them', () => {
  const flat = new Float32Array([1, 2, 3, 4, 5, 6, 7]);
  const own = tf.variable(tf.zeros([2, 2]));
  const source = tf.tensor1d([0, 0, 0]);
  const shared = tf.variable(source); // shares source's values
  const layout = flatLayout([own, shared]);
  writeVariables([own, shared], layout, flat, true);
  expect(Array.from(own.dataSync())).toEqual([1, 2, 3, 4]);
  expect(Array.from(shared.dataSync())).toEqual([5, 6, 7]);
  expect(Array.from(source.dataSync())).toEqual([0, 0, 0]); // not written through the variable
  flat.fill(8);
  expect(Array.from(own.dataSync())).toEqual([1, 2, 3, 4]); // a copy, not a view
  const inPlace = tf.getBackend() === 'wasm';
  expect(writeInPlace(own, flat, 0)).toBe(inPlace);
  if (inPlace) expect(Array.from(own.dataSync())).toEqual([8, 8, 8, 8]);
  // Not asked to (the kernels that read the weights keep copies of them: the wasm backend's own matMul), assigned.
  const before = own.dataId;
  writeVariables([own, shared], layout, new Float32Array(7).fill(3));
  expect(Array.from(own.dataSync())).toEqual([3, 3, 3, 3]);
  expect(own.dataId).not.toBe(before);
});
