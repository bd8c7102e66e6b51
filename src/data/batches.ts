/** Turning stored bytes into float batches: scaling to [0, 1], optional dynamic binarization, shuffling. */
import { Rng } from '../rng';
import { VaeError } from '../errors';
import type { ImageSet } from './datasets';

export type Binarize = 'none' | 'dynamic';

/**
 * Writes examples `indices[start..end)` of `set`, scaled to [0, 1], into `out` (row-major, one row per
 * example). With `binarizeRng`, each pixel p becomes 1 with probability p, else 0 (dynamic binarization).
 */
export function fillBatch(set: ImageSet, dim: number, indices: ArrayLike<number>, start: number, end: number,
  out: Float32Array, binarizeRng?: Rng): void {
  const images = residentImages(set);
  for (let k = start; k < end; k++) scaleRow(images, indices[k] * dim, dim, out, (k - start) * dim, binarizeRng);
}

/** Row bytes[base, base + dim) scaled to [0, 1] (or binarized with `binarizeRng`) into out at o. */
export function scaleRow(bytes: Uint8Array, base: number, dim: number, out: Float32Array, o: number, binarizeRng?: Rng): void {
  const scale = 1 / 255;
  if (binarizeRng) {
    for (let j = 0; j < dim; j++) out[o + j] = binarizeRng.uniform() < bytes[base + j] * scale ? 1 : 0;
  } else {
    for (let j = 0; j < dim; j++) out[o + j] = bytes[base + j] * scale;
  }
}

/** The bytes of a set held in memory; a streamed set (larger than its memory budget) has none. */
export function residentImages(set: ImageSet): Uint8Array {
  if (!set.images) throw new VaeError('this set is streamed from its cache (larger than --data-memory) and is read a window at a time');
  return set.images;
}

/** The order of the training set in `epoch` (1-based): a fixed function of the seed and the epoch. */
export function epochOrder(seed: number, epoch: number, count: number): Uint32Array {
  return new Rng(seed, 'shuffle', epoch).permutation(count);
}

export function identityOrder(count: number): Uint32Array {
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  return order;
}

/**
 * The test set binarized once with a fixed seed (the protocol of the VAE literature), or scaled as is, all of it
 * as floats (a streamed set is read whole: testInputs reads it a chunk at a time).
 */
export function testMatrix(set: ImageSet, dim: number, binarize: Binarize): Float32Array {
  if (!set.images) return testInputs(set, dim, binarize).rows(0, set.count);
  const out = new Float32Array(set.count * dim);
  fillBatch(set, dim, identityOrder(set.count), 0, set.count, out,
    binarize === 'dynamic' ? new Rng(0, 'test-binarization') : undefined);
  return out;
}

/** Inputs of a model, [count, dim], as floats a range of rows at a time (a streamed test set is never held whole). */
export interface Inputs {
  readonly count: number;
  readonly dim: number;
  /** Rows [start, end). */
  rows(start: number, end: number): Float32Array;
}

/** A matrix held in memory as inputs. */
export function inputsOf(x: Float32Array, dim: number): Inputs {
  return { count: x.length / dim, dim, rows: (start, end) => x.subarray(start * dim, end * dim) };
}

/**
 * A test set as inputs, prepared as testMatrix does: held as floats when it is in memory (the numbers of every run so
 * far), else read from its store on demand, each row binarized with a stream of its own (row by row, so that any
 * range reads the same values).
 */
export function testInputs(set: ImageSet, dim: number, binarize: Binarize): Inputs {
  if (set.images) return inputsOf(testMatrix(set, dim, binarize), dim);
  const store = set.store!;
  return {
    count: set.count,
    dim,
    rows(start, end) {
      const bytes = new Uint8Array((end - start) * dim);
      store.read(identityOrder(end - start).map((i) => start + i), bytes);
      const out = new Float32Array((end - start) * dim);
      for (let i = 0; i < end - start; i++) {
        scaleRow(bytes, i * dim, dim, out, i * dim, binarize === 'dynamic' ? new Rng(0, 'test-binarization', start + i) : undefined);
      }
      return out;
    },
  };
}
