/**
 * The VAE: an MLP encoder q(z|x) = N(μ(x), diag σ²(x)) and an MLP decoder p(x|z) with Bernoulli pixels
 * (defaults as in pytorch/examples: 784 → 400 → 20, and back).
 *
 * Encoder and decoder are tf.LayersModels, so that checkpoints are in the standard TensorFlow.js layers
 * format (a web page can tf.loadLayersModel the decoder). Training and inference run a direct forward pass
 * over the same variables (see dense.ts for why).
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../rng';
import { dense, denseOnData } from './dense';
import { bernoulliNllFromLogits, klToStdNormal, reparameterize } from './losses';

export interface ModelConfig {
  family: 'vae';
  arch: 'mlp';
  /** height, width, channels of one image. */
  inputShape: [number, number, number];
  hidden: number[];
  zDim: number;
  likelihood: 'bernoulli';
}

export interface LossTerms {
  /** Σ over the batch of reconstruction + β · KL, divided by the normalizer: what the optimizer minimises. */
  loss: tf.Scalar;
  /** Sum over the batch of −log p(x|z). */
  recSum: tf.Scalar;
  /** Sum over the batch of KL(q(z|x) || p(z)). */
  klSum: tf.Scalar;
}

interface DenseParams {
  kernel: tf.Variable;
  bias: tf.Variable;
  relu: boolean;
}

export function inputDim(config: ModelConfig): number {
  const [h, w, c] = config.inputShape;
  return h * w * c;
}

function denseParams(model: tf.LayersModel, name: string): DenseParams {
  const layer = model.getLayer(name);
  const [kernel, bias] = layer.trainableWeights.map((w) => w.read() as tf.Variable);
  const activation = (layer.getConfig() as { activation?: string }).activation;
  return { kernel, bias, relu: activation === 'relu' };
}

function applyDense(x: tf.Tensor2D, p: DenseParams, onData = false): tf.Tensor2D {
  const y = (onData ? denseOnData : dense)(x, p.kernel, p.bias);
  return p.relu ? tf.relu(y) : y;
}

/**
 * Initial weights as PyTorch's nn.Linear draws them, U(−1/√fan_in, 1/√fan_in) for kernel and bias, from
 * our seeded generator: the same numbers on every backend.
 */
function initDense(model: tf.LayersModel, seed: number): void {
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'Dense') continue;
    const [kernelShape, biasShape] = layer.getWeights().map((w) => w.shape);
    const bound = 1 / Math.sqrt(kernelShape[0]);
    const rng = new Rng(seed, 'init', model.name, layer.name);
    const draw = (shape: number[]) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const v = new Float32Array(n);
      for (let i = 0; i < n; i++) v[i] = (2 * rng.uniform() - 1) * bound;
      return tf.tensor(v, shape);
    };
    const values = [draw(kernelShape), draw(biasShape)];
    layer.setWeights(values);
    tf.dispose(values);
  }
}

export function buildEncoder(config: ModelConfig): tf.LayersModel {
  const input = tf.input({ shape: [inputDim(config)], name: 'image' });
  let h = input;
  config.hidden.forEach((units, i) => {
    h = tf.layers.dense({ units, activation: 'relu', name: `enc_hidden_${i + 1}` }).apply(h) as tf.SymbolicTensor;
  });
  const mu = tf.layers.dense({ units: config.zDim, name: 'mu' }).apply(h) as tf.SymbolicTensor;
  const logvar = tf.layers.dense({ units: config.zDim, name: 'logvar' }).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: [mu, logvar], name: 'encoder' });
}

/** The decoder outputs logits; the image (Bernoulli mean) is sigmoid(logits). */
export function buildDecoder(config: ModelConfig): tf.LayersModel {
  const input = tf.input({ shape: [config.zDim], name: 'z' });
  let h = input;
  [...config.hidden].reverse().forEach((units, i) => {
    h = tf.layers.dense({ units, activation: 'relu', name: `dec_hidden_${i + 1}` }).apply(h) as tf.SymbolicTensor;
  });
  const logits = tf.layers.dense({ units: inputDim(config), name: 'logits' }).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits, name: 'decoder' });
}

export class Vae {
  private readonly encHidden: DenseParams[];
  private readonly encMu: DenseParams;
  private readonly encLogvar: DenseParams;
  private readonly decLayers: DenseParams[];

  constructor(readonly config: ModelConfig, readonly encoder: tf.LayersModel, readonly decoder: tf.LayersModel) {
    this.encHidden = config.hidden.map((_, i) => denseParams(encoder, `enc_hidden_${i + 1}`));
    this.encMu = denseParams(encoder, 'mu');
    this.encLogvar = denseParams(encoder, 'logvar');
    this.decLayers = [...config.hidden.map((_, i) => denseParams(decoder, `dec_hidden_${i + 1}`)),
      denseParams(decoder, 'logits')];
  }

