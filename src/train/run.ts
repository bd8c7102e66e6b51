/** Starting a new training run, or picking one up again from its last checkpoint. */
import * as path from 'path';
import { Binarize } from '../data/batches';
import { DEFAULT_TEST_SPLIT, DataOptions, Dataset, dataCacheDirs, openDataset, openRecordedDataset } from '../data/datasets';
import { VaeError } from '../errors';
import { M1_DIR, RunConfig, assertNoRun, createRunDir, defaultRunDir, loadForResume, loadModel, newRunConfig } from '../io/checkpoint';
import { testMatrix } from '../data/batches';
import { saveLayersModel } from '../io/tfjs-files';
import { M1Codes, M1Features, activeDims } from '../model/m1m2';
import { writeFileAtomic } from '../io/files';
import { ConditionConfig, Region } from '../model/condition';
import { PAPER_ALPHA_PER_IMAGE } from '../model/m2';
import { AutoencoderFamily, ModelConfig, ModelFamily, Vae, isAutoencoder } from '../model/vae';
import { CONV_SIZES } from '../model/conv';
import { NoiseKind, noiseConfig } from '../data/noise';
import { TrainRun, initialAdam, initialState } from './train';

export const DEFAULT_Z_DIM = 20;
/**
 * A cvae on the label draws its samples from the prior p(z) = N(0, I). With 20 dimensions, many such z lie
 * where the encoder put little mass and decode to the same shape whatever the label (measured after 10
 * epochs: an independent classifier reads 63-87% of each label's samples as that label); with 2 dimensions
 * z keeps only the style and every label's samples read as that label (96-100%). See README.md.
 */
export const LABEL_CVAE_Z_DIM = 2;
/** M2's networks as in Kingma et al. 2014 (§4.1): one hidden layer of 500 units, 50 latent dimensions. */
export const M2_HIDDEN = [500];
export const M2_Z_DIM = 50;
export const DEFAULT_HIDDEN = [400];
/** M1+M2 with 100 labels: M2's hidden layer in the paper's code (nips14-ssl, run_2layer_ssl.py). */
export const M1M2_HIDDEN = [300];
/** M2: labelled training images (the paper's headline setting: 100, 10 per class). */
export const DEFAULT_LABELED = 100;
/**
 * --likelihood gaussian: the fixed σ of p(x|z) on pixel values in [0, 1]; the mean is sigmoid(decoder output).
 * Measured on a colour folder (360 shapes, 32x32, conv, 12 epochs; test mean squared error, the mean image:
 * 0.080): a variance per pixel learned by the decoder 0.088 (the variance absorbed the error, the code was
 * ignored); σ = 0.1 with a linear mean 0.056; σ = 0.1 with a sigmoid mean 0.019 (Bernoulli: 0.021).
 */
export const DEFAULT_SIGMA = 0.1;
/** --arch conv: one dense layer between the convolutions and the code. */
export const CONV_HIDDEN = [256];
/**
 * sae: the target mean activation of a code unit (Ng's lecture notes: ρ = 0.05), and the penalty's weight.
 * The notes' β = 3 weighs the penalty against a squared error of a few units; our reconstruction is ~100 nats
 * per image, so the weight is larger. Measured, 1 epoch on 10,000 MNIST images, 32 code units: mean activation
 * 0.29 with weight 3, 0.12 with 30, 0.075 with 100.
 */
export const DEFAULT_SPARSITY = 0.05;
export const DEFAULT_SPARSITY_WEIGHT = 100;

