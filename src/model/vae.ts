/**
 * The VAE: an MLP encoder q(z|x) = N(μ(x), diag σ²(x)) and an MLP decoder p(x|z) with Bernoulli pixels
 * (defaults as in pytorch/examples: 784 → 400 → 20, and back).
 *
 * The conditional VAE (family 'cvae', Doersch 2016 §4) is the same network with a condition y beside the
 * inputs (condition.ts): q(z|x, y) and p(x|z, y), and the same objective with y given. The prior stays
 * p(z) = N(0, I), independent of y.
 *
 * M2 (family 'm2', Kingma et al. 2014) is a label cvae with a third network, the classifier q(y|x), trained
 * semi-supervised (m2.ts): the label is given for a few images and inferred for the rest.
 *
 * Encoder and decoder are tf.LayersModels, so that checkpoints are in the standard TensorFlow.js layers
 * format (a web page can tf.loadLayersModel the decoder). Training and inference run a direct forward pass
 * over the same variables (see dense.ts for why).
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../rng';
import type { M1Features } from './m1m2';
import { ConditionConfig, ConditionLayout, conditionLayout } from './condition';
import { dense, denseOnData, denseOnPartlyData, denseWithEveryLabel } from './dense';
import { bernoulliNllFromLogits, gaussianNll, klToStdNormal, reparameterize } from './losses';

export interface ModelConfig {
  family: 'vae' | 'cvae' | 'm2';
  arch: 'mlp';
  /** height, width, channels of one image. */
  inputShape: [number, number, number];
  hidden: number[];
  zDim: number;
  /**
   * p(x|z): Bernoulli values in [0, 1] (images), or Gaussian with a learned mean and variance per value (the
   * decoder then has two outputs per value: μ, then log σ²), as M1+M2 models M1's codes.
   */
  likelihood: 'bernoulli' | 'gaussian';
  /** What a cvae is conditioned on (absent for a vae; the label for m2). */
  condition?: ConditionConfig;
  /** M1+M2: the inputs are the codes of this M1 VAE, not images (inputShape is then [1, codes, 1]). */
  features?: M1Features;
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

/** The first layer's input: `main`, or main and the condition side by side. */
function withCondition(mainName: string, mainDim: number, extra: number, name: string):
  { inputs: tf.SymbolicTensor[]; h: tf.SymbolicTensor } {
  const main = tf.input({ shape: [mainDim], name: mainName });
  if (extra === 0) return { inputs: [main], h: main };
  const condition = tf.input({ shape: [extra], name });
  const h = tf.layers.concatenate({ name: `${mainName}_and_${name}` }).apply([main, condition]) as tf.SymbolicTensor;
  return { inputs: [main, condition], h };
}

/** Inputs: the image (and a cvae's one-hot label); outputs μ and log σ². */
export function buildEncoder(config: ModelConfig): tf.LayersModel {
  const layout = conditionLayout(config.inputShape, config.condition);
  let { inputs, h } = withCondition('image', inputDim(config), layout.encoderExtra, 'label');
  config.hidden.forEach((units, i) => {
    h = tf.layers.dense({ units, activation: 'relu', name: `enc_hidden_${i + 1}` }).apply(h) as tf.SymbolicTensor;
  });
  const mu = tf.layers.dense({ units: config.zDim, name: 'mu' }).apply(h) as tf.SymbolicTensor;
  const logvar = tf.layers.dense({ units: config.zDim, name: 'logvar' }).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs, outputs: [mu, logvar], name: 'encoder' });
}

/**
 * Inputs: z (and a cvae's condition: the one-hot label, or the observed pixels). Outputs logits; the image
 * (Bernoulli mean) is sigmoid(logits): every pixel, or for a completion model the missing ones.
 */
export function buildDecoder(config: ModelConfig): tf.LayersModel {
  const layout = conditionLayout(config.inputShape, config.condition);
  let { inputs, h } = withCondition('z', config.zDim, layout.decoderExtra, config.condition?.kind === 'region' ? 'observed' : 'label');
  [...config.hidden].reverse().forEach((units, i) => {
    h = tf.layers.dense({ units, activation: 'relu', name: `dec_hidden_${i + 1}` }).apply(h) as tf.SymbolicTensor;
  });
  const units = layout.outputDim * (config.likelihood === 'gaussian' ? 2 : 1);
  const logits = tf.layers.dense({ units, name: 'logits' }).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs, outputs: logits, name: 'decoder' });
}

/** M2's classifier q(y|x): the image → the same hidden layers → logits of the classes. */
export function buildClassifier(config: ModelConfig): tf.LayersModel {
  const classes = config.condition?.kind === 'label' ? config.condition.classes : 0;
  if (classes === 0) throw new Error('a classifier needs a model conditioned on the label');
  const input = tf.input({ shape: [inputDim(config)], name: 'image' });
  let h = input;
  config.hidden.forEach((units, i) => {
    h = tf.layers.dense({ units, activation: 'relu', name: `cls_hidden_${i + 1}` }).apply(h) as tf.SymbolicTensor;
  });
  const logits = tf.layers.dense({ units: classes, name: 'class_logits' }).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits, name: 'classifier' });
}

