/** Test-set numbers: the negative ELBO (one z ~ q(z|x) per example), active units, importance-sampled NLL. */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../rng';
import type { Inputs } from '../data/batches';
import { corrupt } from '../data/noise';
import { oneHot } from './condition';
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
 * (and two epochs are compared on the same noise). A label-conditioned model is evaluated with the data's
 * `labels` (the conditional bound on log p(x|y)); a completion model on the missing part given the rest; a
 * denoising autoencoder on the images corrupted with a fixed stream of noise.
 */
export async function evaluateElbo(vae: Vae, data: Inputs, labels?: ArrayLike<number> | null,
  onProgress?: (done: number) => void): Promise<ElboTerms> {
  const count = data.count;
  const dim = vae.inputDim;
  const zDim = vae.config.zDim;
  const noise = vae.config.noise;
  let rec = 0;
  let kl = 0;
  for (let start = 0, batch = 0; start < count; start += EVAL_BATCH, batch++) {
    const n = Math.min(EVAL_BATCH, count - start);
    const eps = new Rng(0, 'evaluate', batch).normals(n * zDim);
    // A denoising autoencoder is scored as it trains: on corrupted inputs (fixed noise), against the clean images.
    const rows = data.rows(start, start + n);
    const noisy = noise ? corrupt(rows, noise, new Rng(0, 'test-noise', batch)) : null;
    const sums = tf.tidy(() => {
      const x = tf.tensor2d(rows, [n, dim]);
      const y = vae.labelDim > 0 ? tf.tensor2d(oneHot(requireLabels(labels).slice(start, start + n), vae.labelDim), [n, vae.labelDim])
        : undefined;
      // A point code (an autoencoder's) has no KL: its terms are the reconstruction (and a sparsity penalty).
      const terms = noisy ? vae.autoencoderLossTerms(tf.tensor2d(noisy, [n, dim]), x, n)
        : vae.pointCode ? vae.autoencoderLossTerms(x, x, n) : vae.lossTerms(x, tf.tensor2d(eps, [n, zDim]), 1, n, y);
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

export function requireLabels(labels: ArrayLike<number> | null | undefined): number[] {
  if (!labels) throw new Error('a label-conditioned model is evaluated with the labels of the data');
  return Array.from(labels);
}

/**
 * Nats per example in bits per dimension, counting the values the model predicts (for a completion model,
 * the missing ones): nats / (D ln 2). A Gaussian on 8-bit pixels is a density on [0, 1]; the probability of
 * the pixel's own 8-bit value (a bin 1/255 wide) is about density / 255 per value, so D ln 255 nats are
 * added first (the convention of the image-density literature), which makes runs on different data compare.
 */
export function bitsPerDim(vae: Vae, nats: number): number {
  const d = vae.condition.outputDim;
  const discrete = vae.config.likelihood === 'gaussian' && !vae.config.features ? d * Math.log(255) : 0;
  return (nats + discrete) / (d * Math.LN2);
}
