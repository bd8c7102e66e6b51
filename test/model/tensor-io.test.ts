import * as tf from '@tensorflow/tfjs';
import { readInto, tensorFrom } from '../../src/model/tensor-io';
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
