/**
 * The cache of a folder's decoded pictures (data/folder-cache.ts), with shards small enough that a few dozen
 * pictures make many: a picture added, changed and removed between runs is decoded (or dropped) alone; a first
 * run killed in the middle goes on from the shards it finished; a failed write leaves nothing behind; and a folder
 * of 300 classes keeps its labels past 255.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { openDataset } from '../../src/data/datasets';
import { CACHE_DIR, FolderImages, listFiles, loadImageFolder } from '../../src/data/folder';
import { StampedFiles, folderOrder } from '../../src/data/folder-cache';
import { runVae } from '../helpers/cli';
import { writeShapeFolder } from '../helpers/shapes';
import { tmpDir } from '../helpers/tmp';

const SIDE = 16;
const ROW = SIDE * SIDE * 3;
/** Five pictures a shard. */
const shardBytes = 5 * ROW;

const shardsOf = (dir: string) => {
  const settings = path.join(dir, CACHE_DIR, `${SIDE}x${SIDE}-rgb`);
  return fs.existsSync(settings) ? fs.readdirSync(settings).filter((f) => f.endsWith('.u8')).sort() : [];
};
/** Anything a write left half-made. */
const leftovers = (dir: string) => fs.readdirSync(path.join(dir, CACHE_DIR), { recursive: true }).map(String).filter((f) => /\.tmp-/.test(f));

/** The same folder decoded from nothing (a cache of its own): what every cached load must equal, byte for byte. */
async function fresh(dir: string): Promise<FolderImages> {
  return loadImageFolder(dir, { imageSize: SIDE, cacheDirs: [tmpDir('vae-fresh-')] });
}

function expectSame(a: FolderImages, b: FolderImages): void {
  expect(a.files).toEqual(b.files);
  expect(Array.from(a.labels ?? [])).toEqual(Array.from(b.labels ?? []));
  expect(a.count).toBe(b.count);
  expect(Buffer.compare(Buffer.from(a.images), Buffer.from(b.images))).toBe(0);
}

test('a picture added, changed and removed between runs: only it is decoded, and the images are a fresh decode\'s', async () => {
  const dir = path.join(tmpDir(), 'shapes');
  await writeShapeFolder(dir, 8, 24);
  const first = await loadImageFolder(dir, { imageSize: SIDE, shardBytes });
  expect(first.decoded).toBe(24);
  expect(shardsOf(dir)).toHaveLength(5); // 24 pictures, 5 a shard
  const again = await loadImageFolder(dir, { imageSize: SIDE, shardBytes });
  expect([again.cached, again.decoded]).toEqual([true, 0]);
  expectSame(again, first);

  // Added: one more picture.
  fs.copyFileSync(path.join(dir, 'circle', 'circle-0001.png'), path.join(dir, 'circle', 'circle-0001-copy.png'));
  const added = await loadImageFolder(dir, { imageSize: SIDE, shardBytes });
  expect(added.decoded).toBe(1);
  expect(added.count).toBe(25);
  expectSame(added, await fresh(dir));
  expect(shardsOf(dir)).toHaveLength(6);

  // Changed: another picture in place of one (its size and time change).
  await sharp({ create: { width: 30, height: 20, channels: 3, background: { r: 200, g: 10, b: 90 } } }).png()
    .toFile(path.join(dir, 'square', 'square-0002.png'));
  const changed = await loadImageFolder(dir, { imageSize: SIDE, shardBytes });
  expect(changed.decoded).toBe(1);
  expectSame(changed, await fresh(dir));
  const row = changed.files.indexOf(path.join('square', 'square-0002.png'));
  expect(Array.from(changed.images.subarray(row * ROW, row * ROW + 3))).toEqual([200, 10, 90]);

  // Removed: every picture of the first shard, which is then deleted.
  for (const f of first.files.slice(0, 5)) fs.rmSync(path.join(dir, f));
  const removed = await loadImageFolder(dir, { imageSize: SIDE, shardBytes });
  expect(removed.decoded).toBe(0);
  expect(removed.count).toBe(20);
  expectSame(removed, await fresh(dir));
  expect(shardsOf(dir)).not.toContain('shard-000000.u8');
  expect(leftovers(dir)).toEqual([]);
}, 60_000);

