/** What several commands share: loading the model they work on, and reading the user's images. */
import { prepareImage, InvertMode } from '../data/images';
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
