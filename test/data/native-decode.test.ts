/**
 * The first run's native picture decoder (native/decode: libjpeg-turbo and libpng) gives the bytes the JavaScript
 * path gives (sharp's decode, then resample.ts), picture for picture, and leaves to sharp what it must not decode
 * itself: EXIF rotation, an ICC profile, alpha, 16 bits, a picture larger than 4x the side, a truncated file.
 * Under CI the decoder must have been built (.ci/run installs its headers).
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp, { type Sharp } from 'sharp';
import { decodeSquare, LARGE } from '../../src/data/images';
import { loadImageFolder } from '../../src/data/folder';
import { spawnSync } from 'child_process';
import { DECODE_ADDON_PATH, decodeAddon } from '../../src/native';
import { Rng } from '../../src/rng';
import { tmpDir } from '../helpers/tmp';

const SIZE = 32;
const addon = decodeAddon();
const withAddon = addon || process.env.CI ? test : test.skip;

/** A photograph-like picture: smooth colour gradients with a little noise, w x h x 3. */
function picture(w: number, h: number, seed: number): Sharp {
  const rng = new Rng(seed, 'native-decode');
  const px = Buffer.alloc(w * h * 3);
  const [a, b, c] = [rng.uniform() * 6, rng.uniform() * 6, rng.uniform() * 6];
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const o = (y * w + x) * 3;
    px[o] = 128 + 100 * Math.sin(a + x / 9) + rng.uniform() * 20;
    px[o + 1] = 128 + 100 * Math.cos(b + y / 7) + rng.uniform() * 20;
    px[o + 2] = 128 + 100 * Math.sin(c + (x + y) / 11) + rng.uniform() * 20;
  }
  return sharp(px, { raw: { width: w, height: h, channels: 3 } });
}

/** Each kind of file, and whether the native decoder takes it (true) or leaves it to sharp (false). */
const KINDS: [string, (s: Sharp) => Sharp, boolean][] = [
  ['baseline.jpg', (s) => s.jpeg({ quality: 90 }), true],
  ['subsampled.jpg', (s) => s.jpeg({ quality: 70, chromaSubsampling: '4:2:0' }), true],
  ['progressive.jpg', (s) => s.jpeg({ progressive: true }), true],
  ['grey.jpg', (s) => s.grayscale().jpeg(), true],
  ['rgb.png', (s) => s.png(), true],
  ['grey.png', (s) => s.grayscale().png(), true],
  ['palette.png', (s) => s.png({ palette: true }), true],
  ['interlaced.png', (s) => s.png({ progressive: true }), true],
  ['rotated.jpg', (s) => s.jpeg().withMetadata({ orientation: 6 }), false],
  ['profile.jpg', (s) => s.jpeg().withIccProfile('p3'), false],
  ['alpha.png', (s) => s.ensureAlpha(0.5).png(), false],
  ['deep.png', (s) => s.toColourspace('rgb16').png(), false],
];

withAddon('the native decoder gives the JavaScript path\'s bytes, and leaves to sharp what it must not decode', async () => {
  expect(addon).not.toBeNull();
  const dir = tmpDir();
  const files: string[] = [];
  const native: boolean[] = [];
  for (const [k, [name, encode, mine]] of KINDS.entries()) {
    for (const [w, h] of [[57, 90], [120, 64], [20, 24]]) { // shrunk, shrunk, enlarged
      const file = path.join(dir, `${w}x${h}-${name}`);
      await encode(picture(w, h, 10 * k + w)).toFile(file);
      files.push(file);
      native.push(mine);
    }
  }
  const large = path.join(dir, 'large.jpg');
  await picture(LARGE * SIZE + 10, LARGE * SIZE + 5, 1).jpeg().toFile(large);
  const truncated = path.join(dir, 'truncated.jpg');
  fs.writeFileSync(truncated, fs.readFileSync(files[0]).subarray(0, 900));
  files.push(large, truncated);
  native.push(false, false);

  const dim = SIZE * SIZE * 3;
  const out = new Uint8Array(files.length * dim);
  const status = await addon!.decodeFiles(files, SIZE, LARGE * SIZE, out);
  expect(Array.from(status, (s) => s === 0)).toEqual(native);
  for (let i = 0; i < files.length; i++) {
    if (status[i] !== 0) continue;
    const js = await decodeSquare(files[i], SIZE, 3);
    expect({ file: path.basename(files[i]), same: Buffer.compare(Buffer.from(js), Buffer.from(out.subarray(i * dim, (i + 1) * dim))) === 0 })
      .toEqual({ file: path.basename(files[i]), same: true });
  }
}, 60_000);

withAddon('a folder decodes to the same pictures with the native decoder and without it', async () => {
  const dir = path.join(tmpDir(), 'mixed');
  for (const [k, [name, encode]] of KINDS.entries()) {
    fs.mkdirSync(path.join(dir, `c${k % 3}`), { recursive: true });
    await encode(picture(40 + k, 50, k)).toFile(path.join(dir, `c${k % 3}`, name));
  }
  const withNative = await loadImageFolder(dir, { imageSize: SIZE, channels: 3, cacheDirs: [tmpDir()] });
  process.env.VAE_NATIVE = '0';
  jest.resetModules();
  try {
    // A fresh copy of the modules reads VAE_NATIVE again: sharp decodes everything.
    const { loadImageFolder: withoutAddon } = await import('../../src/data/folder');
    const { decodeAddon: again } = await import('../../src/native');
    expect(again()).toBeNull();
    const withSharp = await withoutAddon(dir, { imageSize: SIZE, channels: 3, cacheDirs: [tmpDir()] });
    expect(withSharp.files).toEqual(withNative.files);
    expect(Buffer.compare(Buffer.from(withSharp.images), Buffer.from(withNative.images))).toBe(0);
  } finally {
    delete process.env.VAE_NATIVE;
  }
}, 60_000);

