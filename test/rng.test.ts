import { Rng } from '../src/rng';

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
