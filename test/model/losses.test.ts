import * as tf from '@tensorflow/tfjs';
import { bernoulliNllFromLogits, gaussianNll, klToStdNormal, reparameterize, gaussianNllFixed, sparsityPenalty } from '../../src/model/losses';
import { useTestBackend } from '../helpers/backend';

beforeAll(useTestBackend);

const sigmoid = (l: number) => 1 / (1 + Math.exp(-l));

describe('klToStdNormal', () => {
  test('is zero when q is the prior', () => {
    const kl = klToStdNormal(tf.zeros([2, 5]) as tf.Tensor2D, tf.zeros([2, 5]) as tf.Tensor2D).arraySync();
    expect(kl[0]).toBeCloseTo(0, 6);
    expect(kl[1]).toBeCloseTo(0, 6);
  });

  test('matches values computed by hand', () => {
    // Row 1: μ = (1, 0), σ² = (1, 1): ½ Σ (σ² + μ² − 1 − log σ²) = ½ (1 + 1 − 1 − 0) + 0 = 0.5.
    // Row 2: μ = (0.5, −2), log σ² = (log 2, −1):
    //   ½ [(2 + 0.25 − 1 − log 2) + (e^{-1} + 4 − 1 + 1)] = ½ [0.556853 + 4.367879] = 2.462366.
    const mu = tf.tensor2d([[1, 0], [0.5, -2]]);
    const logvar = tf.tensor2d([[0, 0], [Math.log(2), -1]]);
    const kl = klToStdNormal(mu, logvar).arraySync();
    expect(kl[0]).toBeCloseTo(0.5, 5);
    expect(kl[1]).toBeCloseTo(2.462366, 5);
  });

  test('agrees with a Monte Carlo estimate of E_q[log q(z) − log p(z)]', () => {
    const mu = [0.7, -1.2, 0.1];
    const logvar = [-0.5, 0.3, -2];
    const n = 200000;
    let sum = 0;
    let state = 12345;
    const uniform = () => { state = (Math.imul(state, 1664525) + 1013904223) >>> 0; return (state + 0.5) / 4294967296; };
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < 3; j++) {
        const eps = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
        const z = mu[j] + Math.exp(0.5 * logvar[j]) * eps;
        const logq = -0.5 * (Math.log(2 * Math.PI) + logvar[j] + eps * eps);
        const logp = -0.5 * (Math.log(2 * Math.PI) + z * z);
        sum += logq - logp;
      }
    }
    const kl = klToStdNormal(tf.tensor2d([mu]), tf.tensor2d([logvar])).arraySync()[0];
    expect(Math.abs(kl - sum / n)).toBeLessThan(0.02);
  });
});

describe('bernoulliNllFromLogits', () => {
  test('matches −Σ [x log σ(l) + (1 − x) log(1 − σ(l))] computed directly', () => {
    const logits = [[0, 2, -3, 0.5], [1.5, -0.2, 4, -1]];
    const x = [[0, 1, 0.25, 1], [1, 0, 0.9, 0.5]];
    const expected = logits.map((row, i) => row.reduce((s, l, j) => {
      const p = sigmoid(l);
      return s - (x[i][j] * Math.log(p) + (1 - x[i][j]) * Math.log(1 - p));
    }, 0));
    const nll = bernoulliNllFromLogits(tf.tensor2d(logits), tf.tensor2d(x)).arraySync();
    expect(nll[0]).toBeCloseTo(expected[0], 4);
    expect(nll[1]).toBeCloseTo(expected[1], 4);
  });

  test('one pixel by hand: l = 0, x = 1 costs log 2', () => {
    expect(bernoulliNllFromLogits(tf.tensor2d([[0]]), tf.tensor2d([[1]])).arraySync()[0]).toBeCloseTo(Math.LN2, 6);
  });

  test('stays finite and exact for extreme logits', () => {
    // l = 100, x = 0: −log(1 − σ(100)) ≈ 100; l = −100, x = 0: ≈ e^{-100} ≈ 0.
    const nll = bernoulliNllFromLogits(tf.tensor2d([[100], [-100], [100]]), tf.tensor2d([[0], [0], [1]])).arraySync();
    expect(nll[0]).toBeCloseTo(100, 3);
    expect(nll[1]).toBeCloseTo(0, 6);
    expect(nll[2]).toBeCloseTo(0, 6);
  });
});

describe('reparameterize', () => {
  test('z = μ + exp(½ log σ²) ε', () => {
    const z = reparameterize(tf.tensor2d([[1, -1]]), tf.tensor2d([[Math.log(4), 0]]), tf.tensor2d([[0.5, 2]])).arraySync();
    expect(z[0][0]).toBeCloseTo(1 + 2 * 0.5, 6);
    expect(z[0][1]).toBeCloseTo(-1 + 1 * 2, 6);
  });

  test('gradients flow to μ and log σ²: ∂z/∂μ = 1, ∂z/∂log σ² = ½ σ ε', () => {
    const eps = tf.tensor2d([[0.3, -1.5, 2]]);
    const mu = tf.tensor2d([[0.1, 0.2, 0.3]]);
    const logvar = tf.tensor2d([[0, Math.log(0.25), 1]]);
    const grads = tf.grads((m: tf.Tensor, lv: tf.Tensor) => tf.sum(reparameterize(m as tf.Tensor2D, lv as tf.Tensor2D, eps)));
    const [dMu, dLogvar] = grads([mu, logvar]).map((g) => g.arraySync() as number[][]);
    expect(dMu[0]).toEqual([1, 1, 1]);
    const sigma = [1, 0.5, Math.exp(0.5)];
    [0.3, -1.5, 2].forEach((e, j) => expect(dLogvar[0][j]).toBeCloseTo(0.5 * sigma[j] * e, 5));
  });
});

