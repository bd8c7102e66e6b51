import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export function tmpDir(prefix = 'vae-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** An IDX file of unsigned bytes: magic (0, 0, 0x08, ndims), big-endian dimensions, then the data. */
export function idxBytes(dims: number[], data: Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(data)]);
}

/** A tiny MNIST-format data set folder (gzipped or raw) of random images with labels 0..9. */
export function writeIdxDataset(dir: string, opts: { train: number; test: number; size?: number; gzip?: boolean }): void {
  const zlib = require('zlib') as typeof import('zlib');
  const size = opts.size ?? 28;
  fs.mkdirSync(dir, { recursive: true });
  const write = (name: string, bytes: Buffer) =>
    fs.writeFileSync(path.join(dir, opts.gzip ? `${name}.gz` : name), opts.gzip ? zlib.gzipSync(bytes) : bytes);
  for (const [prefix, count] of [['train', opts.train], ['t10k', opts.test]] as const) {
    const images = new Uint8Array(count * size * size).map((_, i) => (i * 37 + count) % 256);
    const labels = new Uint8Array(count).map((_, i) => i % 10);
    write(`${prefix}-images-idx3-ubyte`, idxBytes([count, size, size], images));
    write(`${prefix}-labels-idx1-ubyte`, idxBytes([count], labels));
  }
}
