import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { prepareImage } from '../../src/data/images';
import { penOnPaper } from '../helpers/drawings';
import { tmpDir } from '../helpers/tmp';

const target = { height: 28, width: 28 };

function centreOfMass(p: Float32Array) {
  let m = 0, x = 0, y = 0;
  p.forEach((v, i) => { m += v; x += v * (i % 28); y += v * Math.floor(i / 28); });
  return { m, x: x / m, y: y / m };
}

function bbox(p: Float32Array) {
  let x0 = 28, x1 = -1, y0 = 28, y1 = -1;
  p.forEach((v, i) => {
    if (v > 0.2) { const x = i % 28, y = Math.floor(i / 28); x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  });
  return { w: x1 - x0 + 1, h: y1 - y0 + 1, x0, y0, x1, y1 };
}

test.each(['png', 'jpg'])('a dark pen drawing on white paper (%s) becomes an MNIST-like digit', async (ext) => {
  const file = path.join(tmpDir(), `seven.${ext}`);
  await penOnPaper('7', file);
  const { pixels, inverted } = await prepareImage(file, target);
  expect(inverted).toBe(true);
  expect(pixels.length).toBe(784);
  const com = centreOfMass(pixels);
  expect(Math.abs(com.x - 13.5)).toBeLessThan(1.5);
  expect(Math.abs(com.y - 13.5)).toBeLessThan(1.5);
  const box = bbox(pixels);
  expect(Math.max(box.w, box.h)).toBeGreaterThanOrEqual(18); // fitted to the 20-pixel box
  expect(Math.max(box.w, box.h)).toBeLessThanOrEqual(22);
  expect(box.x0).toBeGreaterThan(0); // a black frame around the digit, as in MNIST
  // Ink is strong and the paper is gone: a few hundred bright pixels, the rest dark.
  const bright = pixels.filter((v) => v > 0.5).length;
  expect(bright).toBeGreaterThan(40);
  expect(bright).toBeLessThan(300);
  expect(pixels.filter((v) => v > 0.02 && v < 0.5).length).toBeLessThan(150);
});

test('a light-on-dark image is not inverted, and --invert forces it', async () => {
  const file = path.join(tmpDir(), 'dark.png');
  const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="56" height="56"><rect width="56" height="56" fill="black"/>' +
    '<rect x="24" y="10" width="8" height="36" fill="white"/></svg>';
  await sharp(Buffer.from(svg)).png().toFile(file);
  expect((await prepareImage(file, target)).inverted).toBe(false);
  expect((await prepareImage(file, target, true)).inverted).toBe(true);
});

test('a transparent PNG with dark strokes counts as a drawing on paper', async () => {
  const file = path.join(tmpDir(), 'alpha.png');
  const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="300" height="300">' +
    '<path d="M150 40 L150 260" stroke="black" stroke-width="14"/></svg>';
  await sharp(Buffer.from(svg)).png().toFile(file);
  const { pixels, inverted } = await prepareImage(file, target);
  expect(inverted).toBe(true);
  expect(pixels.filter((v) => v > 0.5).length).toBeGreaterThanOrEqual(18); // a line 20 pixels tall
});

test('a file that is not an image is a one-line error naming it', async () => {
  const file = path.join(tmpDir(), 'notes.png');
  fs.writeFileSync(file, 'this is not a picture');
  await expect(prepareImage(file, target)).rejects.toThrow(/notes\.png: not an image that can be read/);
});
