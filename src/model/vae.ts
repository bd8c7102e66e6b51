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
import { ConditionLayout, conditionLayout } from './condition';
import { ConvParams, ConvShape, applyConv, convDecoderHead, convEncoderTrunk, convShape, decoderConvs, encoderConvs } from './conv';
import { dense, denseOnData, denseOnPartlyData, denseWithEveryLabel } from './dense';
import { bernoulliNllFromLogits, gaussianNll, gaussianNllFixed, klToStdNormal, reparameterize, sparsityPenalty } from './losses';
import type { ModelConfig } from './run-config';

/**
 * A code that is quantised (a VQ-VAE's): the encoder's output is replaced by the nearest entries of a
 * codebook, in `slots` groups of values, before it is decoded.
 */
export interface Quantizer {
  /** Entries of the codebook. */
  readonly size: number;
  /** Codebook entries per code (the code's values are cut into this many equal groups). */
  readonly slots: number;
  /** The quantised codes [n, zDim] of encoder outputs [n, zDim]. */
  quantize(code: tf.Tensor2D): tf.Tensor2D;
  /** The codebook entry of each slot of encoder outputs [n, zDim]: [n · slots], row-major. */
  indices(code: tf.Tensor2D): Int32Array;
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
  activation: 'relu' | 'sigmoid' | 'linear';
}

export function inputDim(config: ModelConfig): number {
  const [h, w, c] = config.inputShape;
  return h * w * c;
}

function denseParams(model: tf.LayersModel, name: string): DenseParams {
  const layer = model.getLayer(name);
  const [kernel, bias] = layer.trainableWeights.map((w) => w.read() as tf.Variable);
  const activation = (layer.getConfig() as { activation?: string }).activation;
  return { kernel, bias, activation: activation === 'relu' || activation === 'sigmoid' ? activation : 'linear' };
}

function applyDense(x: tf.Tensor2D, p: DenseParams, onData = false): tf.Tensor2D {
  const y = (onData ? denseOnData : dense)(x, p.kernel, p.bias);
  return p.activation === 'relu' ? tf.relu(y) : p.activation === 'sigmoid' ? tf.sigmoid(y) : y;
}

/**
 * Initial weights as PyTorch's nn.Linear and nn.Conv2d draw them, U(−1/√fan_in, 1/√fan_in) for kernel and
 * bias (fan_in: the inputs of one output unit), from our seeded generator: the same numbers on every backend.
 */
export function initWeights(model: tf.LayersModel, seed: number): void {
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'Dense' && layer.getClassName() !== 'Conv2D') continue;
    const [kernelShape, ...biasShape] = layer.getWeights().map((w) => w.shape); // a layer without bias has none
    const bound = 1 / Math.sqrt(kernelShape.slice(0, -1).reduce((a, b) => a * b, 1));
    const rng = new Rng(seed, 'init', model.name, layer.name);
    const draw = (shape: number[]) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const v = new Float32Array(n);
      for (let i = 0; i < n; i++) v[i] = (2 * rng.uniform() - 1) * bound;
      return tf.tensor(v, shape);
    };
    const values = [kernelShape, ...biasShape].map(draw);
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

/** Output values per modelled value: a Bernoulli logit or a Gaussian's μ, or a Gaussian's μ and log σ². */
function outputsPerValue(config: ModelConfig): number {
  return config.likelihood === 'gaussian' && config.sigma === undefined ? 2 : 1;
}

/** What the encoder outputs: q(z|x)'s μ and log σ², or a point code (an autoencoder's) with its units' activation. */
export type CodeKind = { kind: 'gaussian' } | { kind: 'point'; activation: 'linear' | 'sigmoid' };

/**
 * Inputs: the image (and a cvae's one-hot label); outputs μ and log σ² (a point code: only the code, in the
 * layer named 'mu').
 */
