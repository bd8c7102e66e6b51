import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { FASHION_MNIST_DIR, FASHION_NAMES, loadDataset, openDataset } from '../../src/data/datasets';
import { CACHE_DIR, loadImageFolder } from '../../src/data/folder';
import { writeShapeFolder } from '../helpers/shapes';
import { tmpDir } from '../helpers/tmp';

const PER_SHAPE = 12;

/** The shape folder, plus what a real folder of photos holds besides images. */
async function messyFolder(): Promise<string> {
  const dir = path.join(tmpDir('vae-folder-'), 'pictures');
  await writeShapeFolder(dir, PER_SHAPE, 32);
  fs.writeFileSync(path.join(dir, 'circle', 'empty.png'), Buffer.alloc(0));
  const jpeg = fs.readFileSync(path.join(dir, 'square', 'square-0004.jpg'));
  fs.writeFileSync(path.join(dir, 'square', 'cut-off.jpg'), jpeg.subarray(0, Math.floor(jpeg.length / 2)));
  fs.writeFileSync(path.join(dir, 'triangle', 'notes.txt'), 'not a picture\n');
  fs.writeFileSync(path.join(dir, 'loose.png'), fs.readFileSync(path.join(dir, 'circle', 'circle-0000.png')));
  fs.writeFileSync(path.join(dir, '.DS_Store'), 'hidden');
  return dir;
}

describe('an image folder', () => {
  let dir: string;
  beforeAll(async () => { dir = await messyFolder(); });

  test('reads every picture, labels it by its subfolder, and lists what it skipped in one warning', async () => {
    const warnings: string[] = [];
    const progress: Array<[number, number]> = [];
    const data = await loadImageFolder(dir, { imageSize: 32, onWarning: (m) => warnings.push(m), onProgress: (d, t) => progress.push([d, t]) });
    // Progress ends at its total (so the bar closes) although files were skipped, and counts every image kept.
    const [done, total] = progress[progress.length - 1];
    expect(done).toBe(total);
    expect(total).toBeGreaterThanOrEqual(3 * PER_SHAPE);
    expect(data.count).toBe(3 * PER_SHAPE);
    expect(data.labelNames).toEqual(['circle', 'square', 'triangle']);
    expect(data.channels).toBe(3);
    expect(data.size).toBe(32);
    expect(data.images.length).toBe(data.count * 32 * 32 * 3);
    expect(data.files[0]).toBe(path.join('circle', 'circle-0000.png'));
    expect(Array.from(data.labels!.slice(0, PER_SHAPE))).toEqual(Array(PER_SHAPE).fill(0));
    expect(data.labels![2 * PER_SHAPE]).toBe(2);
    expect(data.skipped.map((s) => s.file).sort()).toEqual(
      ['circle/empty.png', 'loose.png', 'square/cut-off.jpg', 'triangle/notes.txt'].map((f) => f.split('/').join(path.sep)));
    expect(warnings).toEqual([]); // the warning about skipped files is openDataset's, once
    const opened: string[] = [];
    await openDataset(dir, { imageSize: 32, onWarning: (m) => opened.push(m) });
    expect(opened).toHaveLength(1);
    expect(opened[0]).toMatch(/skipped 4 files.*empty\.png/);
  });

  test('the pixels are the picture: a decoded image matches sharp reading the file directly', async () => {
    const data = await loadImageFolder(dir, { imageSize: 32 });
    const direct = await sharp(path.join(dir, 'square', 'square-0000.png')).removeAlpha().raw().toBuffer();
    const row = data.files.indexOf(path.join('square', 'square-0000.png'));
    const decoded = data.images.subarray(row * 32 * 32 * 3, (row + 1) * 32 * 32 * 3);
    let diff = 0;
    for (let i = 0; i < decoded.length; i++) diff = Math.max(diff, Math.abs(decoded[i] - direct[i]));
    expect(diff).toBeLessThanOrEqual(1);
  });

  test('is decoded once: the next load comes from the cache, and a changed folder is decoded again', async () => {
    const first = await loadImageFolder(dir, { imageSize: 32 });
    const again = await loadImageFolder(dir, { imageSize: 32 });
    expect(again.cached).toBe(true);
    expect(Buffer.compare(Buffer.from(again.images), Buffer.from(first.images))).toBe(0);
    expect(Array.from(again.labels!)).toEqual(Array.from(first.labels!));
    expect(fs.readdirSync(path.join(dir, CACHE_DIR)).length).toBeGreaterThan(0);
    // Another size is another cache entry; a new file makes the old entries stale.
    expect((await loadImageFolder(dir, { imageSize: 28 })).cached).toBe(false);
    fs.copyFileSync(path.join(dir, 'circle', 'circle-0001.png'), path.join(dir, 'circle', 'copy.png'));
    const changed = await loadImageFolder(dir, { imageSize: 32 });
    expect(changed.cached).toBe(false);
    expect(changed.count).toBe(first.count + 1);
    fs.rmSync(path.join(dir, 'circle', 'copy.png'));
  });

  test('defaults: 64 pixels unless every image is 28 x 28, colour when any image is; grey on request', async () => {
    const data = await loadImageFolder(dir);
    expect(data.size).toBe(64);
    expect(data.channels).toBe(3);
    const grey = await loadImageFolder(dir, { imageSize: 32, channels: 1 });
    expect(grey.channels).toBe(1);
    expect(grey.images.length).toBe(grey.count * 32 * 32);
    const small = path.join(tmpDir('vae-folder-'), 'digits');
    fs.mkdirSync(small);
    for (let i = 0; i < 3; i++) {
      await sharp({ create: { width: 28, height: 28, channels: 3, background: { r: 40 * i, g: 40 * i, b: 40 * i } } })
        .grayscale().png().toFile(path.join(small, `d${i}.png`));
    }
    const kept = await loadImageFolder(small);
    expect([kept.size, kept.channels, kept.labels]).toEqual([28, 1, null]);
  });

  test('the test split is seeded, disjoint and covers the folder', async () => {
    const a = await openDataset(dir, { imageSize: 32, testSplit: 0.25, seed: 5 });
    const b = await openDataset(dir, { imageSize: 32, testSplit: 0.25, seed: 5 });
    const c = await openDataset(dir, { imageSize: 32, testSplit: 0.25, seed: 6 });
    expect(a.kind).toBe('folder');
    expect(a.test.count).toBe(Math.round(3 * PER_SHAPE * 0.25));
    expect(a.train.count + a.test.count).toBe(3 * PER_SHAPE);
    expect(Buffer.compare(Buffer.from(a.test.images!), Buffer.from(b.test.images!))).toBe(0);
    expect(Buffer.compare(Buffer.from(a.test.images!), Buffer.from(c.test.images!))).not.toBe(0);
    const dim = 32 * 32 * 3;
    const rows = (set: typeof a.train) => Array.from({ length: set.count }, (_, i) => Buffer.from(set.images!.subarray(i * dim, (i + 1) * dim)).toString('base64'));
    const train = new Set(rows(a.train));
    expect(rows(a.test).some((r) => train.has(r))).toBe(false);
    await expect(openDataset(dir, { testSplit: 1.5 })).rejects.toThrow(/between 0 and 1/);
  });

  test('a folder with no pictures, and image flags on idx data, are one-line errors', async () => {
    const empty = path.join(tmpDir('vae-folder-'), 'nothing');
    fs.mkdirSync(empty);
    fs.writeFileSync(path.join(empty, 'a.txt'), 'text');
    await expect(loadImageFolder(empty)).rejects.toThrow(/none of its 1 files is an image/);
    await expect(openDataset('mnist', { imageSize: 32 })).rejects.toThrow(/--image-size, --channels and --test-split are for a folder of images/);
  });
});

