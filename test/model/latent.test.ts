import { attributeVector, codeStatistics, gridQuantiles, inverseNormalCdf, manifoldCodes, principalDirections } from '../../src/model/latent';
import { Rng } from '../../src/rng';

/** Φ through the error function: its Taylor series for small |x|, a continued fraction for large |x|. */
function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  let erf: number;
  if (z < 3) {
    let term = z;
    let sum = z;
    for (let n = 1; n < 200; n++) {
      term *= (-z * z) / n;
      sum += term / (2 * n + 1);
    }
    erf = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    let f = 0;
    for (let n = 60; n >= 1; n--) f = n / 2 / (z + f);
    erf = 1 - Math.exp(-z * z) / Math.sqrt(Math.PI) / (z + f);
  }
  return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

test('inverseNormalCdf: known quantiles and a round trip through Φ', () => {
  expect(inverseNormalCdf(0.5)).toBeCloseTo(0, 9);
  expect(inverseNormalCdf(0.975)).toBeCloseTo(1.959963985, 7);
  expect(inverseNormalCdf(0.025)).toBeCloseTo(-1.959963985, 7);
  expect(inverseNormalCdf(0.8413447460685429)).toBeCloseTo(1, 7);
  for (const p of [1e-6, 0.001, 0.02, 0.3, 0.7, 0.99, 0.999999]) expect(normalCdf(inverseNormalCdf(p))).toBeCloseTo(p, 8);
  expect(() => inverseNormalCdf(0)).toThrow(RangeError);
  expect(() => inverseNormalCdf(1)).toThrow(RangeError);
});

test('grid quantiles are symmetric and increasing', () => {
  const q = gridQuantiles(5);
  expect(q[2]).toBeCloseTo(0, 9);
  expect(q[0]).toBeCloseTo(-q[4], 9);
  expect(q[0]).toBeCloseTo(inverseNormalCdf(0.1), 9);
  for (let i = 1; i < 5; i++) expect(q[i]).toBeGreaterThan(q[i - 1]);
});

test('manifold codes: columns walk along the first axis, rows up along the second, other coordinates 0', () => {
  const codes = manifoldCodes(3, 4, [1, 0, 0], [0, 0, 1], 2, 1);
  const q = gridQuantiles(4);
  const at = (r: number, c: number) => Array.from(codes.subarray((r * 4 + c) * 3, (r * 4 + c + 1) * 3));
  expect(at(0, 0)[0]).toBeCloseTo(2 * q[0], 6); // left column
  expect(at(0, 0)[2]).toBeCloseTo(q[3], 6); // top row is the largest value
  expect(at(3, 2)[2]).toBeCloseTo(q[0], 6);
  expect(at(1, 2)[1]).toBe(0);
});

test('principal directions of data with known axes', () => {
  // Variance 9 along (1, 1)/√2, 1 along (1, −1)/√2, 0.01 along z.
  const rng = new Rng(3);
  const n = 20000;
  const codes = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) {
    const a = 3 * rng.normal();
    const b = rng.normal();
    codes[i * 3] = (a + b) / Math.SQRT2 + 5;
    codes[i * 3 + 1] = (a - b) / Math.SQRT2 - 1;
    codes[i * 3 + 2] = 0.1 * rng.normal();
  }
  const { mean, cov } = codeStatistics(codes, n, 3);
  expect(mean[0]).toBeCloseTo(5, 1);
  const { directions, variances } = principalDirections(cov, 2);
  expect(variances[0]).toBeCloseTo(9, 0);
  expect(variances[1]).toBeCloseTo(1, 1);
  expect(Math.abs(directions[0][0])).toBeCloseTo(Math.SQRT1_2, 2);
  expect(directions[0][0] * directions[0][1]).toBeGreaterThan(0);
  expect(directions[1][0] * directions[1][1]).toBeLessThan(0);
  expect(Math.abs(directions[0][2])).toBeLessThan(0.01);
  const dot = directions[0].reduce((s, v, j) => s + v * directions[1][j], 0);
  expect(Math.abs(dot)).toBeLessThan(1e-6);
});

test('attribute vector: mean code with the label minus mean code without it, or with the other label', () => {
  // 2-D codes; labels 0, 1, 2.
  const codes = Float32Array.from([1, 0, 3, 0, /* label 1 */ 0, 2, 0, 4, /* label 2 */ -1, -1]);
  const labels = [0, 0, 1, 1, 2];
  const vsAll = attributeVector(codes, labels, 2, 1);
  // mean(label 1) = (0, 3); mean(not 1) = ((1 + 3 − 1)/3, (0 + 0 − 1)/3) = (1, −1/3)
  expect(vsAll[0]).toBeCloseTo(-1, 6);
  expect(vsAll[1]).toBeCloseTo(3 + 1 / 3, 6);
  const vsZero = attributeVector(codes, labels, 2, 1, 0);
  expect(Array.from(vsZero)).toEqual([0 - 2, 3 - 0]);
  expect(() => attributeVector(codes, labels, 2, 7)).toThrow(RangeError);
});
