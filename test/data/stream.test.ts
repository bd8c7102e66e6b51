/**
 * A set larger than its memory budget (data/stream.ts): the windowed order is a permutation of the whole set that
 * depends only on (seed, epoch, shape); the reader gives each position the bytes of its row and never holds more
 * than two windows; and a streamed run interrupted mid-epoch and resumed ends exactly where the uninterrupted one ends.
 */
import * as fs from 'fs';
import * as path from 'path';
import { RowStore, WindowReader, streamShape, streamedEpoch, windowsPerEpoch } from '../../src/data/stream';
import { openDataset } from '../../src/data/datasets';
import { testInputs, testMatrix } from '../../src/data/batches';
import { NewRunOptions, resumeRun, startRun } from '../../src/train/run';
import { train } from '../../src/train/train';
import { familyOf } from '../../src/model/families/registry';
import type { BatchSlot } from '../../src/model/families/family';
import { useTestBackend } from '../helpers/backend';
import { writeShapeFolder } from '../helpers/shapes';
import { tmpDir } from '../helpers/tmp';

beforeAll(useTestBackend);

const shape = { blockRows: 4, windowRows: 12 };

test('a streamed epoch is a permutation of the set, cut in windows of whole blocks, and a fixed function of the seed', () => {
  const count = 50; // 13 blocks, the last of 2 rows; windows of 3 blocks
  const a = streamedEpoch(3, 1, count, shape);
  expect(Array.from(a.order).sort((x, y) => x - y)).toEqual(Array.from({ length: count }, (_, i) => i));
  expect(a.windows).toHaveLength(windowsPerEpoch(count, shape));
  expect(a.windows).toHaveLength(5);
  let start = 0;
  for (const w of a.windows) {
    expect(w.start).toBe(start);
    // whole blocks, in the set's order: every row's block-mates are in its window
    const blocks = new Set(Array.from(w.rows, (r) => Math.floor(r / 4)));
    for (const b of blocks) for (let r = b * 4; r < Math.min(count, b * 4 + 4); r++) expect(Array.from(w.rows)).toContain(r);
    expect(Array.from(w.rows)).toEqual([...w.rows].sort((x, y) => x - y));
    for (let j = 0; j < w.rows.length; j++) expect(a.order[w.start + j]).toBe(w.rows[w.perm[j]]);
    start += w.rows.length;
  }
  expect(Array.from(streamedEpoch(3, 1, count, shape).order)).toEqual(Array.from(a.order));
  expect(Array.from(streamedEpoch(3, 2, count, shape).order)).not.toEqual(Array.from(a.order));
  expect(Array.from(streamedEpoch(4, 1, count, shape).order)).not.toEqual(Array.from(a.order));
});

test('the window shape keeps two windows within the budget, and a budget too small for one block says so', () => {
  const s = streamShape(12288, 256 * 2 ** 20);
  expect(s.windowRows % s.blockRows).toBe(0);
  expect(2 * s.windowRows * 12288).toBeLessThanOrEqual(256 * 2 ** 20);
  expect(streamShape(12288, 64 * 2 ** 20).windowRows).toBeLessThan(s.windowRows);
  expect(() => streamShape(12288, 2 ** 19)).toThrow(/--data-memory 0.5 MB cannot hold two windows of 32 pictures of 12288 bytes; give it at least 0.75/);
});

/** Rows whose bytes name them (row r: every byte r mod 251), counting what is read. */
function fakeStore(count: number, dim: number): RowStore & { reads: number } {
  const fill = (rows: ArrayLike<number>, out: Uint8Array) => {
    for (let k = 0; k < rows.length; k++) out.fill(rows[k] % 251, k * dim, (k + 1) * dim);
  };
  return { count, dim, reads: 0, read: fill, async readAsync(rows, out) {
    this.reads++;
    await new Promise((r) => setTimeout(r, 1));
    fill(rows, out);
  }, close() {} };
}

test('the reader gives every position of every epoch its row, across windows and epochs, reading each window once', async () => {
  const count = 50;
  const store = fakeStore(count, 3);
  const reader = new WindowReader(store, shape, 9, 2);
  for (const epoch of [1, 2]) {
    const order = reader.plan(epoch).order;
    for (let start = 0; start < count; start += 7) { // batches of 7 straddle the windows
      const end = Math.min(count, start + 7);
      await reader.ready(epoch, start, end);
      for (let k = start; k < end; k++) {
        const [bytes, at] = reader.row(epoch, k);
        expect(Array.from(bytes.subarray(at, at + 3))).toEqual([order[k] % 251, order[k] % 251, order[k] % 251]);
      }
    }
  }
  expect(store.reads).toBe(2 * windowsPerEpoch(count, shape)); // read ahead, never twice
});

const SIDE = 16;

/** A VAE on a folder of coloured shapes, streamed through a budget of a few windows of 32 pictures. */
function streamed(out: string, data: string, epochs: number): NewRunOptions {
  return { data, imageSize: SIDE, dataMemory: 0.1, binarize: 'none', likelihood: 'gaussian', zDim: 4, hidden: [32], beta: 1, epochs,
    batchSize: 50, lr: 1e-3, seed: 5, klWarmup: 0, out };
}

