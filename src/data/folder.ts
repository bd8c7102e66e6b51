/**
 * An image folder as a data set: every file under it (recursively) that sharp can decode (PNG, JPEG, WebP,
 * ...). When the folder has subfolders, the first-level subfolder of each image is its label.
 *
 * Decoding is the slow part, so it happens once: the decoded bytes (size x size x channels per image) and
 * the list of files go into a cache (.vae-cache/ in the data folder, or in the run folder when the data
 * folder is read-only), keyed by the files' names, sizes and modification times and by the requested size
 * and channels. Later epochs and later runs read the cache.
 *
 * Files that cannot be decoded (corrupt, empty, not images) are skipped and listed in one warning.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { VaeError, errorMessage } from '../errors';
import { writeFileAtomic } from '../files';
import { decodeSquare } from './images';

export const CACHE_DIR = '.vae-cache';
/** Bumped when the way images are decoded changes, so that old caches are not used. */
const CACHE_FORMAT = 1;
/** 28 x 28 images keep their size; anything else is brought to 64 x 64 unless --image-size says otherwise. */
export const DEFAULT_FOLDER_SIZE = 64;
const KEEP_SIZE = 28;
/** Images decoded at once (sharp works on libvips' own threads). */
const CONCURRENCY = 8;

export interface FolderOptions {
  /** Side of the square images (default: 28 when every image is 28 x 28, else DEFAULT_FOLDER_SIZE). */
  imageSize?: number;
  /** 1 (grey) or 3 (RGB); default: 3 when any image has colour (a pixel whose red, green and blue differ), else 1. */
  channels?: 1 | 3;
  /** Folders to keep the cache in, tried in order (default: DIR/.vae-cache). */
  cacheDirs?: string[];
  /** Images decoded so far, of those whose header could be read. */
  onProgress?: (done: number, total: number) => void;
  onWarning?: (message: string) => void;
}

export interface FolderImages {
  /** Bytes, size x size x channels per image, row-major, channels interleaved. */
  images: Uint8Array;
  /** The label of each image (index into labelNames), or null when the folder has no subfolders. */
  labels: Uint8Array | null;
  labelNames: string[] | null;
  count: number;
  size: number;
  channels: 1 | 3;
  /** Paths relative to the folder, in the order of `images`. */
  files: string[];
  /** Files that could not be decoded, with the reason. */
  skipped: { file: string; reason: string }[];
  /** True when the images came from the cache. */
  cached: boolean;
}