test('a first run killed in the middle keeps the shards it finished, and the next run decodes only the rest', async () => {
  const dir = path.join(tmpDir(), 'shapes');
  await writeShapeFolder(dir, 20, 24);
  // A process decoding the folder slowly (20 ms a picture), killed once it has written two shards (its files).
  const folder = path.join(__dirname, '..', '..', 'dist', 'data', 'folder.js');
  const script = `require(${JSON.stringify(folder)}).loadImageFolder(${JSON.stringify(dir)}, { imageSize: ${SIDE}, shardBytes: ${shardBytes}, ` +
    'onProgress: () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20) })';
  const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  for (let i = 0; i < 1000 && shardsOf(dir).length < 2; i++) await new Promise((r) => setTimeout(r, 10));
  child.kill('SIGKILL');
  await exited;
  // The shards the manifest lists (a shard written just before the kill may not be listed yet: it is written over).
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, CACHE_DIR, `${SIDE}x${SIDE}-rgb`, 'manifest.json'), 'utf8'));
  const kept = manifest.shards.length;
  expect(kept).toBeGreaterThanOrEqual(1);
  expect(kept).toBeLessThan(12); // killed before the end: 60 pictures are 12 shards
  // What a kill in the middle of a shard's write leaves (a temporary of a process no longer running) goes next time.
  fs.writeFileSync(path.join(dir, CACHE_DIR, `${SIDE}x${SIDE}-rgb`, 'shard-000099.u8.tmp-4194303'), 'half a shard');
  const resumed = await loadImageFolder(dir, { imageSize: SIDE, shardBytes });
  expect(resumed.decoded).toBe(60 - 5 * kept);
  expectSame(resumed, await fresh(dir));
  expect(leftovers(dir)).toEqual([]);
}, 60_000);

test('a full disk while a shard is written leaves nothing behind; the pictures are still all there, and cached next time', async () => {
  const dir = path.join(tmpDir(), 'shapes');
  await writeShapeFolder(dir, 5, 24);
  const warnings: string[] = [];
  process.env.VAE_FAULT_WRITE = 'ENOSPC:1:shard-000001\\.u8';
  let full: FolderImages;
  try {
    full = await loadImageFolder(dir, { imageSize: SIDE, shardBytes, onWarning: (m) => warnings.push(m) });
  } finally {
    delete process.env.VAE_FAULT_WRITE;
  }
  expect(warnings).toEqual([expect.stringMatching(/could not write the decoded images .*; they will be decoded again next time/)]);
  expect(shardsOf(dir)).toEqual(['shard-000000.u8']);
  expect(leftovers(dir)).toEqual([]);
  expectSame(full, await fresh(dir));
  const next = await loadImageFolder(dir, { imageSize: SIDE, shardBytes });
  expect(next.decoded).toBe(10);
  expectSame(next, full);
}, 60_000);

describe('a folder of 300 classes (one subfolder each)', () => {
  const work = tmpDir();
  const data = path.join(work, 'people');
  beforeAll(async () => {
    for (let c = 0; c < 300; c++) {
      const sub = path.join(data, `person-${String(c).padStart(3, '0')}`);
      fs.mkdirSync(sub, { recursive: true });
      await sharp({ create: { width: 12, height: 12, channels: 3, background: { r: c % 256, g: (7 * c) % 256, b: 40 } } }).png()
        .toFile(path.join(sub, 'a.png'));
    }
  }, 120_000);

  test('keeps labels past 255 (16 bits)', async () => {
    const images = await loadImageFolder(data, { imageSize: 12 });
    expect(images.labelNames).toHaveLength(300);
    expect(images.labels).toBeInstanceOf(Uint16Array);
    expect(images.labels![299]).toBe(299);
  });

  test.each([['vae'], ['cvae']])('trains a %s', (model) => {
    const r = runVae(['-q', 'train', '--data', data, '--model', model, '--image-size', '12', '--epochs', '1', '--batch-size', '50', '--hidden', '16',
      '--out', path.join(work, model)], work);
    expect(r.stderr).not.toMatch(/^vae:/m);
    expect(r.status).toBe(0);
    const config = JSON.parse(fs.readFileSync(path.join(work, model, 'config.json'), 'utf8'));
    expect(config.data.labelNames).toHaveLength(300);
    if (model === 'cvae') expect(config.model.condition).toEqual({ kind: 'label', classes: 300 });
  }, 120_000);

  test('a label model of more classes than make sense is refused in one line; one without labels does not care', async () => {
    const many = path.join(work, 'many');
    const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: { r: 1, g: 2, b: 3 } } }).png().toBuffer();
    for (let c = 0; c < 1001; c++) {
      fs.mkdirSync(path.join(many, String(c)), { recursive: true });
      fs.writeFileSync(path.join(many, String(c), 'a.png'), png);
    }
    const cvae = runVae(['train', '--data', many, '--model', 'cvae', '--image-size', '4', '--epochs', '1', '--out', path.join(work, 'many-cvae')], work);
    expect(cvae.status).toBe(1);
    expect(cvae.stderr).toMatch(/^vae: --model cvae takes the label as a one-hot input, and many has 1001 classes .* at most 1000 make sense/m);
    const vae = runVae(['-q', 'train', '--data', many, '--image-size', '4', '--epochs', '1', '--hidden', '8', '--out', path.join(work, 'many-vae')], work);
    expect(vae.status).toBe(0);
  }, 180_000);
});

