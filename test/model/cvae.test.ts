import * as tf from '@tensorflow/tfjs';
import { composeImages, conditionLayout, gatherColumns, observedMask, oneHot } from '../../src/model/condition';
import type { ModelConfig } from '../../src/model/run-config';
import { Vae } from '../../src/model/vae';
import { createModel } from '../../src/model/families/registry';
import { useTestBackend } from '../helpers/backend';

beforeAll(useTestBackend);

const sigmoid = (l: number) => 1 / (1 + Math.exp(-l));
/** −Σ [x log σ(l) + (1 − x) log(1 − σ(l))], directly from the definition. */
const bce = (x: number[], logits: number[]) => -x.reduce((s, xi, i) => s + xi * Math.log(sigmoid(logits[i])) + (1 - xi) * Math.log(1 - sigmoid(logits[i])), 0);
/** KL(N(μ, e^lv) || N(0, 1)) for one dimension: ½ (μ² + e^lv − 1 − lv). */
const kl1 = (mu: number, lv: number) => 0.5 * (mu * mu + Math.exp(lv) - 1 - lv);
/** x·W + b for a row x and W given as rows. */
const affine = (x: number[], w: number[][], b: number[]) => b.map((bj, j) => bj + x.reduce((s, xi, i) => s + xi * w[i][j], 0));

/** Sets a model without hidden layers to the given weights (kernels as rows of [inputs, outputs]). */
function setWeights(vae: Vae, w: { mu: number[][]; muB: number[]; lv: number[][]; lvB: number[]; dec: number[][]; decB: number[] }): void {
  const set = (model: tf.LayersModel, name: string, kernel: number[][], bias: number[]) =>
    model.getLayer(name).setWeights([tf.tensor2d(kernel), tf.tensor1d(bias)]);
  set(vae.encoder, 'mu', w.mu, w.muB);
  set(vae.encoder, 'logvar', w.lv, w.lvB);
  set(vae.decoder, 'logits', w.dec, w.decB);
}

describe('the conditional VAE on a label', () => {
  const config: ModelConfig = { family: 'cvae', arch: 'mlp', inputShape: [1, 2, 1], hidden: [], zDim: 1, likelihood: 'bernoulli',
    condition: { kind: 'label', classes: 2 } };
  const weights = {
    mu: [[0.5], [-0.3], [0.8], [-0.6]], muB: [0.1], // rows: x₁, x₂, y₁, y₂
    lv: [[0.2], [0.4], [-1.0], [0.3]], lvB: [-0.2],
    dec: [[1.5, -0.5], [0.7, 0.2], [-0.4, 1.1]], decB: [0.05, -0.1], // rows: z, y₁, y₂
  };

  test('its loss terms match values computed by hand', () => {
    const vae = createModel(config, 1);
    setWeights(vae, weights);
    // x = (0.2, 0.9), y = label 1 = (0, 1), ε = 0.5:
    //   μ = 0.2·0.5 + 0.9·(−0.3) + 1·(−0.6) + 0.1 = −0.67;  log σ² = 0.04 + 0.36 + 0.3 − 0.2 = 0.5
    //   z = −0.67 + e^0.25 · 0.5 = −0.027987;  logits = (1.5z − 0.4 + 0.05, −0.5z + 1.1 − 0.1) = (−0.391981, 1.013994)
    //   −log p(x|z, y) = 1.005554;  KL = ½ (0.4489 + e^0.5 − 1 − 0.5) = 0.298811
    const t = vae.lossTerms(tf.tensor2d([[0.2, 0.9]]), tf.tensor2d([[0.5]]), 2, 1, tf.tensor2d([[0, 1]]));
    expect(t.recSum.dataSync()[0]).toBeCloseTo(1.005554, 4);
    expect(t.klSum.dataSync()[0]).toBeCloseTo(0.298811, 4);
    expect(t.loss.dataSync()[0]).toBeCloseTo(1.005554 + 2 * 0.298811, 4);
  });

  test('every example uses its own label: a batch matches the formula row by row', () => {
    const vae = createModel(config, 1);
    setWeights(vae, weights);
    const xs = [[0.2, 0.9], [1, 0], [0.5, 0.5]];
    const labels = [1, 0, 0];
    const eps = [0.5, -1.2, 0.3];
    let expectedRec = 0;
    let expectedKl = 0;
    xs.forEach((x, i) => {
      const y = labels[i] === 0 ? [1, 0] : [0, 1];
      const [mu] = affine([...x, ...y], weights.mu, weights.muB);
      const [lv] = affine([...x, ...y], weights.lv, weights.lvB);
      const z = mu + Math.exp(lv / 2) * eps[i];
      expectedRec += bce(x, affine([z, ...y], weights.dec, weights.decB));
      expectedKl += kl1(mu, lv);
    });
    const t = vae.lossTerms(tf.tensor2d(xs), tf.tensor2d(eps, [3, 1]), 1, 3, tf.tensor2d(oneHot(labels, 2), [3, 2]));
    expect(t.recSum.dataSync()[0]).toBeCloseTo(expectedRec, 4);
    expect(t.klSum.dataSync()[0]).toBeCloseTo(expectedKl, 4);
    expect(t.loss.dataSync()[0]).toBeCloseTo((expectedRec + expectedKl) / 3, 4);
  });

  test('asks for the labels instead of guessing them', () => {
    const vae = createModel(config, 1);
    expect(() => vae.lossTerms(tf.tensor2d([[0.2, 0.9]]), tf.tensor2d([[0.5]]), 1)).toThrow(/label/);
  });
});

