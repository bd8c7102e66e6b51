/**
 * A picture brought to a square of `size` pixels, as a folder's pictures are (centre-cropped to a square, then
 * scaled): the first run's hot path. libvips' resize cost as much as the decode itself (about 1 ms of a core per
 * small picture, its pipeline's overhead more than its arithmetic), so the scaling is done here, separably:
 *
 * - shrinking (the crop's side m > size): each output pixel is the mean of the source area it covers, partly
 *   covered pixels weighted by the share covered (area averaging: no aliasing, and a constant stays constant);
 * - enlarging (m < size): bilinear interpolation at the output pixel's centre, edges clamped.
 *
 * Both are the same separable sum: out[i] = Σ_j w_ij · in[j] along a column, then along a row, with weights that sum
 * to 1 (`taps`). Rounded to the nearest byte at the end.
 */

/** The weights of each output position along an axis of `m` source pixels scaled to `size`: flat (index, weight) pairs. */
export interface Taps {
  /** Output i's pairs are [start[i], start[i + 1]). */
  start: Int32Array;
  index: Int32Array;
  weight: Float32Array;
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
    pairs.push(mine);
  }
  const start = new Int32Array(size + 1);
  pairs.forEach((p, i) => { start[i + 1] = start[i] + p.length; });
  const flat = pairs.flat();
  return { start, index: Int32Array.from(flat, ([j]) => j), weight: Float32Array.from(flat, ([, w]) => w) };
}

/**
 * Pixels (`width` x `height` x `channels`, interleaved) centre-cropped to a square and scaled to `size` x `size`;
 * `channels` of the output as of the input.
 */
export function squareResample(pixels: Uint8Array, width: number, height: number, channels: number, size: number): Uint8Array {
  const m = Math.min(width, height);
  const left = Math.floor((width - m) / 2);
  const top = Math.floor((height - m) / 2);
  const t = taps(m, size);
  const { start, index, weight } = t;
  // Along each column first (whole rows of the crop at once: the tight loop): size x m x channels.
  const line = m * channels;
  const cols = new Float32Array(size * line);
  for (let i = 0; i < size; i++) {
    const o = i * line;
    for (let k = start[i]; k < start[i + 1]; k++) {
      const s = ((top + index[k]) * width + left) * channels;
      const w = weight[k];
      for (let x = 0; x < line; x++) cols[o + x] += w * pixels[s + x];
    }
  }
  // Then along each row: size x size x channels, rounded (one loop per channel count: an inner loop over the
  // channels cost more than the arithmetic).
  const out = new Uint8Array(size * size * channels);
  const byte = (v: number) => Math.min(255, Math.max(0, Math.round(v)));
  for (let y = 0; y < size; y++) {
    const src = y * line;
    let o = y * size * channels;
    if (channels === 3) {
      for (let i = 0; i < size; i++, o += 3) {
        let r = 0, g = 0, b = 0;
        for (let k = start[i]; k < start[i + 1]; k++) {
          const s = src + index[k] * 3;
          const w = weight[k];
          r += w * cols[s];
          g += w * cols[s + 1];
          b += w * cols[s + 2];
        }
        out[o] = byte(r);
        out[o + 1] = byte(g);
        out[o + 2] = byte(b);
      }
    } else {
      for (let i = 0; i < size; i++, o += channels) {
        for (let c = 0; c < channels; c++) {
          let v = 0;
          for (let k = start[i]; k < start[i + 1]; k++) v += weight[k] * cols[src + index[k] * channels + c];
          out[o + c] = byte(v);
        }
      }
    }
  }
  return out;
}
