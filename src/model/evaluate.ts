/** The negative ELBO of a data matrix, in nats per example, with one z ~ q(z|x) per example. */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../rng';
import { Vae } from './vae';

export interface ElboTerms {
  /** −ELBO = reconstruction + KL (β = 1), nats per example. */
  negElbo: number;
  /** −E_q[log p(x|z)], nats per example. */
  rec: number;
  /** KL(q(z|x) || N(0, I)), nats per example. */
  kl: number;
}

export const EVAL_BATCH = 500;

/**
 * The noise is drawn from a fixed stream, so the same model on the same data always gives the same number
 * (and two epochs are compared on the same noise).
 */
export async function evaluateElbo(vae: Vae, data: Float32Array, count: number,
  onProgress?: (done: number) => void): Promise<ElboTerms> {
  const dim = vae.inputDim;
  const zDim = vae.config.zDim;
  let rec = 0;
  let kl = 0;
  for (let start = 0, batch = 0; start < count; start += EVAL_BATCH, batch++) {
    const n = Math.min(EVAL_BATCH, count - start);
    const eps = new Rng(0, 'evaluate', batch).normals(n * zDim);
    const sums = tf.tidy(() => {
      const x = tf.tensor2d(data.subarray(start * dim, (start + n) * dim), [n, dim]);
      const terms = vae.lossTerms(x, tf.tensor2d(eps, [n, zDim]), 1);
      return tf.stack([terms.recSum, terms.klSum]);
    });
    const [r, k] = await sums.data();
    sums.dispose();
    rec += r;
    kl += k;
    onProgress?.(start + n);
  }
  return { negElbo: (rec + kl) / count, rec: rec / count, kl: kl / count };
}
