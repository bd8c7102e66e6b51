/**
 * The VAE's objective on the GPU: the ELBO of a Gaussian code, loss = −log p(x|z) + β · KL(q(z|x) || N(0, I)) with
 * z = μ + σ ⊙ ε (Vae.lossTerms); with K > 1 samples per example, IWAE's bound instead (iwae.ts). The cvae's is the
 * same on its condition's inputs (cvae.ts).
 */
import { STEP_STATS } from '../../../model/families/family';
import { BATCH_SLOTS } from '../../engine';
import { klRowFunction, reparameterizeGradStore, sampleInput } from '../gaussian';
import { likelihoodKernel } from '../likelihoods';
import { statsKernel } from '../stats';
import { gaussianSamples } from './code';
import { StepInputs, imageInputs } from './inputs';
import { iwaeStep } from './iwae';
import { GpuObjective, ObjectiveStep, StepContext, StepOptions, checkTask, writeNoise } from './objective';

/** The ELBO's step on these inputs. */
export function elboStep(ctx: StepContext, inputs: StepInputs): ObjectiveStep {
  const { Z } = ctx.model;
  const { rows } = ctx.plan;
  const take = (floats: number) => ctx.mem.take(floats);
  const { code, eps, zLd, z } = gaussianSamples(ctx, inputs);
  const rec = take(rows);
  const stats = take(STEP_STATS * BATCH_SLOTS);
  const last = ctx.dec.length - 1;
  const sample = { mu: code.mu, logvar: code.logvar, eps, zDim: Z, zLd };
  return {
    // The sample z is made as the decoder's first layer reads it (forward and its weight gradient), and its gradient
    // dz into dμ and d log σ² as that layer makes it: no kernels of their own between. The KL is the statistics'.
    encoderInput: inputs.encoder, decoderInput: sampleInput({ ...sample, z }),
    dDecoderInput: reparameterizeGradStore({ ...sample, dmu: code.dmu, dlogvar: code.dlogvar }), inputs: inputs.kernels,
    latent: code.forward,
    likelihood: [likelihoodKernel(ctx.model.likelihood, { logits: ctx.decH[last], x: inputs.target, dlogits: ctx.dDecH[last], rec, dim: inputs.out },
      'n')],
    latentBackward: code.backward,
    networksBackward: [],
    statistics: [statsKernel({ rec, kl: { row: klRowFunction(sample) }, stats })],
    stats, gathered: inputs.gathered, noise: { at: eps, rows: 'n' },
    upload(write, slot, task) {
      checkTask(task, 1, false);
      inputs.upload(write, slot, task.n, { z, K: 1 });
      writeNoise(write, eps, slot.eps, task.n * Z);
      return { n: task.n, nk: task.n };
    },
  };
}

/** A Gaussian-code objective on these inputs: the ELBO, or IWAE's bound where a step has K > 1 samples per example. */
export function gaussianObjective(o: StepOptions, inputs: (ctx: StepContext) => StepInputs, gathers: boolean): GpuObjective {
  const K = o.samples;
  // The importance-weighted objective (--iw-train K) decodes K samples per example: the decoder has rows · K rows.
  return {
    rows: { rows: o.rows, decRows: o.rows * K, decoder: K > 1 ? 'nk' : 'n' }, networks: [], gathers,
    build: (ctx) => (K > 1 ? iwaeStep(ctx, inputs(ctx), K) : elboStep(ctx, inputs(ctx))),
  };
}

/** The VAE's: on the batch's images (gathered on the GPU where the engine holds the training set). */
export const elboObjective = (o: StepOptions): GpuObjective =>
  gaussianObjective(o, (ctx) => imageInputs(ctx, { gather: ctx.gather, denoising: false }), true);
