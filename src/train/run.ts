/** Starting a new training run, or picking one up again from its last checkpoint. */
import * as path from 'path';
import { Binarize } from '../data/batches';
import { Dataset, datasetSpec, loadDataset } from '../data/datasets';
import { VaeError } from '../errors';
import { RunConfig, createRunDir, defaultRunDir, loadForResume, newRunConfig } from '../io/checkpoint';
import { writeFileAtomic } from '../io/files';
import { ConditionConfig, Region } from '../model/condition';
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

export interface NewRunOptions {
  data: string;
  /** 'vae' (default) or 'cvae', conditioned on `condition`. */
  model?: 'vae' | 'cvae';
  /** What a cvae is conditioned on: the class label (default) or the observed part of the image. */
  condition?: 'label' | Region;
  binarize: Binarize;
  /** Latent dimensions; default DEFAULT_Z_DIM, or LABEL_CVAE_Z_DIM for a cvae on the label. */
  zDim?: number;
  hidden: number[];
  beta: number;
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  klWarmup: number;
  /** Samples per example of the importance-weighted objective (IWAE); 1: the ELBO. */
  iwTrain?: number;
  /** Run folder; default checkpoints/run-DATE-TIME. */
  out?: string;
  limitTrain?: number;
  limitTest?: number;
}

export function startRun(o: NewRunOptions): TrainRun {
  const dataset = loadDataset(o.data, { limitTrain: o.limitTrain, limitTest: o.limitTest });
  const runDir = o.out ?? defaultRunDir();
  const model: ModelConfig = { family: o.model ?? 'vae', arch: 'mlp', inputShape: [dataset.height, dataset.width, dataset.channels],
    hidden: o.hidden, zDim: o.zDim ?? (o.model === 'cvae' && (o.condition ?? 'label') === 'label' ? LABEL_CVAE_Z_DIM : DEFAULT_Z_DIM),
    likelihood: 'bernoulli' };
  if (model.family === 'cvae') model.condition = conditionFor(o.condition ?? 'label', dataset);
  else if (o.condition && o.condition !== 'label') throw new VaeError(`--condition ${o.condition} needs --model cvae`);
  const config: RunConfig = newRunConfig({
    model,
    data: { name: dataset.name, source: dataset.source, binarize: o.binarize, labelNames: dataset.labelNames,
      trainCount: dataset.train.count, testCount: dataset.test.count },
    preprocess: { height: dataset.height, width: dataset.width, channels: dataset.channels, range: [0, 1], lightOnDark: true },
    train: { epochs: o.epochs, batchSize: o.batchSize, lr: o.lr, beta: o.beta, klWarmup: o.klWarmup, seed: o.seed,
      iwTrain: o.iwTrain ?? 1, limitTrain: o.limitTrain, limitTest: o.limitTest },
  });
  createRunDir(runDir, config);
  const vae = Vae.create(config.model, o.seed);
  return { runDir, config, dataset, vae, adam: initialAdam(vae), state: initialState(o.seed) };
}

function conditionFor(condition: 'label' | Region, dataset: Dataset): ConditionConfig {
  if (condition !== 'label') return { kind: 'region', region: condition };
  if (!dataset.train.labels || !dataset.labelNames) {
    throw new VaeError(`--model cvae conditions on the label, and ${dataset.name} has no labels; use --condition left-half|top-half|centre`);
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
  return { runDir: loaded.runDir, config, dataset, vae: loaded.vae, adam: loaded.adam, state,
    checkpointName: path.basename(loaded.checkpointDir) };
}