describe('Fashion-MNIST', () => {
  const installed = fs.existsSync(FASHION_MNIST_DIR);

  test('--data fashion-mnist: the Debian package when installed, else a message saying how to get it', () => {
    if (!installed) {
      expect(() => loadDataset('fashion-mnist')).toThrow(/apt-get install dataset-fashion-mnist.*--data DIR/);
      return;
    }
    const data = loadDataset('fashion-mnist', { limitTest: 100 });
    expect([data.train.count, data.height, data.width, data.channels]).toEqual([60000, 28, 28, 1]);
    expect(data.labelNames).toEqual(FASHION_NAMES);
    expect(data.test.labels![0]).toBe(9); // the first test image of Fashion-MNIST is an ankle boot
  });

  test('--data DIR: the same .gz idx files copied into a folder of ours give the same images', () => {
    if (!installed) {
      expect(() => loadDataset(path.join(tmpDir(), 'missing'))).toThrow(/dataset folder not found/);
      return;
    }
    const dir = path.join(tmpDir('vae-fashion-'), 'fashion');
    fs.mkdirSync(dir);
    for (const f of fs.readdirSync(FASHION_MNIST_DIR)) fs.copyFileSync(path.join(FASHION_MNIST_DIR, f), path.join(dir, f));
    expect(fs.readdirSync(dir).every((f) => f.endsWith('.gz'))).toBe(true);
    const ours = loadDataset(dir, { limitTrain: 500, limitTest: 100 });
    const named = loadDataset('fashion-mnist', { limitTrain: 500, limitTest: 100 });
    expect(Buffer.compare(Buffer.from(ours.train.images!), Buffer.from(named.train.images!))).toBe(0);
    expect(Array.from(ours.test.labels!)).toEqual(Array.from(named.test.labels!));
    expect(ours.labelNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  });
});
