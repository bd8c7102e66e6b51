/**
 * M2's objective (Kingma et al. 2014) against hand-computed values and against the formulas written out in
 * plain JavaScript, independently of the tensor code.
 */
import * as tf from '@tensorflow/tfjs';
import { splitLabelled } from '../../src/data/labelled';
import { activeDims, sampleCodes } from '../../src/model/m1m2';
import { Rng } from '../../src/rng';
import { semiSupervisedTerms, semiWeights, termsWithEveryLabel, unlabelledBound } from '../../src/model/m2';
import type { ModelConfig } from '../../src/model/run-config';
import { Vae } from '../../src/model/vae';
import { createModel } from '../../src/model/families/registry';
import { useTestBackend } from '../helpers/backend';

beforeAll(useTestBackend);

const value = (t: tf.Tensor) => t.dataSync()[0];

describe('U(x) = Σ_y q(y|x) L(x, y) − H(q(y|x))', () => {
  test('matches values computed by hand', () => {
    // Row 1: logits (0, ln 3) → q = (1/4, 3/4); L = (10, 20): Σ q L = 2.5 + 15 = 17.5;
    //   H = −(¼ ln ¼ + ¾ ln ¾) = 0.562335; U = 16.937665.
    // Row 2: equal logits → q = (½, ½); L = (4, 6): Σ q L = 5; H = ln 2 = 0.693147; U = 4.306853.
    // Row 3: logits (30, 0) → q ≈ (1, 9.4e-14): Σ q L ≈ L_1 = 7; H ≈ 0 (no NaN from 0 · log 0); U = 7.
    const { u, entropy } = unlabelledBound(tf.tensor2d([[0, Math.log(3)], [1.5, 1.5], [30, 0]]), tf.tensor2d([[10, 20], [4, 6], [7, 50]]));
    const us = u.dataSync();
    const hs = entropy.dataSync();
    expect(hs[0]).toBeCloseTo(0.562335, 5);
    expect(us[0]).toBeCloseTo(16.937665, 4);
    expect(hs[1]).toBeCloseTo(0.693147, 5);
    expect(us[1]).toBeCloseTo(4.306853, 4);
    expect(hs[2]).toBeGreaterThanOrEqual(0);
    expect(hs[2]).toBeLessThan(1e-10);
    expect(us[2]).toBeCloseTo(7, 4);
  });

  test('is minimised over q by the posterior q ∝ exp(−L), where it equals −log Σ_y exp(−L(x, y))', () => {
    const L = [3, 1, 2.5];
    const logSumExp = Math.log(L.reduce((s, l) => s + Math.exp(-l), 0));
    const posterior = tf.tensor2d([L.map((l) => -l)]);
    expect(value(unlabelledBound(posterior, tf.tensor2d([L])).u)).toBeCloseTo(-logSumExp, 4);
    for (const other of [[0, 0, 0], [-3, -1, -2], [-1, -2, -2.5]]) {
      expect(value(unlabelledBound(tf.tensor2d([other]), tf.tensor2d([L])).u)).toBeGreaterThan(-logSumExp + 1e-3);
    }
  });
});

/** A layer's kernel (rows: inputs) and bias, read from the model. */
function layer(model: tf.LayersModel, name: string): { w: number[][]; b: number[] } {
  const [w, b] = model.getLayer(name).getWeights();
  return { w: w.arraySync() as number[][], b: b.arraySync() as number[] };
}
const affine = (x: number[], { w, b }: { w: number[][]; b: number[] }) => b.map((bj, j) => bj + x.reduce((s, xi, i) => s + xi * w[i][j], 0));
const relu = (v: number[]) => v.map((a) => Math.max(0, a));
const sigmoid = (l: number) => 1 / (1 + Math.exp(-l));
const bce = (x: number[], logits: number[]) => -x.reduce((s, xi, i) => s + xi * Math.log(sigmoid(logits[i])) + (1 - xi) * Math.log(1 - sigmoid(logits[i])), 0);
const klToPrior = (mu: number[], lv: number[]) => mu.reduce((s, m, j) => s + 0.5 * (m * m + Math.exp(lv[j]) - 1 - lv[j]), 0);
const softmax = (l: number[]) => {
  const m = Math.max(...l);
  const e = l.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};

