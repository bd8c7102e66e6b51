/**
 * Using a trained VAE: drawing samples, reconstructing, and walking the latent space between two codes;
 * for a conditional VAE also samples of a given label and completions of partly observed images.
 *
 * `labels` arguments are one-hot rows [n, classes], needed (only) by label-conditioned models.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../rng';
import { composeImages, gatherColumns, maskImages, oneHot } from './condition';
import { klToStdNormal, reparameterize } from './losses';
import { argmaxRows, classProbabilities } from './m2';
import { Vae } from './vae';
import { corrupt } from '../data/noise';

/** n images decoded (mean image) from z ~ N(0, I), drawn from the stream of `seed`. */
export function sampleImages(vae: Vae, n: number, seed: number, labels?: Float32Array): Float32Array {
  const z = new Rng(seed, 'sample').normals(n * vae.config.zDim);
  return decodeCodes(vae, z, n, labels);
}

/**
 * For a completion model: `perImage` completions of each of n images x [n, dim] (only their observed part
 * is used), z ~ N(0, I) from the stream of `seed`; whole images [n · perImage, dim], image i's first.
 */
export function sampleCompletions(vae: Vae, x: Float32Array, n: number, perImage: number, seed: number): Float32Array {
  return completeWithCodes(vae, x, n, perImage, new Rng(seed, 'complete').normals(n * perImage * vae.config.zDim));
}

/** As sampleCompletions, with the codes given ([n · perImage, zDim], image i's first). */
function completeWithCodes(vae: Vae, x: Float32Array, n: number, perImage: number, codes: Float32Array): Float32Array {
  const { missing, observed } = vae.condition;
  if (!missing || !observed) throw new Error('not a completion model');
  const dim = vae.inputDim;
  const rows = n * perImage;
  const repeated = repeatRows(x, n, dim, perImage);
  return composeImages(repeated, decodeCodes(vae, codes, rows, gatherColumns(repeated, rows, dim, observed)), rows, dim, missing);
}

/** Each of the n rows of x [n, width] `times` times in a row: [n · times, width]. */
export function repeatRows(x: Float32Array, n: number, width: number, times: number): Float32Array {
  const out = new Float32Array(n * times * width);
  for (let i = 0; i < n; i++) {
    for (let s = 0; s < times; s++) out.set(x.subarray(i * width, (i + 1) * width), (i * times + s) * width);
  }
  return out;
}

/**
 * The same `per` codes [per, zDim] decoded with every label of a label-conditioned model: [classes · per]
 * images, label 0's first, so that in a grid of `per` columns a row is a label and a column one style.
 */
export function decodeWithEveryLabel(vae: Vae, codes: Float32Array, per: number): Float32Array {
  const classes = vae.labelDim;
  const block = codes.subarray(0, per * vae.config.zDim);
  const z = new Float32Array(classes * block.length);
  for (let y = 0; y < classes; y++) z.set(block, y * block.length);
  return decodeCodes(vae, z, classes * per, repeatedOneHot(Array.from({ length: classes }, (_, y) => y), per, classes));
}

/** Runs `f` and reads its result back into JavaScript, leaving no tensors behind. */
function computeToArray(f: () => tf.Tensor): Float32Array {
  const result = tf.tidy(f);
  const out = result.dataSync() as Float32Array;
  result.dispose();
  return out;
}

/**
 * The mean images decoded from n codes [n, zDim]; `condition` [n, decoderExtra] is a cvae decoder's
 * condition: one-hot labels, or observed pixels (then the result is only the missing part).
 */
export function decodeCodes(vae: Vae, codes: Float32Array, n: number, condition?: Float32Array): Float32Array {
  const extra = vae.condition.decoderExtra;
  return computeToArray(() => vae.decodeMean(tf.tensor2d(codes, [n, vae.config.zDim]),
    extra > 0 && condition ? tf.tensor2d(condition, [n, extra]) : undefined));
}

/** μ(x) for each row of x: the code used to reconstruct and interpolate. */
export function encodeMeans(vae: Vae, x: Float32Array, n: number, labels?: Float32Array): Float32Array {
  return computeToArray(() => vae.encodeMean(tf.tensor2d(x, [n, vae.inputDim]), oneHotTensor(vae, labels, n)));
}

