import { corrupt, noiseConfig } from '../../src/data/noise';
import { Rng } from '../../src/rng';

const n = 20000;
const grey = new Float32Array(n).fill(0.5);

describe('corrupt', () => {
  test('mask sets about `level` of the values to 0 and keeps the rest', () => {
    const out = corrupt(grey, { kind: 'mask', level: 0.3 }, new Rng(1));
    const zeros = out.filter((v) => v === 0).length;
    expect(zeros / n).toBeGreaterThan(0.28);
    expect(zeros / n).toBeLessThan(0.32);
    expect(out.every((v) => v === 0 || v === 0.5)).toBe(true);
  });

  test('salt-pepper hits about `level` of the values, half to 0 and half to 1', () => {
    const out = corrupt(grey, { kind: 'salt-pepper', level: 0.2 }, new Rng(2));
    const zeros = out.filter((v) => v === 0).length / n;
    const ones = out.filter((v) => v === 1).length / n;
    expect(zeros + ones).toBeGreaterThan(0.18);
    expect(zeros + ones).toBeLessThan(0.22);
    expect(Math.abs(zeros - ones)).toBeLessThan(0.02);
  });

  test('gaussian adds noise of the given standard deviation and clips to [0, 1]', () => {
    const out = corrupt(grey, { kind: 'gaussian', level: 0.1 }, new Rng(3));
    const mean = out.reduce((a, v) => a + v, 0) / n;
    const sd = Math.sqrt(out.reduce((a, v) => a + (v - mean) ** 2, 0) / n);
    expect(mean).toBeCloseTo(0.5, 2);
    expect(sd).toBeGreaterThan(0.095);
    expect(sd).toBeLessThan(0.105);
    const strong = corrupt(grey, { kind: 'gaussian', level: 2 }, new Rng(3));
    expect(strong.every((v) => v >= 0 && v <= 1)).toBe(true);
    expect(strong.filter((v) => v === 0 || v === 1).length).toBeGreaterThan(n / 2);
  });

  test('the same stream gives the same noise; the input is left as it was', () => {
    const x = Float32Array.from({ length: 100 }, (_, i) => i / 100);
    const a = corrupt(x, { kind: 'salt-pepper', level: 0.5 }, new Rng(4, 'k'));
    const b = corrupt(x, { kind: 'salt-pepper', level: 0.5 }, new Rng(4, 'k'));
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(x[50]).toBeCloseTo(0.5, 6);
  });

  test('a share of pixels above 1 is refused', () => {
    expect(() => noiseConfig('mask', 1.5)).toThrow(/between 0 and 1/);
    expect(noiseConfig('gaussian', 1.5)).toEqual({ kind: 'gaussian', level: 1.5 });
    expect(noiseConfig('mask').level).toBeGreaterThan(0);
  });
});