describe('the M2 objective', () => {
  const classes = 3;
  const config: ModelConfig = { family: 'm2', arch: 'mlp', inputShape: [1, 4, 1], hidden: [5], zDim: 2, likelihood: 'bernoulli',
    condition: { kind: 'label', classes } };
  const xs = [[0.1, 0.9, 0.4, 0], [1, 0.3, 0.7, 0.2]];
  const eps = (i: number, k: number) => [0.3 * (i + 1) - 0.2 * k, -0.5 + 0.4 * k * i];

  /** L(x, y) = −log p(x|y, z) + KL − log p(y) with one z = μ + σ ε, written out with the model's weights. */
  function referenceL(vae: Vae, x: number[], k: number, e: number[]): { rec: number; kl: number } {
    const gaussian = vae.config.likelihood === 'gaussian';
    const y = Array.from({ length: classes }, (_, j) => (j === k ? 1 : 0));
    const h = relu(affine([...x, ...y], layer(vae.encoder, 'enc_hidden_1')));
    const mu = affine(h, layer(vae.encoder, 'mu'));
    const lv = affine(h, layer(vae.encoder, 'logvar'));
    const z = mu.map((m, j) => m + Math.exp(lv[j] / 2) * e[j]);
    const out = affine(relu(affine([...z, ...y], layer(vae.decoder, 'dec_hidden_1'))), layer(vae.decoder, 'logits'));
    // Gaussian: outputs μ (first half) and log σ² (second half); −log N(x; μ, σ²) = Σ ½ (ln 2π + log σ² + (x − μ)²/σ²).
    const rec = gaussian ? x.reduce((s, xi, j) => s + 0.5 * (Math.log(2 * Math.PI) + out[x.length + j] +
      (xi - out[j]) ** 2 / Math.exp(out[x.length + j])), 0) : bce(x, out);
    return { rec, kl: klToPrior(mu, lv) };
  }
  const referenceQ = (vae: Vae, x: number[]) =>
    softmax(affine(relu(affine(x, layer(vae.classifier!, 'cls_hidden_1'))), layer(vae.classifier!, 'class_logits')));

  test.each(['bernoulli', 'gaussian'] as const)('one batched pass gives L(x, y) of every label, as the formula does label by label (%s)', (likelihood) => {
    const vae = createModel({ ...config, likelihood }, 3);
    const epsRows = xs.flatMap((_, i) => Array.from({ length: classes }, (__, k) => eps(i, k)));
    const { rec, kl } = termsWithEveryLabel(vae, tf.tensor2d(xs), tf.tensor2d(epsRows));
    expect(rec.shape).toEqual([2, classes]);
    const r = rec.arraySync() as number[][];
    const q = kl.arraySync() as number[][];
    xs.forEach((x, i) => {
      for (let k = 0; k < classes; k++) {
        const ref = referenceL(vae, x, k, eps(i, k));
        expect(r[i][k]).toBeCloseTo(ref.rec, 4);
        expect(q[i][k]).toBeCloseTo(ref.kl, 4);
      }
    });
  });

  test('the loss weighs Σ U, Σ L and the cross-entropy as the formula says', () => {
    const vae = createModel(config, 4);
    const weights = { unlabelled: 0.7, labelled: 0.2, classification: 3 };
    const unlabelledX = xs[0];
    const labelledX = xs[1];
    const label = 2;
    const epsU = Array.from({ length: classes }, (_, k) => eps(0, k));
    const epsL = eps(1, 5);
    const t = semiSupervisedTerms(vae, {
      unlabelled: { x: tf.tensor2d([unlabelledX]), eps: tf.tensor2d(epsU) },
      labelled: { x: tf.tensor2d([labelledX]), y: tf.tensor2d([[0, 0, 1]]), eps: tf.tensor2d([epsL]) },
    }, weights);
    const logPy = Math.log(classes);
    const Ls = epsU.map((e, k) => referenceL(vae, unlabelledX, k, e));
    const q = referenceQ(vae, unlabelledX);
    const entropy = -q.reduce((s, p) => s + p * Math.log(p), 0);
    const U = q.reduce((s, p, k) => s + p * (Ls[k].rec + Ls[k].kl + logPy), 0) - entropy;
    const labelled = referenceL(vae, labelledX, label, epsL);
    const L = labelled.rec + labelled.kl + logPy;
    const ce = -Math.log(referenceQ(vae, labelledX)[label]);
    expect(value(t.uSum)).toBeCloseTo(U, 3);
    expect(value(t.recSum)).toBeCloseTo(q.reduce((s, p, k) => s + p * Ls[k].rec, 0), 3);
    expect(value(t.klSum)).toBeCloseTo(q.reduce((s, p, k) => s + p * Ls[k].kl, 0), 3);
    expect(value(t.lSum)).toBeCloseTo(L, 3);
    expect(value(t.ceSum)).toBeCloseTo(ce, 4);
    expect(value(t.loss)).toBeCloseTo(0.7 * U + 0.2 * L + 3 * ce, 3);
  });

  test("the weights make a step estimate J^α / N, as in the paper's code (1 labelled and 499 unlabelled per batch)", () => {
    // nips14-ssl: 100 minibatches of 50,000 images; the code scales (Σ L + β Σ log q) · 100 / 50,000 with
    // β = α · N / N_l for the labelled pair, and Σ U · 100 / 50,000.
    const w = semiWeights(49900, 100, 499, 1, 0.1 * 50000);
    expect(w.unlabelled).toBeCloseTo(100 / 50000, 12);
    expect(w.labelled).toBeCloseTo(100 / 50000, 12);
    expect(w.classification).toBeCloseTo(((0.1 * 50000) / 100) * (100 / 50000), 12);
    // Any other batch split gives the same expected loss: each part stands for its whole set.
    const other = semiWeights(49900, 100, 128, 100, 5000);
    expect(other.unlabelled * 128).toBeCloseTo(49900 / 50000, 12);
    expect(other.labelled * 100).toBeCloseTo(100 / 50000, 12);
    expect(other.classification * 100).toBeCloseTo(0.1, 12);
  });

  test('the gradient reaches the classifier through U(x) alone', () => {
    const vae = createModel(config, 5);
    const classifierVars = vae.classifier!.trainableWeights.map((w) => w.read() as tf.Variable);
    const { grads } = tf.variableGrads(() => semiSupervisedTerms(vae, {
      unlabelled: { x: tf.tensor2d(xs), eps: tf.tensor2d(xs.flatMap((_, i) => Array.from({ length: classes }, (__, k) => eps(i, k)))) },
    }, { unlabelled: 1, labelled: 0, classification: 0 }).loss, classifierVars);
    const norm = classifierVars.reduce((s, v) => s + (tf.sum(tf.square(grads[v.name])).arraySync() as number), 0);
    expect(norm).toBeGreaterThan(1e-8);
  });
});