test('a streamed run interrupted mid-epoch and resumed ends exactly where the uninterrupted one ends', async () => {
  const root = tmpDir();
  const data = path.join(root, 'shapes');
  await writeShapeFolder(data, 100, 20);
  // 300 pictures of 768 bytes, 0.1 MB: streamed in windows of 64 (two held: 96 KB); the test set too.
  const set = await openDataset(data, { imageSize: SIDE, memory: 0.1 * 2 ** 20, seed: 5 });
  expect(set.train.images).toBeNull();
  expect(set.train.store!.count).toBe(270);
  // Read on demand, the test set is what it is in memory.
  const resident = await openDataset(data, { imageSize: SIDE, seed: 5 });
  expect(Buffer.compare(Buffer.from(testMatrix(set.test, SIDE * SIDE * 3, 'none').buffer),
    Buffer.from(testMatrix(resident.test, SIDE * SIDE * 3, 'none').buffer))).toBe(0);
  expect(Array.from(testInputs(set.test, SIDE * SIDE * 3, 'none').rows(3, 5)))
    .toEqual(Array.from(testMatrix(resident.test, SIDE * SIDE * 3, 'none').subarray(3 * 768, 5 * 768)));
  set.train.store!.close();
  set.test.store!.close();

  const straight = await startRun(streamed(path.join(root, 'straight'), data, 2));
  expect(straight.config.train.stream).toEqual({ blockRows: 32, windowRows: 64 });
  const a = await train(straight);
  straight.lock?.release();

  const interrupted = await startRun(streamed(path.join(root, 'interrupted'), data, 2));
  let steps = 0;
  const first = await train(interrupted, { shouldStop: () => ++steps === 6 + 2 }); // 6 steps an epoch: stopped in epoch 2
  expect(first.interrupted).toBe(true);
  interrupted.lock?.release();
  const resumed = await resumeRun(path.join(root, 'interrupted'));
  expect(resumed.dataset.train.images).toBeNull(); // the recorded budget: streamed again
  expect(resumed.state.stepInEpoch).toBeGreaterThan(0);
  const b = await train(resumed);
  resumed.lock?.release();
  expect(b.epochs.at(-1)!.test).toEqual(a.epochs.at(-1)!.test);
  const weights = (run: typeof straight) => run.vae.trainableVariables().map((v) => Array.from(v.dataSync()));
  expect(weights(resumed)).toEqual(weights(straight));
  const metrics = (dir: string) => fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n')
    .map((l) => { const m = JSON.parse(l); return [m.train, m.test]; });
  expect(metrics(path.join(root, 'interrupted'))).toEqual(metrics(path.join(root, 'straight')));
}, 120_000);

test('a batch as its pictures\' bytes (for an engine that scales them itself) is the batch as floats, streamed or held', async () => {
  const root = tmpDir();
  const data = path.join(root, 'shapes');
  await writeShapeFolder(data, 100, 20);
  const dim = SIDE * SIDE * 3;
  for (const dataMemory of [0.1, 100]) { // 270 training pictures of 768 bytes: streamed in windows, then held
    const run = await startRun({ ...streamed(path.join(root, `bytes-${dataMemory}`), data, 1), dataMemory, batchSize: 16 });
    expect(run.dataset.train.images === null).toBe(dataMemory < 1);
    const source = familyOf(run.vae.config).batches({ vae: run.vae, train: run.dataset.train, settings: run.config.train, binarize: false });
    expect(source.imageBytes).toBe(true);
    const slot = (bytes: boolean): BatchSlot => ({ x: new Float32Array(bytes ? 0 : 16 * dim), y: new Float32Array(0), eps: new Float32Array(16 * 4),
      noisy: new Float32Array(0), bytes: bytes ? new Uint8Array(16 * dim) : undefined });
    const [floats, bytes] = [slot(false), slot(true)];
    for (let step = 0; step < source.steps; step++) {
      await source.ready?.(1, step);
      const a = source.fill(1, step, floats);
      const b = source.fill(1, step, bytes);
      expect(b).toEqual(a);
      const n = a.task.n;
      const scaled = Float32Array.from(bytes.bytes!.subarray(0, n * dim), (v) => v * (1 / 255));
      expect(Buffer.from(scaled.buffer).equals(Buffer.from(floats.x.buffer, 0, 4 * n * dim))).toBe(true);
      expect(bytes.bytes!.subarray(0, n * dim).some((v) => v > 0)).toBe(true);
    }
    source.close?.();
    run.lock?.release();
  }
  // Binarized batches are no longer the pictures' levels: no bytes.
  const binarized = await startRun({ ...streamed(path.join(root, 'binarized'), data, 1), binarize: 'dynamic', likelihood: 'bernoulli' });
  expect(familyOf(binarized.vae.config).batches({ vae: binarized.vae, train: binarized.dataset.train, settings: binarized.config.train, binarize: true })
    .imageBytes).toBe(false);
  binarized.lock?.release();
}, 60_000);
