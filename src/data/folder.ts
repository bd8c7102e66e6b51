/**
 * An image folder as a data set: every file under it (recursively) that sharp can decode (PNG, JPEG, WebP,
 * ...). When the folder has subfolders, the first-level subfolder of each image is its label.
 *
 * Decoding is the slow part, so it happens once: the decoded bytes (size x size x channels per image) go into a
 * cache of shards (folder-cache.ts; .vae-cache/ in the data folder, or in the run folder when the data folder is
 * read-only) that knows each file by its name, size and modification time. Later runs read the shards and decode
 * only what was added or changed since; an interrupted first run goes on from the shards it finished.
 *
 * Files that cannot be decoded (corrupt, empty, not images) are skipped and listed in one warning.
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { VaeError, errorMessage } from '../errors';
import { FileStamp, FolderCache, SHARD_BYTES, ShardRows, StampedFiles, isGrey, readHeaders, writeHeaders } from './folder-cache';
import { decodeAddon, largeBytes } from '../native';
import { poolThreads } from '../thread-pool';
import { LARGE, decodeSquare } from './images';

/** Class labels: one per image, an index into the label names (16 or 32 bits where there are more than 256 classes). */
export type Labels = Uint8Array | Uint16Array | Uint32Array;

export const CACHE_DIR = '.vae-cache';
/** 28 x 28 images keep their size; anything else is brought to 64 x 64 unless --image-size says otherwise. */
export const DEFAULT_FOLDER_SIZE = 64;
const KEEP_SIZE = 28;
/** Images decoded at once (sharp works on libvips' own threads, one per core). */
const CONCURRENCY = 8;

export interface FolderOptions {
  /** Side of the square images (default: 28 when every image is 28 x 28, else DEFAULT_FOLDER_SIZE). */
  imageSize?: number;
  /** 1 (grey) or 3 (RGB); default: 3 when any image has colour (a pixel whose red, green and blue differ), else 1. */
  channels?: 1 | 3;
  /** Folders to keep the cache in, tried in order (default: DIR/.vae-cache). */
  cacheDirs?: string[];
  /** The most bytes of a shard of the cache (default SHARD_BYTES; tests make many small ones). */
  shardBytes?: number;
  /** Images decoded so far, of those whose header could be read. */
  onProgress?: (done: number, total: number) => void;
  onWarning?: (message: string) => void;
}

export interface FolderImages {
  /** Bytes, size x size x channels per image, row-major, channels interleaved. */
  images: Uint8Array;
  /** The label of each image (index into labelNames), or null when the folder has no subfolders. */
  labels: Labels | null;
  labelNames: string[] | null;
  count: number;
  size: number;
  channels: 1 | 3;
  /** Paths relative to the folder, in the order of `images`. */
  files: string[];
  /** Files that could not be decoded, with the reason. */
  skipped: { file: string; reason: string }[];
  /** True when the images came from the cache; `decoded`: the pictures decoded now (new or changed since). */
  cached: boolean;
  decoded: number;
}

/** Every file under dir (sorted, relative paths), except hidden ones and the cache. */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    const entries = fs.readdirSync(path.join(dir, rel), { withFileTypes: true })
      .filter((e) => !e.name.startsWith('.'))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const child = rel ? path.join(rel, e.name) : e.name;
      if (e.isDirectory()) walk(child);
      else if (e.isFile() || e.isSymbolicLink()) out.push(child);
    }
  };
  walk('');
  return out;
}

/** True when dir looks like a folder of images rather than of MNIST-format idx files. */
export function isImageFolder(dir: string): boolean {
  return !fs.readdirSync(dir).some((name) => /^(train|t10k)-images-idx3-ubyte(\.gz)?$/.test(name));
}

