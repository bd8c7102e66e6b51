/** Starting a new training run, or picking one up again from its last checkpoint. */
import * as fs from 'fs';
import * as path from 'path';
import { DEFAULT_TEST_SPLIT, DataOptions, Dataset, dataCacheDirs, openDataset, openRecordedDataset } from '../data/datasets';
import { VaeError } from '../errors';
import { M1_DIR, RunConfig, assertNoRun, createRunDir, defaultRunDir, loadForResume, loadModel, newRunConfig, warnOnStderr } from '../io/checkpoint';
import { testMatrix } from '../data/batches';
import { DEFAULT_DATA_MEMORY_MB, streamShape } from '../data/stream';
import { lockRun } from '../io/run-lock';
import { saveLayersModel } from '../io/tfjs-files';
import { M1Codes, activeDims } from '../model/m1m2';
import { writeFileAtomic } from '../files';
import type { M1Features, ModelConfig } from '../model/run-config';
import { CONV_SIZES } from '../model/conv';
import { DEFAULT_SIGMA } from '../model/losses';
import { NewRunOptions } from '../model/families/family';
import { checkFamilyOptions, createModel, familiesWith, familyNamed } from '../model/families/registry';
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
  const family = familyNamed(o.model ?? 'vae');
  checkFamilyOptions(family, o);
  const arch = o.arch ?? 'mlp';
  const defaults = family.defaults(o);
  const model: ModelConfig = { family: family.storedAs ?? family.name, arch, inputShape: [dataset.height, dataset.width, dataset.channels],
    hidden: o.hidden ?? defaults.hidden, zDim: o.zDim ?? defaults.zDim, likelihood: o.likelihood ?? 'bernoulli' };
  if (arch === 'conv') checkConv(o, model, family.traits.conv);
  if (model.likelihood === 'gaussian' && o.binarize !== 'none') {
    throw new VaeError('--binarize dynamic makes the pixels 0 or 1, a Bernoulli likelihood; a Gaussian one models grey levels: drop one of them');
  }
  if ((o.likelihood || o.sigma !== undefined) && features) {
    throw new VaeError('--likelihood and --sigma are for images; M1+M2 models M1\'s codes with a Gaussian of learned variance');
  }
  if (model.likelihood === 'gaussian') model.sigma = o.sigma ?? DEFAULT_SIGMA;
  else if (o.sigma !== undefined) throw new VaeError('--sigma is the standard deviation of a Gaussian p(x|z): add --likelihood gaussian');
  if (features) {
    // M2 models M1's codes: a vector of the kept dimensions, Gaussian.
    Object.assign(model, { inputShape: [1, features.dims.length, 1], likelihood: 'gaussian', features });
  }
  const extra = family.configure(o, model, dataset);
  const config: RunConfig = newRunConfig({
    model,
    data: { name: dataset.name, source: dataset.source, kind: dataset.kind, binarize: features ? 'none' : o.binarize, labelNames: dataset.labelNames,
      trainCount: dataset.train.count, testCount: dataset.test.count,
      ...(dataset.kind === 'folder' ? { imageSize: dataset.height, channels: dataset.channels, testSplit: o.testSplit ?? DEFAULT_TEST_SPLIT,
        splitSeed: o.seed, dataMemory: o.dataMemory ?? DEFAULT_DATA_MEMORY_MB } : {}) },
    preprocess: { height: dataset.height, width: dataset.width, channels: dataset.channels, range: [0, 1], lightOnDark: dataset.kind === 'idx',
      fit: dataset.kind === 'idx' ? 'digit' : 'photo' },
    train: { epochs: o.epochs, batchSize: o.batchSize, lr: o.lr, beta: o.beta, klWarmup: o.klWarmup, seed: o.seed,
      iwTrain: o.iwTrain ?? 1, limitTrain: o.limitTrain, limitTest: o.limitTest, ...extra,
      // A streamed set: the windows of its epochs, recorded so that --resume replays the same order.
      ...(dataset.train.store ? { stream: streamShape(dataset.train.store.dim, (o.dataMemory ?? DEFAULT_DATA_MEMORY_MB) * 2 ** 20) } : {}) },
  });
  const lock = createRunDir(runDir, config);
  const vae = createModel(config.model, o.seed);
  return { runDir, config, dataset, vae, adam: initialAdam(vae), state: initialState(o.seed), lock };
}

/** The convolutional model: square images of a size it knows, and the families it is built for. */
function checkConv(o: NewRunOptions, model: ModelConfig, supported: boolean): void {
  const [h, w] = model.inputShape;
  if (h !== w || !CONV_SIZES.includes(h)) {
    throw new VaeError(`--arch conv takes square images of ${CONV_SIZES.join(', ')} pixels; these are ${h}x${w} (use --image-size for a folder of images)`);
  }
  if (!supported) throw new VaeError(`--arch conv is for --model ${familiesWith('conv')}; ${o.model} uses the MLP (--arch mlp)`);
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