test('--limit-train and --limit-test decode only the pictures they use; a later full run decodes the rest', async () => {
  const dir = path.join(tmpDir(), 'shapes');
  await writeShapeFolder(dir, 20, 24);
  const decodedNow: number[] = [];
  const limited = await openDataset(dir, { imageSize: SIDE, limitTrain: 7, limitTest: 3, seed: 2,
    onProgress: (done, total) => { if (done === total) decodedNow.push(total); } });
  expect([limited.train.count, limited.test.count]).toEqual([7, 3]);
  expect(decodedNow).toEqual([10]);
  const full = await openDataset(dir, { imageSize: SIDE, seed: 2, onProgress: (done, total) => { if (done === total) decodedNow.push(total); } });
  expect(decodedNow).toEqual([10, 50]);
  // The limited run's pictures are the first of the full run's parts.
  const rowsOf = (set: typeof full.train, n: number) => Buffer.from(set.images!.subarray(0, n * ROW));
  expect(Buffer.compare(rowsOf(limited.train, 7), rowsOf(full.train, 7))).toBe(0);
  expect(Buffer.compare(rowsOf(limited.test, 3), rowsOf(full.test, 3))).toBe(0);
  expect(Array.from(limited.train.labels!)).toEqual(Array.from(full.train.labels!.subarray(0, 7)));
}, 60_000);

test('a cache in the layout of the version before (rows as lists, files.json by name) is used as it is, and rewritten as columns', async () => {
  const dir = path.join(tmpDir(), 'shapes');
  await writeShapeFolder(dir, 4, 24);
  const first = await loadImageFolder(dir, { imageSize: SIDE, shardBytes });
  const settings = path.join(dir, CACHE_DIR, `${SIDE}x${SIDE}-rgb`);
  const manifest = JSON.parse(fs.readFileSync(path.join(settings, 'manifest.json'), 'utf8'));
  const files = JSON.parse(fs.readFileSync(path.join(dir, CACHE_DIR, 'files.json'), 'utf8'));
  expect([manifest.format, files.format]).toEqual([4, 3]);
  // As the version before wrote them (its format 3 manifest, its format 2 files.json).
  const old = { ...manifest, format: 3, shards: manifest.shards.map((s: { name: string; files: string[]; bytes: number[]; mtimeMs: number[]; grey: boolean }) =>
    ({ name: s.name, rows: s.files.map((f, i) => [f, s.bytes[i], s.mtimeMs[i]]), grey: s.grey })) };
  fs.writeFileSync(path.join(settings, 'manifest.json'), JSON.stringify(old));
  fs.writeFileSync(path.join(dir, CACHE_DIR, 'files.json'), JSON.stringify({ format: 2, files: Object.fromEntries(files.files.map((f: string, i: number) =>
    [f, { bytes: files.bytes[i], mtimeMs: files.mtimeMs[i], width: files.width[i], height: files.height[i] }])) }));
  const again = await loadImageFolder(dir, { imageSize: SIDE, shardBytes });
  expect([again.cached, again.decoded]).toEqual([true, 0]);
  expectSame(again, first);
  expect(JSON.parse(fs.readFileSync(path.join(settings, 'manifest.json'), 'utf8'))).toEqual(manifest);
  expect(JSON.parse(fs.readFileSync(path.join(dir, CACHE_DIR, 'files.json'), 'utf8'))).toEqual(files);
}, 60_000);

test('folderOrder is the order a folder is listed in, and StampedFiles finds every name wherever it is guessed', () => {
  const dir = tmpDir();
  const names = ['a-b.png', 'a/x.png', 'a/b/c.png', 'a/b-c.png', 'a0.png', 'A.png', 'é.png', 'b.png', 'a/b/c/d.png', 'ab/a.png'];
  for (const name of names) {
    fs.mkdirSync(path.join(dir, path.dirname(name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), '');
  }
  const listed = listFiles(dir);
  expect([...listed].sort()).toEqual([...names].sort());
  expect([...names].sort(folderOrder)).toEqual(listed);
  const stamps = (n: number) => new Float64Array(n);
  for (const list of [listed, [...listed].reverse()]) { // in the folder's order (bisection), and not (a table)
    const files = new StampedFiles(list, stamps(list.length), stamps(list.length));
    list.forEach((name, i) => {
      for (const guess of [-1, 0, i, i + 1, list.length - 1]) expect(files.find(name, guess)).toBe(i);
    });
    expect(files.find('a/zz.png', 2)).toBe(-1);
  }
});
