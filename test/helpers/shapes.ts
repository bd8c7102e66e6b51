/**
 * A small colour image folder, as a user's own pictures would be: coloured shapes (circle, square, triangle)
 * of random size, place and colour on a random background, rendered with sharp from SVG, one subfolder per
 * shape. Seeded, so the same call makes the same files.
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { Rng } from '../../src/rng';

export const SHAPES = ['circle', 'square', 'triangle'] as const;

function colour(rng: Rng): string {
  const c = () => Math.floor(rng.uniform() * 256);
  return `rgb(${c()},${c()},${c()})`;
}

function shapeSvg(shape: typeof SHAPES[number], rng: Rng, size: number): string {
  const r = size * (0.2 + 0.15 * rng.uniform());
  const cx = size * (0.35 + 0.3 * rng.uniform());
  const cy = size * (0.35 + 0.3 * rng.uniform());
  const fill = colour(rng);
  const body = shape === 'circle' ? `<circle cx="${cx}" cy="${cy}" r="${r}" fill="${fill}"/>`
    : shape === 'square' ? `<rect x="${cx - r}" y="${cy - r}" width="${2 * r}" height="${2 * r}" fill="${fill}"/>`
      : `<polygon points="${cx},${cy - r} ${cx + r},${cy + r} ${cx - r},${cy + r}" fill="${fill}"/>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}">` +
    `<rect width="${size}" height="${size}" fill="${colour(rng)}"/>${body}</svg>`;
}

/** perShape images of each shape, `size` pixels square, as PNG (every fifth as JPEG) under dir/<shape>/. */
export async function writeShapeFolder(dir: string, perShape: number, size = 32, seed = 1): Promise<void> {
  for (const shape of SHAPES) {
    fs.mkdirSync(path.join(dir, shape), { recursive: true });
    const rng = new Rng(seed, 'shapes', shape);
    for (let i = 0; i < perShape; i++) {
      const image = sharp(Buffer.from(shapeSvg(shape, rng, size)));
      const name = path.join(dir, shape, `${shape}-${String(i).padStart(4, '0')}`);
      if (i % 5 === 4) await image.jpeg({ quality: 90 }).toFile(`${name}.jpg`);
      else await image.png().toFile(`${name}.png`);
    }
  }
}
