/** Test-set numbers: the negative ELBO (one z ~ q(z|x) per example), active units, importance-sampled NLL. */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../rng';
import { corrupt } from '../data/noise';
import { oneHot } from './condition';
import { inferLabels } from './generate';
import { activeUnits, encodeAll, vaeImportanceWeightedParallel } from './likelihood';
import { evaluateSemi } from './m2';
import { Vae, isAutoencoder } from './vae';
import { VaeError } from '../errors';

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
export async function evaluateElbo(vae: Vae, data: Float32Array, count: number, labels?: ArrayLike<number> | null,
  onProgress?: (done: number) => void): Promise<ElboTerms> {
  const dim = vae.inputDim;
  const zDim = vae.config.zDim;
  const noise = vae.config.noise;
  let rec = 0;
  let kl = 0;
  for (let start = 0, batch = 0; start < count; start += EVAL_BATCH, batch++) {
    const n = Math.min(EVAL_BATCH, count - start);
    const eps = new Rng(0, 'evaluate', batch).normals(n * zDim);
    // A denoising autoencoder is scored as it trains: on corrupted inputs (fixed noise), against the clean images.
    const noisy = noise ? corrupt(data.subarray(start * dim, (start + n) * dim), noise, new Rng(0, 'test-noise', batch)) : null;
    const sums = tf.tidy(() => {
      const x = tf.tensor2d(data.subarray(start * dim, (start + n) * dim), [n, dim]);
      const y = vae.labelDim > 0 ? tf.tensor2d(oneHot(requireLabels(labels).slice(start, start + n), vae.labelDim), [n, vae.labelDim])
        : undefined;
      const terms = noisy ? vae.autoencoderLossTerms(tf.tensor2d(noisy, [n, dim]), x, n)
        : vae.lossTerms(x, tf.tensor2d(eps, [n, zDim]), 1, n, y);
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

function requireLabels(labels: ArrayLike<number> | null | undefined): number[] {
  if (!labels) throw new Error('a label-conditioned model is evaluated with the labels of the data');
  return Array.from(labels);
}

export interface TestSetReport extends ElboTerms {
  images: number;
  /** −ELBO in bits per dimension: nats / (D ln 2). */
  bitsPerDim: number;
  /** Latent dimensions whose mean code varies across the test set (Cov > 0.01), out of zDim. */
  activeUnits: number;
  zDim: number;
  /** With importance sampling: K, the test NLL −mean L_K in nats and in bits per dimension. */
  importance?: { k: number; nll: number; bitsPerDim: number };
  /**
   * A label-conditioned model as a classifier: the share of images whose best label under the conditional
   * bound (argmin_y −L(x, y)) is their true label.
   */
  labelAccuracy?: number;
  /** M2: the bound U(x) on −log p(x) with the label summed out (nats), and the test error of its classifier q(y|x). */
  semi?: { negElbo: number; bitsPerDim: number; error: number };
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

/** Everything `vae evaluate` reports, for test data x ([n, dim]). */
export async function evaluateTestSet(vae: Vae, x: Float32Array, n: number, labels: Uint8Array | null,
  options: { importanceSamples?: number; seed?: number; threads?: number; onProgress?: (done: number) => void } = {}): Promise<TestSetReport> {
  const nats2bits = (nats: number) => bitsPerDim(vae, nats);
  const elbo = await evaluateElbo(vae, x, n, labels);
  const oneHotLabels = vae.labelDim > 0 ? oneHot(requireLabels(labels), vae.labelDim) : undefined;
  const { mu } = encodeAll(vae, x, n, oneHotLabels);
  const report: TestSetReport = { images: n, ...elbo, bitsPerDim: nats2bits(elbo.negElbo),
    activeUnits: activeUnits(mu, n, vae.config.zDim).count, zDim: vae.config.zDim };
  if (vae.classifier && labels) {
    const semi = await evaluateSemi(vae, x, n, labels);
    report.semi = { negElbo: semi.negElbo, bitsPerDim: nats2bits(semi.negElbo), error: semi.error };
  } else if (vae.labelDim > 0 && labels) {
    const inferred = inferLabels(vae, x, n);
    report.labelAccuracy = inferred.reduce((a, l, i) => a + (l === labels[i] ? 1 : 0), 0) / n;
  }
  const k = options.importanceSamples;
  if (k && isAutoencoder(vae.config.family)) {
    throw new VaeError(`--iw estimates log p(x) with q(z|x) and p(z); an autoencoder (${vae.config.family}) has neither`);
  }
  if (k) {
    const bounds = await vaeImportanceWeightedParallel(vae, x, n, oneHotLabels ?? null,
      { k, seed: options.seed ?? 0, onProgress: options.onProgress }, options.threads ?? 1);
    const nll = -bounds.reduce((a, v) => a + v, 0) / n;
    report.importance = { k, nll, bitsPerDim: nats2bits(nll) };
  }
  return report;
}
