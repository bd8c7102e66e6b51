/**
 * Preparing a user's image (any size; PNG, JPEG, WebP, ...; grey, RGB or with alpha) the way MNIST was
 * prepared: light strokes on a dark background, the digit fitted into a 20 x 20 box keeping its aspect
 * ratio and centred by its centre of mass in a 28 x 28 frame (LeCun et al.'s MNIST description).
 * A drawing with a dark pen on white paper is detected (bright border) and inverted.
 */
import * as fs from 'fs';
import sharp, { OutputInfo } from 'sharp';
import { VaeError, errorMessage } from '../errors';
import { borderMean, inkFit, placeByMass, removeBackground } from './ink';
import { squareResample } from './resample';

export type InvertMode = 'auto' | boolean;

export interface PreparedImage {
  /** Pixels in [0, 1], height x width. */
  pixels: Float32Array;
  inverted: boolean;
}

/** The longest side of the image is brought down to this before analysis, for speed on large photos. */
const WORK_SIZE = 256;

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

/** Crops to the ink, scales the longer side to 20/28 of the frame, centres the centre of mass (ink.ts). */
async function fitMnistStyle(ink: Float32Array, w: number, h: number,
  target: { height: number; width: number }): Promise<Float32Array> {
  const fit = inkFit(ink, w, h, target);
  if (!fit) return new Float32Array(target.height * target.width); // blank image
  const bytes = Buffer.alloc(fit.cropW * fit.cropH);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.round(fit.crop[i] * 255);
  const small = await sharp(bytes, { raw: { width: fit.cropW, height: fit.cropH, channels: 1 } })
    .resize({ width: fit.newW, height: fit.newH, fit: 'fill', kernel: 'lanczos3' })
    .extractChannel(0)
    .raw()
    .toBuffer({ resolveWithObject: true });
  const shrunk = Float32Array.from({ length: fit.newW * fit.newH }, (_, i) => small.data[i * small.info.channels] / 255);
  return placeByMass(shrunk, fit.newW, fit.newH, target);
}

/**
 * A picture's side beyond which libvips first brings it down to LARGE x size (its JPEG decoder then decodes at a
 * reduced scale: a phone photo is not decoded whole); smaller ones are decoded whole and scaled by resample.ts.
 */
export const LARGE = 4;

/**
 * Decodes one image to size x size x channels bytes: EXIF-rotated, alpha flattened on black, centre-cropped to a
 * square and scaled (resample.ts). `dims`, the picture's size when known (a folder's headers), spares a read of it.
 */
export async function decodeSquare(file: string, size: number, channels: 1 | 3, dims?: { width: number; height: number }): Promise<Uint8Array> {
  // The file's bytes given to sharp rather than its name (with libvips' cache off, as scanImageFolder sets it for a
  // folder: each picture is decoded once): twice the pictures per second (measured: 330 → 620 a second on 2 cores).
  const bytes = await fs.promises.readFile(file);
  let image = sharp(bytes, { failOn: 'truncated' });
  const { width, height } = dims ?? await image.metadata();
  image = image.rotate().flatten({ background: '#000000' });
  if (width && height && Math.min(width, height) > LARGE * size) {
    // A large picture: brought down to a square of LARGE x size by libvips first, decoded at a reduced scale.
    image = image.resize({ width: LARGE * size, height: LARGE * size, fit: 'cover', position: 'centre' });
  }
  image = channels === 1 ? image.grayscale() : image.toColourspace('srgb');
  const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
  let pixels: Uint8Array = data;
  if (info.channels !== channels) {
    // sharp may keep a channel count of its own (e.g. grey kept as 1 when 3 were asked): convert by hand.
    const n = info.width * info.height;
    pixels = new Uint8Array(n * channels);
    for (let p = 0; p < n; p++) {
      if (channels === 3) pixels.fill(data[p * info.channels], p * 3, p * 3 + 3);
      else pixels[p] = data[p * info.channels];
    }
  }
  return squareResample(pixels, info.width, info.height, channels, size);
}

/** A user's picture prepared like the images of a folder data set (decodeSquare), values in [0, 1]. */
export async function preparePhoto(file: string, size: number, channels: 1 | 3): Promise<Float32Array> {
  let bytes: Uint8Array;
  try {
    bytes = await decodeSquare(file, size, channels);
  } catch (e) {
    throw new VaeError(`${file}: not an image that can be read (${errorMessage(e).split('\n')[0]})`);
  }
  return Float32Array.from(bytes, (v) => v / 255);
}
