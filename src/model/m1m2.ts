/**
 * M1 + M2 (Kingma et al. 2014, §3.1.3): M2 learns from the codes of a trained VAE (M1) instead of pixels.
 * Each image becomes M1's posterior q(z1|x) = N(μ(x), diag σ²(x)) over the latent dimensions M1 uses (those
 * whose mean code varies over the training images: standard deviation > 0.1, as in the paper's code); M2
 * models z1 with a Gaussian decoder, and a fresh z1 ~ q(z1|x) is drawn for every step. Test images are
 * classified from their mean code.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../rng';
import { activeUnits, encodeAll } from './likelihood';
import { Vae } from './vae';

/** Standard deviation of a mean code dimension over the data below which M1+M2 leaves it out. */
export const M1_ACTIVE_STD = 0.1;

/** The dimensions of M1 whose mean codes μ(x) over the images x ([n, dim]) vary (std > M1_ACTIVE_STD). */
export function activeDims(m1: Vae, x: Float32Array, n: number): number[] {
  const { mu } = encodeAll(m1, x, n);
  const { variances } = activeUnits(mu, n, m1.config.zDim);
  return variances.flatMap((v, j) => (v > M1_ACTIVE_STD * M1_ACTIVE_STD ? [j] : []));
}

/** M1's codes of images: the mean and log-variance of q(z1|x) on the kept dimensions. */
export class M1Codes {
  constructor(readonly m1: Vae, readonly dims: number[]) {}

  get dim(): number {
    return this.dims.length;
  }

  /** q(z1|x) for images x [n, image dim]: mean and log σ², each [n, dims]. */
  encode(x: Float32Array, n: number): { mean: Float32Array; logvar: Float32Array } {
    const { mu, logvar } = encodeAll(this.m1, x, n);
    const d = this.m1.config.zDim;
    const k = this.dims.length;
    const mean = new Float32Array(n * k);
    const lv = new Float32Array(n * k);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < k; j++) {
        mean[i * k + j] = mu[i * d + this.dims[j]];
        lv[i * k + j] = logvar[i * d + this.dims[j]];
      }
    }
    return { mean, logvar: lv };
  }

  /** Images decoded by M1 from codes [n, dims] (the dimensions left out are set to 0, the prior's mean). */
  decode(codes: Float32Array, n: number): Float32Array {
    const d = this.m1.config.zDim;
    const k = this.dims.length;
    const z = new Float32Array(n * d);
    for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) z[i * d + this.dims[j]] = codes[i * k + j];
    return tf.tidy(() => this.m1.decodeMean(tf.tensor2d(z, [n, d]))).dataSync() as Float32Array;
  }

  dispose(): void {
    this.m1.dispose();
  }
}

/** Rows order[start..end) of the codes, each drawn afresh: z1 = μ + σ ⊙ ε. */
export function sampleCodes(codes: { mean: Float32Array; logvar: Float32Array }, dim: number, order: ArrayLike<number>,
  start: number, end: number, out: Float32Array, rng: Rng): void {
  let o = 0;
  for (let k = start; k < end; k++) {
    const base = order[k] * dim;
    for (let j = 0; j < dim; j++, o++) out[o] = codes.mean[base + j] + Math.exp(0.5 * codes.logvar[base + j]) * rng.normal();
  }
}
