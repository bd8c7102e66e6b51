/**
 * Preparing a user's image (any size; PNG, JPEG, WebP, ...; grey, RGB or with alpha) the way MNIST was
 * prepared: light strokes on a dark background, the digit fitted into a 20 x 20 box keeping its aspect
 * ratio and centred by its centre of mass in a 28 x 28 frame (LeCun et al.'s MNIST description).
 * A drawing with a dark pen on white paper is detected (bright border) and inverted.
 */
import sharp, { OutputInfo } from 'sharp';
import { VaeError, errorMessage } from '../errors';

export type InvertMode = 'auto' | boolean;

export interface PreparedImage {
  /** Pixels in [0, 1], height x width. */
  pixels: Float32Array;
  inverted: boolean;
}

/** The longest side of the image is brought down to this before analysis, for speed on large photos. */
const WORK_SIZE = 256;
/** Typical stroke width of an MNIST digit, in pixels of the 28 x 28 frame. */
const MNIST_STROKE = 2.5;

/**
 * With `fit` false the picture is taken as already framed like the data (e.g. half a digit cut from a
 * 28 x 28 image): only inverted if needed and resized to the target, so that its strokes stay where they are.
 */
export async function prepareImage(file: string, target: { height: number; width: number },
  invert: InvertMode = 'auto', fit = true): Promise<PreparedImage> {
  let raw: { data: Buffer; info: OutputInfo };
  try {
    raw = await sharp(file)
      .rotate() // honour EXIF orientation of phone photos
      .flatten({ background: '#ffffff' }) // transparent drawing area = paper
      .grayscale()
      .resize({ width: WORK_SIZE, height: WORK_SIZE, fit: 'inside', withoutEnlargement: true })
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new VaeError(`${file}: not an image that can be read (${errorMessage(e).split('\n')[0]})`);
  }
  const { width, height } = raw.info;
  const grey = new Float32Array(width * height);
  for (let i = 0; i < grey.length; i++) grey[i] = raw.data[i * raw.info.channels] / 255;

  const inverted = invert === 'auto' ? borderMean(grey, width, height) > 0.5 : invert;
  if (inverted) for (let i = 0; i < grey.length; i++) grey[i] = 1 - grey[i];
  if (!fit) return { pixels: await resizeGrey(grey, width, height, target), inverted };

  const ink = removeBackground(grey);
  return { pixels: await fitMnistStyle(ink, width, height, target), inverted };
}

async function resizeGrey(img: Float32Array, w: number, h: number, target: { height: number; width: number }): Promise<Float32Array> {
  const bytes = Buffer.from(Uint8Array.from(img, (v) => Math.round(v * 255)));
  const small = await sharp(bytes, { raw: { width: w, height: h, channels: 1 } })
    .resize({ width: target.width, height: target.height, fit: 'fill', kernel: 'lanczos3' })
    .extractChannel(0)
    .raw()
    .toBuffer();
  return Float32Array.from(small, (v) => v / 255);
}

function borderMean(img: Float32Array, w: number, h: number): number {
  let sum = 0;
  let n = 0;
  const band = Math.max(1, Math.round(Math.min(w, h) * 0.05));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (y < band || y >= h - band || x < band || x >= w - band) {
        sum += img[y * w + x];
        n++;
      }
    }
  }
  return sum / n;
}

