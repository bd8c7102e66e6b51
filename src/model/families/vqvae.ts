/**
 * VQ-VAE (van den Oord, Vinyals & Kavukcuoglu 2017). The encoder's output z_e(x) is cut into `slots` vectors of
 * `codeDim` values, and each is replaced by its nearest entry of a learnt codebook {e_1, …, e_K}:
 *   z_q = e_k,  k = argmin_j ‖z_e − e_j‖²
 * The decoder models p(x|z_q). The loss per example (the paper's eq. 3), summed over the slots:
 *   −log p(x|z_q) + ‖sg[z_e] − z_q‖² + β ‖z_e − sg[z_q]‖²
 * with sg the stop-gradient: the codebook term moves the entries towards the encoder's outputs, the commitment
 * term (β = 0.25, the paper's) keeps the encoder near its entries, and the reconstruction's gradient is copied
 * from z_q to z_e (the straight-through estimator). The prior over the entries is not learnt here (the paper
 * fits a PixelCNN to them afterwards), so there is nothing to sample from; interpolation walks between
 * quantised codes.
 *
 * The codebook is a network of its own ('codebook': one dense layer without bias whose kernel [codeDim, K]
 * holds an entry per column), so the checkpoint keeps it in the TensorFlow.js layers format.
 */
import * as tf from '@tensorflow/tfjs';
import { VaeError } from '../../errors';
import { nonNegativeFloat, positiveInt } from '../../options';
import type { ModelConfig, VqOptions } from '../run-config';
import { LossTerms, Quantizer, Vae } from '../vae';
import { Family } from './family';
import { elboTrainTerms, encoderDecoder, evaluateImages, imageBatches, imageDefaults, plainShard, rejectKlFlags } from './shared';

export const DEFAULT_CODEBOOK_SIZE = 512;
/**
 * Values per entry. With the MLP's 20 latent values, measured on 20,000 MNIST images after 3 epochs (test
 * reconstruction; entries in use on the test images): 2 values, 10 entries per code: 117.5 nats, 512 of 512;
 * 4 values, 5 entries: 132.3 nats, 216 of 512; 8 values, 4 entries (32 latent values): 140.4 nats, 134 of 512.
 */
export const DEFAULT_CODE_DIM = 2;
export const DEFAULT_COMMITMENT = 0.25;
/** Latent values: 10 codebook entries of 2 values each per image. */
export const VQ_Z_DIM = 20;

/** The settings configure put in the model config. */
function settings(config: ModelConfig): VqOptions {
  if (!config.options) throw new VaeError("a VQ-VAE's config.json needs model.options (codebookSize, codeDim, commitment)");
  return config.options;
}

/** The codebook's entries as the columns of its kernel [codeDim, K] (the variable the optimizer trains). */
function entries(extras: Record<string, tf.LayersModel>): tf.Variable {
  return extras.codebook.getLayer('entries').trainableWeights[0].read() as tf.Variable;
}

/** x with no gradient flowing back through it (sg[·] of the paper). */
const stopGradient = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
  value: (args[0] as tf.Tensor).clone(),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as <T extends tf.Tensor>(x: T) => T;

/** The nearest entry of each row of codes [rows, codeDim]: argmin_k ‖z − e_k‖² = ‖z‖² − 2 z·e_k + ‖e_k‖². */
function nearest(codes: tf.Tensor2D, kernel: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const distances = tf.add(tf.sub(tf.sum(tf.square(codes), 1, true), tf.mul(2, tf.matMul(codes, kernel))), tf.sum(tf.square(kernel), 0, true));
    return tf.argMin(distances, 1) as tf.Tensor1D;
  });
}

/** The entries of `indices` as rows [rows, codeDim]: one-hot rows times the kernel's transpose (its gradient reaches the entries). */
function lookUp(indices: tf.Tensor1D, kernel: tf.Tensor2D): tf.Tensor2D {
  return tf.matMul(tf.oneHot(indices, kernel.shape[1]).toFloat() as tf.Tensor2D, kernel, false, true);
}

/**
 * The loss terms of images x [rows, dim] (see the top of the file), Σ over the rows divided by `normalizer`:
 * recSum is Σ −log p(x|z_q), klSum Σ of the codebook and β-weighted commitment terms.
 */
export function vqLossTerms(vae: Vae, x: tf.Tensor2D, normalizer: number): LossTerms {
  const { codeDim, commitment } = settings(vae.config);
  const kernel = entries(vae.extras);
  return tf.tidy(() => {
    const rows = x.shape[0];
    const ze = tf.reshape(vae.encodeCode(x), [-1, codeDim]) as tf.Tensor2D;
    const zq = lookUp(nearest(stopGradient(ze), stopGradient(kernel as tf.Tensor2D)), kernel as tf.Tensor2D);
    const codebook = tf.sum(tf.square(tf.sub(stopGradient(ze), zq)));
    const commit = tf.sum(tf.square(tf.sub(ze, stopGradient(zq))));
    const straightThrough = tf.reshape(tf.add(ze, stopGradient(tf.sub(zq, ze))), [rows, -1]) as tf.Tensor2D;
    const rec = vae.negLogLikelihood(vae.decodeLogits(straightThrough), x);
    const vq = tf.add(codebook, tf.mul(commitment, commit)) as tf.Scalar;
    return { loss: tf.div(tf.add(tf.sum(rec), vq), normalizer) as tf.Scalar, recSum: tf.sum(rec) as tf.Scalar, klSum: vq };
  });
}

