/**
 * Reader for the IDX format of MNIST-style data sets (LeCun et al.): a 4-byte magic number
 * (0, 0, element type, number of dimensions), one big-endian uint32 per dimension, then the elements.
 * Files may be gzipped (.gz or by content). Every check failure is a one-line VaeError naming the file.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { VaeError, errorMessage } from '../errors';

const UBYTE = 0x08;

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

export function parseIdx(bytes: Uint8Array, name: string): IdxArray {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = zlib.gunzipSync(bytes);
    } catch (e) {
      throw new VaeError(`${name}: corrupt gzip data (${errorMessage(e)})`);
    }
  }
  if (bytes.length < 4) throw new VaeError(`${name}: not an IDX file (only ${bytes.length} bytes)`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new VaeError(`${name}: not an IDX file (wrong magic number 0x${hex(bytes, 0, 4)})`);
  }
  if (bytes[2] !== UBYTE) {
    throw new VaeError(`${name}: IDX element type 0x${bytes[2].toString(16)} is not supported (only unsigned bytes)`);
  }
  const ndims = bytes[3];
  if (ndims < 1 || ndims > 4) throw new VaeError(`${name}: IDX file with ${ndims} dimensions is not supported`);
  const headerSize = 4 + 4 * ndims;
  if (bytes.length < headerSize) throw new VaeError(`${name}: truncated IDX header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const expected = dims.reduce((a, b) => a * b, 1);
  const actual = bytes.length - headerSize;
  if (actual < expected) {
    throw new VaeError(`${name}: truncated IDX file: header says ${dims.join(' x ')} = ${expected} bytes of data, found ${actual}`);
  }
  if (actual > expected) {
    throw new VaeError(`${name}: IDX file has ${actual - expected} bytes more than its header (${dims.join(' x ')}) says`);
  }
  // A copy in this realm's Uint8Array (a Buffer from fs or zlib may come from another realm under jest).
  return { dims, data: new Uint8Array(bytes.subarray(headerSize)) };
}

export function readIdxFile(file: string): IdxArray {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new VaeError(`cannot read ${file}: ${errorMessage(e)}`);
  }
  return parseIdx(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path.basename(file));
}

/** Finds `base` or `base.gz` in dir; null when neither exists. */
export function findIdxFile(dir: string, base: string): string | null {
  for (const candidate of [base, `${base}.gz`]) {
    const p = path.join(dir, candidate);
    if (fs.existsSync(p)) return p;
  }
  return null;
}

function hex(bytes: Uint8Array, start: number, end: number): string {
  return Array.from(bytes.subarray(start, end), (b) => b.toString(16).padStart(2, '0')).join('');
}
