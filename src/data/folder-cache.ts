/**
 * The decoded pictures of an image folder, kept on disk so that a folder is decoded once: in shards of at most
 * SHARD_BYTES, each written whole (by rename) as soon as its pictures are decoded, and a manifest that says which
 * file (by name, size and modification time) is which row of which shard.
 *
 *   DIR/.vae-cache/
 *     files.json            every file's size, modification time and picture size (or why it is not a picture), as columns
 *     64x64-rgb/            one folder per decoding: the side, and 'rgb' or 'grey'
 *       manifest.json       its shards, each with its rows' files (and their stamps) in order; the files that failed to decode
 *       shard-000000.u8     rows of side x side x channels bytes
 *
 * A later run reads the shards; a file added or changed since is decoded into a new shard, one removed is dropped
 * (a shard with no row in use any more is deleted), and a first run that was interrupted goes on from the shards it
 * finished. Writes are atomic (files.ts), so a failure (a full disk) leaves the cache as it was before.
 */
import * as fs from 'fs';
import * as path from 'path';
import { VaeError } from '../errors';
import { readJson, writeFileAtomic, writeFileAtomicAsync } from '../files';

/**
 * Bumped when the way pictures are decoded or stored changes, so that older caches are not used. 4: the manifest's
 * rows as columns (format 3's pixels, whose manifests are read as they are).
 */
export const CACHE_FORMAT = 4;
/** Earlier formats whose pixels are this format's (their manifests are converted on reading). */
const SAME_PIXELS = [3];
/** The same for files.json (the files' headers), which changes apart from the pixels. 3: columns. */
const HEADERS_FORMAT = 3;
/** The most bytes of one shard (far below the 2 GiB Node reads or writes at once). */
export const SHARD_BYTES = 256 * 2 ** 20;

/** A file as it is on disk: a change of either means it is decoded again. */
export interface FileStamp {
  bytes: number;
  mtimeMs: number;
}

/** Positions from the expected one on that StampedFiles.find tries before it searches. */
const LOOK_AHEAD = 32;

/**
 * The order in which a folder's files are listed (folder.ts: listFiles, each folder's entries sorted, depth first): a
 * path's parts compared in turn, which is the order of the whole paths with the separator below every other character.
 */
export function folderOrder(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let k = 0; k < n; k++) {
    const x = a.charCodeAt(k);
    const y = b.charCodeAt(k);
    if (x === y) continue;
    if (x === SEP) return -1;
    if (y === SEP) return 1;
    return x - y;
  }
  return a.length - b.length;
}

const SEP = path.sep.charCodeAt(0);

/**
 * Files by name, each with its stamp, in a fixed order. A position is found by name without a table (at 200,000 files
 * one costs a tenth of a second): at the expected position or a few after it (two lists of a folder are mostly in the
 * same order), else by bisection in the folder's order (the order lists are made in); a table only for a list in
 * another order.
 */
export class StampedFiles {
  private index: Map<string, number> | null = null;
  private sorted: boolean | null = null;

  constructor(readonly names: string[], readonly bytes: Float64Array, readonly mtimeMs: Float64Array) {}