withAddon('the native decoder reads the sizes sharp reads from JPEG and PNG headers, and no others', async () => {
  const dir = tmpDir();
  const files: string[] = [];
  for (const [k, [name, encode]] of KINDS.entries()) {
    const file = path.join(dir, name);
    await encode(picture(33 + k, 47 + 2 * k, k)).toFile(file);
    files.push(file);
  }
  // A JPEG whose frame header lies past two long segments (130 KB in: the header is read further than its first 64 KB).
  const jpeg = fs.readFileSync(files[0]);
  const padding = Buffer.concat([Buffer.from([0xff, 0xe5, 0xff, 0xff]), Buffer.alloc(0xfffd)]);
  const padded = path.join(dir, 'padded.jpg');
  fs.writeFileSync(padded, Buffer.concat([jpeg.subarray(0, 2), padding, padding, jpeg.subarray(2)]));
  const text = path.join(dir, 'notes.txt');
  fs.writeFileSync(text, 'not a picture');
  files.push(padded, text);
  const sizes = await addon!.probeFiles(files);
  for (let i = 0; i < files.length - 1; i++) {
    const meta = await sharp(files[i]).metadata();
    expect({ file: path.basename(files[i]), size: [sizes[2 * i], sizes[2 * i + 1]] }).toEqual({ file: path.basename(files[i]), size: [meta.width, meta.height] });
  }
  expect([sizes[2 * files.length - 2], sizes[2 * files.length - 1]]).toEqual([0, 0]);
});

withAddon('the native decoder stats files as fs.statSync does (size and mtimeMs to the bit), and says which it cannot', async () => {
  const dir = tmpDir();
  const files = ['a.png', 'b.jpg', 'c d.txt'].map((name, i) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, Buffer.alloc(1000 * i + 7, i));
    fs.utimesSync(file, 1_700_000_000.123456 + i, 1_700_000_000.987654 + 3 * i);
    return file;
  });
  const stamps = await addon!.statFiles([...files, path.join(dir, 'missing.png')]);
  files.forEach((file, i) => {
    const st = fs.statSync(file);
    expect([stamps[3 * i], stamps[3 * i + 1] * 1e3 + stamps[3 * i + 2] / 1e6]).toEqual([st.size, st.mtimeMs]);
  });
  expect(stamps[3 * files.length]).toBe(-1);
});

withAddon('largeBuffer gives zeroed, writable memory of the size asked', () => {
  const bytes = new Uint8Array(addon!.largeBuffer(5 * 2 ** 20 + 3));
  expect(bytes.length).toBe(5 * 2 ** 20 + 3);
  expect(bytes.every((b) => b === 0)).toBe(true);
  bytes.fill(7);
  expect(bytes[0] + bytes[bytes.length - 1]).toBe(14);
  expect(() => addon!.largeBuffer(0)).toThrow(/positive/);
});

/**
 * Malloc arenas of a Node process that starts 4 worker threads (each allocates as a thread starting does), counted in
 * /proc/self/maps as glibc lays them out: a 64 MiB heap aligned to 64 MiB, its used part read-write, the rest reserved.
 */
function arenasAfterWorkers(limit: boolean): { before: number; after: number } {
  const script = `
    const fs = require('fs');
    const { Worker } = require('worker_threads');
    if (${limit}) require(${JSON.stringify(DECODE_ADDON_PATH)}).mallocArenas(1);
    const HEAP = 64n << 20n;
    const arenas = () => {
      const maps = fs.readFileSync('/proc/self/maps', 'utf8').split('\\n')
        .map((l) => /^([0-9a-f]+)-([0-9a-f]+) (\\S+) 00000000 00:00 0\\s*$/.exec(l)).filter(Boolean)
        .map((m) => ({ start: BigInt('0x' + m[1]), end: BigInt('0x' + m[2]), perms: m[3] }));
      return maps.filter((m, i) => m.perms === 'rw-p' && m.start % HEAP === 0n &&
        (m.end - m.start === HEAP || (maps[i + 1]?.perms === '---p' && maps[i + 1].start === m.end && maps[i + 1].end - m.start === HEAP))).length;
    };
    const before = arenas();
    const code = "const keep = []; for (let i = 0; i < 200; i++) keep.push(new ArrayBuffer(4096 + i)); require('worker_threads').parentPort.postMessage(keep.length);";
    Promise.all(Array.from({ length: 4 }, () => new Promise((done) => { const w = new Worker(code, { eval: true }); w.on('message', () => done(w)); })))
      .then((workers) => { console.log(JSON.stringify({ before, after: arenas() })); workers.forEach((w) => w.terminate()); });`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout);
}

const onGlibc = process.platform === 'linux' && !!(process.report?.getReport() as { header?: { glibcVersionRuntime?: string } })?.header?.glibcVersionRuntime;
(onGlibc ? withAddon : test.skip)('mallocArenas(1): threads started after it take no malloc arena of their own', () => {
  const free = arenasAfterWorkers(false);
  expect(free.after).toBeGreaterThanOrEqual(free.before + 4); // glibc's default: one per new thread (8 per core)
  const limited = arenasAfterWorkers(true);
  expect(limited.after).toBe(limited.before);
  expect(() => addon!.mallocArenas(0)).toThrow(/positive/);
});
