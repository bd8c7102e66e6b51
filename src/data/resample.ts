/**
 * A picture brought to a square of `size` pixels, as a folder's pictures are (centre-cropped to a square, then
 * scaled): the first run's hot path. libvips' resize cost as much as the decode itself (about 1 ms of a core per
 * small picture, its pipeline's overhead more than its arithmetic), so the scaling is done here, separably:
 *
 * - shrinking (the crop's side m > size): each output pixel is the mean of the source area it covers, partly
 *   covered pixels weighted by the share covered (area averaging: no aliasing, and a constant stays constant);
 * - enlarging (m < size): bilinear interpolation at the output pixel's centre, edges clamped.
 *
 * Both are the same separable sum out[i] = Σ_j w_ij · in[j], along a column and then along a row, in integers: the
 * weights of an output are whole multiples of 1/4096 that sum to exactly 1, the column sums are kept to 1/64 of a
 * grey level, and the result is rounded to the nearest level (halves up). Integers make the native decoder
 * (native/decode/decode.cc, which repeats this) give the same bytes without care for the order of float sums, and
 * they are fast in both.
 */

/** The weights' unit: an output's weights sum to exactly this. */
export const WEIGHT_ONE = 4096;
/** Column sums keep this many fractions of a grey level: a weight times a byte, shifted right by COLUMN_SHIFT. */
const COLUMN_SHIFT = 6;
/** The row sum's shift back to grey levels: weight (12 bits) + column (12 - 6 = 6 bits of fraction). */
const ROW_SHIFT = 12 + 12 - COLUMN_SHIFT;

/** The weights of each output position along an axis of `m` source pixels scaled to `size`: flat (index, weight) pairs. */
export interface Taps {
  /** Output i's pairs are [start[i], start[i + 1]). */
  start: Int32Array;
  index: Int32Array;
  /** Whole multiples of 1/WEIGHT_ONE; an output's sum to WEIGHT_ONE. */
  weight: Int32Array;
}

export function taps(m: number, size: number): Taps {
  const pairs: [number, number][][] = [];
  const scale = m / size;
  for (let i = 0; i < size; i++) {
    const mine: [number, number][] = [];
    if (m > size) {
      // Area: source interval [i·scale, (i + 1)·scale).
      const from = i * scale;
      const to = (i + 1) * scale;
      for (let j = Math.floor(from); j < Math.min(m, Math.ceil(to)); j++) {
        const cover = Math.min(to, j + 1) - Math.max(from, j);
        if (cover > 0) mine.push([j, cover / scale]);
      }
    } else {
      // Bilinear at the output pixel's centre.
      const x = Math.min(m - 1, Math.max(0, (i + 0.5) * scale - 0.5));
      const j = Math.floor(x);
      const f = x - j;
      mine.push([j, 1 - f]);
      if (f > 0 && j + 1 < m) mine.push([j + 1, f]);
    }
    // In whole units, the rounding's remainder given to the largest (the first of equals), so that they sum to one.
    const units = mine.map(([, w]) => Math.floor(w * WEIGHT_ONE + 0.5));
    let largest = 0;
    units.forEach((u, k) => { if (u > units[largest]) largest = k; });
    units[largest] += WEIGHT_ONE - units.reduce((a, u) => a + u, 0);
    pairs.push(mine.map(([j], k) => [j, units[k]]));
  }
  const start = new Int32Array(size + 1);
  pairs.forEach((p, i) => { start[i + 1] = start[i] + p.length; });
  const flat = pairs.flat();
  return { start, index: Int32Array.from(flat, ([j]) => j), weight: Int32Array.from(flat, ([, w]) => w) };
}

/**
 * Pixels (`width` x `height` x `channels`, interleaved) centre-cropped to a square and scaled to `size` x `size`;
 * `channels` of the output as of the input.
 */
export function squareResample(pixels: Uint8Array, width: number, height: number, channels: number, size: number): Uint8Array {
  const m = Math.min(width, height);
  const left = Math.floor((width - m) / 2);
  const top = Math.floor((height - m) / 2);
  const { start, index, weight } = taps(m, size);
  // Along each column first (whole rows of the crop at once): size x m x channels, in 1/64 grey levels.
  const line = m * channels;
  const cols = new Int32Array(size * line);
  const column = new Int32Array(line);
  for (let i = 0; i < size; i++) {
    column.fill(0);
    for (let k = start[i]; k < start[i + 1]; k++) {
      const s = ((top + index[k]) * width + left) * channels;
      const w = weight[k];
      for (let x = 0; x < line; x++) column[x] += w * pixels[s + x];
    }
    const o = i * line;
    for (let x = 0; x < line; x++) cols[o + x] = (column[x] + (1 << (COLUMN_SHIFT - 1))) >> COLUMN_SHIFT;
  }
  // Then along each row, rounded to grey levels (the sums of weights one keep them within 0..255).
  const out = new Uint8Array(size * size * channels);
  const half = 1 << (ROW_SHIFT - 1);
  for (let y = 0; y < size; y++) {
    const src = y * line;
    const o = y * size * channels;
    for (let i = 0; i < size; i++) {
      for (let c = 0; c < channels; c++) {
        let v = 0;
        for (let k = start[i]; k < start[i + 1]; k++) v += weight[k] * cols[src + index[k] * channels + c];
        out[o + i * channels + c] = (v + half) >> ROW_SHIFT;
      }
    }
  }
  return out;
}
