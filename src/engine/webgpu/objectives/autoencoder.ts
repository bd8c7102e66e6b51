/**
 * The autoencoders' objective on the GPU (Vae.autoencoderLossTerms): a point code, decoded as it is, and the
 * reconstruction −log p(x|code); a denoising autoencoder encodes the corrupted images and is scored on the clean
 * ones; a sparse one's code goes through a sigmoid and adds weight · Σ_j KL(ρ || ρ̂_j) (codes.ts's sparsityKernel).
 */
import { STEP_STATS } from '../../../model/families/family';
import { BATCH_SLOTS } from '../../engine';
import { sparsityKernel } from '../codes';
import { likelihoodKernel } from '../likelihoods';
import { statsKernel } from '../stats';
import { pointCode } from './code';
import { imageInputs } from './inputs';
import { GpuObjective, StepOptions, checkTask } from './objective';

export function autoencoderObjective(spec: { denoising: boolean; sparsity?: { target: number; weight: number } }, o: StepOptions): GpuObjective {
  return {
    rows: { rows: o.rows, decRows: o.rows, decoder: 'n' }, networks: [], gathers: !spec.denoising,
    build(ctx) {
      const { Z } = ctx.model;
      const { rows } = ctx.plan;
      const inputs = imageInputs(ctx, { gather: ctx.gather, denoising: spec.denoising });
      const code = pointCode(ctx, inputs.encoder);
      const rec = ctx.mem.take(rows);
      // The penalty's share of each row (0 but for a sparse autoencoder), where a VAE's KL goes.
      const penalty = ctx.mem.take(rows);
      const stats = ctx.mem.take(STEP_STATS * BATCH_SLOTS);
      const last = ctx.dec.length - 1;
      const sparsity = spec.sparsity;
      return {
        // The decoder reads the code itself, and its gradient goes straight to the code's.
        encoderInput: inputs.encoder, decoderInput: code.mu, dDecoderInput: code.dmu, inputs: inputs.kernels,
        latent: code.forward,
        likelihood: [likelihoodKernel(ctx.model.likelihood, { logits: ctx.decH[last], x: inputs.target, dlogits: ctx.dDecH[last], rec, dim: inputs.out },
          'n')],
        latentBackward: [...(sparsity ? [{ name: 'sparsity', source: sparsityKernel({ code: code.mu, dcode: code.dmu, kl: penalty, zDim: Z, ...sparsity }),
          groups: (): [number, number] => [1, 1] }] : []), ...code.backward],
        networksBackward: [],
        statistics: [statsKernel({ rec, kl: penalty, stats })],
        stats, gathered: inputs.gathered,
        upload(write, slot, task) {
          checkTask(task, 1, false);
          inputs.upload(write, slot, task.n, { z: code.mu, K: 1 });
          return { n: task.n, nk: task.n };
        },
      };
    },
  };
}