interface CacheIndex {
  format: number;
  key: string;
  size: number;
  channels: 1 | 3;
  files: string[];
  labels: number[] | null;
  labelNames: string[] | null;
  skipped: { file: string; reason: string }[];
  /** Whether size and channels were the defaults (no --image-size, --channels). */
  defaultSize: boolean;
  defaultChannels: boolean;
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

/** The key of a folder's contents: its files' names, sizes and modification times. */
function contentsKey(dir: string, files: string[]): string {
  const hash = crypto.createHash('sha256');
  hash.update(`format ${CACHE_FORMAT}\n`);
  for (const f of files) {
    const st = fs.statSync(path.join(dir, f));
    hash.update(`${f}\0${st.size}\0${st.mtimeMs}\n`);
  }
  return hash.digest('hex').slice(0, 16);
}

/**
 * A cache entry of these contents that answers the request: the same size and channels, or, where the request
 * leaves one to the default, an entry whose value was the default too.
 */
function readCache(cacheDir: string, key: string, options: FolderOptions): FolderImages | null {
  if (!fs.existsSync(cacheDir)) return null;
  for (const name of fs.readdirSync(cacheDir).filter((n) => n.startsWith(`${key}-`) && n.endsWith('.json')).sort()) {
    try {
      const index = JSON.parse(fs.readFileSync(path.join(cacheDir, name), 'utf8')) as CacheIndex;
      const sizeOk = options.imageSize === undefined ? index.defaultSize : index.size === options.imageSize;
      const channelsOk = options.channels === undefined ? index.defaultChannels : index.channels === options.channels;
      if (index.format !== CACHE_FORMAT || index.key !== key || !sizeOk || !channelsOk) continue;
      const images = new Uint8Array(fs.readFileSync(path.join(cacheDir, name.replace(/\.json$/, '.u8'))));
      const count = index.files.length;
      if (images.length !== count * index.size * index.size * index.channels) continue;
      return { images, labels: index.labels ? Uint8Array.from(index.labels) : null, labelNames: index.labelNames, count,
        size: index.size, channels: index.channels, files: index.files, skipped: index.skipped, cached: true };
    } catch {
      // a damaged entry is rebuilt
    }
  }
  return null;
}

/** Writes the cache into the first folder that takes it; returns that folder, or null. */
function writeCache(cacheDirs: string[], key: string, data: FolderImages, options: FolderOptions): string | null {
  const index: CacheIndex = { format: CACHE_FORMAT, key, size: data.size, channels: data.channels, files: data.files,
    labels: data.labels ? Array.from(data.labels) : null, labelNames: data.labelNames, skipped: data.skipped,
    defaultSize: options.imageSize === undefined, defaultChannels: options.channels === undefined };
  const name = `${key}-${data.size}x${data.size}x${data.channels}${index.defaultSize ? '-auto-size' : ''}${index.defaultChannels ? '-auto-channels' : ''}`;
  for (const dir of cacheDirs) {
    try {
      fs.mkdirSync(dir, { recursive: true });
      writeFileAtomic(path.join(dir, `${name}.u8`), Buffer.from(data.images.buffer, data.images.byteOffset, data.images.byteLength));
      writeFileAtomic(path.join(dir, `${name}.json`), JSON.stringify(index) + '\n');
      return dir;
    } catch {
      // read-only: try the next place
    }
  }
  return null;
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

type Probe = { ok: true; width: number; height: number } | { ok: false; reason: string };

async function probe(file: string): Promise<Probe> {
  try {
    const meta = await sharp(file).metadata();
    if (!meta.width || !meta.height) return { ok: false, reason: 'no image size' };
    return { ok: true, width: meta.width, height: meta.height };
  } catch (e) {
    return { ok: false, reason: errorMessage(e).split('\n')[0] };
  }
}

/** The images of `dir`, decoded (or read from the cache). */
export async function loadImageFolder(dir: string, options: FolderOptions = {}): Promise<FolderImages> {
  const all = listFiles(dir);
  if (all.length === 0) throw new VaeError(`${dir}: no files found (expected images, optionally in one subfolder per class)`);
  const key = contentsKey(dir, all);
  const cacheDirs = options.cacheDirs ?? [path.join(dir, CACHE_DIR)];
  for (const cacheDir of cacheDirs) {
    const cached = readCache(cacheDir, key, options);
    if (cached) return cached;
  }

  // Labels: the first-level subfolder, when there are subfolders.
  const inSubfolder = (f: string) => f.includes(path.sep);
  const labelled = all.some(inSubfolder);
  const skipped: { file: string; reason: string }[] = [];
  let files = all;
  if (labelled) {
    files = all.filter(inSubfolder);
    for (const f of all.filter((f) => !inSubfolder(f))) skipped.push({ file: f, reason: 'not in a class subfolder' });
  }
  // Reading the headers is quick; progress counts the decoding.
  const probes = await mapLimited(files, CONCURRENCY, (f) => probe(path.join(dir, f)));
  const good: string[] = [];
  let allKeepSize = true;
  probes.forEach((p, i) => {
    if (!p.ok) {
      skipped.push({ file: files[i], reason: p.reason });
      return;
    }
    good.push(files[i]);
    if (p.width !== KEEP_SIZE || p.height !== KEEP_SIZE) allKeepSize = false;
  });
  if (good.length === 0) throw new VaeError(`${dir}: none of its ${files.length} files is an image that can be read`);
  const size = options.imageSize ?? (allKeepSize ? KEEP_SIZE : DEFAULT_FOLDER_SIZE);
  // Without --channels, decode in colour and keep one channel if no pixel turns out to have colour (grey
  // pictures are often stored as RGB).
  let channels = options.channels ?? 3;
  const dim = size * size * channels;
  const images = new Uint8Array(good.length * dim);
  const decoded = await mapLimited(good, CONCURRENCY, async (f, i) => {
    try {
      images.set(await decodeSquare(path.join(dir, f), size, channels), i * dim);
      return true;
    } catch (e) {
      skipped.push({ file: f, reason: errorMessage(e).split('\n')[0] });
      return false;
    }
  }, (done) => options.onProgress?.(done, good.length));
  const keptFiles = good.filter((_, i) => decoded[i]);
  let kept = compact(images, decoded, dim);
  if (options.channels === undefined && isGrey(kept)) {
    kept = kept.filter((_, i) => i % 3 === 0);
    channels = 1;
  }

  let labels: Uint8Array | null = null;
  let labelNames: string[] | null = null;
  if (labelled) {
    labelNames = [...new Set(keptFiles.map((f) => f.split(path.sep)[0]))].sort();
    if (labelNames.length > 256) throw new VaeError(`${dir}: ${labelNames.length} class subfolders; at most 256 are supported`);
    labels = Uint8Array.from(keptFiles, (f) => labelNames!.indexOf(f.split(path.sep)[0]));
  }
  skipped.sort((a, b) => (a.file < b.file ? -1 : 1));
  const result: FolderImages = { images: kept, labels, labelNames, count: keptFiles.length, size, channels, files: keptFiles,
    skipped, cached: false };
  if (!writeCache(cacheDirs, key, result, options)) {
    options.onWarning?.(`could not write the decoded images to ${cacheDirs.join(' or ')}; they will be decoded again next time`);
  }
  return result;
}

/** True when every pixel of these RGB bytes has red = green = blue. */
function isGrey(rgb: Uint8Array): boolean {
  for (let i = 0; i < rgb.length; i += 3) if (rgb[i] !== rgb[i + 1] || rgb[i] !== rgb[i + 2]) return false;
  return true;
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