export class Vae {
  private readonly encHidden: DenseParams[];
  private readonly encMu: DenseParams;
  private readonly encLogvar: DenseParams;
  private readonly decLayers: DenseParams[];
  private readonly clsLayers: DenseParams[];
  readonly condition: ConditionLayout;
  private observedIndices: tf.Tensor1D | null = null;
  private missingIndices: tf.Tensor1D | null = null;

  /** classifier: M2's q(y|x) (family 'm2'), else null. */
  constructor(readonly config: ModelConfig, readonly encoder: tf.LayersModel, readonly decoder: tf.LayersModel,
    readonly classifier: tf.LayersModel | null = null) {
    if ((config.family === 'm2') !== (classifier !== null)) throw new Error('an m2 model, and only an m2 model, has a classifier');
    this.condition = conditionLayout(config.inputShape, config.condition);
    if (this.condition.observed && this.condition.missing) {
      this.observedIndices = tf.keep(tf.tensor1d(this.condition.observed, 'int32'));
      this.missingIndices = tf.keep(tf.tensor1d(this.condition.missing, 'int32'));
    }
    this.encHidden = config.hidden.map((_, i) => denseParams(encoder, `enc_hidden_${i + 1}`));
    this.encMu = denseParams(encoder, 'mu');
    this.encLogvar = denseParams(encoder, 'logvar');
    this.decLayers = [...config.hidden.map((_, i) => denseParams(decoder, `dec_hidden_${i + 1}`)),
      denseParams(decoder, 'logits')];
    this.clsLayers = classifier ? [...config.hidden.map((_, i) => denseParams(classifier, `cls_hidden_${i + 1}`)),
      denseParams(classifier, 'class_logits')] : [];
  }

  /** A new model with seeded initial weights. */
  static create(config: ModelConfig, seed: number): Vae {
    const encoder = buildEncoder(config);
    const decoder = buildDecoder(config);
    initDense(encoder, seed);
    initDense(decoder, seed);
    let classifier: tf.LayersModel | null = null;
    if (config.family === 'm2') {
      classifier = buildClassifier(config);
      initDense(classifier, seed);
    }
    return new Vae(config, encoder, decoder, classifier);
  }

  get inputDim(): number {
    return inputDim(this.config);
  }

  /** Width of the one-hot label this model needs beside each image (0: it needs none). */
  get labelDim(): number {
    return this.config.condition?.kind === 'label' ? this.config.condition.classes : 0;
  }

  /** The variables the optimizer updates, in a fixed order (the optimizer state is saved in this order). */
  trainableVariables(): tf.Variable[] {
    return [...this.encoder.trainableWeights, ...this.decoder.trainableWeights, ...(this.classifier?.trainableWeights ?? [])]
      .map((w) => w.read() as tf.Variable);
  }

  /** M2's classifier: logits of q(y|x) [batch, classes] for images x (data). */
  classifierLogits(x: tf.Tensor2D): tf.Tensor2D {
    if (this.clsLayers.length === 0) throw new Error('this model has no classifier (only an m2 model has)');
    return tf.tidy(() => {
      let h = x;
      this.clsLayers.forEach((p, i) => { h = applyDense(h, p, i === 0); });
      return h;
    });
  }

  /**
   * q(z|x, y) for every label y at once: rows [n · classes, zDim], row i · classes + k for image i with label
   * k. The image's share of the first layer (x·W_x, the expensive product) is computed once per image, not
   * once per label (see denseWithEveryLabel).
   */
  encodeWithEveryLabel(x: tf.Tensor2D): { mu: tf.Tensor2D; logvar: tf.Tensor2D } {
    const classes = this.labelDim;
    if (classes === 0) throw new Error('this model is not conditioned on a label');
    if (this.encHidden.length === 0) throw new Error('encoding with every label needs a hidden layer');
    return tf.tidy(() => {
      const [first, ...rest] = this.encHidden;
      let h = denseWithEveryLabel(x, first.kernel, first.bias, classes);
      if (first.relu) h = tf.relu(h);
      for (const p of rest) h = applyDense(h, p);
      return { mu: applyDense(h, this.encMu), logvar: applyDense(h, this.encLogvar) };
    });
  }

  /**
   * q(z|x, y): μ and log σ², each [batch, zDim]. x is data: no gradient is computed for it. y: the one-hot
   * labels [batch, classes] of a label-conditioned model, else absent.
   */
  encode(x: tf.Tensor2D, y?: tf.Tensor2D): { mu: tf.Tensor2D; logvar: tf.Tensor2D } {
    return tf.tidy(() => {
      let h = this.labelDim > 0 ? tf.concat([x, this.requireLabels(y)], 1) : x;
      this.encHidden.forEach((p, i) => { h = applyDense(h, p, i === 0); });
      const onData = this.encHidden.length === 0;
      return { mu: applyDense(h, this.encMu, onData), logvar: applyDense(h, this.encLogvar, onData) };
    });
  }

