import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { Inputs, inputsOf, testMatrix } from '../../src/data/batches';
import { LogLikelihood, activeUnits, encodeAll, importanceWeightedLogLikelihood, vaeImportanceWeighted } from '../../src/model/likelihood';
import { EVAL_CHUNK, evaluateTestSet, vaeImportanceWeightedParallel } from '../../src/engine/evaluate';
import { createModel } from '../../src/model/families/registry';
import { LABEL_BATCH, negElboPerLabel } from '../../src/model/generate';
import { startRun } from '../../src/train/run';
import { train } from '../../src/train/train';
import { useTestBackend } from '../helpers/backend';
import { tmpDir } from '../helpers/tmp';

beforeAll(useTestBackend);

/**
 * A linear-Gaussian model with a closed-form likelihood: p(z) = N(0, I₂), p(x|z) = N(Wz + b, s²I₃), so
 * p(x) = N(b, WWᵀ + s²I) and the exact posterior is N(Σ Wᵀ(x − b)/s², Σ), Σ = (I + WᵀW/s²)⁻¹.
 */
const W = [[1.0, -0.5], [0.3, 0.8], [-0.7, 0.2]];
const b = [0.1, -0.2, 0.3];
const s2 = 0.25;
const x = [1.2, -0.4, 0.5];

function exactLogLikelihood(): number {
  // C = WWᵀ + s²I (3x3), log N(x; b, C) via Cholesky.
  const C = [0, 1, 2].map((i) => [0, 1, 2].map((j) => W[i][0] * W[j][0] + W[i][1] * W[j][1] + (i === j ? s2 : 0)));
  const L = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = C[i][j];
      for (let k = 0; k < j; k++) sum -= L[i][k] * L[j][k];
      L[i][j] = i === j ? Math.sqrt(sum) : sum / L[j][j];
    }
  }
  const r = x.map((v, i) => v - b[i]);
  const y: number[] = [];
  for (let i = 0; i < 3; i++) {
    let sum = r[i];
    for (let k = 0; k < i; k++) sum -= L[i][k] * y[k];
    y.push(sum / L[i][i]);
  }
  const quad = y.reduce((a, v) => a + v * v, 0);
  const logDet = 2 * (Math.log(L[0][0]) + Math.log(L[1][1]) + Math.log(L[2][2]));
  return -0.5 * (quad + logDet + 3 * Math.log(2 * Math.PI));
}

function exactPosterior(): { mu: number[]; logvarDiag: number[]; cov: number[][] } {
  // Σ⁻¹ = I + WᵀW/s² (2x2)
  const a = 1 + (W[0][0] ** 2 + W[1][0] ** 2 + W[2][0] ** 2) / s2;
  const d = 1 + (W[0][1] ** 2 + W[1][1] ** 2 + W[2][1] ** 2) / s2;
  const c = (W[0][0] * W[0][1] + W[1][0] * W[1][1] + W[2][0] * W[2][1]) / s2;
  const det = a * d - c * c;
  const cov = [[d / det, -c / det], [-c / det, a / det]];
  const v = [0, 1].map((j) => x.reduce((acc, xi, i) => acc + W[i][j] * (xi - b[i]), 0) / s2);
  const mu = [cov[0][0] * v[0] + cov[0][1] * v[1], cov[1][0] * v[0] + cov[1][1] * v[1]];
  return { mu, logvarDiag: [Math.log(cov[0][0]), Math.log(cov[1][1])], cov };
}

const gaussianLikelihood = (): LogLikelihood => (z) => tf.tidy(() => {
  const mean = tf.add(tf.matMul(z, tf.tensor2d(W).transpose()), tf.tensor1d(b));
  const r = tf.sub(tf.tensor1d(x), mean);
  return tf.mul(-0.5, tf.add(tf.div(tf.sum(tf.square(r), 1), s2), 3 * Math.log(2 * Math.PI * s2))) as tf.Tensor1D;
});

test('a cruder q: L_K rises with K and approaches the exact log p(x)', () => {
  const exact = exactLogLikelihood();
  const post = exactPosterior();
  // Diagonal (the posterior is correlated), shifted and too wide: L_1, the ELBO, is well below log p(x).
  const mu = Float32Array.from(post.mu.map((m) => m + 0.4));
  const logvar = Float32Array.from(post.logvarDiag.map((v) => v + 1));
  const meanOf = (k: number, draws: number) => {
    let sum = 0;
    for (let seed = 1; seed <= draws; seed++) {
      sum += importanceWeightedLogLikelihood(mu, logvar, 1, 2, () => gaussianLikelihood(), { k, seed, rowsPerCall: 20000 })[0];
    }
    return sum / draws;
  };
  const l1 = meanOf(1, 400);
  const l100 = meanOf(100, 20);
  const l20000 = meanOf(20000, 3);
  expect(exact - l1).toBeGreaterThan(0.2);
  expect(l1).toBeLessThan(l100 - 0.1);
  expect(l100).toBeLessThan(l20000 + 0.01);
  expect(Math.abs(l20000 - exact)).toBeLessThan(0.02);
});

test('with a q whose weights are all equal to p(x) (q = a 1-D exact posterior), every K gives log p(x) exactly', () => {
  // One latent dimension: p(z) = N(0,1), p(x|z) = N(wz, s²): posterior N(w x/(s² + w²), s²/(s² + w²)), p(x) = N(0, w² + s²).
  const w = 0.8, sv = 0.5, xv = 0.9;
  const postVar = sv / (sv + w * w);
  const postMu = (w * xv) / (sv + w * w);
  const like: LogLikelihood = (z) => tf.tidy(() =>
    tf.mul(-0.5, tf.add(tf.div(tf.square(tf.sub(xv, tf.mul(w, tf.reshape(z, [-1])))), sv), Math.log(2 * Math.PI * sv))) as tf.Tensor1D);
  const exact = -0.5 * (xv * xv / (w * w + sv) + Math.log(2 * Math.PI * (w * w + sv)));
  for (const k of [1, 7, 300]) {
    const lk = importanceWeightedLogLikelihood(Float32Array.of(postMu), Float32Array.of(Math.log(postVar)), 1, 1, () => like, { k })[0];
    expect(lk).toBeCloseTo(exact, 4);
  }
});