/** A quantised model's codebook entries for the images x [n, dim]: slots per image, [n · slots] (Vae.quantizer). */
export function codebookIndices(vae: Vae, x: Float32Array, n: number, batch = 1000): Int32Array {
  const quantizer = vae.quantizer;
  if (!quantizer) throw new Error('this model has no codebook');
  const out = new Int32Array(n * quantizer.slots);
  for (let start = 0; start < n; start += batch) {
    const m = Math.min(batch, n - start);
    const code = vae.encodeCode(tf.tensor2d(x.subarray(start * vae.inputDim, (start + m) * vae.inputDim), [m, vae.inputDim]));
    out.set(quantizer.indices(code), start * quantizer.slots);
    code.dispose();
  }
  return out;
}

/**
 * Decoded μ(x): what the model keeps of each image. For a completion model: the observed part of x with the
 * missing part decoded from μ(x).
 */
export function reconstructImages(vae: Vae, x: Float32Array, n: number, labels?: Float32Array): Float32Array {
  const { observed, missing } = vae.condition;
  if (observed && missing) {
    const decoded = decodeCodes(vae, encodeMeans(vae, x, n), n, gatherColumns(x, n, vae.inputDim, observed));
    return composeImages(x, decoded, n, vae.inputDim, missing);
  }
  return decodeCodes(vae, encodeMeans(vae, x, n, labels), n, labels);
}

function oneHotTensor(vae: Vae, labels: Float32Array | undefined, n: number): tf.Tensor2D | undefined {
  return vae.labelDim > 0 && labels ? tf.tensor2d(labels, [n, vae.labelDim]) : undefined;
}

/** One-hot rows for `count` copies of each label in `labels` (label i's copies together). */
export function repeatedOneHot(labels: number[], count: number, classes: number): Float32Array {
  return oneHot(labels.flatMap((l) => Array<number>(count).fill(l)), classes);
}

/**
 * For a label-conditioned model: the negative conditional ELBO −L(x, y) of each image for every label y,
 * [n, classes] row-major, averaged over `samples` draws of z (a fixed stream, so the same image always gets
 * the same numbers). The best label is the one with the lowest value: argmax_y p(x|y) under the bound.
 */
export function negElboPerLabel(vae: Vae, x: Float32Array, n: number, samples = 1, batch = LABEL_BATCH, offset = 0): Float32Array {
  const classes = vae.labelDim;
  const dim = vae.inputDim;
  const d = vae.config.zDim;
  const out = new Float32Array(n * classes);
  for (let start = 0; start < n; start += batch) {
    const m = Math.min(batch, n - start);
    const rows = m * classes; // image i with label y at row i · classes + y
    const values = computeToArray(() => {
      const images = tf.tensor2d(x.subarray(start * dim, (start + m) * dim), [m, dim]);
      const xs = tf.reshape(tf.tile(tf.expandDims(images, 1), [1, classes, 1]), [rows, dim]) as tf.Tensor2D;
      const ys = tf.tile(tf.eye(classes), [m, 1]) as tf.Tensor2D;
      const { mu, logvar } = vae.encode(xs, ys);
      let total = tf.mul(klToStdNormal(mu, logvar), samples);
      for (let s = 0; s < samples; s++) {
        const eps = tf.tensor2d(new Rng(0, 'label-elbo', offset + start, s).normals(rows * d), [rows, d]);
        total = tf.add(total, vae.negLogLikelihood(vae.decodeLogits(reparameterize(mu, logvar, eps), ys), xs));
      }
      return tf.div(total, samples);
    });
    out.set(values, start * classes);
  }
  return out;
}

/** Images negElboPerLabel scores at once (its noise is drawn per batch: a caller in parts cuts at multiples). */
export const LABEL_BATCH = 200;

/**
 * The label with the lowest −L(x, y) for each image (see negElboPerLabel); for M2, q(y|x)'s most probable one.
 * `offset`: the index of x's first image in the set (the same noise however the set is cut, at multiples of LABEL_BATCH).
 */
export function inferLabels(vae: Vae, x: Float32Array, n: number, samples = 1, offset = 0): Uint8Array {
  if (vae.classifier) return Uint8Array.from(argmaxRows(classProbabilities(vae, x, n), n, vae.labelDim)); // M2: q(y|x)
  const scores = negElboPerLabel(vae, x, n, samples, LABEL_BATCH, offset);
  const classes = vae.labelDim;
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let y = 1; y < classes; y++) if (scores[i * classes + y] < scores[i * classes + best]) best = y;
    labels[i] = best;
  }
  return labels;
}