export function buildEncoder(config: ModelConfig, code: CodeKind = { kind: 'gaussian' }): tf.LayersModel {
  const layout = conditionLayout(config.inputShape, config.condition);
  let inputs: tf.SymbolicTensor[];
  let h: tf.SymbolicTensor;
  if (config.arch === 'conv') {
    const image = tf.input({ shape: config.inputShape, name: 'image' });
    inputs = [image];
    h = convEncoderTrunk(image, convShape(config.inputShape[0]));
  } else {
    ({ inputs, h } = withCondition('image', inputDim(config), layout.encoderExtra, 'label'));
  }
  config.hidden.forEach((units, i) => {
    h = tf.layers.dense({ units, activation: 'relu', name: `enc_hidden_${i + 1}` }).apply(h) as tf.SymbolicTensor;
  });
  const activation = code.kind === 'point' ? code.activation : 'linear';
  const mu = tf.layers.dense({ units: config.zDim, activation, name: 'mu' }).apply(h) as tf.SymbolicTensor;
  if (code.kind === 'point') return tf.model({ inputs, outputs: mu, name: 'encoder' });
  const logvar = tf.layers.dense({ units: config.zDim, name: 'logvar' }).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs, outputs: [mu, logvar], name: 'encoder' });
}

/**
 * Inputs: z (and a cvae's condition: the one-hot label, or the observed pixels). Outputs logits; the image
 * (Bernoulli mean, or the mean of a Gaussian with fixed σ) is sigmoid(logits): every pixel, or for a
 * completion model the missing ones. A Gaussian with a learned variance (M1+M2) outputs μ and log σ².
 */