  /** The position of `name`, or -1; `guess`: where it probably is, or a little before. */
  find(name: string, guess = -1): number {
    const { names } = this;
    if (guess >= 0) {
      for (let i = guess; i < Math.min(guess + LOOK_AHEAD, names.length); i++) if (names[i] === name) return i;
    }
    this.sorted ??= names.every((n, i) => i === 0 || folderOrder(names[i - 1], n) < 0);
    if (!this.sorted) {
      if (!this.index) {
        this.index = new Map();
        names.forEach((n, i) => { if (!this.index!.has(n)) this.index!.set(n, i); });
      }
      return this.index.get(name) ?? -1;
    }
    let lo = 0;
    let hi = names.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (folderOrder(names[mid], name) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo < names.length && names[lo] === name ? lo : -1;
  }

  has(name: string): boolean {
    return this.find(name) >= 0;
  }

  /** Whether file i is stamped (bytes, mtimeMs). */
  same(i: number, bytes: number, mtimeMs: number): boolean {
    return this.bytes[i] === bytes && this.mtimeMs[i] === mtimeMs;
  }

  stamp(i: number): FileStamp {
    return { bytes: this.bytes[i], mtimeMs: this.mtimeMs[i] };
  }
}

/** files.json: every file's stamp and its picture's size (0 x 0 where it is not a picture: `errors` says why), as columns. */
interface FilesIndex {
  format: number;
  files: string[];
  bytes: number[];
  mtimeMs: number[];
  width: number[];
  height: number[];
  /** Why a file is not a picture, by its position. */
  errors: Record<string, string>;
}

/** A shard's rows: their files, in order, with the stamps they had (columns). */
interface Shard {
  name: string;
  files: string[];
  bytes: number[];
  mtimeMs: number[];
  /** RGB shards: whether every pixel of every row has red = green = blue (a streamed set's grey test). */
  grey?: boolean;
}

/** Format 3's shard: one [name, bytes, mtimeMs] per row. */
interface RowsShard {
  name: string;
  rows: [string, number, number][];
  grey?: boolean;
}

interface Manifest {
  format: number;
  side: number;
  channels: 1 | 3;
  shards: Shard[];
  /** Files that could not be decoded (as they were then), and why. */
  failed: Record<string, FileStamp & { reason: string }>;
}

/** A manifest as this version writes it, from one it or a format of the same pixels wrote. */
function currentManifest(read: Manifest): Manifest {
  if (read.format === CACHE_FORMAT) return read;
  const shards = (read.shards as unknown as RowsShard[]).map(({ name, rows, grey }): Shard => ({ name, files: rows.map((r) => r[0]),
    bytes: rows.map((r) => r[1]), mtimeMs: rows.map((r) => r[2]), ...(grey !== undefined ? { grey } : {}) }));
  return { ...read, format: CACHE_FORMAT, shards };
}

const sameStamp = (a: FileStamp, b: FileStamp) => a.bytes === b.bytes && a.mtimeMs === b.mtimeMs;

/** A folder's cache (in `dir`, which `writable` says may be written), for one decoding. */
export class FolderCache {
  private readonly settingsDir: string;
  private manifest: Manifest;

  private constructor(readonly dir: string, private readonly writable: boolean, side: number, channels: 1 | 3) {
    this.settingsDir = path.join(dir, `${side}x${side}-${channels === 1 ? 'grey' : 'rgb'}`);
    const fresh: Manifest = { format: CACHE_FORMAT, side, channels, shards: [], failed: {} };
    let read: Manifest | null = null;
    try {
      read = readJson<Manifest>(path.join(this.settingsDir, 'manifest.json'));
    } catch {
      // none yet, or damaged: start again
    }
    const usable = read && (read.format === CACHE_FORMAT || SAME_PIXELS.includes(read.format)) && read.side === side && read.channels === channels;
    this.manifest = usable ? currentManifest(read!) : fresh;
    if (writable) removeStaleTemporaries(this.settingsDir);
    if (usable && read!.format !== CACHE_FORMAT && writable) {
      try {
        this.writeManifest(); // converted once
      } catch {
        // converted again next time
      }
    }
    if (read && !usable && read.format !== CACHE_FORMAT && writable) {
      // Decoded another way, by an older version: its shards are of no use.
      for (const shard of read.shards ?? []) fs.rmSync(path.join(this.settingsDir, shard.name), { force: true });
    }
  }

  /** Writes `manifest` (atomically) and makes it this cache's; throws when it cannot be written. */
  private writeManifest(manifest = this.manifest): void {
    writeFileAtomic(path.join(this.settingsDir, 'manifest.json'), JSON.stringify(manifest) + '\n', 'the cache\'s manifest');
    this.manifest = manifest;
  }

  /**
   * The first of `dirs` that can hold a cache (or that holds one already, read-only), for pictures of `side` x
   * `side` x `channels`; null when none can.
   */
  static open(dirs: string[], side: number, channels: 1 | 3): FolderCache | null {
    for (const dir of dirs) {
      if (canWrite(dir)) return new FolderCache(dir, true, side, channels);
    }
    const existing = dirs.find((dir) => fs.existsSync(dir));
    return existing ? new FolderCache(existing, false, side, channels) : null;
  }

  /**
   * Where the shards hold each of `files` as stamped now: its shard's index and row, by the file's position (-1 where
   * none does).
   */
  rowsOf(files: StampedFiles): { shard: Int32Array; row: Int32Array } {
    const shardOf = new Int32Array(files.names.length).fill(-1);
    const rowOf = new Int32Array(files.names.length).fill(-1);
    let guess = 0;
    this.manifest.shards.forEach((shard, s) => {
      for (let row = 0; row < shard.files.length; row++) {
        const i = files.find(shard.files[row], guess);
        if (i < 0) continue;
        guess = i + 1;
        if (shardOf[i] < 0 && files.same(i, shard.bytes[row], shard.mtimeMs[row])) {
          shardOf[i] = s;
          rowOf[i] = row;
        }
      }
    });
    return { shard: shardOf, row: rowOf };
  }