/**
 * `steps` codes from a to b (both included): along the straight line, or with `slerp` along the great
 * circle, which keeps the norm typical of Gaussian codes (Shoemake 1985; White 2016):
 *   slerp(a, b; t) = sin((1 − t)θ)/sin θ · a + sin(tθ)/sin θ · b,  cos θ = a·b / (|a||b|)
 */
export function interpolateCodes(a: Float32Array, b: Float32Array, steps: number, slerp = false): Float32Array {
  const d = a.length;
  const out = new Float32Array(steps * d);
  let dot = 0, na = 0, nb = 0;
  for (let j = 0; j < d; j++) { dot += a[j] * b[j]; na += a[j] * a[j]; nb += b[j] * b[j]; }
  const theta = Math.acos(Math.min(1, Math.max(-1, dot / Math.sqrt(na * nb || 1))));
  const useSlerp = slerp && Math.sin(theta) > 1e-6;
  for (let s = 0; s < steps; s++) {
    const t = s / (steps - 1);
    const wa = useSlerp ? Math.sin((1 - t) * theta) / Math.sin(theta) : 1 - t;
    const wb = useSlerp ? Math.sin(t * theta) / Math.sin(theta) : t;
    for (let j = 0; j < d; j++) out[s * d + j] = wa * a[j] + wb * b[j];
  }
  return out;
}

/** A grid of images that shows what a model has learnt: what training draws after every epoch. */
export interface Preview {
  images: Float32Array;
  count: number;
  cols: number;
  /** For a label-conditioned model: the label of each row. */
  rowLabels?: number[];
}

/**
 * `codes` [≥ 64, zDim] from a fixed stream. A VAE: 64 samples. A label-conditioned model: one row per label,
 * the same 8 codes in every row (so a column shows one style in every class). A completion model: 8 test
 * images, each row the observed part then 7 completions.
 */
export function previewImages(vae: Vae, codes: Float32Array, testX: Float32Array): Preview {
  const d = vae.config.zDim;
  const dim = vae.inputDim;
  const cols = 8;
  const classes = vae.labelDim;
  if (classes > 0) {
    const rowLabels = Array.from({ length: classes }, (_, y) => y);
    return { images: decodeWithEveryLabel(vae, codes, cols), count: classes * cols, cols, rowLabels };
  }
  const { observed, missing } = vae.condition;
  if (observed && missing) {
    const rows = Math.min(8, testX.length / dim);
    const images = new Float32Array(rows * cols * dim);
    const inputs = testX.subarray(0, rows * dim);
    const done = completeWithCodes(vae, inputs, rows, cols - 1, codes.subarray(0, rows * (cols - 1) * d));
    const masked = maskImages(inputs, rows, dim, missing);
    for (let i = 0; i < rows; i++) {
      images.set(masked.subarray(i * dim, (i + 1) * dim), i * cols * dim);
      images.set(done.subarray(i * (cols - 1) * dim, (i + 1) * (cols - 1) * dim), (i * cols + 1) * dim);
    }
    return { images, count: rows * cols, cols };
  }
  if (vae.pointCode) {
    // An autoencoder's point codes have no prior to sample from: rows of test images (for a denoising autoencoder, corrupted), each followed by
    // a row of their reconstructions.
    const rows = Math.min(4, Math.floor(testX.length / dim / cols));
    const inputs = testX.slice(0, rows * cols * dim);
    const noise = vae.config.noise;
    const shown = noise ? corrupt(inputs, noise, new Rng(0, 'preview-noise')) : inputs;
    const decoded = reconstructImages(vae, shown, rows * cols);
    const images = new Float32Array(2 * rows * cols * dim);
    for (let r = 0; r < rows; r++) {
      images.set(shown.subarray(r * cols * dim, (r + 1) * cols * dim), 2 * r * cols * dim);
      images.set(decoded.subarray(r * cols * dim, (r + 1) * cols * dim), (2 * r + 1) * cols * dim);
    }
    return { images, count: 2 * rows * cols, cols };
  }
  return { images: decodeCodes(vae, codes.subarray(0, 64 * d), 64), count: 64, cols };
}
