import * as tf from '@tensorflow/tfjs';
import { ConvParams, applyConv, conv2dSame, upsample2x } from '../../src/model/conv';
import { nativeAddon } from '../../src/native';
import { nativeConv2d, nativeConv2dGrad, nativeConvs } from '../../src/native-kernels';
import { Rng } from '../../src/rng';
import { useTestBackend } from '../helpers/backend';
import { convReference } from '../helpers/conv-reference';

beforeAll(useTestBackend);

/** The native kernels run where the wasm backend runs with the addon (not under VAE_NATIVE=0 or tfjs-node). */
const nativeHere = () => tf.getBackend() === 'wasm' && nativeAddon() !== null;

/** x [n, h, w, c] upsampled 2x by nearest neighbours, as loops. */
function upsampled(x: Float32Array, [n, h, w, c]: number[]): Float32Array {
  const out = new Float32Array(4 * x.length);
  for (let a = 0; a < n; a++)
    for (let p = 0; p < 2 * h; p++)
      for (let q = 0; q < 2 * w; q++)
        for (let ch = 0; ch < c; ch++) out[((a * 2 * h + p) * 2 * w + q) * c + ch] = x[((a * h + (p >> 1)) * w + (q >> 1)) * c + ch];
  return out;
}

/** The gradient of a 2x upsampling's input: each pixel gets the sum of its 2x2 block. */
function folded(dx: Float32Array, [n, h, w, c]: number[]): Float32Array {
  const out = new Float32Array(n * h * w * c);
  for (let a = 0; a < n; a++)
    for (let p = 0; p < 2 * h; p++)
      for (let q = 0; q < 2 * w; q++)
        for (let ch = 0; ch < c; ch++) out[((a * h + (p >> 1)) * w + (q >> 1)) * c + ch] += dx[((a * 2 * h + p) * 2 * w + q) * c + ch];
  return out;
}

/**
 * The layer act(conv2d(up(x), W, s, 'same') + b) and its gradients for the upstream gradient g, by the loops of
 * the definition: relu's mask is applied to g, the upsampling's gradient sums each 2x2 block.
 */
function layerReference(x: Float32Array, xs: number[], w: Float32Array, k: number, out: number, b: Float32Array, s: number,
  up: boolean, relu: boolean, g: Float32Array) {
  const grid = up ? [xs[0], 2 * xs[1], 2 * xs[2], xs[3]] : xs;
  const input = up ? upsampled(x, xs) : x;
  const pre = convReference(input, grid, w, k, out, b, s, g).y;
  const y = relu ? pre.map((v) => Math.max(v, 0)) : pre;
  const masked = relu ? g.map((v, i) => (pre[i] > 0 ? v : 0)) : g;
  const r = convReference(input, grid, w, k, out, b, s, masked);
  return { y, dx: up ? folded(r.dx, xs) : r.dx, dw: r.dw, db: r.db };
}