  /** Why `file` (as stamped now) failed to decode before, or undefined. */
  failedBefore(file: string, stamp: FileStamp): string | undefined {
    const failed = this.manifest.failed[file];
    return failed && sameStamp(failed, stamp) ? failed.reason : undefined;
  }

  /**
   * Adds a shard of these decoded rows (their files and stamps, in order) and the files that failed, and writes it
   * (on libuv's threads) and the manifest; one at a time (each waits for the one before); returns the shard's index
   * (the rows' shard in rowsOf), or null when the cache cannot be
   * written (then nothing of it was).
   */
  async addShard(rows: Uint8Array, files: [string, FileStamp][], failed: [string, FileStamp, string][]): Promise<number | null> {
    if (!this.writable) return null;
    const next = this.manifest.shards.reduce((a, s) => Math.max(a, Number(s.name.slice(6, 12)) + 1), 0);
    const name = `shard-${String(next).padStart(6, '0')}.u8`;
    try {
      fs.mkdirSync(this.settingsDir, { recursive: true });
      if (files.length > 0) await writeFileAtomicAsync(path.join(this.settingsDir, name), rows, 'the decoded pictures');
      const manifest: Manifest = { ...this.manifest,
        shards: files.length > 0 ? [...this.manifest.shards, { name, files: files.map(([f]) => f), bytes: files.map(([, s]) => s.bytes),
          mtimeMs: files.map(([, s]) => s.mtimeMs),
          ...(this.manifest.channels === 3 ? { grey: isGrey(rows) } : {}) }] : this.manifest.shards,
        failed: { ...this.manifest.failed, ...Object.fromEntries(failed.map(([f, s, reason]) => [f, { ...s, reason }])) } };
      this.writeManifest(manifest);
      return manifest.shards.length - 1;
    } catch {
      fs.rmSync(path.join(this.settingsDir, name), { force: true });
      return null;
    }
  }

  /**
   * Reads rows of shard `s` (`rowBytes` each) straight into `out`: each [destination index, shard row] pair, runs of
   * consecutive rows in one read. Reading in place touches the destination's memory once (no shard-sized buffer
   * and copy: page faults cost as much as the disk here); a shard of the wrong size is damaged (null).
   */
  readRows(s: number, placed: [number, number][], rowBytes: number, out: Uint8Array): boolean {
    const fd = fs.openSync(path.join(this.settingsDir, this.manifest.shards[s].name), 'r');
    try {
      if (fs.fstatSync(fd).size !== this.manifest.shards[s].files.length * rowBytes) return false;
      placed.sort((a, b) => a[1] - b[1]);
      for (let k = 0; k < placed.length;) {
        let run = 1;
        while (k + run < placed.length && placed[k + run][1] === placed[k][1] + run && placed[k + run][0] === placed[k][0] + run) run++;
        const [i, row] = placed[k];
        let done = 0;
        while (done < run * rowBytes) {
          const got = fs.readSync(fd, out, i * rowBytes + done, run * rowBytes - done, row * rowBytes + done);
          if (got === 0) return false;
          done += got;
        }
        k += run;
      }
      return true;
    } finally {
      fs.closeSync(fd);
    }
  }

  /**
   * The rows at shardOf[i], rowIn[i] (in the set's order) as a store read on demand (streaming); `grey` keeps one
   * channel of RGB shards. The shards must be intact: those of `shards` (the set's) are checked here.
   */
  store(shardOf: Uint32Array, rowIn: Uint32Array, shards: Set<number>, rowBytes: number, grey: boolean): ShardRows {
    const paths = this.manifest.shards.map((s) => path.join(this.settingsDir, s.name));
    for (const i of shards) {
      let size = -1;
      try {
        size = fs.statSync(paths[i]).size;
      } catch {
        // missing: damaged
      }
      if (size !== this.manifest.shards[i].files.length * rowBytes) {
        throw new VaeError(`${this.dir}: a shard of the decoded images is damaged; remove the folder and run again`);
      }
    }
    return new ShardRows(paths, shardOf, rowIn, rowBytes, grey);
  }

