/** What several commands share: their common flags, loading the model they work on, and reading the user's images. */
import { Option } from 'commander';
import { Inputs, testInputs } from '../data/batches';
import { openRecordedDataset } from '../data/datasets';
import type { Labels } from '../data/folder';
import { prepareImage, preparePhoto, InvertMode } from '../data/images';
import sharp from 'sharp';
import { VaeError } from '../errors';
import { assertPngName } from '../files';
import { oneHot } from '../model/condition';
import { inferLabels } from '../model/generate';
import { familyOf } from '../model/families/registry';
import { positiveInt } from '../options';
import { Rng } from '../rng';
import { LoadedModel, loadModel } from '../io/checkpoint';
import { TileShape } from '../io/png';

/** --checkpoint: the run folder or checkpoint a command opens (openModel). */
export function checkpointOption(): Option {
  return new Option('--checkpoint <dir>', 'run folder or checkpoint (default: newest run under checkpoints/)');
}

/** --scale: the pixel size of a command's PNG. */
export function scaleOption(defaultScale: number): Option {
  return new Option('--scale <n>', 'enlarge each pixel n times').argParser(positiveInt).default(defaultScale);
}

/**
 * --invert (and noInvertOption's --no-invert) of a command that reads the user's drawings; invertMode reads the
 * pair. `inputs`: 'image' for a command that takes one, 'images' for several.
 */
export function invertOption(inputs: 'image' | 'images'): Option {
  return new Option('--invert', `invert the input ${inputs} (dark drawing on light paper); default: detected${inputs === 'images' ? ' per image' : ''}`);
}

/** --no-invert, beside invertOption. */
export function noInvertOption(inputs: 'image' | 'images'): Option {
  return new Option('--no-invert', `never invert the input ${inputs}`);
}

/**
 * The arguments `[files...]` of a command that reads images and writes a PNG: the input images, then the
 * output (`fallback` when no file is given). The output name is checked before any work is done.
 */
export function inputsAndOutput(files: string[], fallback: string): { inputs: string[]; out: string } {
  const out = files.length > 0 ? files[files.length - 1] : fallback;
  assertPngName(out);
  return { inputs: files.slice(0, -1), out };
}

/** Writes a line of information on stderr, unless --quiet. */
export function informer(quiet: boolean): (message: string) => void {
  return (message) => { if (!quiet) process.stderr.write(message + '\n'); };
}

/**
 * The model a command works on. An M1+M2 model works on M1's codes, not on images: only the commands that
 * say so (`codes`) take one.
 */
export async function openModel(checkpoint: string | undefined, quiet: boolean, accepts: { codes?: boolean } = {}): Promise<LoadedModel> {
  const loaded = await loadModel(checkpoint, 'best', informer(quiet));
  if (familyOf(loaded.config.model).traits.codes && !accepts.codes) {
    throw new VaeError(`${loaded.runDir} is an M1+M2 model (M2 on the codes of a VAE): use it with 'vae classify', 'vae evaluate' ` +
      "or 'vae sample'; analogy and the other picture commands take an m2 model trained on the images (--model m2)");
  }
  return loaded;
}

/** The inputs of the model for images x [n, image dim]: the images, or for M1+M2 their mean codes under M1. */
export function modelInputs(loaded: LoadedModel, x: Float32Array, n: number): Float32Array {
  return loaded.m1 ? loaded.m1.encode(x, n).mean : x;
}

export function tileShape(loaded: LoadedModel): TileShape {
  const [height, width, channels] = loaded.m1?.m1.config.inputShape ?? loaded.config.model.inputShape;
  return { height, width, channels };
}

/**
 * The user's image files, prepared like the training data, as one [n, dim] matrix. `fit`: fit each drawing
 * into the frame MNIST-style (true), take it as framed (false), or 'auto': as framed when it already has the
 * model's size, else fitted.
 */
export async function readInputImages(files: string[], loaded: LoadedModel, invert: InvertMode,
  fit: boolean | 'auto' = true): Promise<Float32Array> {
  const { height, width, channels } = tileShape(loaded);
  const dim = height * width * channels;
  const out = new Float32Array(files.length * dim);
  if (loaded.config.preprocess.fit === 'photo') {
    // Pictures like those of an image folder: cropped to the square and scaled, in the model's channels.
    for (let i = 0; i < files.length; i++) out.set(await preparePhoto(files[i], height, channels as 1 | 3), i * dim);
    return out;
  }
  for (let i = 0; i < files.length; i++) {
    let fitThis = fit;
    if (fitThis === 'auto') {
      const meta = await sharp(files[i]).metadata().catch(() => null);
      fitThis = !(meta && meta.width === width && meta.height === height);
    }
    const { pixels } = await prepareImage(files[i], { height, width }, invert, fitThis);
    out.set(pixels, i * dim);
  }
  return out;
}

/** A split's images as floats (binarized once where the run binarizes), read a range of rows at a time: a streamed test set is not held whole. */
export async function loadSplitInputs(loaded: LoadedModel, split: 'train' | 'test', limit?: number):
  Promise<{ x: Inputs; labels: Labels | null; count: number }> {
  const { data } = loaded.config;
  // Only this split is read (the other's limit is 0): a big folder's training pictures are not touched for its test set.
  const dataset = await openRecordedDataset(data, loaded.runDir, split === 'test' ? { limitTest: limit, limitTrain: 0 } : { limitTrain: limit, limitTest: 0 });
  const set = dataset[split];
  const { height, width, channels } = tileShape(loaded);
  return { x: testInputs(set, height * width * channels, data.binarize), labels: set.labels, count: set.count };
}