function quantile(values: Float32Array, q: number): number {
  const sorted = Float32Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/**
 * Paper is never pure black after inversion (shading, texture, JPEG noise): subtract the background level
 * (the median, since most of the picture is paper) plus a margin, and stretch the ink to full strength.
 */
function removeBackground(img: Float32Array): Float32Array {
  const background = quantile(img, 0.5);
  const peak = quantile(img, 0.995);
  const out = new Float32Array(img.length);
  if (peak - background < 0.05) return out; // nothing drawn
  const low = background + 0.2 * (peak - background);
  const high = background + 0.8 * (peak - background);
  for (let i = 0; i < img.length; i++) out[i] = Math.min(1, Math.max(0, (img[i] - low) / (high - low)));
  return out;
}

/** Crops to the ink, scales the longer side to 20/28 of the frame, centres the centre of mass. */
async function fitMnistStyle(ink: Float32Array, w: number, h: number,
  target: { height: number; width: number }): Promise<Float32Array> {
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (ink[y * w + x] > 0.1) {
        x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
    }
  }
  const out = new Float32Array(target.height * target.width);
  if (x1 < 0) return out; // blank image
  const cropW = x1 - x0 + 1;
  const cropH = y1 - y0 + 1;
  const box = Math.round(Math.min(target.height, target.width) * 20 / 28);
  const scale = box / Math.max(cropW, cropH);
  const newW = Math.max(1, Math.round(cropW * scale));
  const newH = Math.max(1, Math.round(cropH * scale));
  // Thin pen strokes would shrink to faint lines: thicken them to about MNIST's stroke width first.
  const radius = Math.round(Math.max(0, MNIST_STROKE / scale - strokeWidth(ink, w, h)) / 2);
  const crop = dilate(ink, w, x0, y0, cropW, cropH, radius);
  const bytes = Buffer.alloc(cropW * cropH);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.round(crop[i] * 255);
  const small = await sharp(bytes, { raw: { width: cropW, height: cropH, channels: 1 } })
    .resize({ width: newW, height: newH, fit: 'fill', kernel: 'lanczos3' })
    .extractChannel(0)
    .raw()
    .toBuffer({ resolveWithObject: true });
  // Centre of mass of the shrunk digit goes to the centre of the frame.
  let mass = 0, cx = 0, cy = 0;
  for (let y = 0; y < newH; y++) {
    for (let x = 0; x < newW; x++) {
      const v = small.data[(y * newW + x) * small.info.channels] / 255;
      mass += v; cx += v * x; cy += v * y;
    }
  }
  const offX = Math.round(target.width / 2 - (mass > 0 ? cx / mass : newW / 2) - 0.5);
  const offY = Math.round(target.height / 2 - (mass > 0 ? cy / mass : newH / 2) - 0.5);
  const left = Math.min(Math.max(offX, 0), target.width - newW);
  const top = Math.min(Math.max(offY, 0), target.height - newH);
  for (let y = 0; y < newH; y++) {
    for (let x = 0; x < newW; x++) {
      out[(y + top) * target.width + x + left] = small.data[(y * newW + x) * small.info.channels] / 255;
    }
  }
  return out;
}

/** The crop (x0, y0, cw, ch) of img, each pixel replaced by the maximum within `radius` (a square). */
function dilate(img: Float32Array, w: number, x0: number, y0: number, cw: number, ch: number, radius: number): Float32Array {
  const out = new Float32Array(cw * ch);
  for (let y = 0; y < ch; y++) {
    for (let x = 0; x < cw; x++) {
      let m = 0;
      for (let dy = -radius; dy <= radius; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= ch) continue;
        for (let dx = -radius; dx <= radius; dx++) {
          const xx = x + dx;
          if (xx >= 0 && xx < cw) m = Math.max(m, img[(yy + y0) * w + xx + x0]);
        }
      }
      out[y * cw + x] = m;
    }
  }
  return out;
}

/** Mean stroke width in pixels ≈ ink area / half the ink perimeter. */
function strokeWidth(ink: Float32Array, w: number, h: number): number {
  let area = 0;
  let edges = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const on = ink[y * w + x] > 0.5;
      if (!on) continue;
      area++;
      if (x === 0 || ink[y * w + x - 1] <= 0.5) edges++;
      if (x === w - 1 || ink[y * w + x + 1] <= 0.5) edges++;
      if (y === 0 || ink[(y - 1) * w + x] <= 0.5) edges++;
      if (y === h - 1 || ink[(y + 1) * w + x] <= 0.5) edges++;
    }
  }
  return edges > 0 ? (2 * area) / edges : 0;
}

/** Decodes one image to size x size x channels bytes: EXIF-rotated, alpha flattened on black, centre-cropped to a square. */
export async function decodeSquare(file: string, size: number, channels: 1 | 3): Promise<Buffer> {
  let image = sharp(file, { failOn: 'truncated' }).rotate().flatten({ background: '#000000' })
    .resize({ width: size, height: size, fit: 'cover', position: 'centre' });
  image = channels === 1 ? image.grayscale() : image.toColourspace('srgb');
  const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
  if (info.channels === channels) return data;
  // sharp may keep a channel count of its own (e.g. grey kept as 1 when 3 were asked): convert by hand.
  const out = Buffer.alloc(size * size * channels);
  for (let p = 0; p < size * size; p++) {
    if (channels === 3) out.fill(data[p * info.channels], p * 3, p * 3 + 3);
    else out[p] = data[p * info.channels];
  }
  return out;
}

/** A user's picture prepared like the images of a folder data set (decodeSquare), values in [0, 1]. */
export async function preparePhoto(file: string, size: number, channels: 1 | 3): Promise<Float32Array> {
  let bytes: Buffer;
  try {
    bytes = await decodeSquare(file, size, channels);
  } catch (e) {
    throw new VaeError(`${file}: not an image that can be read (${errorMessage(e).split('\n')[0]})`);
  }
  return Float32Array.from(bytes, (v) => v / 255);
}
