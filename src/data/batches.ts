/** Turning stored bytes into float batches: scaling to [0, 1], optional dynamic binarization, shuffling. */
import { Rng } from '../rng';
import { ImageSet } from './datasets';

export type Binarize = 'none' | 'dynamic';

/**
 * Writes examples `indices[start..end)` of `set`, scaled to [0, 1], into `out` (row-major, one row per
 * example). With `binarizeRng`, each pixel p becomes 1 with probability p, else 0 (dynamic binarization).
 */
export function fillBatch(set: ImageSet, dim: number, indices: ArrayLike<number>, start: number, end: number,
  out: Float32Array, binarizeRng?: Rng): void {
  const scale = 1 / 255;
  let o = 0;
  for (let k = start; k < end; k++) {
    const base = indices[k] * dim;
    if (binarizeRng) {
      for (let j = 0; j < dim; j++) out[o++] = binarizeRng.uniform() < set.images[base + j] * scale ? 1 : 0;
    } else {
      for (let j = 0; j < dim; j++) out[o++] = set.images[base + j] * scale;
    }
  }
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

/** The test set binarized once with a fixed seed (the protocol of the VAE literature), or scaled as is. */
export function testMatrix(set: ImageSet, dim: number, binarize: Binarize): Float32Array {
  const out = new Float32Array(set.count * dim);
  fillBatch(set, dim, identityOrder(set.count), 0, set.count, out,
    binarize === 'dynamic' ? new Rng(0, 'test-binarization') : undefined);
  return out;
}
