/**
 * M2, the semi-supervised generative model of Kingma, Rezende, Mohamed & Welling 2014 (§2.2, §3.1.2):
 * p(y) uniform over the classes, p(z) = N(0, I), p(x|y, z) the decoder; q(z|x, y) the encoder and q(y|x) a
 * classifier. All in nats, as losses (the negatives of the paper's bounds):
 *
 *   labelled pair:   L(x, y) = −E_q(z|x,y)[log p(x|y, z)] + KL(q(z|x, y) || p(z)) − log p(y)
 *   unlabelled x:    U(x)    = Σ_y q(y|x) L(x, y) − H(q(y|x))                 (≥ −log p(x))
 *   objective:       J^α     = Σ_labelled L(x, y) + Σ_unlabelled U(x) + α · E_labelled[−log q(y|x)]
 *
 * with α = 0.1 · N by default (N: training images), as in the paper. A training step estimates J^α / N from a
 * batch of b_u unlabelled and b_l labelled images, each part scaled to stand for its whole set:
 *   loss = (N_u / (b_u N)) Σ_batch U  +  (N_l / (b_l N)) Σ_batch L  +  (α / (b_l N)) Σ_batch −log q(y|x)
 * which is what the paper's code computes when the labelled share of a batch is that of the data set.
 *
 * The unlabelled term needs L(x, y) for every label: one batched pass over all classes (rows n · classes),
 * not a loop over labels.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../rng';
import { klToStdNormal, reparameterize } from './losses';
import { Vae } from './vae';

/** Weights of the three sums in a step's loss (see above). */
export interface SemiWeights {
  unlabelled: number;
  labelled: number;
  classification: number;
}

/** The weights for a step of b_u unlabelled and b_l labelled images out of N_u and N_l, with α. */
export function semiWeights(unlabelledCount: number, labelledCount: number, unlabelledBatch: number, labelledBatch: number,
  alpha: number): SemiWeights {
  const total = unlabelledCount + labelledCount;
  return {
    unlabelled: unlabelledBatch > 0 ? unlabelledCount / (unlabelledBatch * total) : 0,
    labelled: labelledBatch > 0 ? labelledCount / (labelledBatch * total) : 0,
    classification: labelledBatch > 0 ? alpha / (labelledBatch * total) : 0,
  };
}

/** The paper's weight of the classification term, α = 0.1 · N, in units of N (the training images). */
export const PAPER_ALPHA_PER_IMAGE = 0.1;

/**
 * U(x) = Σ_y q(y|x) L(x, y) − H(q(y|x)) per row, from the classifier's logits [n, classes] and L [n, classes];
 * also the entropy H(q(y|x)) = −Σ_y q log q.
 */
export function unlabelledBound(classLogits: tf.Tensor2D, negElbo: tf.Tensor2D): { u: tf.Tensor1D; entropy: tf.Tensor1D } {
  return tf.tidy(() => {
    const logQ = tf.logSoftmax(classLogits);
    const q = tf.exp(logQ);
    const entropy = tf.neg(tf.sum(tf.mul(q, logQ), 1)) as tf.Tensor1D;
    const u = tf.sub(tf.sum(tf.mul(q, negElbo), 1), entropy) as tf.Tensor1D;
    return { u, entropy };
  });
}

/** One-hot rows e_0 … e_(classes−1), repeated for n images: [n · classes, classes]. */
function everyLabelOneHot(n: number, classes: number): tf.Tensor2D {
  return tf.tile(tf.eye(classes), [n, 1]) as tf.Tensor2D;
}

/**
 * −E_q[log p(x|y, z)] and KL(q(z|x, y) || p(z)) for every image of x [n, dim] and every label y, each
 * [n, classes], with one z per pair: eps [n · classes, zDim], row i · classes + k for image i and label k.
 */
export function termsWithEveryLabel(vae: Vae, x: tf.Tensor2D, eps: tf.Tensor2D): { rec: tf.Tensor2D; kl: tf.Tensor2D } {
  return tf.tidy(() => {
    const [n, dim] = x.shape;
    const classes = vae.labelDim;
    const { mu, logvar } = vae.encodeWithEveryLabel(x);
    const z = reparameterize(mu, logvar, eps);
    const logits = vae.decodeLogits(z, everyLabelOneHot(n, classes));
    const target = tf.reshape(tf.tile(tf.expandDims(x, 1), [1, classes, 1]), [n * classes, dim]) as tf.Tensor2D;
    return {
      rec: tf.reshape(vae.negLogLikelihood(logits, target), [n, classes]) as tf.Tensor2D,
      kl: tf.reshape(klToStdNormal(mu, logvar), [n, classes]) as tf.Tensor2D,
    };
  });
}

/** Sums over a batch: the loss (weighted, what the optimizer minimises) and the terms behind it. */
export interface SemiTerms {
  loss: tf.Scalar;
  /** Over the unlabelled images: Σ U(x), and Σ_x Σ_y q(y|x) of the reconstruction and of the KL term. */
  uSum: tf.Scalar;
  recSum: tf.Scalar;
  klSum: tf.Scalar;
  /** Over the labelled pairs: Σ L(x, y) and Σ −log q(y|x). */
  lSum: tf.Scalar;
  ceSum: tf.Scalar;
}

