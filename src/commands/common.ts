/** What several commands share: loading the model they work on, and reading the user's images. */
import { testMatrix } from '../data/batches';
import { datasetSpec, loadDataset } from '../data/datasets';
import { prepareImage, InvertMode } from '../data/images';
import { VaeError } from '../errors';
import { LoadedModel, loadModel } from '../io/checkpoint';
import { TileShape } from '../io/png';

export async function openModel(checkpoint: string | undefined, quiet: boolean): Promise<LoadedModel> {
  return loadModel(checkpoint, 'best', (message) => { if (!quiet) process.stderr.write(message + '\n'); });
}

export function tileShape(loaded: LoadedModel): TileShape {
  const [height, width, channels] = loaded.config.model.inputShape;
  return { height, width, channels };
}

/** The user's image files, prepared like the training data, as one [n, dim] matrix. */
export async function readInputImages(files: string[], loaded: LoadedModel, invert: InvertMode): Promise<Float32Array> {
  const { height, width } = tileShape(loaded);
  const dim = height * width;
  const out = new Float32Array(files.length * dim);
  for (let i = 0; i < files.length; i++) {
    const { pixels } = await prepareImage(files[i], { height, width }, invert);
    out.set(pixels, i * dim);
  }
  return out;
}

/** A split of the model's data set, prepared like its training data (binarized test set with a fixed seed). */
export function loadSplit(loaded: LoadedModel, split: 'train' | 'test', limit?: number):
  { x: Float32Array; labels: Uint8Array | null; count: number } {
  const { data } = loaded.config;
  const dataset = loadDataset(datasetSpec(data), split === 'test' ? { limitTest: limit } : { limitTrain: limit });
  const set = dataset[split];
  return { x: testMatrix(set, loaded.vae.inputDim, data.binarize), labels: set.labels, count: set.count };
}

/** A label given by name ("Sneaker", "7") or by index, as its index. */
export function labelIndex(loaded: LoadedModel, label: string): number {
  const names = loaded.config.data.labelNames ?? [];
  const byName = names.indexOf(label);
  if (byName >= 0) return byName;
  if (/^\d+$/.test(label) && Number(label) < names.length) return Number(label);
  throw new VaeError(`unknown label '${label}'; this model's labels are: ${names.join(', ')}`);
}