  /** A new model with seeded initial weights. */
  static create(config: ModelConfig, seed: number): Vae {
    const encoder = buildEncoder(config);
    const decoder = buildDecoder(config);
    initDense(encoder, seed);
    initDense(decoder, seed);
    return new Vae(config, encoder, decoder);
  }

  get inputDim(): number {
    return inputDim(this.config);
  }

  /** The variables the optimizer updates, in a fixed order (the optimizer state is saved in this order). */
  trainableVariables(): tf.Variable[] {
    return [...this.encoder.trainableWeights, ...this.decoder.trainableWeights].map((w) => w.read() as tf.Variable);
  }

  /** q(z|x): μ and log σ², each [batch, zDim]. x is data: no gradient is computed for it. */
  encode(x: tf.Tensor2D): { mu: tf.Tensor2D; logvar: tf.Tensor2D } {
    return tf.tidy(() => {
      let h = x;
      this.encHidden.forEach((p, i) => { h = applyDense(h, p, i === 0); });
      const onData = this.encHidden.length === 0;
      return { mu: applyDense(h, this.encMu, onData), logvar: applyDense(h, this.encLogvar, onData) };
    });
  }

  decodeLogits(z: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      let h = z;
      for (const p of this.decLayers) h = applyDense(h, p);
      return h;
    });
  }

  /** The mean image E[x|z] = sigmoid(logits), pixels in [0, 1]. */
  decodeMean(z: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => tf.sigmoid(this.decodeLogits(z)));
  }

  /**
   * The objective on a batch x with noise ε ~ N(0, I) [batch, zDim]:
   * Σ over the examples of −log p(x|z) + β · KL(q(z|x) || N(0, I)), z = μ + σ ⊙ ε, divided by `normalizer`
   * (the batch size, so the mean; for a shard of a batch, the whole batch's size).
   */
  lossTerms(x: tf.Tensor2D, eps: tf.Tensor2D, beta: number, normalizer = x.shape[0]): LossTerms {
    return tf.tidy(() => {
      const { mu, logvar } = this.encode(x);
      const z = reparameterize(mu, logvar, eps);
      const rec = bernoulliNllFromLogits(this.decodeLogits(z), x);
      const kl = klToStdNormal(mu, logvar);
      const loss = tf.div(tf.sum(tf.add(rec, tf.mul(beta, kl))), normalizer) as tf.Scalar;
      return { loss, recSum: tf.sum(rec) as tf.Scalar, klSum: tf.sum(kl) as tf.Scalar };
    });
  }

  /**
   * The importance-weighted objective of IWAE (Burda et al. 2015) with K samples per example, whose noise ε
   * [batch·K, zDim] holds each example's K rows one after another:
   *   −L_K(x) = −log (1/K) Σ_k w_k,  log w_k = log p(x|z_k) + β (log p(z_k) − log q(z_k|x)),  z_k = μ + σ ⊙ ε_k
   * (β = 1 is IWAE; K = 1 is the ELBO with a sampled KL). Summed over the batch and divided by `normalizer`.
   * recSum and klSum are the sums over examples of the K-sample means of −log p(x|z) and log q(z|x) − log p(z).
   */
  importanceWeightedLossTerms(x: tf.Tensor2D, eps: tf.Tensor2D, k: number, beta: number, normalizer = x.shape[0]): LossTerms {
    return tf.tidy(() => {
      const n = x.shape[0];
      const d = this.config.zDim;
      const repeat = (t: tf.Tensor2D) => tf.reshape(tf.tile(tf.expandDims(t, 1), [1, k, 1]), [n * k, t.shape[1]]) as tf.Tensor2D;
      const { mu, logvar } = this.encode(x);
      const logvarK = repeat(logvar);
      const z = reparameterize(repeat(mu), logvarK, eps);
      const logPxz = tf.neg(bernoulliNllFromLogits(this.decodeLogits(z), repeat(x)));
      const logPz = tf.mul(-0.5, tf.add(tf.sum(tf.square(z), 1), d * LOG_2PI));
      const logQ = tf.mul(-0.5, tf.add(tf.sum(tf.add(tf.square(eps), logvarK), 1), d * LOG_2PI));
      const logW = tf.add(logPxz, tf.mul(beta, tf.sub(logPz, logQ)));
      const bound = tf.sub(tf.logSumExp(tf.reshape(logW, [n, k]), 1), Math.log(k));
      return {
        loss: tf.div(tf.neg(tf.sum(bound)), normalizer) as tf.Scalar,
        recSum: tf.div(tf.neg(tf.sum(logPxz)), k) as tf.Scalar,
        klSum: tf.div(tf.sum(tf.sub(logQ, logPz)), k) as tf.Scalar,
      };
    });
  }

  dispose(): void {
    this.encoder.dispose();
    this.decoder.dispose();
  }
}

const LOG_2PI = Math.log(2 * Math.PI);
