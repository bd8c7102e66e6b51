/**
 * The VQ-VAE's objective on the GPU (model/families/vqvae.ts): the point code's slots replaced by their nearest
 * codebook entries, decoded straight through; loss = −log p(x|z_q) + ‖sg[z_e] − e‖² + β ‖z_e − sg[e]‖², the
 * codebook (the `codebook` network's kernel) trained with the rest.
 */
import { STEP_STATS } from '../../../model/families/family';
import { BATCH_SLOTS } from '../../engine';
import { Codebook, vqGradKernel, vqQuantizeKernel } from '../codes';
import { likelihoodKernel } from '../likelihoods';
import type { GpuModel } from '../networks';
import { statsKernel } from '../stats';
import { flatGroups } from '../wgsl';
import { pointCode } from './code';
import { imageInputs } from './inputs';
import { GpuObjective, StepOptions, checkTask, perRow } from './objective';

interface VqSpec { codebook: string; entries: number; commitment: number }

/** The codebook for the kernels: its network's kernel [codeDim, entries] (gradient at +P). */
function codebookOf(model: GpuModel, spec: VqSpec): Codebook {
  const [kernel] = model.network(spec.codebook);
  if (!kernel || kernel.shape.length !== 2 || kernel.shape[1] !== spec.entries || !(spec.commitment >= 0)) {
    throw new Error('the codebook is not where the webgpu engine expects it');
  }
  return { off: kernel.offset, size: spec.entries, codeDim: kernel.shape[0], commitment: spec.commitment };
}

export function vqObjective(spec: VqSpec, o: StepOptions): GpuObjective {
  return {
    rows: { rows: o.rows, decRows: o.rows, decoder: 'n' }, networks: [spec.codebook], gathers: true,
    build(ctx) {
      const { Z, P } = ctx.model;
      const { rows } = ctx.plan;
      const book = codebookOf(ctx.model, spec);
      const inputs = imageInputs(ctx, { gather: ctx.gather, denoising: false });
      const code = pointCode(ctx, inputs.encoder);
      // The quantised code (the decoder's input) and its gradient, each slot's entry, each row's codebook and commitment terms.
      const z = ctx.mem.take(rows * Z);
      const dz = ctx.mem.take(rows * Z);
      const idx = ctx.mem.take(rows * (Z / book.codeDim));
      const rec = ctx.mem.take(rows);
      const vq = ctx.mem.take(rows);
      const stats = ctx.mem.take(STEP_STATS * BATCH_SLOTS);
      const last = ctx.dec.length - 1;
      return {
        encoderInput: inputs.encoder, decoderInput: z, dDecoderInput: dz, inputs: inputs.kernels,
        latent: [...code.forward, perRow('quantize', vqQuantizeKernel({ ze: code.mu, zq: z, idx, vq, zDim: Z, book }))],
        likelihood: [likelihoodKernel(ctx.model.likelihood, { logits: ctx.decH[last], x: inputs.target, dlogits: ctx.dDecH[last], rec, dim: inputs.out },
          'n')],
        latentBackward: [{ name: 'codebook and commitment gradients', source: vqGradKernel({ ze: code.mu, dzq: dz, dze: code.dmu, idx, zDim: Z, book, P }),
          groups: (n) => flatGroups(n * Z + book.codeDim * book.size) }, ...code.backward],
        networksBackward: [],
        statistics: [statsKernel({ rec, kl: vq, stats })],
        stats, gathered: inputs.gathered,
        upload(write, slot, task) {
          checkTask(task, 1, false);
          inputs.upload(write, slot, task.n, { z, K: 1 });
          return { n: task.n, nk: task.n };
        },
      };
    },
  };
}