export interface SemiBatch {
  /** Unlabelled images [n_u, dim] and their noise [n_u · classes, zDim] (row i · classes + k: label k). */
  unlabelled?: { x: tf.Tensor2D; eps: tf.Tensor2D };
  /** Labelled images [n_l, dim], their one-hot labels [n_l, classes] and noise [n_l, zDim]. */
  labelled?: { x: tf.Tensor2D; y: tf.Tensor2D; eps: tf.Tensor2D };
}

/** The M2 objective on a batch (see the top of this file). Either part may be absent. */
export function semiSupervisedTerms(vae: Vae, batch: SemiBatch, weights: SemiWeights): SemiTerms {
  return tf.tidy(() => {
    const logPriorY = Math.log(vae.labelDim); // −log p(y) for the uniform prior
    const zero = tf.scalar(0);
    let uSum: tf.Scalar = zero, recSum: tf.Scalar = zero, klSum: tf.Scalar = zero, lSum: tf.Scalar = zero, ceSum: tf.Scalar = zero;
    if (batch.unlabelled) {
      const { x, eps } = batch.unlabelled;
      const { rec, kl } = termsWithEveryLabel(vae, x, eps);
      const logits = vae.classifierLogits(x);
      const { u } = unlabelledBound(logits, tf.add(tf.add(rec, kl), logPriorY));
      const q = tf.softmax(logits);
      uSum = tf.sum(u) as tf.Scalar;
      recSum = tf.sum(tf.mul(q, rec)) as tf.Scalar;
      klSum = tf.sum(tf.mul(q, kl)) as tf.Scalar;
    }
    if (batch.labelled) {
      const { x, y, eps } = batch.labelled;
      const terms = vae.lossTerms(x, eps, 1, 1, y);
      lSum = tf.add(tf.add(terms.recSum, terms.klSum), x.shape[0] * logPriorY) as tf.Scalar;
      ceSum = tf.neg(tf.sum(tf.mul(y, tf.logSoftmax(vae.classifierLogits(x))))) as tf.Scalar;
    }
    const loss = tf.addN([tf.mul(weights.unlabelled, uSum), tf.mul(weights.labelled, lSum),
      tf.mul(weights.classification, ceSum)]) as tf.Scalar;
    return { loss, uSum, recSum, klSum, lSum, ceSum };
  });
}

export const CLASSIFY_BATCH = 1000;

/** q(y|x) for images x [n, dim]: probabilities [n, classes]. */
export function classProbabilities(vae: Vae, x: Float32Array, n: number): Float32Array {
  const dim = vae.inputDim;
  const classes = vae.labelDim;
  const out = new Float32Array(n * classes);
  for (let start = 0; start < n; start += CLASSIFY_BATCH) {
    const rows = Math.min(CLASSIFY_BATCH, n - start);
    const p = tf.tidy(() => tf.softmax(vae.classifierLogits(tf.tensor2d(x.subarray(start * dim, (start + rows) * dim), [rows, dim]))));
    out.set(p.dataSync() as Float32Array, start * classes);
    p.dispose();
  }
  return out;
}

/** The most probable class of each row of probabilities [n, classes]. */
export function argmaxRows(p: Float32Array, n: number, classes: number): number[] {
  return Array.from({ length: n }, (_, i) => {
    let best = 0;
    for (let k = 1; k < classes; k++) if (p[i * classes + k] > p[i * classes + best]) best = k;
    return best;
  });
}

/** Share of images whose most probable class under q(y|x) is not their label. */
export function classificationError(vae: Vae, x: Float32Array, n: number, labels: ArrayLike<number>): number {
  const predicted = argmaxRows(classProbabilities(vae, x, n), n, vae.labelDim);
  return predicted.reduce((wrong, y, i) => wrong + (y === labels[i] ? 0 : 1), 0) / n;
}

export interface SemiEvaluation {
  /** Mean U(x): the bound on −log p(x) with the label summed out, nats per image. */
  negElbo: number;
  /** Means over images of Σ_y q(y|x) of the reconstruction term and of the KL term. */
  rec: number;
  kl: number;
  /** Test classification error of q(y|x). */
  error: number;
}

export const SEMI_EVAL_BATCH = 250;

/** U(x) and the classification error on data x (labels: its classes), with noise from a fixed stream. */
export async function evaluateSemi(vae: Vae, data: Float32Array, count: number, labels: ArrayLike<number>,
  onProgress?: (done: number) => void): Promise<SemiEvaluation> {
  const dim = vae.inputDim;
  const zDim = vae.config.zDim;
  const classes = vae.labelDim;
  const noWeights: SemiWeights = { unlabelled: 0, labelled: 0, classification: 0 };
  let u = 0, rec = 0, kl = 0;
  for (let start = 0, batch = 0; start < count; start += SEMI_EVAL_BATCH, batch++) {
    const n = Math.min(SEMI_EVAL_BATCH, count - start);
    const eps = new Rng(0, 'evaluate-m2', batch).normals(n * classes * zDim);
    const sums = tf.tidy(() => {
      const x = tf.tensor2d(data.subarray(start * dim, (start + n) * dim), [n, dim]);
      const terms = semiSupervisedTerms(vae, { unlabelled: { x, eps: tf.tensor2d(eps, [n * classes, zDim]) } }, noWeights);
      return tf.stack([terms.uSum, terms.recSum, terms.klSum]);
    });
    const [us, rs, ks] = await sums.data();
    sums.dispose();
    u += us;
    rec += rs;
    kl += ks;
    onProgress?.(start + n);
  }
  return { negElbo: u / count, rec: rec / count, kl: kl / count, error: classificationError(vae, data, count, labels) };
}
