import * as path from 'path';
import sharp from 'sharp';
import { gridSize, writeImageGrid } from '../../src/io/png';
import { tmpDir } from '../helpers/tmp';

test('an 8 x 8 grid of 28 x 28 tiles with 2-pixel borders is 242 x 242', async () => {
  const file = path.join(tmpDir(), 'grid.png');
  const tiles = Array.from({ length: 64 }, (_, i) => new Float32Array(784).fill(i / 63));
  const size = await writeImageGrid(file, tiles, { height: 28, width: 28, channels: 1 });
  const meta = await sharp(file).metadata();
  expect([meta.format, meta.width, meta.height]).toEqual(['png', 242, 242]);
  expect(size).toEqual({ width: 242, height: 242 });
});

test('columns, scale and colour tiles', async () => {
  const file = path.join(tmpDir(), 'strip.png');
  const tiles = Array.from({ length: 5 }, () => new Float32Array(4 * 6 * 3).fill(1));
  await writeImageGrid(file, tiles, { height: 4, width: 6, channels: 3 }, { cols: 5, scale: 3, pad: 1 });
  const meta = await sharp(file).metadata();
  expect([meta.width, meta.height, meta.channels]).toEqual([5 * 18 + 6, 12 + 2, 3]);
  // The first tile's top-left pixel is white, the border grey.
  const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
  expect(data[(1 * info.width + 1) * 3]).toBe(255);
  expect(data[0]).toBeLessThan(255);
});

test('gridSize picks the smallest square by default', () => {
  expect(gridSize(10, { height: 28, width: 28, channels: 1 })).toMatchObject({ cols: 4, rows: 3 });
});