export interface NewRunOptions {
  data: string;
  /**
   * 'vae' (default), 'cvae' conditioned on `condition`, 'm2' (semi-supervised, Kingma et al. 2014),
   * 'm1m2': M2 on the codes of the VAE in `m1`, or an autoencoder: 'ae', 'dae' (denoising), 'sae' (sparse).
   */
  model?: 'vae' | 'cvae' | 'm2' | 'm1m2' | AutoencoderFamily;
  /** 'mlp' (default) or 'conv' (convolutions; square images of 28, 32 or 64 pixels). */
  arch?: 'mlp' | 'conv';
  /** p(x|z): 'bernoulli' (default), or 'gaussian' with the decoder's mean and a fixed standard deviation `sigma`. */
  likelihood?: 'bernoulli' | 'gaussian';
  sigma?: number;
  /** dae: the corruption of the inputs (default: gaussian, at its DEFAULT_NOISE_LEVEL). */
  noise?: NoiseKind;
  noiseLevel?: number;
  /** sae: the target mean activation ρ of the code units and the penalty's weight. */
  sparsity?: number;
  sparsityWeight?: number;
  /** M1+M2: the run folder of a trained VAE. */
  m1?: string;
  /** What a cvae is conditioned on: the class label (default) or the observed part of the image. */
  condition?: 'label' | Region;
  binarize: Binarize;
  /** Latent dimensions; default DEFAULT_Z_DIM, LABEL_CVAE_Z_DIM for a cvae on the label, M2_Z_DIM for m2 and m1m2. */
  zDim?: number;
  /** Hidden layer sizes; default DEFAULT_HIDDEN, M2_HIDDEN for m2, M1M2_HIDDEN for m1m2, CONV_HIDDEN for --arch conv. */
  hidden?: number[];
  beta: number;
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  klWarmup: number;
  /** Samples per example of the importance-weighted objective (IWAE); 1: the ELBO. */
  iwTrain?: number;
  /**
   * M2: labelled training images (default DEFAULT_LABELED), and the weight of the classifier's cross-entropy
   * in units of N, the training images: α = alpha · N (default PAPER_ALPHA_PER_IMAGE, the paper's α = 0.1 · N).
   */
  labeled?: number;
  alpha?: number;
  /** Run folder; default checkpoints/run-DATE-TIME. */
  out?: string;
  limitTrain?: number;
  limitTest?: number;
  /** A folder of images: side and channels of the images, and the share held out for testing (see DataOptions). */
  imageSize?: number;
  channels?: 1 | 3;
  testSplit?: number;
}

/** What reading the data may report: progress of decoding an image folder, skipped files. */
export interface DataHooks {
  onProgress?: (done: number, total: number) => void;
  onWarning?: (message: string) => void;
}

function dataOptions(o: NewRunOptions, runDir: string, hooks: DataHooks): DataOptions {
  return { limitTrain: o.limitTrain, limitTest: o.limitTest, imageSize: o.imageSize, channels: o.channels, testSplit: o.testSplit,
    seed: o.seed, cacheDirs: dataCacheDirs(o.data, runDir), ...hooks };
}

export async function startRun(o: NewRunOptions, hooks: DataHooks = {}): Promise<TrainRun> {
  if (o.model === 'm1m2') throw new VaeError('an M1+M2 run starts with startM1M2Run');
  const runDir = o.out ?? defaultRunDir();
  assertNoRun(runDir); // before a folder of images is decoded
  return newRun({ ...o, out: runDir }, await openDataset(o.data, dataOptions(o, runDir, hooks)));
}

/**
 * M1+M2: M2 on the codes of the trained VAE in `o.m1` (Kingma et al. 2014). M1's weights are copied into the
 * run folder (m1/), so that the run stands alone.
 */
export async function startM1M2Run(o: NewRunOptions): Promise<TrainRun> {
  if (!o.m1) throw new VaeError('--model m1m2 needs --m1 DIR: a VAE trained on the same data (vae train --hidden 500,500 --z-dim 50)');
  const m1 = await loadModel(o.m1, 'best');
  if (m1.config.model.family !== 'vae') {
    throw new VaeError(`--m1 ${o.m1} is a ${m1.config.model.family} model; M1 is a plain VAE (vae train --model vae)`);
  }
  const dataset = await openDataset(o.data, { limitTrain: o.limitTrain, limitTest: o.limitTest });
  const shape = [dataset.height, dataset.width, dataset.channels];
  if (m1.config.model.inputShape.join('x') !== shape.join('x')) {
    throw new VaeError(`--m1 ${o.m1} was trained on ${m1.config.model.inputShape.join('x')} images; ${dataset.name} has ${shape.join('x')}`);
  }
  const dims = activeDims(m1.vae, testMatrix(dataset.train, m1.vae.inputDim, 'none'), dataset.train.count);
  if (dims.length === 0) throw new VaeError(`--m1 ${o.m1}: no latent dimension of M1 varies over the training images`);
  const features: M1Features = { m1: m1.config.model, dims, source: path.resolve(m1.runDir) };
  const run = newRun(o, dataset, features);
  // Saved from memory: the files of a run that is still training may be replaced while we copy them.
  await saveLayersModel(m1.vae.encoder, path.join(run.runDir, M1_DIR, 'encoder'));
  await saveLayersModel(m1.vae.decoder, path.join(run.runDir, M1_DIR, 'decoder'));
  run.m1 = new M1Codes(m1.vae, dims);
  return run;
}