/** A split's images as one matrix of floats (see loadSplitInputs). */
export async function loadSplit(loaded: LoadedModel, split: 'train' | 'test', limit?: number):
  Promise<{ x: Float32Array; labels: Labels | null; count: number }> {
  const { x, labels, count } = await loadSplitInputs(loaded, split, limit);
  return { x: x.rows(0, count), labels, count };
}

/** n test images picked with `seed` (the same seed picks the same images), with their labels. */
export async function pickTestImages(loaded: LoadedModel, n: number, seed: number): Promise<{ x: Float32Array; labels: number[] | null }> {
  const test = await loadSplit(loaded, 'test');
  if (n > test.count) throw new VaeError(`the test set has only ${test.count} images`);
  const picked = new Rng(seed, 'reconstruct').permutation(test.count).subarray(0, n);
  const dim = loaded.vae.inputDim;
  const x = new Float32Array(n * dim);
  picked.forEach((row, i) => x.set(test.x.subarray(row * dim, (row + 1) * dim), i * dim));
  return { x, labels: test.labels ? Array.from(picked, (row) => test.labels![row]) : null };
}

/** A label given by name ("Sneaker", "7") or by index, as its index. */
export function labelIndex(loaded: LoadedModel, label: string): number {
  const names = loaded.config.data.labelNames ?? [];
  const byName = names.indexOf(label);
  if (byName >= 0) return byName;
  if (/^\d+$/.test(label) && Number(label) < names.length) return Number(label);
  throw new VaeError(`unknown label '${label}'; this model's labels are: ${names.join(', ')}`);
}

/** The name of label index y. */
export function labelName(loaded: LoadedModel, y: number): string {
  return loaded.config.data.labelNames?.[y] ?? String(y);
}

/**
 * One-hot labels for n images x of a label-conditioned model: `given` (a label name or index) for all, else
 * `known` (e.g. the data's labels), else each image's best label under the conditional ELBO, or for M2 its
 * classifier's (announced).
 * Undefined for a model that takes no label.
 */
export function labelsFor(loaded: LoadedModel, x: Float32Array, n: number, given: string | undefined,
  known: ArrayLike<number> | null, announce: (message: string) => void): { oneHot?: Float32Array; labels?: number[] } {
  const classes = loaded.vae.labelDim;
  if (classes === 0) {
    if (given !== undefined) throw new VaeError('--label is for a cvae conditioned on the label; this model takes none');
    return {};
  }
  let labels: number[];
  if (given !== undefined) {
    labels = Array<number>(n).fill(labelIndex(loaded, given));
  } else if (known) {
    labels = Array.from(known).slice(0, n);
  } else {
    labels = Array.from(inferLabels(loaded.vae, x, n, INFER_SAMPLES));
    const how = loaded.vae.classifier ? 'predicted by the classifier q(y|x)' : 'with the best conditional ELBO';
    announce(`label${n > 1 ? 's' : ''} ${how}: ${labels.map((y) => labelName(loaded, y)).join(', ')} (pass --label to choose)`);
  }
  return { oneHot: oneHot(labels, classes), labels };
}

/** The one-hot rows of a split's labels, when the model is conditioned on the label. */
export function dataLabels(loaded: LoadedModel, labels: ArrayLike<number> | null): Float32Array | undefined {
  if (loaded.vae.labelDim === 0) return undefined;
  if (!labels) throw new VaeError('this cvae needs the labels of the data, and the data set has none');
  return oneHot(labels, loaded.vae.labelDim);
}

/** Samples of z per label when a label is inferred for a user's image. */
export const INFER_SAMPLES = 32;

/** Stops a command that draws codes from the prior p(z) when the model is an autoencoder, which has none. */
export function requirePrior(loaded: LoadedModel, command: string): void {
  const family = familyOf(loaded.config.model);
  if (!family.traits.prior) {
    throw new VaeError(`'vae ${command}' draws z from the prior p(z), and ${withArticle(family.noun)} (${family.name}) has none: nothing made its codes ` +
      "fill N(0, I), so random codes decode to junk; train a VAE (--model vae) to sample, or use reconstruct and interpolate with this one");
  }
}

/** Stops a command that cannot use this kind of model, saying what to use instead. */
export function requireModel(loaded: LoadedModel, command: string,
  accepts: { label?: boolean; region?: boolean; unconditional?: boolean }): void {
  const condition = loaded.config.model.condition;
  if (!condition && accepts.unconditional === false) {
    const wanted = accepts.label ? "'vae train --model cvae'" : "'vae train --model cvae --condition left-half' (or top-half, centre)";
    throw new VaeError(`'vae ${command}' needs a conditional model, and ${loaded.runDir} is a plain VAE: train one with ${wanted}`);
  }
  if (condition?.kind === 'label' && !accepts.label) {
    throw new VaeError(accepts.region
      ? `'vae ${command}' needs a cvae trained with --condition left-half, top-half or centre; this cvae is conditioned on the label`
      : `'vae ${command}' is for unconditional VAEs; this cvae is conditioned on the label (try sample --label, analogy)`);
  }
  if (condition?.kind === 'region' && !accepts.region) {
    throw new VaeError(`'vae ${command}' cannot use a completion model (conditioned on the ${condition.region}); use 'vae complete'`);
  }
}

/** "an autoencoder", "a VAE", "an M2 model". */
export function withArticle(noun: string): string {
  return `${/^([aeiou]|M\d|M\+)/i.test(noun) ? 'an' : 'a'} ${noun}`;
}
