/** PNG pictures of images: grids of tiles with a thin border, written with sharp. */
import * as path from 'path';
import sharp from 'sharp';
import { VaeError, errorMessage } from '../errors';
import { writeFileAtomic } from '../files';

/** One image: pixels in [0, 1], row-major height x width x channels. */
export type Tile = Float32Array | null;

export interface GridOptions {
  /** Tiles per row; by default the smallest square that holds them all. */
  cols?: number;
  /** Pixels between and around tiles. */
  pad?: number;
  /** Each image pixel becomes scale x scale pixels (nearest neighbour). */
  scale?: number;
  /** Text left of each row (e.g. class names), in a margin. */
  rowLabels?: string[];
  /** Text above each column. */
  colLabels?: string[];
}

export interface TileShape {
  height: number;
  width: number;
  channels: number;
}

const PAD_VALUE = 96;

/** Label text size in pixels: readable, but not taller than half a tile. */
function fontSize(shape: TileShape, scale: number): number {
  return Math.max(9, Math.min(14, Math.round(shape.height * scale * 0.45)));
}

export function gridSize(count: number, shape: TileShape, options: GridOptions = {}) {
  const cols = options.cols ?? Math.ceil(Math.sqrt(count));
  const rows = Math.ceil(count / cols);
  const pad = options.pad ?? 2;
  const scale = options.scale ?? 1;
  const font = fontSize(shape, scale);
  // DejaVu Sans averages ~0.6 em per character.
  const left = options.rowLabels?.length ? Math.ceil(Math.max(...options.rowLabels.map((l) => l.length)) * font * 0.62) + 2 * pad + 2 : 0;
  const top = options.colLabels?.length ? Math.ceil(font * 1.4) : 0;
  return {
    cols, rows, pad, scale, font, left, top,
    width: left + cols * shape.width * scale + (cols + 1) * pad,
    height: top + rows * shape.height * scale + (rows + 1) * pad,
  };
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The row and column labels as an SVG the size of the grid (white text on the grey margin). */
function labelsSvg(g: ReturnType<typeof gridSize>, shape: TileShape, options: GridOptions): string {
  const tileH = shape.height * g.scale;
  const tileW = shape.width * g.scale;
  const text = (x: number, y: number, anchor: string, label: string) =>
    `<text x="${x}" y="${y}" text-anchor="${anchor}" dominant-baseline="central">${escapeXml(label)}</text>`;
  const rows = (options.rowLabels ?? []).slice(0, g.rows).map((label, r) =>
    text(g.left - g.pad - 2, g.top + g.pad + r * (tileH + g.pad) + tileH / 2, 'end', label));
  const cols = (options.colLabels ?? []).slice(0, g.cols).map((label, c) =>
    text(g.left + g.pad + c * (tileW + g.pad) + tileW / 2, g.top / 2 + 1, 'middle', label));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${g.width}" height="${g.height}">` +
    `<g font-family="DejaVu Sans, sans-serif" font-size="${g.font}" fill="white">${rows.join('')}${cols.join('')}</g></svg>`;
}

/** Lays tiles out row by row (a null leaves its place empty) and returns the PNG's size. */
export async function writeImageGrid(file: string, tiles: Tile[], shape: TileShape,
  options: GridOptions = {}): Promise<{ width: number; height: number }> {
  const g = gridSize(tiles.length, shape, options);
  const { channels } = shape;
  const out = Buffer.alloc(g.width * g.height * channels, PAD_VALUE);
  tiles.forEach((tile, t) => {
    if (!tile) return;
    const top = g.top + g.pad + Math.floor(t / g.cols) * (shape.height * g.scale + g.pad);
    const left = g.left + g.pad + (t % g.cols) * (shape.width * g.scale + g.pad);
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
    let image = sharp(out, { raw: { width: g.width, height: g.height, channels: channels as 1 | 3 | 4 } });
    if (g.left > 0 || g.top > 0) {
      image = sharp(await image.composite([{ input: Buffer.from(labelsSvg(g, shape, options)), left: 0, top: 0 }]).png().toBuffer());
      image = image.removeAlpha();
      if (channels === 1) image = image.toColourspace('b-w');
    }
    png = await image.png().toBuffer();
  } catch (e) {
    throw new VaeError(`cannot write ${file}: ${errorMessage(e)}`);
  }
  writeFileAtomic(file, png, `the picture ${path.basename(file)}`);
  return { width: g.width, height: g.height };
}

/** Splits a flat [count, dim] array into tiles. */
export function toTiles(data: Float32Array, count: number, dim: number): Float32Array[] {
  return Array.from({ length: count }, (_, i) => data.subarray(i * dim, (i + 1) * dim));
}