describe('the conditional VAE on the observed half of an image', () => {
  // A 2 x 2 image, left half observed: values 0 and 2 are seen, 1 and 3 are completed.
  const config: ModelConfig = { family: 'cvae', arch: 'mlp', inputShape: [2, 2, 1], hidden: [], zDim: 1, likelihood: 'bernoulli',
    condition: { kind: 'region', region: 'left-half' } };

  test('the layout: the decoder sees z and the observed values and models only the missing ones', () => {
    const layout = conditionLayout(config.inputShape, config.condition);
    expect(Array.from(layout.observed!)).toEqual([0, 2]);
    expect(Array.from(layout.missing!)).toEqual([1, 3]);
    expect([layout.encoderExtra, layout.decoderExtra, layout.outputDim]).toEqual([0, 2, 2]);
  });

  test('its loss terms match −log p(x_missing | z, x_observed) + KL computed by hand', () => {
    const vae = createModel(config, 1);
    const weights = {
      mu: [[0.3], [-0.2], [0.5], [0.1]], muB: [0.05],
      lv: [[-0.4], [0.2], [0.1], [0.3]], lvB: [0.1],
      dec: [[1.2, -0.8], [0.4, 0.6], [-0.9, 0.3]], decB: [0.2, -0.3], // rows: z, x₀, x₂
    };
    setWeights(vae, weights);
    const x = [0.9, 0.1, 0.7, 0.4];
    const eps = 0.8;
    const [mu] = affine(x, weights.mu, weights.muB);
    const [lv] = affine(x, weights.lv, weights.lvB);
    const z = mu + Math.exp(lv / 2) * eps;
    const rec = bce([x[1], x[3]], affine([z, x[0], x[2]], weights.dec, weights.decB));
    const t = vae.lossTerms(tf.tensor2d([x]), tf.tensor2d([[eps]]), 1);
    expect(t.recSum.dataSync()[0]).toBeCloseTo(rec, 4);
    expect(t.klSum.dataSync()[0]).toBeCloseTo(kl1(mu, lv), 4);
    // The observed values are given, not predicted: changing the missing ones changes the loss, as it should.
    const other = vae.lossTerms(tf.tensor2d([[0.9, 0.8, 0.7, 0.4]]), tf.tensor2d([[eps]]), 1);
    expect(other.recSum.dataSync()[0]).not.toBeCloseTo(rec, 2);
  });
});

describe('regions and images', () => {
  test('top-half and centre masks', () => {
    expect(Array.from(observedMask([4, 4, 1], 'top-half'))).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(observedMask([4, 4, 1], 'centre'))).toEqual([1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1]);
    // Colour: all three values of a pixel together.
    expect(Array.from(observedMask([1, 2, 3], 'left-half'))).toEqual([1, 1, 1, 0, 0, 0]);
  });

  test('composing keeps the observed values exactly and fills in the missing ones', () => {
    const { observed, missing } = conditionLayout([2, 2, 1], { kind: 'region', region: 'left-half' });
    const x = Float32Array.from([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]);
    expect(Array.from(gatherColumns(x, 2, 4, observed!))).toEqual(Array.from(Float32Array.from([0.1, 0.3, 0.5, 0.7])));
    const out = composeImages(x, Float32Array.from([9, 8, 7, 6]), 2, 4, missing!);
    expect(Array.from(out)).toEqual(Array.from(Float32Array.from([0.1, 9, 0.3, 8, 0.5, 7, 0.7, 6])));
  });
});