  /** Whether every row of these shards is grey (RGB shards; a shard written before the flag is read once to know). */
  shardsGrey(shards: Set<number>, rowBytes: number): boolean {
    if (this.manifest.channels !== 3) return false;
    let learned = false;
    const grey = [...shards].every((s) => {
      const shard = this.manifest.shards[s];
      if (shard.grey === undefined) {
        shard.grey = isGrey(fs.readFileSync(path.join(this.settingsDir, shard.name)).subarray(0, shard.files.length * rowBytes));
        learned = true;
      }
      return shard.grey;
    });
    if (learned && this.writable) {
      try {
        this.writeManifest();
      } catch {
        // learned again next time
      }
    }
    return grey;
  }

  /**
   * Forgets the shards none of whose rows is in use (`used`: shard indices) and the failures of files no longer
   * there, and deletes those shards' files.
   */
  prune(used: Set<number>, present: { has(file: string): boolean }): void {
    const { shards, failed } = this.manifest;
    const gone = shards.filter((_, s) => !used.has(s));
    const stale = Object.keys(failed).filter((f) => !present.has(f));
    if (!this.writable || (gone.length === 0 && stale.length === 0)) return;
    const manifest: Manifest = { ...this.manifest, shards: shards.filter((_, s) => used.has(s)),
      failed: Object.fromEntries(Object.entries(failed).filter(([f]) => present.has(f))) };
    try {
      this.writeManifest(manifest);
      for (const shard of gone) fs.rmSync(path.join(this.settingsDir, shard.name), { force: true });
    } catch {
      // kept as it was: pruned next time
    }
  }
}

/**
 * Deletes the temporary files (files.ts: NAME.tmp-PID) that a process killed while writing a shard left in `dir`;
 * those of a process still running are its own business.
 */
function removeStaleTemporaries(dir: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return; // no folder yet
  }
  for (const name of names) {
    const pid = /\.tmp-(\d+)$/.exec(name)?.[1];
    if (pid === undefined || Number(pid) === process.pid) continue;
    try {
      process.kill(Number(pid), 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') fs.rmSync(path.join(dir, name), { force: true });
    }
  }
}

/** True when every pixel of these RGB bytes has red = green = blue. */
export function isGrey(rgb: Uint8Array): boolean {
  for (let i = 0; i < rgb.length; i += 3) if (rgb[i] !== rgb[i + 1] || rgb[i] !== rgb[i + 2]) return false;
  return true;
}

/** The most rows of one read (a grey set reads RGB rows into a scratch buffer of this many). */
const RUN_ROWS = 256;
/**
 * Reads in flight at once: libuv's threads (4, or the cores under bin/vae) take them from its queue, so that the
 * reads go on while the main thread computes its part of a step (each completion needs a turn of the main thread to
 * send the next read).
 */
const READS_IN_FLIGHT = 32;

/**
 * Rows of a set kept in the cache's shards, read on demand (a set larger than its memory budget: data/stream.ts):
 * row i of the set is row rowIn[i] of shard shardOf[i]. Reads gather the rows asked for, in runs of consecutive
 * rows of a shard; `readAsync` does it on libuv's threads, so a step does not wait for it.
 */
export class ShardRows {
  readonly count: number;
  /** Bytes of a row as the set holds it (one channel of the shards' three when grey). */
  readonly dim: number;
  private readonly fds: (number | null)[];

  constructor(private readonly paths: string[], private readonly shardOf: Uint32Array, private readonly rowIn: Uint32Array,
    private readonly storedDim: number, readonly grey: boolean) {
    this.count = shardOf.length;
    this.dim = grey ? storedDim / 3 : storedDim;
    this.fds = paths.map(() => null);
  }

  /** Rows [from, to) of this set as a set of their own (sharing the files). */
  part(from: number, to: number): ShardRows {
    return new ShardRows(this.paths, this.shardOf.subarray(from, to), this.rowIn.subarray(from, to), this.storedDim, this.grey);
  }

  /** Reads rows `rows` (indices into this set) into `out`, the k-th at k x dim. */
  read(rows: ArrayLike<number>, out: Uint8Array): void {
    const scratch = this.grey ? new Uint8Array(RUN_ROWS * this.storedDim) : null;
    for (const run of this.runs(rows)) {
      const into = scratch ?? out.subarray(run.at * this.dim);
      let done = 0;
      while (done < run.bytes) {
        const got = fs.readSync(this.fd(run.shard), into, done, run.bytes - done, run.position + done);
        if (got === 0) throw this.damaged();
        done += got;
      }
      if (scratch) this.keepGrey(scratch, run, out);
    }
  }

