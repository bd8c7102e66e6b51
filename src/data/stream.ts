/**
 * A training set larger than its memory budget, streamed from the cache's shards (folder-cache.ts's ShardRows).
 *
 * The epoch's order is still a seeded permutation of the whole set, but one that can be read a window at a time:
 * the set is cut into blocks of BLOCK_ROWS consecutive rows; the blocks are shuffled (seed, epoch); each run of
 * `windowRows / blockRows` shuffled blocks is a window, and a window's rows are shuffled among themselves (seed,
 * epoch, window). A batch is then a random draw from a few hundred places of the set, not from the whole set at
 * once: every picture is seen once an epoch, in an order that changes every epoch, and the same seed gives the same
 * order. What it gives up against a full shuffle: two pictures of one block (neighbours in the folder, often the
 * same class) always land in the same window, so a window is not an independent draw (docs/own-images.md).
 *
 * The shape (block and window rows) is recorded in the run's config, so `--resume` replays the same order; two
 * windows are held at once (the one being trained on and the next, read on libuv's threads meanwhile), so the
 * pictures held stay within the budget.
 */
import { VaeError } from '../errors';
import { largeBytes } from '../native';
import { Rng } from '../rng';

/** Rows of a set read on demand (the shards of a folder's cache). */
export interface RowStore {
  readonly count: number;
  /** Bytes of a row. */
  readonly dim: number;
  /** Reads rows `rows` (indices into the set) into `out`, the k-th at k x dim. */
  read(rows: ArrayLike<number>, out: Uint8Array): void;
  /** The same, off the main thread. */
  readAsync(rows: ArrayLike<number>, out: Uint8Array): Promise<void>;
  close(): void;
}

/** A folder of images: the share held out as the test set (picked with --seed). */
export const DEFAULT_TEST_SPLIT = 0.1;

/** The default memory budget of a set's pictures: a set whose bytes exceed it is streamed. */
export const DEFAULT_DATA_MEMORY_MB = 1024;
/** Consecutive rows of the set that move together in a streamed order (a read of 32 rows of 64 x 64 RGB: 384 KB). */
export const BLOCK_ROWS = 32;
/**
 * The most rows of a window: a few thousand blocks mix well, and a small window is quick to read before the first
 * step (16,384 rows of 64 x 64 RGB: 192 MB, well under a second from the page cache).
 */
export const MAX_WINDOW_ROWS = 16384;

/** How a streamed epoch is cut: rows of a block and of a window (a multiple of the block). */
export interface StreamShape {
  blockRows: number;
  windowRows: number;
}

/** The window shape that keeps two windows of `rowBytes`-byte rows within `budgetBytes`. */
export function streamShape(rowBytes: number, budgetBytes: number): StreamShape {
  const blocks = Math.min(MAX_WINDOW_ROWS / BLOCK_ROWS, Math.floor(budgetBytes / 2 / rowBytes / BLOCK_ROWS));
  if (blocks < 1) {
    throw new VaeError(`--data-memory ${+(budgetBytes / 2 ** 20).toFixed(2)} MB cannot hold two windows of ${BLOCK_ROWS} pictures of ` +
      `${rowBytes} bytes; give it at least ${+(2 * BLOCK_ROWS * rowBytes / 2 ** 20).toFixed(2)}`);
  }
  return { blockRows: BLOCK_ROWS, windowRows: blocks * BLOCK_ROWS };
}

/** A window of a streamed epoch: its first position in the order, its rows (in reading order), their shuffle. */
export interface Window {
  start: number;
  /** Set rows, block after block in the set's order (so that reads go forward through the shards). */
  rows: Uint32Array;
  /** Position start + j of the epoch's order is rows[perm[j]]. */
  perm: Uint32Array;
}

/** An epoch's order when streamed: the order itself (a permutation of the set) and its windows. */
export interface StreamedEpoch {
  order: Uint32Array;
  windows: Window[];
}

/** Windows of an epoch of `count` rows cut to `shape`. */
export function windowsPerEpoch(count: number, shape: StreamShape): number {
  return Math.ceil(Math.ceil(count / shape.blockRows) / (shape.windowRows / shape.blockRows));
}