/** |actual − expected| stays under `relative` times the largest |expected| (float32 sums of many products). */
function expectNear(actual: ArrayLike<number>, expected: ArrayLike<number>, relative = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  let scale = 1;
  for (let i = 0; i < expected.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  expect(worst / scale).toBeLessThan(relative);
}

// The kernels of every instruction set this CPU has: AVX-512 machines also run the AVX2 ones here.
const isas = nativeAddon()?.isa === 'avx512' ? ['avx512', 'avx2'] as const : ['avx2'] as const;

// [n, h, w, c], kernel, out channels, stride, upsampled, relu: every layer of the conv models at their sizes
// (28 and 64 pixels, 1 and 3 channels), batch 1 and 128, and odd sizes, odd channel counts and other kernels.
const cases: Array<[number[], number, number, number, boolean, boolean]> = [
  [[1, 28, 28, 1], 4, 32, 2, false, true], // 28x28 encoder, first layer
  [[2, 14, 14, 32], 4, 64, 2, false, true], // second layer
  [[2, 7, 7, 64], 3, 32, 1, true, true], // decoder: 7 → 14
  [[2, 14, 14, 32], 3, 1, 1, true, false], // grey logits: 14 → 28, one channel
  [[1, 32, 32, 32], 3, 3, 1, true, false], // colour logits: 32 → 64, three channels
  [[1, 64, 64, 3], 4, 32, 2, false, true], // 64x64 colour encoder, first layer
  [[128, 14, 14, 1], 4, 8, 2, false, true], // batch 128
  [[2, 9, 9, 3], 4, 17, 2, false, true], // odd sizes, 17 channels out
  [[1, 8, 7, 5], 3, 9, 2, false, false], // stride 2 with a 3x3 kernel
  [[2, 6, 5, 4], 3, 7, 1, false, true], // stride 1, 7 channels out (the narrow loops)
  [[2, 5, 7, 3], 3, 3, 1, true, true], // upsampled, odd sizes
  [[2, 4, 4, 2], 5, 4, 1, true, true], // upsampled, 5x5 kernel: phases of 3x3
  [[2, 6, 6, 2], 2, 8, 1, true, false], // upsampled, 2x2 kernel: no padding before
];

describe.each(isas)('the native convolutions, %s', (isa) => {
  beforeAll(() => { if (nativeHere()) nativeAddon()!.useIsa(isa); });
  afterAll(() => { if (nativeHere()) nativeAddon()!.useIsa(nativeAddon()!.isa as 'avx512' | 'avx2'); });

  test.each(cases)('x %j, k %d, out %d, stride %d, up %s, relu %s: value and every gradient match the loops of the definition',
    (xs, k, out, s, up, relu) => {
      if (!nativeHere()) return expect(nativeConvs()).toBe(false);
      expect(nativeConvs()).toBe(true);
      const rng = new Rng(11, 'native-conv', xs.join('x'), k, out, s, String(up));
      const c = xs[3];
      const x = rng.normals(xs.reduce((a, b) => a * b, 1));
      const w = rng.normals(k * k * c * out).map((v) => v / Math.sqrt(k * k * c));
      const b = rng.normals(out);
      const grid = up ? 2 : 1;
      const oh = Math.ceil((grid * xs[1]) / s);
      const ow = Math.ceil((grid * xs[2]) / s);
      const g = rng.normals(xs[0] * oh * ow * out);
      const want = layerReference(x, xs, w, k, out, b, s, up, relu, g);
      tf.tidy(() => {
        const xt = tf.tensor4d(x, xs as [number, number, number, number]);
        const wt = tf.tensor4d(w, [k, k, c, out]);
        const y = nativeConv2d(xt, wt, tf.tensor1d(b), s, up, relu);
        expect(y.shape).toEqual([xs[0], oh, ow, out]);
        expectNear(y.dataSync(), want.y);
        const [dx, dw, db] = nativeConv2dGrad(xt, wt, y, tf.tensor4d(g, [xs[0], oh, ow, out]), s, up, relu, true);
        expect(dx.shape).toEqual(xs);
        expectNear(dx.dataSync(), want.dx);
        expectNear(dw.dataSync(), want.dw);
        expectNear(db.dataSync(), want.db);
        // Without the input's gradient: the same filter and bias gradients, to the last bit.
        const [dw2, db2] = nativeConv2dGrad(xt, wt, y, tf.tensor4d(g, [xs[0], oh, ow, out]), s, up, relu, false);
        expect(Array.from(dw2.dataSync())).toEqual(Array.from(dw.dataSync()));
        expect(Array.from(db2.dataSync())).toEqual(Array.from(db.dataSync()));
      });
    });
});

describe('applyConv on the native kernels', () => {
  // A decoder layer (upsampling, relu) and an encoder one (stride 2, on data): the same values and gradients as
  // the tf ops of conv2dSame, which are tested against the loops in conv.test.ts.
  test.each([[true, false], [false, true]])('upsample %s, on data %s: equals the layer written with tf ops', (upsample, onData) => {
    if (!nativeHere()) return expect(nativeConvs()).toBe(false);
    tf.tidy(() => {
      const rng = new Rng(5, 'applyConv', String(upsample));
      const xs = [2, 6, 6, 4] as [number, number, number, number];
      const k = upsample ? 3 : 4;
      const stride = upsample ? 1 : 2;
      const p: ConvParams = {
        kernel: tf.variable(tf.tensor4d(rng.normals(k * k * 4 * 5).map((v) => v / 4), [k, k, 4, 5])),
        bias: tf.variable(tf.tensor1d(rng.normals(5))), stride, relu: true, upsample,
      };
      const x = tf.tensor4d(rng.normals(2 * 6 * 6 * 4), xs);
      const withParams = (w: tf.Tensor, b: tf.Tensor): ConvParams => ({ ...p, kernel: w as tf.Variable, bias: b as tf.Variable });
      const native = (a: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => applyConv(a as tf.Tensor4D, withParams(w, b), onData);
      const viaTf = (a: tf.Tensor, w: tf.Tensor, b: tf.Tensor) =>
        tf.relu(conv2dSame(upsample ? upsample2x(a as tf.Tensor4D) : a as tf.Tensor4D, w, b, stride, onData));
      const y = native(x, p.kernel, p.bias);
      expectNear(y.dataSync(), viaTf(x, p.kernel, p.bias).dataSync());
      const g = tf.randomNormal(y.shape, 0, 1, 'float32', 3);
      const gradsOf = (f: typeof native) => tf.grads((a: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, w, b), g)));
      const ours = gradsOf(native)([x, p.kernel, p.bias]);
      const theirs = gradsOf(viaTf)([x, p.kernel, p.bias]);
      ours.forEach((t, i) => expectNear(t.dataSync(), theirs[i].dataSync()));
      if (onData) expect(Math.max(...Array.from(ours[0].dataSync(), Math.abs))).toBe(0);
    });
  });
});