describe('closed-form gradients of the loss terms', () => {
  const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.max(tf.abs(tf.sub(a, b))).arraySync() as number;

  test('BCE: equal to autodiff of −Σ [x log σ(l) + (1 − x) log(1 − σ(l))], weighted per example', () => {
    const logits = tf.randomNormal([4, 6], 0, 3, 'float32', 11) as tf.Tensor2D;
    const x = tf.randomUniform([4, 6], 0, 1, 'float32', 12) as tf.Tensor2D;
    const weights = tf.tensor1d([1, -2, 0.5, 3]); // a non-trivial dy
    const reference = (l: tf.Tensor, xs: tf.Tensor) => {
      const p = tf.sigmoid(l);
      return tf.sum(tf.mul(weights, tf.neg(tf.sum(tf.add(tf.mul(xs, tf.log(p)), tf.mul(tf.sub(1, xs), tf.log(tf.sub(1, p)))), 1))));
    };
    const ours = (l: tf.Tensor, xs: tf.Tensor) => tf.sum(tf.mul(weights, bernoulliNllFromLogits(l as tf.Tensor2D, xs as tf.Tensor2D)));
    const [gl, gx] = tf.grads(ours)([logits, x]);
    const [rl, rx] = tf.grads(reference)([logits, x]);
    expect(maxDiff(gl, rl)).toBeLessThan(1e-4);
    expect(maxDiff(gx, rx)).toBeLessThan(1e-3);
  });

  test('KL: equal to autodiff of −½ Σ (1 + log σ² − μ² − σ²), weighted per example', () => {
    const mu = tf.randomNormal([3, 5], 0, 1, 'float32', 13) as tf.Tensor2D;
    const logvar = tf.randomNormal([3, 5], 0, 1, 'float32', 14) as tf.Tensor2D;
    const weights = tf.tensor1d([2, 0.3, -1]);
    const reference = (m: tf.Tensor, lv: tf.Tensor) =>
      tf.sum(tf.mul(weights, tf.mul(-0.5, tf.sum(tf.sub(tf.sub(tf.add(1, lv), tf.square(m)), tf.exp(lv)), 1))));
    const ours = (m: tf.Tensor, lv: tf.Tensor) => tf.sum(tf.mul(weights, klToStdNormal(m as tf.Tensor2D, lv as tf.Tensor2D)));
    const [gm, glv] = tf.grads(ours)([mu, logvar]);
    const [rm, rlv] = tf.grads(reference)([mu, logvar]);
    expect(maxDiff(gm, rm)).toBeLessThan(1e-5);
    expect(maxDiff(glv, rlv)).toBeLessThan(1e-5);
  });
});

describe('gaussianNll', () => {
  test('matches −log N(x; μ, σ²) computed by hand, summed over the values', () => {
    // x = 1.5, μ = 0.5, σ² = 4: ½ (ln 2π + ln 4 + 1/4) = ½ (1.837877 + 1.386294 + 0.25) = 1.737086
    // x = −1, μ = 0, σ² = 1: ½ (ln 2π + 0 + 1) = 1.418939
    const out = gaussianNll(tf.tensor2d([[0.5, 0, Math.log(4), 0]]), tf.tensor2d([[1.5, -1]]));
    expect(out.shape).toEqual([1]);
    expect(out.dataSync()[0]).toBeCloseTo(1.737086 + 1.418939, 5);
  });
});

describe('sparsityPenalty', () => {
  test('matches Σ_j KL(ρ || mean activation of unit j) computed by hand', () => {
    // Unit 1: activations 0.1, 0.3 → ρ̂ = 0.2; unit 2: 0.05, 0.05 → ρ̂ = 0.05 (= ρ, no penalty).
    // KL(0.05 || 0.2) = 0.05 ln(0.05/0.2) + 0.95 ln(0.95/0.8) = −0.0693147 + 0.1632587 = 0.0939440.
    const code = tf.tensor2d([[0.1, 0.05], [0.3, 0.05]]);
    expect(sparsityPenalty(code, 0.05).dataSync()[0]).toBeCloseTo(0.093944, 5);
  });

  test('is zero at the target and grows on either side of it', () => {
    const at = (m: number) => sparsityPenalty(tf.fill([4, 3], m) as tf.Tensor2D, 0.1).dataSync()[0];
    expect(at(0.1)).toBeCloseTo(0, 6);
    expect(at(0.3)).toBeGreaterThan(at(0.2));
    expect(at(0.05)).toBeGreaterThan(0);
    expect(Number.isFinite(at(0))).toBe(true); // a dead unit: large but finite
  });
});

describe('gaussianNllFixed', () => {
  test('matches Σ ½ (log 2π + log σ² + (x − μ)² / σ²) computed by hand', () => {
    // x = (0.2, 0.9), μ = (0.5, 0.8), σ = 0.1: squared errors 0.09 and 0.01 → (0.10) / (2 · 0.01) = 5;
    // constant 2 · ½ (log 2π + 2 log 0.1) = 1.837877 − 4.605170 = −2.767293; total 2.232707.
    const nll = gaussianNllFixed(tf.tensor2d([[0.5, 0.8]]), tf.tensor2d([[0.2, 0.9]]), 0.1).dataSync();
    expect(nll[0]).toBeCloseTo(2.232707, 4);
  });
});
