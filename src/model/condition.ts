/**
 * What a conditional VAE (Doersch 2016 §4) is conditioned on, and the shapes that follow from it.
 *
 * - A class label y, one-hot: encoder q(z|x, y) and decoder p(x|z, y) both see y beside their usual input.
 * - An observed part of the image (image completion): x splits into the observed pixels y and the missing
 *   pixels x_m. The encoder q(z|x_m, y) sees both, which is the whole image; the decoder p(x_m|z, y) sees z
 *   and the observed pixels and models only the missing ones.
 */
export type Region = 'left-half' | 'top-half' | 'centre';
export const REGIONS: readonly Region[] = ['left-half', 'top-half', 'centre'];

export type ConditionConfig = { kind: 'label'; classes: number } | { kind: 'region'; region: Region };

export interface ConditionLayout {
  /** Inputs of the encoder beside the image: the one-hot label, or none. */
  encoderExtra: number;
  /** Inputs of the decoder beside z: the one-hot label, or the observed pixels. */
  decoderExtra: number;
  /** Outputs of the decoder: every pixel, or only the missing ones. */
  outputDim: number;
  /** For a region condition: indices (into the flattened image) of the observed and the missing values. */
  observed: Int32Array | null;
  missing: Int32Array | null;
}

/**
 * Which values of a height x width x channels image are observed under `region` (1) and which the model
 * completes (0): the left half (columns < width/2), the top half (rows < height/2), or everything except a
 * centred square of half the height and width.
 */
export function observedMask(shape: [number, number, number], region: Region): Uint8Array {
  const [h, w, c] = shape;
  const mask = new Uint8Array(h * w * c);
  const top = Math.floor(h / 4), left = Math.floor(w / 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let seen: boolean;
      if (region === 'left-half') seen = x < w / 2;
      else if (region === 'top-half') seen = y < h / 2;
      else seen = !(y >= top && y < top + h / 2 && x >= left && x < left + w / 2);
      if (seen) mask.fill(1, (y * w + x) * c, (y * w + x + 1) * c);
    }
  }
  return mask;
}

export function conditionLayout(inputShape: [number, number, number], condition: ConditionConfig | undefined): ConditionLayout {
  const dim = inputShape[0] * inputShape[1] * inputShape[2];
  if (!condition) return { encoderExtra: 0, decoderExtra: 0, outputDim: dim, observed: null, missing: null };
  if (condition.kind === 'label') {
    return { encoderExtra: condition.classes, decoderExtra: condition.classes, outputDim: dim, observed: null, missing: null };
  }
  const mask = observedMask(inputShape, condition.region);
  const observed: number[] = [];
  const missing: number[] = [];
  mask.forEach((seen, i) => (seen ? observed : missing).push(i));
  return { encoderExtra: 0, decoderExtra: observed.length, outputDim: missing.length,
    observed: Int32Array.from(observed), missing: Int32Array.from(missing) };
}

/**
 * Image i's encoder input, for inputs laid out by hand (the WebGPU engine): its values (row i of x [n, dim]), then
 * its one-hot label (row i of `labels` [n, encoderExtra]) where the encoder takes one, written into `out`.
 */
export function writeEncoderInput(layout: ConditionLayout, x: Float32Array, dim: number, labels: Float32Array | null, i: number,
  out: Float32Array): void {
  out.set(x.subarray(i * dim, (i + 1) * dim));
  if (labels && layout.encoderExtra > 0) out.set(labels.subarray(i * layout.encoderExtra, (i + 1) * layout.encoderExtra), dim);
}

/**
 * Image i's share of the decoder's condition, for inputs laid out by hand (the WebGPU engine): its one-hot label
 * (row i of `labels` [n, decoderExtra]) or its observed values (of x [n, dim]), written into `out`.
 */
export function writeDecoderCondition(layout: ConditionLayout, x: Float32Array, dim: number, labels: Float32Array | null, i: number,
  out: Float32Array): void {
  if (layout.observed) layout.observed.forEach((p, j) => { out[j] = x[i * dim + p]; });
  else if (labels && layout.decoderExtra > 0) out.set(labels.subarray(i * layout.decoderExtra, (i + 1) * layout.decoderExtra));
}

/** What the decoder models of image i of x [n, dim] (all of it, or its missing values), written into `out`. */
export function writeDecoderTarget(layout: ConditionLayout, x: Float32Array, dim: number, i: number, out: Float32Array): void {
  if (layout.missing) layout.missing.forEach((p, j) => { out[j] = x[i * dim + p]; });
  else out.set(x.subarray(i * dim, (i + 1) * dim));
}

/** Labels as one-hot rows [n, classes]. */
export function oneHot(labels: ArrayLike<number>, classes: number): Float32Array {
  const out = new Float32Array(labels.length * classes);
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (!(l >= 0 && l < classes)) throw new RangeError(`label ${l} is outside 0..${classes - 1}`);
    out[i * classes + l] = 1;
  }
  return out;
}

/** Writes the one-hot rows of labels[indices[start..end)] into out (which is cleared first). */
export function fillOneHot(labels: ArrayLike<number>, classes: number, indices: ArrayLike<number>, start: number, end: number,
  out: Float32Array): void {
  out.fill(0, 0, (end - start) * classes);
  for (let k = start; k < end; k++) out[(k - start) * classes + labels[indices[k]]] = 1;
}

/** The values at `indices` of each row of x [n, dim]: e.g. the observed part of each image. */
export function gatherColumns(x: Float32Array, n: number, dim: number, indices: Int32Array): Float32Array {
  const out = new Float32Array(n * indices.length);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < indices.length; j++) out[i * indices.length + j] = x[i * dim + indices[j]];
  }
  return out;
}

/**
 * Whole images from observed parts and completions: row i of `observedFrom` ([n, dim] images, only their
 * observed values are used) with the missing values taken from row i of `completions` ([n, missing]).
 */
export function composeImages(observedFrom: Float32Array, completions: Float32Array, n: number, dim: number,
  missing: Int32Array): Float32Array {
  const out = observedFrom.slice(0, n * dim);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < missing.length; j++) out[i * dim + missing[j]] = completions[i * missing.length + j];
  }
  return out;
}

/** Images with their missing part filled with grey, to show what a completion model was given. */
export function maskImages(x: Float32Array, n: number, dim: number, missing: Int32Array, fill = 0.35): Float32Array {
  const out = x.slice(0, n * dim);
  for (let i = 0; i < n; i++) for (const j of missing) out[i * dim + j] = fill;
  return out;
}

export function describeCondition(condition: ConditionConfig | undefined): string {
  if (!condition) return 'unconditional';
  return condition.kind === 'label' ? `conditioned on the label (${condition.classes} classes)`
    : `conditioned on the ${condition.region === 'centre' ? 'image outside a centre square' : condition.region}`;
}
