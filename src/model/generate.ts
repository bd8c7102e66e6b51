/** Using a trained VAE: drawing samples, reconstructing, and walking the latent space between two codes. */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../rng';
import { Vae } from './vae';

/** n images decoded (mean image) from z ~ N(0, I), drawn from the stream of `seed`. */
export function sampleImages(vae: Vae, n: number, seed: number): Float32Array {
  const z = new Rng(seed, 'sample').normals(n * vae.config.zDim);
  return decodeCodes(vae, z, n);
}

/** Runs `f` and reads its result back into JavaScript, leaving no tensors behind. */
function computeToArray(f: () => tf.Tensor): Float32Array {
  const result = tf.tidy(f);
  const out = result.dataSync() as Float32Array;
  result.dispose();
  return out;
}

/** The mean images decoded from n codes [n, zDim]. */
export function decodeCodes(vae: Vae, codes: Float32Array, n: number): Float32Array {
  return computeToArray(() => vae.decodeMean(tf.tensor2d(codes, [n, vae.config.zDim])));
}

/** μ(x) for each row of x: the code used to reconstruct and interpolate. */
export function encodeMeans(vae: Vae, x: Float32Array, n: number): Float32Array {
  return computeToArray(() => vae.encode(tf.tensor2d(x, [n, vae.inputDim])).mu);
}

/** Decoded μ(x): what the model keeps of each image. */
export function reconstructImages(vae: Vae, x: Float32Array, n: number): Float32Array {
  return decodeCodes(vae, encodeMeans(vae, x, n), n);
}

/**
 * `steps` codes from a to b (both included): along the straight line, or with `slerp` along the great
 * circle, which keeps the norm typical of Gaussian codes (Shoemake 1985; White 2016):
 *   slerp(a, b; t) = sin((1 − t)θ)/sin θ · a + sin(tθ)/sin θ · b,  cos θ = a·b / (|a||b|)
 */
export function interpolateCodes(a: Float32Array, b: Float32Array, steps: number, slerp = false): Float32Array {
  const d = a.length;
  const out = new Float32Array(steps * d);
  let dot = 0, na = 0, nb = 0;
  for (let j = 0; j < d; j++) { dot += a[j] * b[j]; na += a[j] * a[j]; nb += b[j] * b[j]; }
  const theta = Math.acos(Math.min(1, Math.max(-1, dot / Math.sqrt(na * nb || 1))));
  const useSlerp = slerp && Math.sin(theta) > 1e-6;
  for (let s = 0; s < steps; s++) {
    const t = s / (steps - 1);
    const wa = useSlerp ? Math.sin((1 - t) * theta) / Math.sin(theta) : 1 - t;
    const wb = useSlerp ? Math.sin(t * theta) / Math.sin(theta) : t;
    for (let j = 0; j < d; j++) out[s * d + j] = wa * a[j] + wb * b[j];
  }
  return out;
}
