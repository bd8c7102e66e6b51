/** Starting a new training run, or picking one up again from its last checkpoint. */
import * as path from 'path';
import { Binarize } from '../data/batches';
import { datasetSpec, loadDataset } from '../data/datasets';
import { VaeError } from '../errors';
import { RunConfig, createRunDir, defaultRunDir, loadForResume, newRunConfig } from '../io/checkpoint';
import { writeFileAtomic } from '../io/files';
import { Vae } from '../model/vae';
import { TrainRun, initialAdam, initialState } from './train';

export interface NewRunOptions {
  data: string;
  binarize: Binarize;
  zDim: number;
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
  const config: RunConfig = newRunConfig({
    model: { family: 'vae', arch: 'mlp', inputShape: [dataset.height, dataset.width, dataset.channels],
      hidden: o.hidden, zDim: o.zDim, likelihood: 'bernoulli' },
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