/** Runs fn over items with at most `limit` at once, in order of the results. */
async function mapLimited<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>, onDone?: (done: number) => void): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
      onDone?.(++done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** A file's picture size, or why it is not a picture (its header is all that is read). */
async function probe(file: string): Promise<{ width: number; height: number } | { error: string }> {
  try {
    // From the file's bytes: twice as fast as from its name (measured: 1,780 → 3,550 a second).
    const meta = await sharp(await fs.promises.readFile(file)).metadata();
    if (!meta.width || !meta.height) return { error: 'no image size' };
    return { width: meta.width, height: meta.height };
  } catch (e) {
    return { error: errorMessage(e).split('\n')[0] };
  }
}

/** fn over [0, count) in batches of `size`, a native call each, as many at once as libuv's pool has threads. */
async function inBatches(count: number, size: number, fn: (from: number, to: number) => Promise<void>): Promise<void> {
  const starts = Array.from({ length: Math.ceil(count / size) }, (_, b) => b * size);
  await mapLimited(starts, poolThreads(), (from) => fn(from, Math.min(count, from + size)));
}

/**
 * The picture sizes of `files` (relative to dir): JPEG and PNG headers read by the native decoder where it is built
 * (200,000 files: seconds, where sharp's metadata took a minute), the rest by sharp.
 */
async function probeAll(dir: string, files: string[]): Promise<({ width: number; height: number } | { error: string })[]> {
  const sizes: ({ width: number; height: number } | { error: string } | null)[] = files.map(() => null);
  const native = decodeAddon();
  if (native) {
    await inBatches(files.length, PROBE_BATCH, async (from, to) => {
      const found = await native.probeFiles(files.slice(from, to).map((f) => path.join(dir, f)));
      for (let k = 0; k < found.length / 2; k++) if (found[2 * k] > 0) sizes[from + k] = { width: found[2 * k], height: found[2 * k + 1] };
    });
  }
  const left = sizes.flatMap((s, i) => (s === null ? [i] : []));
  (await mapLimited(left, CONCURRENCY, (i) => probe(path.join(dir, files[i])))).forEach((h, k) => { sizes[left[k]] = h; });
  return sizes as ({ width: number; height: number } | { error: string })[];
}

/** Files whose headers one call of the native decoder reads. */
const PROBE_BATCH = 1024;

/** Labels as small an array as holds them: bytes up to 256 classes, then 16 or 32 bits. */
export function labelArray(count: number, classes: number): Labels {
  return classes <= 2 ** 8 ? new Uint8Array(count) : classes <= 2 ** 16 ? new Uint16Array(count) : new Uint32Array(count);
}

/** The labels of these rows (indices into scan.files) of a scanned folder, or null when it has none. */
export function labelsOf(scan: FolderScan, rows: ArrayLike<number>): Labels | null {
  if (!scan.labels) return null;
  const labels = labelArray(rows.length, scan.labelNames!.length);
  for (let i = 0; i < rows.length; i++) labels[i] = scan.labels[rows[i]];
  return labels;
}

/** A folder as its files' headers describe it, before any picture is decoded. */
export interface FolderScan {
  dir: string;
  /** The pictures (their header reads), relative paths in the folder's order. */
  files: string[];
  /** Each picture's class (index into labelNames), or null when the folder has no subfolders. */
  labels: Labels | null;
  labelNames: string[] | null;
  /** Side of the square images they are decoded to. */
  size: number;
  /** Files that are not pictures, with the reason. */
  skipped: { file: string; reason: string }[];
  /** The pictures (their names are `files`) with their sizes and modification times. */
  stamps: StampedFiles;
  /** Each picture's width and height, from its header. */
  width: Int32Array;
  height: Int32Array;
  cacheDirs: string[];
}

/** Paths stat'ed by one call of the native decoder's statFiles (one of libuv's threads). */
const STAT_BATCH = 4096;

/**
 * The sizes and modification times (fs.statSync's mtimeMs) of `files` (relative to dir); -1 bytes where a file
 * cannot be read. With the native decoder where it is built: stat(2) costs ~5 µs a call on these machines, and
 * fs.statSync as much again.
 */
async function statAll(dir: string, files: string[]): Promise<{ bytes: Float64Array; mtimeMs: Float64Array }> {
  const bytes = new Float64Array(files.length).fill(-1);
  const mtimeMs = new Float64Array(files.length);
  const native = decodeAddon();
  // (Joined by hand: path.join normalizes, and costs a third of a second at 200,000 files.)
  const base = dir.endsWith(path.sep) ? dir : dir + path.sep;
  if (native) {
    await inBatches(files.length, STAT_BATCH, async (from, to) => {
      const found = await native.statFiles(files.slice(from, to).map((f) => base + f));
      for (let k = 0; k < found.length / 3; k++) {
        bytes[from + k] = found[3 * k];
        // fs.Stats' own arithmetic: the same double
        mtimeMs[from + k] = found[3 * k + 1] * 1e3 + found[3 * k + 2] / 1e6;
      }
    });
  } else {
    files.forEach((f, i) => {
      const st = fs.statSync(base + f, { throwIfNoEntry: false });
      if (st) [bytes[i], mtimeMs[i]] = [st.size, st.mtimeMs];
    });
  }
  return { bytes, mtimeMs };
}

/** Lists `dir`, reads its files' headers (once: the cache keeps them) and their classes; decodes nothing. */
export async function scanImageFolder(dir: string, options: FolderOptions = {}): Promise<FolderScan> {
  const all = listFiles(dir);
  if (all.length === 0) throw new VaeError(`${dir}: no files found (expected images, optionally in one subfolder per class)`);
  const cacheDirs = options.cacheDirs ?? [path.join(dir, CACHE_DIR)];
  // libvips' cache of operations off: a folder's pictures are each read once, and the cache only costs.
  sharp.cache(false);
  const skipped: { file: string; reason: string }[] = [];
  // Labels: the first-level subfolder, when there are subfolders.
  const inSubfolder = (f: string) => f.includes(path.sep);
  const labelled = all.some(inSubfolder);
  let candidates = all;
  if (labelled) {
    candidates = all.filter(inSubfolder);
    for (const f of all.filter((f) => !inSubfolder(f))) skipped.push({ file: f, reason: 'not in a class subfolder' });
  }
  const stamped = await statAll(dir, candidates);
  const listed = new StampedFiles(candidates, stamped.bytes, stamped.mtimeMs);
  // The pictures' sizes, from their headers: read once, kept in the cache's files.json (in the folder's order, so
  // that each file is where it was unless files were added or removed).
  const known = readHeaders(cacheDirs);
  const width = new Int32Array(candidates.length);
  const height = new Int32Array(candidates.length);
  const errors: Record<string, string> = {};
  const unknown: number[] = [];
  let guess = 0;
  candidates.forEach((f, i) => {
    if (listed.bytes[i] < 0) {
      errors[i] = 'could not be read';
      return;
    }
    const k = known ? known.files.find(f, guess) : -1;
    if (k < 0 || !known!.files.same(k, listed.bytes[i], listed.mtimeMs[i])) {
      unknown.push(i);
      return;
    }
    guess = k + 1;
    [width[i], height[i]] = [known!.width[k], known!.height[k]];
    if (Object.hasOwn(known!.errors, k)) errors[i] = known!.errors[k];
  });
  if (unknown.length > 0) {
    (await probeAll(dir, unknown.map((i) => candidates[i]))).forEach((h, k) => {
      const i = unknown[k];
      if ('error' in h) errors[i] = h.error;
      else [width[i], height[i]] = [h.width, h.height];
    });
    writeHeaders(cacheDirs, { files: listed, width, height, errors });
  }
  const good: number[] = [];
  let allKeepSize = true;
  candidates.forEach((f, i) => {
    if (Object.hasOwn(errors, i)) {
      skipped.push({ file: f, reason: errors[i] });
      return;
    }
    good.push(i);
    if (width[i] !== KEEP_SIZE || height[i] !== KEEP_SIZE) allKeepSize = false;
  });
  if (good.length === 0) throw new VaeError(`${dir}: none of its ${candidates.length} files is an image that can be read`);
  const allGood = good.length === candidates.length;
  const files = allGood ? candidates : good.map((i) => candidates[i]);
  const pick = <T extends Float64Array | Int32Array>(column: T): T => (allGood ? column : picked(column, good));
  let labels: Labels | null = null;
  let labelNames: string[] | null = null;
  if (labelled) {
    const classes = files.map((f) => f.slice(0, f.indexOf(path.sep)));
    labelNames = [...new Set(classes)].sort();
    const index = new Map(labelNames.map((name, i) => [name, i]));
    labels = labelArray(files.length, labelNames.length);
    classes.forEach((c, i) => { labels![i] = index.get(c)!; });
  }
  return { dir, files, labels, labelNames, size: options.imageSize ?? (allKeepSize ? KEEP_SIZE : DEFAULT_FOLDER_SIZE), skipped,
    stamps: new StampedFiles(files, pick(listed.bytes), pick(listed.mtimeMs)), width: pick(width), height: pick(height), cacheDirs };
}

/** column[at[0]], column[at[1]], ... */
function picked<T extends Float64Array | Int32Array>(column: T, at: number[]): T {
  const out = column.slice(0, at.length) as T;
  at.forEach((i, k) => { out[k] = column[i]; });
  return out;
}

/** Pictures of a scanned folder, decoded (or read from the cache): those of `rows` that decode, in order. */
export interface DecodedRows {
  /**
   * Bytes, size x size x channels per picture, in the order of `rows` (the order they were asked in); null when
   * they are streamed (`store`).
   */
  images: Uint8Array | null;
  /** The same rows read on demand from the cache's shards, when streaming was asked for (and the cache holds them). */
  store: ShardRows | null;
  /** The rows (indices into the scan's files) decoded, in the order asked (those that failed left out). */
  rows: number[];
  channels: 1 | 3;
  /** Files whose header reads but whose pixels do not, with the reason. */
  failed: { file: string; reason: string }[];
  /** Pictures decoded now (the others came from the cache). */
  decoded: number;
}

/**
 * The pictures `rows` (indices into scan.files, in any order) of a scanned folder: read from the cache's shards, and
 * those not in them decoded now, a shard at a time (each written as soon as it is full, so an interrupted run
 * keeps it; held in memory where the cache cannot be written). Only these rows are decoded. With `stream`, they are
 * not read but given as a store that reads them on demand (a set larger than its memory budget).
 */
export async function decodeFolderRows(scan: FolderScan, rows: number[], options: FolderOptions & { stream?: boolean } = {}): Promise<DecodedRows> {
  const { size, stamps, cacheDirs } = scan;
  // Without --channels, decode in colour and keep one channel if no pixel turns out to have colour (grey
  // pictures are often stored as RGB).
  const decodeChannels = options.channels ?? 3;
  const dim = size * size * decodeChannels;
  const cache = FolderCache.open(cacheDirs, size, decodeChannels);
  // Where each picture's row is in the shards, by its position in scan.files (the shards written below are added as
  // they are); -1 where none holds it.
  const where = cache?.rowsOf(stamps) ?? { shard: new Int32Array(scan.files.length).fill(-1), row: new Int32Array(scan.files.length).fill(-1) };
  const failed = new Map<number, string>();
  for (const r of rows) {
    const reason = where.shard[r] >= 0 ? undefined : cache?.failedBefore(scan.files[r], stamps.stamp(r));
    if (reason !== undefined) failed.set(r, reason);
  }
  const todo = rows.filter((r) => where.shard[r] < 0 && !failed.has(r));
  const inMemory = new Map<number, Uint8Array>();
  let cacheFailed = false;
  const perShard = Math.max(1, Math.floor((options.shardBytes ?? SHARD_BYTES) / dim));
  // A shard is written while the next one is decoded (a shard at a time: each addShard waits for the one before).
  let writing: Promise<void> = Promise.resolve();
  // Two shard buffers, taken in turn (one decoded into while the other is written): new memory costs a page fault
  // per 4 KB on first touch, as much as the decoding of a 200,000-picture folder's 2.4 GB. Not once the cache has
  // failed: the pictures are then kept in them.
  const buffers: Uint8Array[] = [];
  for (let start = 0, n = 0; start < todo.length; start += perShard, n++) {
    const chunk = todo.slice(start, start + perShard);
    if (cacheFailed || !buffers[n % 2]) buffers[n % 2] = largeBytes(Math.min(perShard, todo.length) * dim);
    const shard = buffers[n % 2].subarray(0, chunk.length * dim);
    const errors = await decodePictures(scan, chunk, decodeChannels, shard, (done) => options.onProgress?.(start + done, todo.length));
    errors.forEach((e, i) => { if (e !== null) failed.set(chunk[i], e); });
    const ok = errors.map((e) => e === null);
    const decoded = chunk.filter((_, i) => ok[i]);
    const kept = compact(shard, ok, dim);
    const stamped = (r: number): [string, FileStamp] => [scan.files[r], stamps.stamp(r)];
    await writing;
    writing = (async () => {
      const shardIndex = cacheFailed ? null
        : await cache?.addShard(kept, decoded.map(stamped), chunk.filter((_, i) => !ok[i]).map((r) => [...stamped(r), failed.get(r)!])) ?? null;
      if (shardIndex !== null) {
        decoded.forEach((r, row) => { [where.shard[r], where.row[r]] = [shardIndex, row]; });
        return;
      }
      cacheFailed = true;
      decoded.forEach((r, i) => inMemory.set(r, kept.subarray(i * dim, (i + 1) * dim)));
    })();
  }
  await writing;
  if (todo.length > 0 && cacheFailed) {
    options.onWarning?.(`could not write the decoded images to ${cacheDirs.join(' or ')}; they will be decoded again next time`);
  }
  // Shards with no picture of the folder left are deleted once the rows are read (or their store made): not those
  // this run did not need, only the folder's rows count (a changed file's old row is in none).
  const prune = () => cache?.prune(new Set(where.shard.filter((s) => s >= 0)), stamps);
  const keptRows = rows.filter((r) => !failed.has(r) && (where.shard[r] >= 0 || inMemory.has(r)));
  const failedList = [...failed].map(([r, reason]) => ({ file: scan.files[r], reason }));
  if (options.stream && inMemory.size === 0 && cache) {
    // Streamed: nothing read now (the store keeps the paths of the shards it reads, which pruning leaves).
    const shardOf = Uint32Array.from(keptRows, (r) => where.shard[r]);
    const rowIn = Uint32Array.from(keptRows, (r) => where.row[r]);
    const used = new Set(shardOf);
    const grey = options.channels === undefined && cache.shardsGrey(used, dim);
    const store = cache.store(shardOf, rowIn, used, dim, grey);
    prune();
    return { images: null, store, rows: keptRows, channels: grey ? 1 : decodeChannels, failed: failedList,
      decoded: todo.length };
  }
  // The pictures in the order asked: from the shards, or from memory where the cache could not be written.
  let images = largeBytes(keptRows.length * dim);
  const byShard = new Map<number, [number, number][]>();
  keptRows.forEach((r, i) => {
    const mem = inMemory.get(r);
    if (mem) return images.set(mem, i * dim);
    const shard = where.shard[r];
    if (!byShard.has(shard)) byShard.set(shard, []);
    byShard.get(shard)!.push([i, where.row[r]]);
  });
  for (const [s, placed] of byShard) {
    if (!cache!.readRows(s, placed, dim, images)) throw new VaeError(`${cache!.dir}: a shard of the decoded images is damaged; remove the folder and run again`);
  }
  prune();
  let channels = decodeChannels;
  if (options.channels === undefined && isGrey(images)) {
    images = images.filter((_, i) => i % 3 === 0);
    channels = 1;
  }
  return { images, store: null, rows: keptRows, channels, failed: failedList, decoded: todo.length };
}

/** Pictures a call of the native decoder takes (one call runs on one of libuv's threads). */
const NATIVE_BATCH = 64;

/**
 * Decodes the pictures `rows` (positions in scan.files) of a scanned folder into `out` (the i-th at i x dim): with the native decoder (native/decode) where
 * it is built and takes the picture, else with sharp; the same bytes either way. Returns each file's error, or null.
 */
async function decodePictures(scan: FolderScan, rows: number[], channels: 1 | 3, out: Uint8Array,
  onProgress: (done: number) => void): Promise<(string | null)[]> {
  const { dir, size } = scan;
  const files = rows.map((r) => scan.files[r]);
  const dim = size * size * channels;
  const errors: (string | null)[] = files.map(() => null);
  let done = 0;
  let left = files.map((_, i) => i);
  const native = channels === 3 ? decodeAddon() : null;
  if (native) {
    const batches = Array.from({ length: Math.ceil(files.length / NATIVE_BATCH) }, (_, b) => left.slice(b * NATIVE_BATCH, (b + 1) * NATIVE_BATCH));
    const notMine: number[] = [];
    // A call per thread of libuv's pool (bin/vae sizes it to the cores, 4 at least): a call waiting on the disk leaves
    // the cores to the others.
    await mapLimited(batches, poolThreads(), async (batch) => {
      const status = await native.decodeFiles(batch.map((i) => path.join(dir, files[i])), size, LARGE * size,
        out.subarray(batch[0] * dim, (batch[0] + batch.length) * dim));
      batch.forEach((i, k) => (status[k] === 0 ? done++ : notMine.push(i)));
      onProgress(done);
    });
    left = notMine.sort((a, b) => a - b);
  }
  await mapLimited(left, CONCURRENCY, async (i) => {
    try {
      const header = { width: scan.width[rows[i]], height: scan.height[rows[i]] };
      out.set(await decodeSquare(path.join(dir, files[i]), size, channels, header), i * dim);
    } catch (e) {
      errors[i] = errorMessage(e).split('\n')[0];
    }
  }, () => onProgress(++done));
  return errors;
}

/** The images of `dir`, all of them, decoded (or read from the cache: folder-cache.ts). */
export async function loadImageFolder(dir: string, options: FolderOptions = {}): Promise<FolderImages> {
  const scan = await scanImageFolder(dir, options);
  const decoded = await decodeFolderRows(scan, scan.files.map((_, i) => i), options);
  const images = decoded.images!; // not streamed
  const files = decoded.rows.map((r) => scan.files[r]);
  const labels = labelsOf(scan, decoded.rows);
  const skipped = [...scan.skipped, ...decoded.failed].sort((a, b) => (a.file < b.file ? -1 : 1));
  return { images, labels, labelNames: scan.labelNames, count: files.length, size: scan.size, channels: decoded.channels, files,
    skipped, cached: decoded.decoded === 0, decoded: decoded.decoded };
}

function compact(images: Uint8Array, keep: boolean[], dim: number): Uint8Array {
  if (keep.every(Boolean)) return images;
  const out = new Uint8Array(keep.filter(Boolean).length * dim);
  let o = 0;
  keep.forEach((k, i) => {
    if (!k) return;
    out.set(images.subarray(i * dim, (i + 1) * dim), o * dim);
    o++;
  });
  return out;
}

/** One line about the files that were skipped (at most a few named). */
export function skippedWarning(dir: string, skipped: { file: string; reason: string }[]): string | null {
  if (skipped.length === 0) return null;
  const shown = skipped.slice(0, 5).map((s) => `${s.file} (${s.reason})`).join('; ');
  return `${dir}: skipped ${skipped.length} file${skipped.length === 1 ? '' : 's'} that could not be read as images: ${shown}` +
    (skipped.length > 5 ? `; and ${skipped.length - 5} more` : '');
}