test('on a trained VAE the bound rises with K, and K = 1 agrees with the ELBO', async () => {
  const run = await startRun({ data: 'mnist', binarize: 'dynamic', zDim: 8, hidden: [64], beta: 1, epochs: 1, batchSize: 32, lr: 2e-3,
    seed: 2, klWarmup: 0, out: path.join(tmpDir(), 'iw'), limitTrain: 5000, limitTest: 100 });
  await train(run);
  const data = testMatrix(run.dataset.test, 784, 'dynamic');
  const mean = (k: number) => {
    const l = vaeImportanceWeighted(run.vae, data, 100, null, { k, seed: 1 });
    return l.reduce((a, v) => a + v, 0) / l.length;
  };
  const [l1, l10, l100] = [mean(1), mean(10), mean(100)];
  expect(l1).toBeLessThan(l10);
  expect(l10).toBeLessThan(l100);
  expect(l100 - l1).toBeGreaterThan(1); // nats
  // K = 1 is a one-sample ELBO: averaged over draws, it agrees with the ELBO computed from the loss terms
  // (closed-form KL) averaged over other draws.
  const draws = 10;
  let iwMean = 0;
  let elboMean = 0;
  for (let seed = 1; seed <= draws; seed++) {
    iwMean += vaeImportanceWeighted(run.vae, data, 100, null, { k: 1, seed: 100 + seed }).reduce((a, v) => a + v, 0) / 100 / draws;
    const sums = tf.tidy(() => {
      const t = run.vae.lossTerms(tf.tensor2d(data.subarray(0, 100 * 784), [100, 784]),
        tf.randomNormal([100, 8], 0, 1, 'float32', seed) as tf.Tensor2D, 1);
      return tf.add(t.recSum, t.klSum);
    });
    elboMean -= sums.dataSync()[0] / 100 / draws;
    sums.dispose();
  }
  expect(Math.abs(iwMean - elboMean)).toBeLessThan(1.5);

  // Split over two threads, every image draws the same samples: the same numbers.
  const one = vaeImportanceWeighted(run.vae, data, 30, null, { k: 20, seed: 5 });
  const two = await vaeImportanceWeightedParallel(run.vae, inputsOf(data.subarray(0, 30 * 784), 784), null, { k: 20, seed: 5 }, 2);
  Array.from(two).forEach((v, i) => expect(v).toBeCloseTo(one[i], 3));
});

test('active units: dimensions whose mean code does not vary are not counted', () => {
  const vae = createModel({ family: 'vae', arch: 'mlp', inputShape: [4, 4, 1], hidden: [8], zDim: 6, likelihood: 'bernoulli' }, 5);
  // Pin dimensions 0, 1 and 2 of μ: zero weights in their columns of the μ head.
  const head = vae.encoder.getLayer('mu');
  const [kernel, bias] = head.getWeights();
  const mask = tf.tensor1d([0, 0, 0, 1, 1, 1]);
  head.setWeights([tf.mul(kernel, tf.mul(mask, 30)), tf.mul(bias, mask)]);
  const n = 200;
  const data = Float32Array.from({ length: n * 16 }, (_, i) => ((i * 7919) % 13) / 12);
  const { mu } = encodeAll(vae, data, n);
  const { count, variances } = activeUnits(mu, n, 6);
  expect(variances.slice(0, 3)).toEqual([0, 0, 0]);
  expect(count).toBe(3);
});

test.each([
  ['a VAE, with importance sampling on two threads', { family: 'vae' as const }, 2],
  ['a cvae, whose labels are also inferred', { family: 'cvae' as const, condition: { kind: 'label' as const, classes: 3 } }, 1],
])('vae evaluate reads the test set a part at a time, and its report is the one of the whole set at once: %s', async (_, kind, threads) => {
  const vae = createModel({ arch: 'mlp', inputShape: [4, 4, 1], hidden: [8], zDim: 3, likelihood: 'bernoulli', ...kind }, 7);
  const n = EVAL_CHUNK + 345;
  const x = new Float32Array(n * 16).map((_, i) => ((i * 7919) % 13) / 12);
  const labels = Uint8Array.from({ length: n }, (_, i) => i % 3);
  let widest = 0;
  const parts: Inputs = { count: n, dim: 16, rows: (start, end) => {
    widest = Math.max(widest, end - start);
    return x.slice(start * 16, end * 16);
  } };
  const options = { importanceSamples: 4, seed: 2, threads };
  const whole = await evaluateTestSet(vae, inputsOf(x, 16), labels, { ...options, threads: 1 });
  const cut = await evaluateTestSet(vae, parts, labels, options);
  expect(widest).toBeLessThanOrEqual(EVAL_CHUNK);
  expect(cut).toEqual(whole);
  if (kind.family === 'cvae') {
    expect(whole.labelAccuracy).toBeGreaterThan(0);
    // The scores behind the labels, noise included: the part's are the whole's.
    const all = negElboPerLabel(vae, x, n);
    const part = negElboPerLabel(vae, x.subarray(EVAL_CHUNK * 16), n - EVAL_CHUNK, 1, LABEL_BATCH, EVAL_CHUNK);
    expect(Array.from(part)).toEqual(Array.from(all.subarray(EVAL_CHUNK * 3)));
  }
}, 60_000);