function newRun(o: NewRunOptions, dataset: Dataset, features?: M1Features): TrainRun {
  const runDir = o.out ?? defaultRunDir();
  const family = o.model === 'm1m2' ? 'm2' : o.model ?? 'vae';
  const m2 = family === 'm2';
  const arch = o.arch ?? 'mlp';
  const model: ModelConfig = { family, arch, inputShape: [dataset.height, dataset.width, dataset.channels],
    hidden: o.hidden ?? (features ? M1M2_HIDDEN : m2 ? M2_HIDDEN : arch === 'conv' ? CONV_HIDDEN : DEFAULT_HIDDEN),
    zDim: o.zDim ?? defaultZDim(family, o.condition ?? 'label'), likelihood: o.likelihood ?? 'bernoulli' };
  if (arch === 'conv') checkConv(o, model);
  if (model.likelihood === 'gaussian' && o.binarize !== 'none') {
    throw new VaeError('--binarize dynamic makes the pixels 0 or 1, a Bernoulli likelihood; a Gaussian one models grey levels: drop one of them');
  }
  if ((o.likelihood || o.sigma !== undefined) && features) {
    throw new VaeError('--likelihood and --sigma are for images; M1+M2 models M1\'s codes with a Gaussian of learned variance');
  }
  if (model.likelihood === 'gaussian') model.sigma = o.sigma ?? DEFAULT_SIGMA;
  else if (o.sigma !== undefined) throw new VaeError('--sigma is the standard deviation of a Gaussian p(x|z): add --likelihood gaussian');
  configureAutoencoder(o, model);
  if (features) {
    // M2 models M1's codes: a vector of the kept dimensions, Gaussian.
    Object.assign(model, { inputShape: [1, features.dims.length, 1], likelihood: 'gaussian', features });
  } else if (o.m1) {
    throw new VaeError('--m1 is for --model m1m2');
  }
  if (family === 'cvae') model.condition = conditionFor(o.condition ?? 'label', dataset);
  else if (o.condition && o.condition !== 'label') throw new VaeError(`--condition ${o.condition} needs --model cvae`);
  if (m2) {
    model.condition = conditionFor('label', dataset, '--model m2');
    checkSemiSupervised(o, model);
  } else if (o.labeled !== undefined || o.alpha !== undefined) {
    throw new VaeError('--labeled and --alpha are for semi-supervised training: add --model m2');
  }
  const config: RunConfig = newRunConfig({
    model,
    data: { name: dataset.name, source: dataset.source, kind: dataset.kind, binarize: features ? 'none' : o.binarize, labelNames: dataset.labelNames,
      trainCount: dataset.train.count, testCount: dataset.test.count,
      ...(dataset.kind === 'folder' ? { imageSize: dataset.height, channels: dataset.channels, testSplit: o.testSplit ?? DEFAULT_TEST_SPLIT,
        splitSeed: o.seed } : {}) },
    preprocess: { height: dataset.height, width: dataset.width, channels: dataset.channels, range: [0, 1], lightOnDark: dataset.kind === 'idx',
      fit: dataset.kind === 'idx' ? 'digit' : 'photo' },
    train: { epochs: o.epochs, batchSize: o.batchSize, lr: o.lr, beta: o.beta, klWarmup: o.klWarmup, seed: o.seed,
      iwTrain: o.iwTrain ?? 1, limitTrain: o.limitTrain, limitTest: o.limitTest,
      ...(m2 ? { labeled: o.labeled ?? DEFAULT_LABELED, alpha: (o.alpha ?? PAPER_ALPHA_PER_IMAGE) * dataset.train.count } : {}) },
  });
  createRunDir(runDir, config);
  const vae = Vae.create(config.model, o.seed);
  return { runDir, config, dataset, vae, adam: initialAdam(vae), state: initialState(o.seed) };
}

