/**
 * The importance-weighted objective on the GPU (IWAE, Burda et al. 2015; Vae.importanceWeightedLossTerms): K
 * samples z_k = μ + σ ⊙ ε_k per example, decoded on n·K rows; loss = −log (1/K) Σ_k w_k with
 * log w_k = log p(x|z_k) + β (log p(z_k) − log q(z_k|x)), its gradient through the normalised weights.
 */
import { STEP_STATS } from '../../../model/families/family';
import { BATCH_SLOTS } from '../../engine';
import { iwReparameterizeGradKernel, iwReparameterizeKernel, iwWeightsKernel } from '../gaussian';
import { likelihoodKernel } from '../likelihoods';
import { statsKernel } from '../stats';
import { gaussianSamples } from './code';
import type { StepInputs } from './inputs';
import { ObjectiveStep, StepContext, checkTask, perRow, writeNoise } from './objective';

export function iwaeStep(ctx: StepContext, inputs: StepInputs, K: number): ObjectiveStep {
  const { Z } = ctx.model;
  const { rows, decRows } = ctx.plan;
  const take = (floats: number) => ctx.mem.take(floats);
  const { code, eps, zLd, z } = gaussianSamples(ctx, inputs);
  const dz = take(decRows * zLd); // the decoder's input gradient, each sample's: summed over them below
  // Per example, the K-sample means of −log p(x|z) and of log q − log p (the statistics), and the loss.
  const rec = take(rows);
  const kl = take(rows);
  // Per decoder row −log p(x|z), log p(z) − log q(z|x) and the weight w̃ / n; per example the loss.
  const iw = { rec: take(decRows), lpq: take(decRows), wt: take(decRows), loss: take(rows) };
  const stats = take(STEP_STATS * BATCH_SLOTS);
  const last = ctx.dec.length - 1;
  const [logits, dlogits] = [ctx.decH[last], ctx.dDecH[last]];
  return {
    encoderInput: inputs.encoder, decoderInput: z, dDecoderInput: dz, inputs: inputs.kernels,
    latent: [...code.forward, perRow('reparameterize K samples', iwReparameterizeKernel({ mu: code.mu, logvar: code.logvar, eps, z, lpq: iw.lpq,
      zDim: Z, zLd, samples: K }), 'nk')],
    likelihood: [likelihoodKernel(ctx.model.likelihood, { logits, x: inputs.target, dlogits, rec: iw.rec, dim: inputs.out, samples: K }, 'nk'),
      { name: 'importance weights', source: iwWeightsKernel({ rec: iw.rec, lpq: iw.lpq, dlogits, dim: inputs.out, wt: iw.wt, loss: iw.loss, recEx: rec,
        klEx: kl, samples: K }), groups: (n) => [n, 1] }],
    latentBackward: [perRow('reparameterize K samples dμ, dlog σ²', iwReparameterizeGradKernel({ logvar: code.logvar, eps, z, dz, zLd, wt: iw.wt,
      dmu: code.dmu, dlogvar: code.dlogvar, zDim: Z, samples: K }), 'n', Z), ...code.backward],
    networksBackward: [],
    statistics: [statsKernel({ rec, kl, stats, loss: iw.loss })],
    stats, gathered: inputs.gathered, noise: { at: eps, rows: 'nk' },
    upload(write, slot, task) {
      checkTask(task, K, false);
      inputs.upload(write, slot, task.n, { z, K });
      writeNoise(write, eps, slot.eps, task.n * K * Z);
      return { n: task.n, nk: task.n * K };
    },
  };
}
