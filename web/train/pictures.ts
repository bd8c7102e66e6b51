/**
 * A folder (or zip) of the user's pictures, dropped on the page, prepared as `vae train --data DIR` prepares a folder:
 * each picture decoded (by the browser), alpha on black, centre-cropped to a square and scaled by area averaging
 * (src/data/resample.ts, the CLI's own code) to --image-size (28 when every picture is 28x28, else 64), grey or colour
 * (--channels; colour when any picture is), the first-level subfolders as the classes, split into training and test
 * sets by --test-split and --seed as the CLI splits them. Files that are not pictures the browser reads are skipped and
 * listed. The decoders differ (the browser's against libjpeg-turbo and libpng), so a picture's bytes may differ from the
 * CLI's by a grey level here and there.
 */
import type { Dataset } from '../../src/data/datasets';
import { DEFAULT_TEST_SPLIT } from '../../src/data/stream';
import { squareResample } from '../../src/data/resample';
import { Rng } from '../../src/rng';

export interface Skipped {
  file: string;
  why: string;
}

/** A picture as the browser decodes it: RGBA, alpha flattened on black later. */
async function decode(bytes: Uint8Array): Promise<{ width: number; height: number; rgba: Uint8ClampedArray }> {
  const bitmap = await createImageBitmap(new Blob([bytes as Uint8Array<ArrayBuffer>]));
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  return { width: canvas.width, height: canvas.height, rgba: ctx.getImageData(0, 0, canvas.width, canvas.height).data };
}

/** RGBA to `channels` bytes, alpha flattened on black; grey as Rec. 601 luma. */
function pixelsOf(rgba: Uint8ClampedArray, channels: 1 | 3): Uint8Array {
  const n = rgba.length / 4;
  const out = new Uint8Array(n * channels);
  for (let p = 0; p < n; p++) {
    const a = rgba[4 * p + 3] / 255;
    const [r, g, b] = [rgba[4 * p] * a, rgba[4 * p + 1] * a, rgba[4 * p + 2] * a];
    if (channels === 3) out.set([Math.round(r), Math.round(g), Math.round(b)], 3 * p);
    else out[p] = Math.round(0.299 * r + 0.587 * g + 0.114 * b);
  }
  return out;
}

/**
 * The data set of `files` (paths relative to the dropped folder, '/'-separated): the folder's name, its pictures
 * prepared, split; and the files skipped. `onProgress(done, total)` as they are decoded.
 */
export async function picturesDataset(name: string, files: { path: string; bytes: Uint8Array }[],
  options: { imageSize?: number; channels?: 1 | 3; testSplit?: number; seed: number }, onProgress?: (done: number, total: number) => void):
  Promise<{ dataset: Dataset; skipped: Skipped[] }> {
  let sorted = [...files].filter((f) => !f.path.split('/').some((part) => part.startsWith('.'))).sort((a, b) => (a.path < b.path ? -1 : 1));
  const skipped: Skipped[] = [];
  // Classes: the first-level subfolders, when there are any (a file beside them is skipped, as the CLI skips it).
  const labelled = sorted.some((f) => f.path.includes('/'));
  if (labelled) {
    for (const f of sorted.filter((f) => !f.path.includes('/'))) skipped.push({ file: f.path, why: 'not in a class subfolder' });
    sorted = sorted.filter((f) => f.path.includes('/'));
  }
  const decoded: { path: string; width: number; height: number; rgba: Uint8ClampedArray }[] = [];
  for (const [i, f] of sorted.entries()) {
    try {
      decoded.push({ path: f.path, ...(await decode(f.bytes)) });
    } catch {
      skipped.push({ file: f.path, why: 'not a picture this browser reads' });
    }
    onProgress?.(i + 1, sorted.length);
  }
  if (decoded.length < 2) throw new Error(`${name}: ${decoded.length} picture${decoded.length === 1 ? '' : 's'} read: a training and a test set need 2 at least`);
  const size = options.imageSize ?? (decoded.every((d) => d.width === 28 && d.height === 28) ? 28 : 64);
  const colour = decoded.some(({ rgba }) => {
    for (let p = 0; p < rgba.length; p += 4) if (rgba[p] !== rgba[p + 1] || rgba[p + 1] !== rgba[p + 2]) return true;
    return false;
  });
  const channels = options.channels ?? (colour ? 3 : 1);
  const labelNames = labelled ? [...new Set(decoded.map((d) => d.path.slice(0, d.path.indexOf('/'))))].sort() : null;
  // The CLI's split: a permutation by --seed, the first share the test set, each part in the folder's order.
  const split = options.testSplit ?? DEFAULT_TEST_SPLIT;
  if (!(split > 0 && split < 1)) throw new Error(`--test-split must be between 0 and 1 (exclusive), got ${split}`);
  const testCount = Math.max(1, Math.round(decoded.length * split));
  const order = new Rng(options.seed, 'test-split').permutation(decoded.length);
  const part = (rows: number[]) => {
    const dim = size * size * channels;
    const images = new Uint8Array(rows.length * dim);
    const labels = labelNames ? (labelNames.length <= 256 ? new Uint8Array(rows.length) : new Uint16Array(rows.length)) : null;
    rows.forEach((r, k) => {
      const d = decoded[r];
      images.set(squareResample(pixelsOf(d.rgba, channels), d.width, d.height, channels, size), k * dim);
      if (labels && labelNames) labels[k] = labelNames.indexOf(d.path.slice(0, d.path.indexOf('/')));
    });
    return { images, labels, count: rows.length };
  };
  const test = Array.from(order.slice(0, testCount).sort());
  const train = Array.from(order.slice(testCount).sort());
  return { dataset: { name, source: name, kind: 'folder', height: size, width: size, channels, labelNames, train: part(train), test: part(test) }, skipped };
}
