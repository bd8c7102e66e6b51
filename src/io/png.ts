/** PNG pictures of images: grids of tiles with a thin border, written with sharp. */
import * as fs from 'fs';
import sharp from 'sharp';
import { VaeError, errorMessage } from '../errors';

/** One image: pixels in [0, 1], row-major height x width x channels. */
export type Tile = Float32Array | null;

export interface GridOptions {
  /** Tiles per row; by default the smallest square that holds them all. */
  cols?: number;
  /** Pixels between and around tiles. */
  pad?: number;
  /** Each image pixel becomes scale x scale pixels (nearest neighbour). */
  scale?: number;
}

export interface TileShape {
  height: number;
  width: number;
  channels: number;
}

const PAD_VALUE = 96;

export function gridSize(count: number, shape: TileShape, options: GridOptions = {}) {
  const cols = options.cols ?? Math.ceil(Math.sqrt(count));
  const rows = Math.ceil(count / cols);
  const pad = options.pad ?? 2;
  const scale = options.scale ?? 1;
  return {
    cols, rows, pad, scale,
    width: cols * shape.width * scale + (cols + 1) * pad,
    height: rows * shape.height * scale + (rows + 1) * pad,
  };
}

/** Lays tiles out row by row (a null leaves its place empty) and returns the PNG's size. */
export async function writeImageGrid(file: string, tiles: Tile[], shape: TileShape,
  options: GridOptions = {}): Promise<{ width: number; height: number }> {
  const g = gridSize(tiles.length, shape, options);
  const { channels } = shape;
  const out = Buffer.alloc(g.width * g.height * channels, PAD_VALUE);
  tiles.forEach((tile, t) => {
    if (!tile) return;
    const top = g.pad + Math.floor(t / g.cols) * (shape.height * g.scale + g.pad);
    const left = g.pad + (t % g.cols) * (shape.width * g.scale + g.pad);
    for (let y = 0; y < shape.height * g.scale; y++) {
      for (let x = 0; x < shape.width * g.scale; x++) {
        const src = (Math.floor(y / g.scale) * shape.width + Math.floor(x / g.scale)) * channels;
        const dst = ((top + y) * g.width + left + x) * channels;
        for (let c = 0; c < channels; c++) {
          out[dst + c] = Math.round(Math.min(1, Math.max(0, tile[src + c])) * 255);
        }
      }
    }
  });
  let png: Buffer;
  try {
    png = await sharp(out, { raw: { width: g.width, height: g.height, channels: channels as 1 | 3 | 4 } }).png().toBuffer();
    fs.writeFileSync(file, png);
  } catch (e) {
    throw new VaeError(`cannot write ${file}: ${errorMessage(e)}`);
  }
  return { width: g.width, height: g.height };
}

/** Splits a flat [count, dim] array into tiles. */
export function toTiles(data: Float32Array, count: number, dim: number): Float32Array[] {
  return Array.from({ length: count }, (_, i) => data.subarray(i * dim, (i + 1) * dim));
}
