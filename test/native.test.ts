import * as tf from '@tensorflow/tfjs';
import { bernoulliNllFromLogits } from '../src/model/losses';
import { nativeAddon, nativeProblem } from '../src/native';
import { nativeBernoulliNll, nativeBernoulliNllGrad, nativeKernelsIsa } from '../src/native-kernels';
import { useTestBackend } from './helpers/backend';

beforeAll(useTestBackend);

const onWasm = () => tf.getBackend() === 'wasm';

test('npm install built the native addon, and the wasm backend multiplies with it', () => {
  if (process.env.VAE_NATIVE === '0') return expect(nativeAddon()).toBeNull();
  // Without a C++ compiler the build is skipped and vae still works, only slower; this test says so.
  expect(nativeProblem()).toBe('');
  expect(['avx512', 'avx2']).toContain(nativeAddon()!.isa);
  if (onWasm()) expect(nativeKernelsIsa()).toBe(nativeAddon()!.isa);
});

/** op(A)·op(B) for [batch, rows, cols] arrays, in float64 loops (the definition). */
function reference(a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean): Float64Array {
  const [ba, ra, ca] = a.shape.length === 3 ? a.shape : [1, ...a.shape];
  const [bb, rb, cb] = b.shape.length === 3 ? b.shape : [1, ...b.shape];
  const av = a.dataSync();
  const bv = b.dataSync();
  const m = transposeA ? ca : ra;
  const k = transposeA ? ra : ca;
  const n = transposeB ? rb : cb;
  const batch = Math.max(ba, bb);
  const out = new Float64Array(batch * m * n);
  for (let s = 0; s < batch; s++) {
    const ao = (ba === 1 ? 0 : s) * ra * ca;
    const bo = (bb === 1 ? 0 : s) * rb * cb;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let kk = 0; kk < k; kk++) {
          const x = transposeA ? av[ao + kk * ca + i] : av[ao + i * ca + kk];
          const y = transposeB ? bv[bo + j * cb + kk] : bv[bo + kk * cb + j];
          sum += x * y;
        }
        out[(s * m + i) * n + j] = sum;
      }
    }
  }
  return out;
}

function expectClose(actual: tf.Tensor, expected: Float64Array, k: number): void {
  const values = actual.dataSync();
  expect(values.length).toBe(expected.length);
  // Products of numbers in [-1, 1]: the float32 error of a k-term sum stays well under k · 1e-6.
  let worst = 0;
  values.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - expected[i])); });
  expect(worst).toBeLessThan(k * 1e-6);
}

const uniform = (shape: number[], seed: number) => tf.randomUniform(shape, -1, 1, 'float32', seed);

// The kernels of every instruction set this CPU has: AVX-512 machines also run the AVX2 ones here.
const isas = nativeAddon()?.isa === 'avx512' ? ['avx512', 'avx2'] as const : ['avx2'] as const;

