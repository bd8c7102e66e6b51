/** Starting a new training run, or picking one up again from its last checkpoint. */
import * as fs from 'fs';
import * as path from 'path';
import { DataOptions, Dataset, dataCacheDirs, openDataset, openRecordedDataset } from '../data/datasets';
import { VaeError } from '../errors';
import { M1_DIR, assertNoRun, createRunDir, defaultRunDir, loadForResume, loadModel, warnOnStderr } from '../io/checkpoint';
import { testMatrix } from '../data/batches';
import { DEFAULT_DATA_MEMORY_MB } from '../data/stream';
import { lockRun } from '../io/run-lock';
import { saveLayersModel } from '../io/tfjs-files';
import { M1Codes, activeDims } from '../model/m1m2';
import { writeFileAtomic } from '../files';
import type { M1Features } from '../model/run-config';
import { NewRunOptions } from '../model/families/family';
import { createModel, familyNamed } from '../model/families/registry';
import { newRunConfigFor } from './new-run';
import { TrainRun, initialAdam, initialState } from './train';

export type { NewRunOptions };

/** What reading the data may report: progress of decoding an image folder, skipped files. */
export interface DataHooks {
  onProgress?: (done: number, total: number) => void;
  onWarning?: (message: string) => void;
}

function dataOptions(o: NewRunOptions, runDir: string, hooks: DataHooks): DataOptions {
  return { limitTrain: o.limitTrain, limitTest: o.limitTest, imageSize: o.imageSize, channels: o.channels, testSplit: o.testSplit,
    seed: o.seed, cacheDirs: dataCacheDirs(o.data, runDir), memory: (o.dataMemory ?? DEFAULT_DATA_MEMORY_MB) * 2 ** 20, ...hooks };
}

/** A new run of the family --model names (one that learns from an M1's codes starts with startM1M2Run). */
export async function startRun(o: NewRunOptions, hooks: DataHooks = {}): Promise<TrainRun> {
  if (familyNamed(o.model ?? 'vae').traits.codes) return startM1M2Run(o);
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
  if (m1.config.model.condition || m1.config.model.features || m1.vae.pointCode) {
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
  const config = newRunConfigFor(o, dataset, features);
  const lock = createRunDir(runDir, config);
  const vae = createModel(config.model, o.seed);
  return { runDir, config, dataset, vae, adam: initialAdam(vae), state: initialState(o.seed), lock };
}

/** The run in `runDir` as its last checkpoint left it; `epochs` raises its total. */
export async function resumeRun(runDir: string, epochs?: number): Promise<TrainRun & { checkpointName: string }> {
  if (!fs.existsSync(runDir)) throw new VaeError(`cannot resume: ${runDir} does not exist`);
  // The folder is this process's from here: a second `vae train --resume` of it refuses (io/run-lock.ts).
  const lock = lockRun(runDir, warnOnStderr);
  try {
    const loaded = await loadForResume(runDir);
    const { config, state } = loaded;
    if (epochs !== undefined && epochs !== config.train.epochs) {
      config.train.epochs = epochs; // kept in config.json, so that a later --resume aims at the same total
      writeFileAtomic(path.join(loaded.runDir, 'config.json'), JSON.stringify(config, null, 2) + '\n', 'the run\'s config.json');
    }
    if (state.epochsDone >= config.train.epochs) {
      throw new VaeError(`${runDir} has already finished its ${config.train.epochs} epochs; pass --epochs N to train longer`);
    }
    const dataset = await openRecordedDataset(config.data, loaded.runDir,
      { limitTrain: config.train.limitTrain, limitTest: config.train.limitTest });
    return { runDir: loaded.runDir, config, dataset, vae: loaded.vae, adam: loaded.adam, state, m1: loaded.m1,
      checkpointName: path.basename(loaded.checkpointDir), lock };
  } catch (e) {
    lock.release();
    throw e;
  }
}