  /** The same as read, on libuv's threads. */
  async readAsync(rows: ArrayLike<number>, out: Uint8Array): Promise<void> {
    const runs = this.runs(rows);
    let next = 0;
    const reader = async () => {
      const scratch = this.grey ? new Uint8Array(RUN_ROWS * this.storedDim) : null;
      while (next < runs.length) {
        const run = runs[next++];
        const into = scratch ?? out.subarray(run.at * this.dim);
        let done = 0;
        while (done < run.bytes) {
          const got = await new Promise<number>((resolve, reject) =>
            fs.read(this.fd(run.shard), into, done, run.bytes - done, run.position + done, (e, n) => (e ? reject(e) : resolve(n))));
          if (got === 0) throw this.damaged();
          done += got;
        }
        if (scratch) this.keepGrey(scratch, run, out);
      }
    };
    await Promise.all(Array.from({ length: Math.min(READS_IN_FLIGHT, runs.length) }, reader));
  }

  close(): void {
    this.fds.forEach((fd, i) => {
      if (fd !== null) fs.closeSync(fd);
      this.fds[i] = null;
    });
  }

  /** Runs of consecutive rows of one shard that land consecutively in `out`. */
  private runs(rows: ArrayLike<number>): { shard: number; position: number; bytes: number; at: number; count: number }[] {
    const runs = [];
    for (let k = 0; k < rows.length;) {
      const shard = this.shardOf[rows[k]];
      const first = this.rowIn[rows[k]];
      let n = 1;
      while (k + n < rows.length && n < RUN_ROWS && this.shardOf[rows[k + n]] === shard && this.rowIn[rows[k + n]] === first + n) n++;
      runs.push({ shard, position: first * this.storedDim, bytes: n * this.storedDim, at: k, count: n });
      k += n;
    }
    return runs;
  }

  private keepGrey(scratch: Uint8Array, run: { at: number; count: number }, out: Uint8Array): void {
    const o = run.at * this.dim;
    for (let i = 0; i < run.count * this.dim; i++) out[o + i] = scratch[i * 3];
  }

  private fd(shard: number): number {
    return (this.fds[shard] ??= fs.openSync(this.paths[shard], 'r'));
  }

  private damaged(): VaeError {
    return new VaeError(`${path.dirname(this.paths[0])}: a shard of the decoded images is damaged; remove the folder and run again`);
  }
}

/** Whether `dir` exists or can be made, and can be written. */
function canWrite(dir: string): boolean {
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** What files.json knows: files with the stamps they had, their pictures' sizes (0 x 0: `errors` says why not). */
export interface HeaderIndex {
  files: StampedFiles;
  width: ArrayLike<number>;
  height: ArrayLike<number>;
  errors: Record<string, string>;
}

/** files.json of the first of `dirs` that has one, or null. */
export function readHeaders(dirs: string[]): HeaderIndex | null {
  for (const dir of dirs) {
    try {
      const index = readJson<FilesIndex>(path.join(dir, 'files.json'));
      const n = index.files.length;
      if (index.format !== HEADERS_FORMAT || [index.bytes, index.mtimeMs, index.width, index.height].some((c) => c.length !== n)) continue;
      return { files: new StampedFiles(index.files, Float64Array.from(index.bytes), Float64Array.from(index.mtimeMs)), width: index.width,
        height: index.height, errors: index.errors };
    } catch {
      // none here, or damaged
    }
  }
  return null;
}

/** Writes files.json into the first of `dirs` that takes it (the headers of a folder: read once). */
export function writeHeaders(dirs: string[], headers: HeaderIndex): void {
  const { files } = headers;
  const index: FilesIndex = { format: HEADERS_FORMAT, files: files.names, bytes: Array.from(files.bytes), mtimeMs: Array.from(files.mtimeMs),
    width: Array.from(headers.width), height: Array.from(headers.height), errors: headers.errors };
  for (const dir of dirs) {
    if (!canWrite(dir)) continue;
    try {
      writeFileAtomic(path.join(dir, 'files.json'), JSON.stringify(index) + '\n', 'the cache\'s file list');
      return;
    } catch {
      // try the next place
    }
  }
}