/** The order of epoch `epoch` (1-based) of a set of `count` rows, streamed in windows of `shape`: a fixed function of the seed. */
export function streamedEpoch(seed: number, epoch: number, count: number, shape: StreamShape): StreamedEpoch {
  const { blockRows } = shape;
  const perWindow = shape.windowRows / blockRows;
  const blocks = new Rng(seed, 'shuffle-blocks', epoch).permutation(Math.ceil(count / blockRows));
  const order = new Uint32Array(count);
  const windows: Window[] = [];
  let position = 0;
  for (let w = 0; w * perWindow < blocks.length; w++) {
    const mine = Array.from(blocks.subarray(w * perWindow, (w + 1) * perWindow)).sort((a, b) => a - b);
    const rows: number[] = [];
    for (const b of mine) for (let r = b * blockRows; r < Math.min(count, (b + 1) * blockRows); r++) rows.push(r);
    const window: Window = { start: position, rows: Uint32Array.from(rows), perm: new Rng(seed, 'shuffle-window', epoch, w).permutation(rows.length) };
    for (let j = 0; j < rows.length; j++) order[position + j] = rows[window.perm[j]];
    position += rows.length;
    windows.push(window);
  }
  return { order, windows };
}

/**
 * The windows of a streamed set, read ahead: `ready` makes the rows of a batch readable (awaiting their windows,
 * and starting to read the next while the batch trains), `row` gives a position's bytes. Two buffers of a window
 * each, reused: window n of the whole run (every epoch's windows, one after another) lives in buffer n mod 2.
 */
export class WindowReader {
  private readonly plans = new Map<number, StreamedEpoch>();
  private readonly perEpoch: number;
  private readonly buffers: { seq: number; bytes: Uint8Array; ready: Promise<void> }[] = [];
  private readonly dim: number;

  constructor(private readonly store: RowStore, private readonly shape: StreamShape, private readonly seed: number,
    private readonly epochs: number) {
    this.perEpoch = windowsPerEpoch(store.count, shape);
    this.dim = store.dim;
  }

  /** Epoch `epoch`'s order and windows (kept for it and the epoch before). */
  plan(epoch: number): StreamedEpoch {
    let plan = this.plans.get(epoch);
    if (!plan) {
      plan = streamedEpoch(this.seed, epoch, this.store.count, this.shape);
      this.plans.set(epoch, plan);
      this.plans.delete(epoch - 2);
    }
    return plan;
  }

  /** Makes positions [start, end) of epoch `epoch`'s order readable with `row`; reads the window after them meanwhile. */
  async ready(epoch: number, start: number, end: number): Promise<void> {
    const first = this.windowAt(epoch, start);
    const last = this.windowAt(epoch, end - 1);
    const seq = (epoch - 1) * this.perEpoch + first;
    await this.load(seq);
    if (last !== first) await this.load(seq + 1);
    // The batch needs one window: the other buffer is free for the next one (this epoch's, or the next epoch's first).
    else if (seq + 1 < this.epochs * this.perEpoch) this.load(seq + 1).catch(() => undefined); // a failure is met by its ready
  }

  /** The bytes of position `position` of epoch `epoch`'s order (after `ready`): the buffer and the row's offset in it. */
  row(epoch: number, position: number): [Uint8Array, number] {
    const w = this.windowAt(epoch, position);
    const window = this.plan(epoch).windows[w];
    const buffer = this.buffers[((epoch - 1) * this.perEpoch + w) % 2];
    return [buffer.bytes, window.perm[position - window.start] * this.dim];
  }

  close(): void {
    this.store.close();
  }

  private windowAt(epoch: number, position: number): number {
    const w = Math.floor(position / this.shape.windowRows);
    // Only the block holding the set's last row is short: the windows after it start a few rows earlier.
    const windows = this.plan(epoch).windows;
    return w + 1 < windows.length && position >= windows[w + 1].start ? w + 1 : w;
  }

  private load(seq: number): Promise<void> {
    const slot = seq % 2;
    const held = this.buffers[slot];
    if (held?.seq === seq) return held.ready;
    const epoch = Math.floor(seq / this.perEpoch) + 1;
    const window = this.plan(epoch).windows[seq % this.perEpoch];
    const bytes = held?.bytes ?? largeBytes(Math.min(this.shape.windowRows, this.store.count) * this.dim);
    // A read still filling this buffer (a window read ahead and never used) finishes first.
    const before = held ? held.ready.catch(() => undefined) : Promise.resolve();
    const ready = before.then(() => this.store.readAsync(window.rows, bytes));
    this.buffers[slot] = { seq, bytes, ready };
    return ready;
  }
}
