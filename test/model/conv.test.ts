import * as tf from '@tensorflow/tfjs';
import { conv2dSame, convShape, upsample2x } from '../../src/model/conv';
import type { ModelConfig } from '../../src/model/run-config';
import { createModel } from '../../src/model/families/registry';
import { Rng } from '../../src/rng';
import { useTestBackend } from '../helpers/backend';
import { convReference as reference, expectClose } from '../helpers/conv-reference';

beforeAll(useTestBackend);

describe('conv2dSame', () => {
  // [n, h, w, c], kernel, out channels, stride: the shapes the conv models use, at small sizes, and odd ones.
  const cases: Array<[number[], number, number, number]> = [
    [[2, 8, 8, 3], 4, 5, 2],
    [[2, 7, 7, 4], 4, 3, 2],
    [[2, 6, 6, 3], 3, 4, 1],
    [[1, 5, 7, 2], 3, 2, 1],
  ];
  test.each(cases)('value and both gradients match the loops of the definition: x %j, k %d, out %d, stride %d', (xs, k, out, s) => {
    const rng = new Rng(7, 'conv', xs.join('x'), k, s);
    const x = rng.normals(xs.reduce((a, b) => a * b, 1));
    const w = rng.normals(k * k * xs[3] * out);
    const b = rng.normals(out);
    const oh = Math.ceil(xs[1] / s);
    const ow = Math.ceil(xs[2] / s);
    const g = rng.normals(xs[0] * oh * ow * out);
    const want = reference(x, xs, w, k, out, b, s, g);
    const xt = tf.tensor4d(x, xs as [number, number, number, number]);
    const wt = tf.tensor4d(w, [k, k, xs[3], out]);
    const bt = tf.tensor1d(b);
    const gt = tf.tensor4d(g, [xs[0], oh, ow, out]);
    const y = conv2dSame(xt, wt, bt, s);
    expect(y.shape).toEqual([xs[0], oh, ow, out]);
    expectClose(y.dataSync(), want.y, 1e-4);
    const [dx, dw, db] = tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) =>
      tf.sum(tf.mul(conv2dSame(a as tf.Tensor4D, c, d, s), gt)))([xt, wt, bt]);
    expectClose(dx.dataSync(), want.dx, 1e-3);
    expectClose(dw.dataSync(), want.dw, 1e-3);
    expectClose(db.dataSync(), want.db, 1e-4);
    // On data, the input gets no gradient; the weights get the same one.
    const [dx0, dw0] = tf.grads((a: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(conv2dSame(a as tf.Tensor4D, c, bt, s, true), gt)))([xt, wt]);
    expect(Math.max(...Array.from(dx0.dataSync(), Math.abs))).toBe(0);
    expectClose(dw0.dataSync(), want.dw, 1e-3);
  });

  test('2x upsampling repeats each pixel in a 2x2 block', () => {
    const x = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
    expect(Array.from(upsample2x(x).dataSync())).toEqual([1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
  });
});

describe('the conv model', () => {
  test.each([[28, 1, 'bernoulli'], [32, 3, 'gaussian'], [64, 3, 'bernoulli']] as const)(
    '%dx%d x%d %s: its own forward pass equals the saved layers model (what a web page would load)', (size, channels, likelihood) => {
      const config: ModelConfig = { family: 'vae', arch: 'conv', inputShape: [size, size, channels], hidden: [16], zDim: 4, likelihood,
        ...(likelihood === 'gaussian' ? { sigma: 0.1 } : {}) };
      const vae = createModel(config, 3);
      const n = 2;
      const dim = size * size * channels;
      const x = tf.tensor2d(new Rng(1, 'x').normals(n * dim).map((v) => Math.abs(v) % 1), [n, dim]);
      const [mu, logvar] = vae.encoder.predict(tf.reshape(x, [n, size, size, channels])) as tf.Tensor[];
      const ours = vae.encode(x);
      expectClose(ours.mu.dataSync(), mu.dataSync(), 1e-4);
      expectClose(ours.logvar.dataSync(), logvar.dataSync(), 1e-4);
      const z = tf.tensor2d(new Rng(2, 'z').normals(n * 4), [n, 4]);
      const layers = vae.decoder.predict(z) as tf.Tensor4D;
      expect(layers.shape).toEqual([n, size, size, channels]);
      expectClose(vae.decodeLogits(z).dataSync(), layers.dataSync(), 1e-4);
      vae.dispose();
    });

  test('the number of stride-2 convolutions brings every size down to a 7 or 8 map', () => {
    expect(convShape(28)).toEqual({ channels: [32, 64], map: 7 });
    expect(convShape(32)).toEqual({ channels: [32, 64], map: 8 });
    expect(convShape(64)).toEqual({ channels: [32, 64, 128], map: 8 });
    expect(() => convShape(48)).toThrow(/28, 32, 64/);
  });
});