function quantizer(config: ModelConfig, extras: Record<string, tf.LayersModel>): Quantizer {
  const { codebookSize, codeDim } = settings(config);
  const slots = config.zDim / codeDim;
  const indicesOf = (code: tf.Tensor2D) => nearest(tf.reshape(code, [-1, codeDim]) as tf.Tensor2D, entries(extras) as tf.Tensor2D);
  return {
    size: codebookSize,
    slots,
    quantize: (code) => tf.tidy(() => tf.reshape(lookUp(indicesOf(code), entries(extras) as tf.Tensor2D), code.shape) as tf.Tensor2D),
    indices: (code) => {
      const indices = indicesOf(code);
      const values = indices.dataSync() as Int32Array;
      indices.dispose();
      return values;
    },
  };
}

export const vqvae: Family = {
  name: 'vqvae',
  noun: 'VQ-VAE',
  help: "'vqvae': VQ-VAE (van den Oord et al. 2017), the code quantised to the nearest entries of a learnt codebook (--codebook-size)",
  traits: { prior: false, kl: false, label: false, region: false, classifies: false, conv: true, codes: false },
  networks: ['codebook'],
  stats: ['rec', 'kl'], // kl: the codebook and commitment terms
  penalty: 'vq',
  flags: [
    { flags: '--codebook-size <k>', parse: positiveInt, defaultText: String(DEFAULT_CODEBOOK_SIZE), help: 'vqvae: entries of the codebook' },
    { flags: '--code-dim <d>', parse: positiveInt, defaultText: String(DEFAULT_CODE_DIM),
      help: 'vqvae: values per codebook entry; the code (--z-dim values) is cut into --z-dim / d entries' },
    { flags: '--commitment <b>', parse: nonNegativeFloat, defaultText: String(DEFAULT_COMMITMENT),
      help: "vqvae: weight β of the commitment term ‖z_e − sg[z_q]‖² (the paper's 0.25)" },
  ],
  takes: ['codebookSize', 'codeDim', 'commitment'],
  takesHint: () => '--codebook-size, --code-dim and --commitment are for a VQ-VAE: add --model vqvae',
  matches: (model) => model.family === 'vqvae',
  defaults: (o) => imageDefaults(o, VQ_Z_DIM),
  configure(o, model) {
    rejectKlFlags(o, 'a VQ-VAE (--model vqvae) has no KL term: --beta, --kl-warmup and --iw-train are for vae and cvae (its β is --commitment)');
    const codebookSize = o.codebookSize ?? DEFAULT_CODEBOOK_SIZE;
    const codeDim = o.codeDim ?? DEFAULT_CODE_DIM;
    const commitment = o.commitment ?? DEFAULT_COMMITMENT;
    if (codebookSize < 2) throw new VaeError('--codebook-size: a codebook needs at least 2 entries');
    if (model.zDim % codeDim !== 0) {
      throw new VaeError(`--z-dim ${model.zDim} is not a whole number of codebook entries of --code-dim ${codeDim} values`);
    }
    model.options = { codebookSize, codeDim, commitment };
    return {};
  },
  describe: (model) => {
    const { codebookSize, codeDim, commitment } = settings(model);
    return `VQ-VAE (${model.zDim / codeDim} entries of ${codeDim} values per code from a codebook of ${codebookSize}, β ${commitment})`;
  },
  build: (config) => {
    const { codebookSize, codeDim } = settings(config);
    const input = tf.input({ shape: [codeDim], name: 'code' });
    const scores = tf.layers.dense({ units: codebookSize, useBias: false, name: 'entries' }).apply(input) as tf.SymbolicTensor;
    const codebook = tf.model({ inputs: input, outputs: scores, name: 'codebook' });
    return { ...encoderDecoder(config, { kind: 'point', activation: 'linear' }), extras: { codebook } };
  },
  quantizer,
  gpu: (model) => {
    const { codebookSize, commitment } = settings(model);
    return { objective: 'vq', codebook: 'codebook', entries: codebookSize, commitment };
  },
  batches: imageBatches,
  shardTerms: (vae, slot, task, s, shards) => plainShard(vae, slot, task, s, shards, ({ x }) => vqLossTerms(vae, x, task.n)),
  trainTerms: elboTrainTerms,
  evaluate: evaluateImages,
};