/** The convolutional model: square images of a size it knows, and the families it is built for. */
function checkConv(o: NewRunOptions, model: ModelConfig): void {
  const [h, w] = model.inputShape;
  if (h !== w || !CONV_SIZES.includes(h)) {
    throw new VaeError(`--arch conv takes square images of ${CONV_SIZES.join(', ')} pixels; these are ${h}x${w} (use --image-size for a folder of images)`);
  }
  if (model.family === 'cvae' || model.family === 'm2') {
    throw new VaeError(`--arch conv is for --model vae, ae, dae and sae; ${o.model} uses the MLP (--arch mlp)`);
  }
}

/** The autoencoder family's settings, and the flags that only they take. */
function configureAutoencoder(o: NewRunOptions, model: ModelConfig): void {
  const family = model.family;
  if (o.noise !== undefined || o.noiseLevel !== undefined) {
    if (family !== 'dae') throw new VaeError('--noise and --noise-level are for a denoising autoencoder: add --model dae');
  }
  if (o.sparsity !== undefined || o.sparsityWeight !== undefined) {
    if (family !== 'sae') throw new VaeError('--sparsity and --sparsity-weight are for a sparse autoencoder: add --model sae');
  }
  if (!isAutoencoder(family)) return;
  if (o.beta !== 1 || o.klWarmup > 0 || (o.iwTrain ?? 1) > 1) {
    throw new VaeError(`an autoencoder (--model ${family}) has no KL term: --beta, --kl-warmup and --iw-train are for vae and cvae`);
  }
  if (family === 'dae') {
    model.noise = noiseConfig(o.noise ?? 'gaussian', o.noiseLevel);
  }
  if (family === 'sae') {
    const target = o.sparsity ?? DEFAULT_SPARSITY;
    if (!(target > 0 && target < 1)) throw new VaeError(`--sparsity is a mean activation, between 0 and 1 (exclusive); got ${target}`);
    model.sparsity = { target, weight: o.sparsityWeight ?? DEFAULT_SPARSITY_WEIGHT };
  }
}

function defaultZDim(family: ModelFamily, condition: 'label' | Region): number {
  if (family === 'm2') return M2_Z_DIM;
  return family === 'cvae' && condition === 'label' ? LABEL_CVAE_Z_DIM : DEFAULT_Z_DIM;
}

/** M2 trains the paper's objective: no β, warm-up or IWAE, and at least one hidden layer. */
function checkSemiSupervised(o: NewRunOptions, model: ModelConfig): void {
  if (o.beta !== 1 || o.klWarmup > 0 || (o.iwTrain ?? 1) > 1) {
    throw new VaeError('--model m2 trains the objective of Kingma et al. 2014: --beta, --kl-warmup and --iw-train are for vae and cvae');
  }
  if (model.hidden.length === 0) throw new VaeError('--model m2 needs at least one hidden layer (--hidden)');
}

function conditionFor(condition: 'label' | Region, dataset: Dataset, flag = '--model cvae'): ConditionConfig {
  if (condition !== 'label') return { kind: 'region', region: condition };
  if (!dataset.train.labels || !dataset.labelNames || !dataset.test.labels) {
    throw new VaeError(flag === '--model cvae'
      ? `--model cvae conditions on the label, and ${dataset.name} has no labels; use --condition left-half|top-half|centre`
      : `${flag} learns from labelled and unlabelled images, and ${dataset.name} has no labels`);
  }
  return { kind: 'label', classes: dataset.labelNames.length };
}

/** The run in `runDir` as its last checkpoint left it; `epochs` raises its total. */
export async function resumeRun(runDir: string, epochs?: number): Promise<TrainRun & { checkpointName: string }> {
  const loaded = await loadForResume(runDir);
  const { config, state } = loaded;
  if (epochs !== undefined && epochs !== config.train.epochs) {
    config.train.epochs = epochs; // kept in config.json, so that a later --resume aims at the same total
    writeFileAtomic(path.join(loaded.runDir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  }
  if (state.epochsDone >= config.train.epochs) {
    throw new VaeError(`${runDir} has already finished its ${config.train.epochs} epochs; pass --epochs N to train longer`);
  }
  const dataset = await openRecordedDataset(config.data, loaded.runDir,
    { limitTrain: config.train.limitTrain, limitTest: config.train.limitTest });
  return { runDir: loaded.runDir, config, dataset, vae: loaded.vae, adam: loaded.adam, state, m1: loaded.m1,
    checkpointName: path.basename(loaded.checkpointDir) };
}
