import { PHILOX, Rng, philox4x32, philoxKey, philoxNormals, trainingNormals } from '../src/rng';

test('the same keys give the same stream; other keys another', () => {
  const a = new Rng(1, 'eps', 3, 7).normals(100);
  const b = new Rng(1, 'eps', 3, 7).normals(100);
  const c = new Rng(1, 'eps', 3, 8).normals(100);
  expect(Array.from(a)).toEqual(Array.from(b));
  expect(Array.from(a)).not.toEqual(Array.from(c));
});

test('normals have mean 0 and variance 1; uniforms lie in [0, 1)', () => {
  const rng = new Rng(42);
  const n = 100000;
  const z = rng.normals(n);
  const mean = z.reduce((s, v) => s + v, 0) / n;
  const variance = z.reduce((s, v) => s + (v - mean) ** 2, 0) / n;
  expect(Math.abs(mean)).toBeLessThan(0.02);
  expect(Math.abs(variance - 1)).toBeLessThan(0.02);
  for (let i = 0; i < 1000; i++) {
    const u = rng.uniform();
    expect(u >= 0 && u < 1).toBe(true);
  }
});

test('a permutation holds every index once', () => {
  const p = new Rng(5, 'shuffle', 1).permutation(1000);
  expect(Array.from(p).sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  expect(Array.from(p.subarray(0, 10))).not.toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

describe('Philox4x32-10, the training noise', () => {
  test("Random123's known answers", () => {
    const hex = (w: Uint32Array) => Array.from(w, (v) => v.toString(16).padStart(8, '0'));
    expect(hex(philox4x32([0, 0, 0, 0], [0, 0]))).toEqual(['6627e8d5', 'e169c58d', 'bc57ac4c', '9b00dbd8']);
    expect(hex(philox4x32([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff])))
      .toEqual(['408f276d', '41c83b0e', 'a20bc7c6', '6d5451fd']);
    expect(hex(philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0])))
      .toEqual(['d16cfe09', '94fdcceb', '5001e420', '24126ea1']);
  });

  test('normal i is Box–Muller of counter ⌊i/4⌋, whatever range is drawn', () => {
    const key = philoxKey(7, 'eps', 2, 3);
    const all = philoxNormals(key, new Float32Array(41));
    // Normals 20-23 are counter 5's words (0, 1) and (2, 3), by the formula in double precision.
    const words = philox4x32([5, 0, 0, 0], key);
    const u = (w: number) => (Math.floor(w / 512) + 0.5) / 2 ** 23;
    const r = Math.sqrt(-2 * Math.log(u(words[2])));
    const theta = 2 * Math.PI * (u(words[3]) - 0.5);
    expect(all[22]).toBe(Math.fround(r * Math.cos(theta)));
    expect(all[23]).toBe(Math.fround(r * Math.sin(theta)));
    // A range starting mid-counter is the same numbers.
    expect(Array.from(philoxNormals(key, new Float32Array(13), 18))).toEqual(Array.from(all.subarray(18, 31)));
    expect(Array.from(philoxNormals(philoxKey(7, 'eps', 2, 4), new Float32Array(41)))).not.toEqual(Array.from(all));
  });

  test('the 32x32-bit products are exact: one round against BigInt', () => {
    const mask = (1n << 32n) - 1n;
    const c = [0x89abcdef, 0xfedcba98, 0xffffffff, 0x12345678];
    const k = [0xdeadbeef, 0x01234567];
    // One round by the definition, in BigInt.
    const p0 = BigInt(PHILOX.m0) * BigInt(c[0]);
    const p1 = BigInt(PHILOX.m1) * BigInt(c[2]);
    const expected = [Number((p1 >> 32n) ^ BigInt(c[1]) ^ BigInt(k[0])), Number(p1 & mask), Number((p0 >> 32n) ^ BigInt(c[3]) ^ BigInt(k[1])), Number(p0 & mask)];
    expect(Array.from(philox4x32(c, k, new Uint32Array(4), 1))).toEqual(expected.map((v) => v >>> 0));
  });

  test('normals have mean 0 and variance 1, and no correlation between neighbours', () => {
    const n = 200000;
    const z = philoxNormals(philoxKey(1, 'eps', 1, 0), new Float32Array(n));
    let mean = 0, variance = 0, lag = 0, fourth = 0;
    for (let i = 0; i < n; i++) mean += z[i] / n;
    for (let i = 0; i < n; i++) {
      variance += (z[i] - mean) ** 2 / n;
      fourth += z[i] ** 4 / n;
      if (i > 0) lag += z[i] * z[i - 1] / n;
    }
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.abs(variance - 1)).toBeLessThan(0.01);
    expect(Math.abs(fourth - 3)).toBeLessThan(0.06); // a normal's fourth moment
    expect(Math.abs(lag)).toBeLessThan(0.01);
  });

  test("a run's kind of stream: sfc32 as before for older runs, Philox with its key for new ones", () => {
    const a = new Float32Array(10);
    expect(trainingNormals('sfc32', 3, 1, 2, a)).toBeNull();
    expect(Array.from(a)).toEqual(Array.from(new Rng(3, 'eps', 1, 2).normals(10)));
    const b = new Float32Array(10);
    expect(trainingNormals('philox', 3, 1, 2, b)).toEqual(philoxKey(3, 'eps', 1, 2));
    expect(Array.from(b)).toEqual(Array.from(philoxNormals(philoxKey(3, 'eps', 1, 2), new Float32Array(10))));
  });
});