  /** c: the decoder's condition [batch, decoderExtra] of a cvae (see decoderCondition), else absent. */
  decodeLogits(z: tf.Tensor2D, c?: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const [first, ...rest] = this.decLayers;
      let h: tf.Tensor2D;
      if (this.condition.decoderExtra > 0) {
        if (!c) throw new Error('this model is conditional: its decoder needs the condition');
        h = denseOnPartlyData(z, c, first.kernel, first.bias);
        if (first.relu) h = tf.relu(h);
      } else {
        h = applyDense(z, first);
      }
      for (const p of rest) h = applyDense(h, p);
      return h;
    });
  }

  /**
   * The mean E[x|z, c]: sigmoid(logits), values in [0, 1] (for a completion model: the missing part); for a
   * Gaussian decoder, μ.
   */
  decodeMean(z: tf.Tensor2D, c?: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const out = this.decodeLogits(z, c);
      return this.config.likelihood === 'gaussian' ? tf.slice(out, [0, 0], [-1, this.condition.outputDim]) : tf.sigmoid(out);
    });
  }

  /** −log p(x|z) per row, from the decoder's outputs (decodeLogits) and the values it models (decoderTarget). */
  negLogLikelihood(outputs: tf.Tensor2D, target: tf.Tensor2D): tf.Tensor1D {
    return this.config.likelihood === 'gaussian' ? gaussianNll(outputs, target) : bernoulliNllFromLogits(outputs, target);
  }

  /** The decoder's condition for images x [batch, dim] with labels y: y, the observed pixels of x, or nothing. */
  decoderCondition(x: tf.Tensor2D, y?: tf.Tensor2D): tf.Tensor2D | undefined {
    if (this.labelDim > 0) return this.requireLabels(y);
    if (this.observedIndices) return tf.gather(x, this.observedIndices, 1) as tf.Tensor2D;
    return undefined;
  }

  /** What the decoder models of images x: all of x, or for a completion model the missing pixels. */
  decoderTarget(x: tf.Tensor2D): tf.Tensor2D {
    return this.missingIndices ? tf.gather(x, this.missingIndices, 1) as tf.Tensor2D : x;
  }

  private requireLabels(y: tf.Tensor2D | undefined): tf.Tensor2D {
    if (!y) throw new Error('this model is conditioned on a label: pass the one-hot labels');
    return y;
  }

  /**
   * The objective on a batch x with noise ε ~ N(0, I) [batch, zDim]:
   * Σ over the examples of −log p(x|z) + β · KL(q(z|x) || N(0, I)), z = μ + σ ⊙ ε, divided by `normalizer`
   * (the batch size, so the mean; for a shard of a batch, the whole batch's size).
   * For a cvae, with the condition y: −log p(x|z, y) + β · KL(q(z|x, y) || N(0, I)); y is the one-hot label
   * (passed as `y`) or the observed part of x (then x's missing part is what −log p measures).
   */
  lossTerms(x: tf.Tensor2D, eps: tf.Tensor2D, beta: number, normalizer = x.shape[0], y?: tf.Tensor2D): LossTerms {
    return tf.tidy(() => {
      const { mu, logvar } = this.encode(x, y);
      const z = reparameterize(mu, logvar, eps);
      const rec = this.negLogLikelihood(this.decodeLogits(z, this.decoderCondition(x, y)), this.decoderTarget(x));
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
  importanceWeightedLossTerms(x: tf.Tensor2D, eps: tf.Tensor2D, k: number, beta: number, normalizer = x.shape[0],
    y?: tf.Tensor2D): LossTerms {
    return tf.tidy(() => {
      const n = x.shape[0];
      const d = this.config.zDim;
      const repeat = (t: tf.Tensor2D) => tf.reshape(tf.tile(tf.expandDims(t, 1), [1, k, 1]), [n * k, t.shape[1]]) as tf.Tensor2D;
      const { mu, logvar } = this.encode(x, y);
      const logvarK = repeat(logvar);
      const z = reparameterize(repeat(mu), logvarK, eps);
      const c = this.decoderCondition(x, y);
      const logPxz = tf.neg(this.negLogLikelihood(this.decodeLogits(z, c && repeat(c)), repeat(this.decoderTarget(x))));
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
    tf.dispose([this.observedIndices, this.missingIndices].filter((t): t is tf.Tensor1D => t !== null));
    this.encoder.dispose();
    this.decoder.dispose();
    this.classifier?.dispose();
  }
}

const LOG_2PI = Math.log(2 * Math.PI);