describe('the labelled images', () => {
  const labels = Uint8Array.from({ length: 500 }, (_, i) => (i * 7) % 10);

  test('are balanced over the classes, picked by the seed, and the rest is unlabelled', () => {
    const a = splitLabelled(labels, 10, 100, 1);
    expect(a.labelled.length).toBe(100);
    expect(a.unlabelled.length).toBe(400);
    const perClass = new Array(10).fill(0);
    a.labelled.forEach((i) => perClass[labels[i]]++);
    expect(perClass).toEqual(new Array(10).fill(10));
    expect(new Set([...a.labelled, ...a.unlabelled]).size).toBe(500);
    expect(Array.from(splitLabelled(labels, 10, 100, 1).labelled)).toEqual(Array.from(a.labelled));
    expect(Array.from(splitLabelled(labels, 10, 100, 2).labelled)).not.toEqual(Array.from(a.labelled));
  });

  test('a count that does not divide evenly gives the first classes one more; too many is an error', () => {
    const perClass = new Array(10).fill(0);
    splitLabelled(labels, 10, 23, 1).labelled.forEach((i) => perClass[labels[i]]++);
    expect(perClass).toEqual([3, 3, 3, 2, 2, 2, 2, 2, 2, 2]);
    expect(() => splitLabelled(labels, 10, 510, 1)).toThrow(/class 0/);
    expect(() => splitLabelled(labels, 10, 5, 1)).toThrow(/one label per class/);
  });
});

describe("M1+M2's inputs", () => {
  test('codes are drawn as z1 = μ + σ ε from each image\'s q(z1|x), in the order asked', () => {
    const codes = { mean: Float32Array.from([1, 2, -1, 0.5]), logvar: Float32Array.from([0, Math.log(4), Math.log(0.25), 0]) };
    const out = new Float32Array(4);
    sampleCodes(codes, 2, [1, 0], 0, 2, out, new Rng(7, 'test'));
    const eps = new Rng(7, 'test').normals(4);
    // row 1 first (μ = (−1, 0.5), σ = (0.5, 1)), then row 0 (μ = (1, 2), σ = (1, 2))
    const expected = [-1 + 0.5 * eps[0], 0.5 + eps[1], 1 + eps[2], 2 + 2 * eps[3]];
    expected.forEach((v, i) => expect(out[i]).toBeCloseTo(v, 5));
  });

  test('only the dimensions of M1 whose mean code varies (std > 0.1) are kept', () => {
    // An M1 without hidden layers: μ = x·W + b. Dimension 0 follows x (std 0.5 over the images), dimension 1
    // barely moves (std 0.05), dimension 2 is constant.
    const m1 = createModel({ family: 'vae', arch: 'mlp', inputShape: [1, 1, 1], hidden: [], zDim: 3, likelihood: 'bernoulli' }, 1);
    m1.encoder.getLayer('mu').setWeights([tf.tensor2d([[1, 0.1, 0]]), tf.tensor1d([0, 0, 0.7])]);
    const x = Float32Array.from([0, 1, 0, 1]); // std 0.5
    expect(activeDims(m1, x, 4)).toEqual([0]);
    m1.encoder.getLayer('mu').setWeights([tf.tensor2d([[1, 0.3, 0]]), tf.tensor1d([0, 0, 0.7])]);
    expect(activeDims(m1, x, 4)).toEqual([0, 1]);
  });
});
