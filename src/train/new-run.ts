/**
 * The config.json of a new run, from `vae train`'s settings and the data set: the model (the family's defaults and
 * checks), the data's record, the preprocessing, the training settings. Nothing here reaches a Node module: run.ts
 * makes the run folder of it, the explorer's Train panel a run in the page.
 */
import type { Dataset } from '../data/datasets';
import { DEFAULT_DATA_MEMORY_MB, DEFAULT_TEST_SPLIT, streamShape } from '../data/stream';
import { VaeError } from '../errors';
import { CONV_SIZES } from '../model/conv';
import { NewRunOptions } from '../model/families/family';
import { checkFamilyOptions, familiesWith, familyNamed } from '../model/families/registry';
import { DEFAULT_SIGMA } from '../model/losses';
import { CHECKPOINT_FORMAT, M1Features, ModelConfig, RunConfig } from '../model/run-config';
import { TOOL_VERSION } from '../version';

/** The config of a new run of the family o.model names, on `dataset` (M1+M2: on the M1 `features`). */
export function newRunConfigFor(o: NewRunOptions, dataset: Dataset, features?: M1Features): RunConfig {
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
  const config: RunConfig = {
    format: CHECKPOINT_FORMAT, tool: { name: 'vae', version: TOOL_VERSION }, createdAt: new Date().toISOString(),
    model,
    data: { name: dataset.name, source: dataset.source, kind: dataset.kind, binarize: features ? 'none' : o.binarize, labelNames: dataset.labelNames,
      trainCount: dataset.train.count, testCount: dataset.test.count,
      ...(dataset.kind === 'folder' ? { imageSize: dataset.height, channels: dataset.channels, testSplit: o.testSplit ?? DEFAULT_TEST_SPLIT,
        splitSeed: o.seed, dataMemory: o.dataMemory ?? DEFAULT_DATA_MEMORY_MB } : {}) },
    preprocess: { height: dataset.height, width: dataset.width, channels: dataset.channels, range: [0, 1], lightOnDark: dataset.kind === 'idx',
      fit: dataset.kind === 'idx' ? 'digit' : 'photo' },
    train: { epochs: o.epochs, batchSize: o.batchSize, lr: o.lr, beta: o.beta, klWarmup: o.klWarmup, seed: o.seed, normals: 'philox',
      iwTrain: o.iwTrain ?? 1, limitTrain: o.limitTrain, limitTest: o.limitTest, ...extra,
      // A streamed set: the windows of its epochs, recorded so that --resume replays the same order.
      ...(dataset.train.store ? { stream: streamShape(dataset.train.store.dim, (o.dataMemory ?? DEFAULT_DATA_MEMORY_MB) * 2 ** 20) } : {}) },
  };
  return config;
}

/** The convolutional model: square images of a size it knows, and the families it is built for. */
function checkConv(o: NewRunOptions, model: ModelConfig, supported: boolean): void {
  const [h, w] = model.inputShape;
  if (h !== w || !CONV_SIZES.includes(h)) {
    throw new VaeError(`--arch conv takes square images of ${CONV_SIZES.join(', ')} pixels; these are ${h}x${w} (use --image-size for a folder of images)`);
  }
  if (!supported) throw new VaeError(`--arch conv is for --model ${familiesWith('conv')}; ${o.model} uses the MLP (--arch mlp)`);
}