describe.each(isas)('%s kernels', (isa) => {
beforeAll(() => { if (nativeAddon()) nativeAddon()!.useIsa(isa); });
afterAll(() => { if (nativeAddon()) nativeAddon()!.useIsa(nativeAddon()!.isa as 'avx512' | 'avx2'); });

// Sizes around the kernels' blocks: 8 (AVX-512) and 6 (AVX2) rows, 32/16 and 16/8 columns, k-blocks of 256.
test.each([
  [1, 1, 1], [7, 3, 5], [13, 300, 37], [64, 784, 400], [9, 513, 17], [33, 20, 48],
])('matMul %i x %i by %i x ... equals the loops of the definition, for every transpose flag', (m, k, n) => {
  for (const transposeA of [false, true]) {
    for (const transposeB of [false, true]) {
      tf.tidy(() => {
        const a = uniform(transposeA ? [k, m] : [m, k], m + k);
        const b = uniform(transposeB ? [n, k] : [k, n], k + n);
        const c = tf.matMul(a, b, transposeA, transposeB);
        expect(c.shape).toEqual([m, n]);
        expectClose(c, reference(a, b, transposeA, transposeB), k);
      });
    }
  }
});

test('batched products, with a single matrix broadcast over the batch', () => {
  tf.tidy(() => {
    const a = uniform([3, 5, 40], 1);
    const b = uniform([3, 40, 19], 2);
    const one = uniform([1, 40, 19], 3);
    expectClose(tf.matMul(a, b), reference(a, b, false, false), 40);
    const broadcast = tf.matMul(a, one);
    expect(broadcast.shape).toEqual([3, 5, 19]);
    expectClose(broadcast, reference(a, one, false, false), 40);
    const bt = uniform([3, 19, 5], 4);
    const both = tf.matMul(a, bt, true, true);
    expect(both.shape).toEqual([3, 40, 19]);
    expectClose(both, reference(a, bt, true, true), 5);
  });
});

test('empty products and a zero inner size give the right shapes and zeros', () => {
  tf.tidy(() => {
    expect(tf.matMul(tf.zeros([0, 4]), tf.ones([4, 3])).shape).toEqual([0, 3]);
    if (onWasm() && !nativeKernelsIsa()) return; // XNNPACK itself fails on k = 0 (status 2)
    const zeroInner = tf.matMul(tf.ones([2, 0]), tf.ones([0, 3]));
    expect(Array.from(zeroInner.dataSync())).toEqual([0, 0, 0, 0, 0, 0]);
  });
});

test('the native product is not fooled by an operand that is a view of another tensor', () => {
  // Slices and reshapes on wasm may share memory or copy; either way the product must see the right numbers.
  tf.tidy(() => {
    const big = uniform([10, 30], 5);
    const a = tf.slice(big, [2, 0], [5, 30]);
    const b = tf.reshape(tf.slice(uniform([60, 7], 6), [30, 0], [30, 7]), [30, 7]);
    expectClose(tf.matMul(a, b), reference(a, b, false, false), 30);
  });
});

describe('the native Bernoulli NLL kernels', () => {
  test('are not used for operands of different shapes (they do not broadcast): the tf ops take those', () => {
    tf.tidy(() => {
      expect(nativeBernoulliNll(tf.zeros([2, 3]), tf.zeros([1, 3]))).toBeNull();
      expect(nativeBernoulliNllGrad(tf.zeros([2, 3]), tf.zeros([2, 3]), tf.zeros([3]))).toBeNull();
      const fallback = bernoulliNllFromLogits(tf.zeros([2, 3]) as tf.Tensor2D, tf.ones([1, 3]) as tf.Tensor2D).dataSync();
      expect(fallback.length).toBe(2); // x broadcast over the rows: l = 0 costs log 2 a pixel
      fallback.forEach((v) => expect(v).toBeCloseTo(3 * Math.LN2, 5));
    });
  });

  // Rows with every kind of logit: large of either sign, zero, and ordinary ones; x binary and grey.
  const cases = [1, 15, 16, 17, 784].map((cols) => [3, cols] as const);

  test.each(cases)('%i x %i: row sums equal Σ [max(l, 0) − l·x + log1p(exp(−|l|))] by tf ops, gradient (σ(l) − x)·dy', (rows, cols) => {
    if (!onWasm() || !nativeKernelsIsa()) return expect(nativeBernoulliNll(tf.zeros([1, 1]), tf.zeros([1, 1]))).toBeNull();
    tf.tidy(() => {
      const l = tf.concat([tf.mul(tf.randomNormal([rows - 1, cols], 0, 1, 'float32', cols), 4),
        tf.tensor2d(Array.from({ length: cols }, (_, j) => [-100, -20, 0, 20, 100][j % 5]), [1, cols])]) as tf.Tensor2D;
      const x = tf.concat([tf.randomUniform([rows - 1, cols], 0, 1, 'float32', 7),
        tf.tensor2d(Array.from({ length: cols }, (_, j) => j % 2), [1, cols])]) as tf.Tensor2D;
      const expected = tf.sum(tf.add(tf.sub(tf.relu(l), tf.mul(l, x)), tf.log1p(tf.exp(tf.neg(tf.abs(l))))), 1).dataSync();
      const actual = nativeBernoulliNll(l, x)!.dataSync();
      expected.forEach((e, i) => expect(Math.abs(actual[i] - e)).toBeLessThan(1e-5 * (1 + Math.abs(e))));
      const dy = tf.tensor1d([0.5, -2, 1 / 128]);
      const expectedGrad = tf.mul(tf.sub(tf.sigmoid(l), x), tf.reshape(dy, [-1, 1])).dataSync();
      const grad = nativeBernoulliNllGrad(l, x, dy)!.dataSync();
      expectedGrad.forEach((e, i) => expect(Math.abs(grad[i] - e)).toBeLessThan(1e-6 * (1 + Math.abs(e))));
    });
  });
});
});
