/** VQ-VAE's loss terms, gradients and quantizer against values computed by hand (threads: test/engine/threads.test.ts). */
import * as tf from '@tensorflow/tfjs';
import { createModel } from '../../../src/model/families/registry';
import { vqLossTerms } from '../../../src/model/families/vqvae';
import type { ModelConfig } from '../../../src/model/run-config';
import { Vae } from '../../../src/model/vae';
import { useTestBackend } from '../../helpers/backend';

beforeAll(useTestBackend);

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
const softplus = (v: number) => Math.log1p(Math.exp(v));

/**
 * Two pixels, no hidden layer, two latent values cut into entries of one value, a codebook of 3:
 * z_e = x (identity encoder), entries 0, 0.5, 1, decoder logits = z_q · W_d + b_d.
 */
function tinyModel(): Vae {
  const config: ModelConfig = { family: 'vqvae', arch: 'mlp', inputShape: [1, 2, 1], hidden: [], zDim: 2, likelihood: 'bernoulli',
    options: { codebookSize: 3, codeDim: 1, commitment: 0.25 } };
  const vae = createModel(config, 1);
  const set = (net: tf.LayersModel, layer: string, values: number[][][]) =>
    net.getLayer(layer).setWeights(values.map((v) => tf.tensor(v.flat(), [v.length, v[0].length]).reshape(
      net.getLayer(layer).getWeights()[values.indexOf(v)].shape)));
  set(vae.encoder, 'mu', [[[1, 0], [0, 1]], [[0, 0]]]);
  set(vae.decoder, 'logits', [[[1, -1], [2, 0.5]], [[0.1, -0.2]]]);
  set(vae.extras.codebook, 'entries', [[[0, 0.5, 1]]]);
  return vae;
}

test('the quantizer replaces each entry of a code by its nearest codebook entry', () => {
  const vae = tinyModel();
  const code = tf.tensor2d([[0.2, 0.9], [0.6, 0.26]]);
  expect(Array.from(vae.quantizer!.quantize(code).dataSync())).toEqual([0, 1, 0.5, 0.5]);
  expect(Array.from(vae.quantizer!.indices(code))).toEqual([0, 2, 1, 1]);
  expect([vae.quantizer!.size, vae.quantizer!.slots]).toEqual([3, 2]);
  // reconstruct and interpolate decode the quantised code
  expect(Array.from(vae.encodeMean(tf.tensor2d([[0.2, 0.9]])).dataSync())).toEqual([0, 1]);
});

test('the loss is −log p(x|z_q) + ‖sg[z_e] − z_q‖² + β‖z_e − sg[z_q]‖², with straight-through and codebook gradients', () => {
  const vae = tinyModel();
  const x = [0.2, 0.9];
  // z_e = (0.2, 0.9) → entries 0 and 1: z_q = (0, 1).
  const ze = [0.2, 0.9];
  const zq = [0, 1];
  const Wd = [[1, -1], [2, 0.5]];
  const logits = [0, 1].map((j) => zq[0] * Wd[0][j] + zq[1] * Wd[1][j] + [0.1, -0.2][j]); // (2.1, 0.3)
  const rec = logits.reduce((a, l, j) => a + softplus(l) - x[j] * l, 0);
  const squared = (0.2 - 0) ** 2 + (0.9 - 1) ** 2; // 0.05, the codebook and the commitment term alike
  const vq = squared + 0.25 * squared;

  const variables = vae.trainableVariables();
  const { value, grads } = tf.variableGrads(() => {
    const t = vqLossTerms(vae, tf.tensor2d([x]), 1);
    expect(t.recSum.dataSync()[0]).toBeCloseTo(rec, 5);
    expect(t.klSum.dataSync()[0]).toBeCloseTo(vq, 6);
    return t.loss;
  }, variables);
  expect(value.dataSync()[0]).toBeCloseTo(rec + vq, 5);

  const dLogits = logits.map((l, j) => sigmoid(l) - x[j]);
  // The reconstruction's gradient at z_q, copied to z_e, plus the commitment term's 2β(z_e − z_q).
  const dzq = [0, 1].map((i) => dLogits[0] * Wd[i][0] + dLogits[1] * Wd[i][1]);
  const dze = dzq.map((g, i) => g + 2 * 0.25 * (ze[i] - zq[i]));
  const byName = (net: tf.LayersModel, layer: string, i: number) => Array.from(grads[(net.getLayer(layer).trainableWeights[i].read() as tf.Variable).name].dataSync());
  const close = (got: number[], want: number[]) => want.forEach((w, i) => expect(got[i]).toBeCloseTo(w, 5));
  close(byName(vae.encoder, 'mu', 0), [x[0] * dze[0], x[0] * dze[1], x[1] * dze[0], x[1] * dze[1]]);
  close(byName(vae.encoder, 'mu', 1), dze);
  close(byName(vae.decoder, 'logits', 0), [zq[0] * dLogits[0], zq[0] * dLogits[1], zq[1] * dLogits[0], zq[1] * dLogits[1]]);
  close(byName(vae.decoder, 'logits', 1), dLogits);
  // Only the codebook term reaches the entries: 2(e_k − z_e) for the codes that chose entry k; entry 0.5 was not chosen.
  close(byName(vae.extras.codebook, 'entries', 0), [2 * (0 - 0.2), 0, 2 * (1 - 0.9)]);
});
