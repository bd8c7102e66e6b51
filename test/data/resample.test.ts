/**
 * resample.ts, against values computed another way: a constant stays constant; halving is the mean of 2 x 2 blocks;
 * any shrink is the area integral (by fine subdivision of the source); an enlargement is bilinear at the output
 * pixel's centre; a wide picture keeps its centre square. The weights are whole 1/4096ths and the column sums are
 * kept to 1/64 of a level, so a result may round the other way where the exact value is within ~1/64 of a half.
 */
import { WEIGHT_ONE, squareResample, taps } from '../../src/data/resample';

/** Rounded like the exact value, or (within the integers' error) the other way at a half. */
const NEAR = 0.5 + 1 / 32;

/** Pixel values of a seeded pattern: w x h x c. */
function pattern(w: number, h: number, c: number): Uint8Array {
  return Uint8Array.from({ length: w * h * c }, (_, i) => (i * 37 + Math.floor(i / 7) * 11) % 256);
}

/** The mean of a 1-D signal over [from, to), by splitting every source pixel into 1,000 pieces. */
function areaMean(signal: number[], from: number, to: number): number {
  let sum = 0, n = 0;
  for (let k = 0; k < signal.length * 1000; k++) {
    const x = (k + 0.5) / 1000;
    if (x >= from && x < to) { sum += signal[Math.floor(x)]; n++; }
  }
  return sum / n;
}

test('the weights of each output sum to exactly one, and are the shares covered to 1/4096', () => {
  for (const [m, size] of [[191, 64], [100, 64], [64, 64], [48, 64], [7, 3]]) {
    const t = taps(m, size);
    for (let i = 0; i < size; i++) {
      let s = 0;
      for (let k = t.start[i]; k < t.start[i + 1]; k++) s += t.weight[k];
      expect(s).toBe(WEIGHT_ONE);
    }
  }
  // 7 to 3: output 0 covers [0, 7/3): pixels 0 and 1 whole, a third of pixel 2, each over 7/3.
  const t = taps(7, 3);
  expect(Array.from(t.index.subarray(0, 3))).toEqual([0, 1, 2]);
  const exact = [3 / 7, 3 / 7, 1 / 7].map((w) => w * WEIGHT_ONE);
  Array.from(t.weight.subarray(0, 3)).forEach((w, k) => expect(Math.abs(w - exact[k])).toBeLessThanOrEqual(1));
});

test('a constant picture stays constant, shrunk or enlarged', () => {
  for (const [w, h] of [[120, 90], [40, 50]]) {
    const out = squareResample(new Uint8Array(w * h * 3).fill(173), w, h, 3, 64);
    expect(out.every((v) => v === 173)).toBe(true);
  }
});

test('halving is the mean of 2 x 2 blocks', () => {
  const px = pattern(8, 8, 1);
  const out = squareResample(px, 8, 8, 1, 4);
  for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) {
    const mean = (px[2 * y * 8 + 2 * x] + px[2 * y * 8 + 2 * x + 1] + px[(2 * y + 1) * 8 + 2 * x] + px[(2 * y + 1) * 8 + 2 * x + 1]) / 4;
    expect(out[y * 4 + x]).toBe(Math.round(mean));
  }
});

test('a shrink by a fraction is the area mean of what each output pixel covers', () => {
  // One row repeated: the vertical pass averages equal rows, so each output is the horizontal area mean.
  const row = [10, 200, 30, 250, 0, 90, 140];
  const px = Uint8Array.from({ length: 7 * 7 }, (_, i) => row[i % 7]);
  const out = squareResample(px, 7, 7, 1, 3);
  for (let i = 0; i < 3; i++) expect(Math.abs(out[i] - areaMean(row, (i * 7) / 3, ((i + 1) * 7) / 3))).toBeLessThanOrEqual(NEAR);
});

test('an enlargement is bilinear at the output pixel\'s centre, edges clamped', () => {
  const row = [0, 100, 40];
  const px = Uint8Array.from({ length: 9 }, (_, i) => row[i % 3]);
  const out = squareResample(px, 3, 3, 1, 5);
  for (let i = 0; i < 5; i++) {
    const x = Math.min(2, Math.max(0, (i + 0.5) * (3 / 5) - 0.5));
    const j = Math.floor(x);
    const expected = row[j] * (1 - (x - j)) + (j + 1 < 3 ? row[j + 1] * (x - j) : 0);
    expect(Math.abs(out[i] - expected)).toBeLessThanOrEqual(NEAR);
  }
});

test('a wide picture keeps its centre square, channel by channel', () => {
  const w = 10, h = 4, c = 3;
  const px = pattern(w, h, c);
  const out = squareResample(px, w, h, c, 4); // the same size: the crop itself
  for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) for (let k = 0; k < c; k++) {
    expect(out[(y * 4 + x) * c + k]).toBe(px[(y * w + 3 + x) * c + k]);
  }
});