export function buildDecoder(config: ModelConfig): tf.LayersModel {
  const layout = conditionLayout(config.inputShape, config.condition);
  let { inputs, h } = withCondition('z', config.zDim, layout.decoderExtra, config.condition?.kind === 'region' ? 'observed' : 'label');
  [...config.hidden].reverse().forEach((units, i) => {
    h = tf.layers.dense({ units, activation: 'relu', name: `dec_hidden_${i + 1}` }).apply(h) as tf.SymbolicTensor;
  });
  if (config.arch === 'conv') {
    if (outputsPerValue(config) !== 1) throw new Error('a conv decoder gives one output per value (a Gaussian needs a fixed sigma)');
    const out = convDecoderHead(h, convShape(config.inputShape[0]), config.inputShape[2]);
    return tf.model({ inputs, outputs: out, name: 'decoder' });
  }
  const units = layout.outputDim * outputsPerValue(config);
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

/** The convolutional parts of a conv model (conv.ts). */
interface ConvParts {
  shape: ConvShape;
  encoder: ConvParams[];
  /** Dense layer from the decoder's last hidden features to the smallest map. */
  project: DenseParams;
  decoder: ConvParams[];
}

export class Vae {
  private readonly encHidden: DenseParams[];
  private readonly encMu: DenseParams;
  /** null for an autoencoder, whose code is a point. */
  private readonly encLogvar: DenseParams | null;
  private readonly decLayers: DenseParams[];
  private readonly clsLayers: DenseParams[];
  private readonly conv: ConvParts | null;
  readonly condition: ConditionLayout;
  private observedIndices: tf.Tensor1D | null = null;
  private missingIndices: tf.Tensor1D | null = null;

  /** M2's q(y|x) (the extra network 'classifier'), else null. */
  readonly classifier: tf.LayersModel | null;

  /**
   * extras: the family's networks besides encoder and decoder (model/families), trained after them in this
   * order; one named 'classifier' is q(y|x).
   */
  constructor(readonly config: ModelConfig, readonly encoder: tf.LayersModel, readonly decoder: tf.LayersModel,
    readonly extras: Record<string, tf.LayersModel> = {}, readonly quantizer: Quantizer | null = null) {
    this.classifier = extras.classifier ?? null;
    this.condition = conditionLayout(config.inputShape, config.condition);
    if (this.condition.observed && this.condition.missing) {
      this.observedIndices = tf.keep(tf.tensor1d(this.condition.observed, 'int32'));
      this.missingIndices = tf.keep(tf.tensor1d(this.condition.missing, 'int32'));
    }
    this.encHidden = config.hidden.map((_, i) => denseParams(encoder, `enc_hidden_${i + 1}`));
    this.encMu = denseParams(encoder, 'mu');
    this.encLogvar = encoder.layers.some((l) => l.name === 'logvar') ? denseParams(encoder, 'logvar') : null;
    if (config.arch === 'conv') {
      const shape = convShape(config.inputShape[0]);
      this.conv = { shape, encoder: encoderConvs(encoder, shape), project: denseParams(decoder, 'dec_project'),
        decoder: decoderConvs(decoder, shape) };
      this.decLayers = config.hidden.map((_, i) => denseParams(decoder, `dec_hidden_${i + 1}`));
    } else {
      this.conv = null;
      this.decLayers = [...config.hidden.map((_, i) => denseParams(decoder, `dec_hidden_${i + 1}`)), denseParams(decoder, 'logits')];
    }
    const classifier = this.classifier;
    this.clsLayers = classifier ? [...config.hidden.map((_, i) => denseParams(classifier, `cls_hidden_${i + 1}`)),
      denseParams(classifier, 'class_logits')] : [];
  }

  /** Whether the code is a point (an autoencoder's), not a distribution q(z|x): no log σ². */
  get pointCode(): boolean {
    return this.encLogvar === null;
  }

  /** All networks: encoder, decoder, then the family's extras, in the order of trainableVariables(). */
  get networks(): Record<string, tf.LayersModel> {
    return { encoder: this.encoder, decoder: this.decoder, ...this.extras };
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
    return Object.values(this.networks).flatMap((net) => net.trainableWeights).map((w) => w.read() as tf.Variable);
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
      if (first.activation === 'relu') h = tf.relu(h);
      for (const p of rest) h = applyDense(h, p);
      return { mu: applyDense(h, this.encMu), logvar: applyDense(h, this.requireLogvar()) };
    });
  }

  /**
   * q(z|x, y): μ and log σ², each [batch, zDim]. x is data: no gradient is computed for it. y: the one-hot
   * labels [batch, classes] of a label-conditioned model, else absent.
   */
  encode(x: tf.Tensor2D, y?: tf.Tensor2D): { mu: tf.Tensor2D; logvar: tf.Tensor2D } {
    return tf.tidy(() => {
      const { h, onData } = this.encoderFeatures(x, y);
      return { mu: applyDense(h, this.encMu, onData), logvar: applyDense(h, this.requireLogvar(), onData) };
    });
  }

  /**
   * The code that reconstructs and interpolates x [batch, zDim]: μ(x) of q(z|x, y), or an autoencoder's code
   * (its encoder's 'mu' layer; no noise), quantised if the model has a quantizer. log σ² is not computed.
   */
  encodeMean(x: tf.Tensor2D, y?: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const code = this.encodeCode(x, y);
      return this.quantizer ? this.quantizer.quantize(code) : code;
    });
  }

  /** The encoder's code of x before any quantisation: μ(x), or an autoencoder's code. */
  encodeCode(x: tf.Tensor2D, y?: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const { h, onData } = this.encoderFeatures(x, y);
      return applyDense(h, this.encMu, onData);
    });
  }

  /** The encoder's last hidden features; onData: they are still the data (no hidden layer, no convolution). */
  private encoderFeatures(x: tf.Tensor2D, y?: tf.Tensor2D): { h: tf.Tensor2D; onData: boolean } {
    let h: tf.Tensor2D;
    let onData = true;
    if (this.conv) {
      const [height, width, channels] = this.config.inputShape;
      let map = tf.reshape(x, [x.shape[0], height, width, channels]) as tf.Tensor4D;
      this.conv.encoder.forEach((p, i) => { map = applyConv(map, p, i === 0); });
      h = tf.reshape(map, [x.shape[0], -1]);
      onData = false;
    } else {
      h = this.labelDim > 0 ? tf.concat([x, this.requireLabels(y)], 1) : x;
    }
    this.encHidden.forEach((p) => { h = applyDense(h, p, onData); onData = false; });
    return { h, onData };
  }

  private requireLogvar(): DenseParams {
    if (!this.encLogvar) throw new Error(`a ${this.config.family} model has a point code, not a distribution q(z|x)`);
    return this.encLogvar;
  }

  /** c: the decoder's condition [batch, decoderExtra] of a cvae (see decoderCondition), else absent. */
  decodeLogits(z: tf.Tensor2D, c?: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const [first, ...rest] = this.decLayers;
      let h: tf.Tensor2D;
      if (this.condition.decoderExtra > 0) {
        if (!c) throw new Error('this model is conditional: its decoder needs the condition');
        h = denseOnPartlyData(z, c, first.kernel, first.bias);
        if (first.activation === 'relu') h = tf.relu(h);
        for (const p of rest) h = applyDense(h, p);
      } else {
        h = z;
        for (const p of this.decLayers) h = applyDense(h, p);
      }
      return this.conv ? this.convDecode(h) : h;
    });
  }

  /** The conv decoder from its last dense features: the outputs flattened like the images, [batch, D]. */
  private convDecode(h: tf.Tensor2D): tf.Tensor2D {
    const conv = this.conv!;
    const n = h.shape[0];
    const top = conv.shape.channels[conv.shape.channels.length - 1];
    let map = tf.reshape(applyDense(h, conv.project), [n, conv.shape.map, conv.shape.map, top]) as tf.Tensor4D;
    for (const p of conv.decoder) map = applyConv(map, p);
    return tf.reshape(map, [n, this.inputDim]);
  }

  /**
   * The mean E[x|z, c]: sigmoid(logits), values in [0, 1] (for a completion model: the missing part); for a
   * Gaussian decoder with a learned variance, μ.
   */
  decodeMean(z: tf.Tensor2D, c?: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const out = this.decodeLogits(z, c);
      return this.config.likelihood === 'gaussian' && this.config.sigma === undefined ? tf.slice(out, [0, 0], [-1, this.condition.outputDim]) : tf.sigmoid(out);
    });
  }

  /** −log p(x|z) per row, from the decoder's outputs (decodeLogits) and the values it models (decoderTarget). */
  negLogLikelihood(outputs: tf.Tensor2D, target: tf.Tensor2D): tf.Tensor1D {
    if (this.config.likelihood !== 'gaussian') return bernoulliNllFromLogits(outputs, target);
    // A fixed σ models pixels: their mean is sigmoid(output), in [0, 1].
    const sigma = this.config.sigma;
    return sigma === undefined ? gaussianNll(outputs, target) : gaussianNllFixed(tf.sigmoid(outputs), target, sigma);
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
   * An autoencoder's objective on inputs `input` (for a denoising autoencoder: corrupted) and the images it
   * should give back, `target`: Σ over the examples of −log p(target|code(input)), divided by `normalizer`.
   * A sparse autoencoder adds weight · Σ_j KL(ρ || ρ̂_j) with ρ̂_j the mean of code unit j over these examples
   * (sparsityPenalty), counted as rows / normalizer of a batch's penalty; klSum reports it per example.
   */
  autoencoderLossTerms(input: tf.Tensor2D, target: tf.Tensor2D, normalizer = input.shape[0]): LossTerms {
    return tf.tidy(() => {
      const code = this.encodeMean(input);
      const rec = this.negLogLikelihood(this.decodeLogits(code), target);
      const rows = input.shape[0];
      const sparsity = this.config.sparsity;
      const penalty = sparsity ? tf.mul(sparsity.weight, sparsityPenalty(code, sparsity.target)) as tf.Scalar : tf.scalar(0);
      const loss = tf.div(tf.add(tf.sum(rec), tf.mul(penalty, rows)), normalizer) as tf.Scalar;
      return { loss, recSum: tf.sum(rec) as tf.Scalar, klSum: tf.mul(penalty, rows) as tf.Scalar };
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
    Object.values(this.networks).forEach((net) => net.dispose());
  }
}

const LOG_2PI = Math.log(2 * Math.PI);
