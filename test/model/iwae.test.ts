import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { testMatrix } from '../../src/data/batches';
import { createModel } from '../../src/model/families/registry';
import { Rng } from '../../src/rng';
import { startRun } from '../../src/train/run';
import { train } from '../../src/train/train';
import { useTestBackend } from '../helpers/backend';
import { tmpDir } from '../helpers/tmp';

beforeAll(useTestBackend);

test('the IWAE loss equals −log (1/K) Σ_k w_k computed in plain JS from the same encoder and decoder outputs', () => {
  const vae = createModel({ family: 'vae', arch: 'mlp', inputShape: [2, 3, 1], hidden: [5], zDim: 2, likelihood: 'bernoulli' }, 3);
  const n = 3, k = 4, d = 2, D = 6, beta = 0.8;
  const rng = new Rng(4);
  const x = Float32Array.from({ length: n * D }, () => (rng.uniform() < 0.4 ? 1 : 0));
  const eps = rng.normals(n * k * d);
  const xt = tf.tensor2d(x, [n, D]);
  const terms = vae.importanceWeightedLossTerms(xt, tf.tensor2d(eps, [n * k, d]), k, beta, 5);

  const { mu, logvar } = vae.encode(xt);
  const m = mu.dataSync(), lv = logvar.dataSync();
  const z = new Float32Array(n * k * d);
  for (let i = 0; i < n; i++) for (let s = 0; s < k; s++) for (let j = 0; j < d; j++) {
    z[(i * k + s) * d + j] = m[i * d + j] + Math.exp(0.5 * lv[i * d + j]) * eps[(i * k + s) * d + j];
  }
  const logits = vae.decodeLogits(tf.tensor2d(z, [n * k, d])).dataSync();
  let loss = 0, rec = 0, kl = 0;
  for (let i = 0; i < n; i++) {
    const logW: number[] = [];
    for (let s = 0; s < k; s++) {
      const r = i * k + s;
      let logPxz = 0;
      for (let p = 0; p < D; p++) {
        const prob = 1 / (1 + Math.exp(-logits[r * D + p]));
        logPxz += x[i * D + p] * Math.log(prob) + (1 - x[i * D + p]) * Math.log(1 - prob);
      }
      let logPz = 0, logQ = 0;
      for (let j = 0; j < d; j++) {
        logPz += -0.5 * (z[r * d + j] ** 2 + Math.log(2 * Math.PI));
        logQ += -0.5 * (eps[r * d + j] ** 2 + lv[i * d + j] + Math.log(2 * Math.PI));
      }
      logW.push(logPxz + beta * (logPz - logQ));
      rec -= logPxz / k;
      kl += (logQ - logPz) / k;
    }
    const top = Math.max(...logW);
    loss -= top + Math.log(logW.reduce((a, w) => a + Math.exp(w - top), 0) / k);
  }
  expect(terms.loss.dataSync()[0]).toBeCloseTo(loss / 5, 3);
  expect(terms.recSum.dataSync()[0]).toBeCloseTo(rec, 3);
  expect(terms.klSum.dataSync()[0]).toBeCloseTo(kl, 3);
});

test('IWAE: the K-sample loss lies below the ELBO loss, and training on it gives the same numbers on 1 and 2 threads', async () => {
  const options = (out: string) => ({ data: 'mnist', binarize: 'dynamic' as const, zDim: 8, hidden: [64], beta: 1, epochs: 1,
    batchSize: 50, lr: 2e-3, seed: 6, klWarmup: 0, iwTrain: 5, out, limitTrain: 1500, limitTest: 200 });
  const root = tmpDir();
  const one = await startRun(options(path.join(root, 'one')));
  const two = await startRun(options(path.join(root, 'two')));
  const a = await train(one, {}, { threads: 1 });
  const b = await train(two, {}, { threads: 2 });
  expect(b.epochs[0].test.negElbo).toBe(a.epochs[0].test.negElbo);
  expect(one.config.train.iwTrain).toBe(5);

  const data = testMatrix(one.dataset.test, 784, 'dynamic');
  const x = tf.tensor2d(data.subarray(0, 200 * 784), [200, 784]);
  const iwae = one.vae.importanceWeightedLossTerms(x, tf.randomNormal([200 * 20, 8], 0, 1, 'float32', 1) as tf.Tensor2D, 20, 1);
  const elbo = one.vae.lossTerms(x, tf.randomNormal([200, 8], 0, 1, 'float32', 2) as tf.Tensor2D, 1);
  expect(iwae.loss.dataSync()[0]).toBeLessThan(elbo.loss.dataSync()[0] - 1);
});
