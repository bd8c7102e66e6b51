/** Starting a new training run, or picking one up again from its last checkpoint. */
import * as path from 'path';
import { Binarize } from '../data/batches';
import { Dataset, datasetSpec, loadDataset } from '../data/datasets';
import { VaeError } from '../errors';
import { M1_DIR, RunConfig, createRunDir, defaultRunDir, loadForResume, loadModel, newRunConfig } from '../io/checkpoint';
import { testMatrix } from '../data/batches';
import { saveLayersModel } from '../io/tfjs-files';
import { M1Codes, M1Features, activeDims } from '../model/m1m2';
import { writeFileAtomic } from '../io/files';
import { ConditionConfig, Region } from '../model/condition';
import { PAPER_ALPHA_PER_IMAGE } from '../model/m2';
import { ModelConfig, Vae } from '../model/vae';
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

export interface NewRunOptions {
  data: string;
  /**
   * 'vae' (default), 'cvae' conditioned on `condition`, 'm2' (semi-supervised, Kingma et al. 2014), or
   * 'm1m2': M2 on the codes of the VAE in `m1`.
   */
  model?: 'vae' | 'cvae' | 'm2' | 'm1m2';
  /** M1+M2: the run folder of a trained VAE. */
  m1?: string;
  /** What a cvae is conditioned on: the class label (default) or the observed part of the image. */
  condition?: 'label' | Region;
  binarize: Binarize;
  /** Latent dimensions; default DEFAULT_Z_DIM, LABEL_CVAE_Z_DIM for a cvae on the label, M2_Z_DIM for m2 and m1m2. */
  zDim?: number;
  /** Hidden layer sizes; default DEFAULT_HIDDEN, M2_HIDDEN for m2, M1M2_HIDDEN for m1m2. */
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
}

export function startRun(o: NewRunOptions): TrainRun {
  if (o.model === 'm1m2') throw new VaeError('an M1+M2 run starts with startM1M2Run');
  return newRun(o, loadDataset(o.data, { limitTrain: o.limitTrain, limitTest: o.limitTest }));
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
  const dataset = loadDataset(o.data, { limitTrain: o.limitTrain, limitTest: o.limitTest });
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
  const model: ModelConfig = { family, arch: 'mlp', inputShape: [dataset.height, dataset.width, dataset.channels],
    hidden: o.hidden ?? (features ? M1M2_HIDDEN : m2 ? M2_HIDDEN : DEFAULT_HIDDEN), zDim: o.zDim ?? defaultZDim(family, o.condition ?? 'label'),
    likelihood: 'bernoulli' };
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
    data: { name: dataset.name, source: dataset.source, binarize: features ? 'none' : o.binarize, labelNames: dataset.labelNames,
      trainCount: dataset.train.count, testCount: dataset.test.count },
    preprocess: { height: dataset.height, width: dataset.width, channels: dataset.channels, range: [0, 1], lightOnDark: true },
    train: { epochs: o.epochs, batchSize: o.batchSize, lr: o.lr, beta: o.beta, klWarmup: o.klWarmup, seed: o.seed,
      iwTrain: o.iwTrain ?? 1, limitTrain: o.limitTrain, limitTest: o.limitTest,
      ...(m2 ? { labeled: o.labeled ?? DEFAULT_LABELED, alpha: (o.alpha ?? PAPER_ALPHA_PER_IMAGE) * dataset.train.count } : {}) },
  });
  createRunDir(runDir, config);
  const vae = Vae.create(config.model, o.seed);
  return { runDir, config, dataset, vae, adam: initialAdam(vae), state: initialState(o.seed) };
}

function defaultZDim(family: 'vae' | 'cvae' | 'm2', condition: 'label' | Region): number {
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
  const dataset = loadDataset(datasetSpec(config.data), { limitTrain: config.train.limitTrain, limitTest: config.train.limitTest });
  return { runDir: loaded.runDir, config, dataset, vae: loaded.vae, adam: loaded.adam, state, m1: loaded.m1,
    checkpointName: path.basename(loaded.checkpointDir) };
}
