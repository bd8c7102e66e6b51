/**
 * The step skeleton: every training step of the WebGPU engine is one fixed sequence of kernels, recorded into one
 * compute pass, whatever the objective:
 *
 *   the noise ε (drawn on the GPU from the step's Philox key, or nothing: it was uploaded), the objective's inputs
 *   (a gather on the GPU, or nothing: the batch was uploaded) and the values the layers derive from the parameters
 *   (an upsampled convolution's phase weights), in one dispatch
 *   → the encoder → the objective's latent forward (its code layers, then the sample, the K samples or the
 *   quantisation) → the decoder → the objective's likelihood and weights → the decoder backward → the objective's
 *   latent backward (down to the encoder's top) → the encoder backward → the objective's other networks backward
 *   → what finishes the encoder's and decoder's weight gradients (split products' sums, phase gradients spread to
 *   the 3x3 taps: Layer.weightGrad), each stage in one dispatch → Adam over all parameters and the objective's
 *   statistics, in one dispatch.
 *
 * All of a step's numbers live in one storage buffer (`mem`), at offsets fixed here and written into each kernel's
 * source: the parameters, their gradients and Adam's m and v (4·P, in model/flat.ts's layout), the layers' own
 * memory (phase weights, the filter gradients' partial sums), the split products' shared partial sums, the layers' outputs and gradients, then the objective's buffers
 * (objectives/).
 */
import { Layer, backwardStack, forwardStack } from './layers';
import { GpuModel, modelLayers, placeLayers } from './networks';
import type { GpuObjective, ObjectiveStep } from './objectives/objective';
import { noiseKernel } from './noise';
import { adamKernel } from './optimizer';
import { Arena, Kernel, joinKernels } from './wgsl';

/** A step as built: its kernels in order, the floats of `mem`, and the objective's upload and statistics. */
export interface StepProgram {
  kernels: Kernel[];
  size: number;
  /** Parameters: at 0, their gradients at P, Adam's m at 2P and v at 3P. */
  P: number;
  stats: number;
  gathered: ObjectiveStep['gathered'];
  upload: ObjectiveStep['upload'];
  /** The step draws its noise ε on the GPU (its first kernel) from the uniform's Philox key. */
  drawsNoise: boolean;
}

/**
 * The step of `objective` on this model. With `gather`, the training set is at binding 2 and the objective (if it
 * gathers) reads its batch's images from there. With `noise`, the step draws its noise on the GPU (if it has any).
 */
export function buildStep(model: GpuModel, objective: GpuObjective, o: { epsilon: number; gather: boolean; noise: boolean }): StepProgram {
  const { P } = model;
  const { rows, decRows, decoder } = objective.rows;
  const mem = new Arena();
  mem.take(4 * P); // parameters, gradients, m, v; then the layers' own memory and the split products' shared scratch
  const { enc, code, dec, all, plan } = placeLayers(mem, { rows, decRows }, (plan) => {
    const layers = modelLayers(model, decoder, plan);
    return { ...layers, plan, all: [...layers.all, ...(objective.layers?.(model, plan) ?? [])] };
  });
  const outputs = (layers: Layer[], count: number) => layers.map((l) => mem.take(count * l.out));
  const [encH, dEncH] = [outputs(enc, rows), outputs(enc, rows)];
  const [decH, dDecH] = [outputs(dec, decRows), outputs(dec, decRows)]; // the last are the logits and their gradient
  // The weight gradients are finished (their split sums, phase spreads) after the backward pass, each stage in one
  // dispatch (the objective's code layers' and other networks' with the encoder's and decoder's); the step's first
  // kernels and its last do not depend on each other: one dispatch each too.
  const later: Kernel[][] = [];
  const part = objective.build({ model, mem, plan, code, enc, encH, dEncH, dec, decH, dDecH, gather: o.gather && objective.gathers, later });
  const noise = o.noise && part.noise ? [noiseKernel({ ...part.noise, Z: model.Z })] : [];
  const kernels: Kernel[] = [
    ...joinKernels([...noise, ...part.inputs, ...all.flatMap((l) => l.prepare)]),
    ...forwardStack(enc, part.encoderInput, encH),
    ...part.latent,
    ...forwardStack(dec, part.decoderInput, decH),
    ...part.likelihood,
    ...backwardStack(dec, part.decoderInput, decH, dDecH, part.dDecoderInput, later),
    ...part.latentBackward,
    ...backwardStack(enc, part.encoderInput, encH, dEncH, undefined, later),
    ...part.networksBackward,
    ...later.flatMap((stage) => joinKernels(stage)),
    ...joinKernels([adamKernel(P, o.epsilon), ...part.statistics]),
  ];
  return { kernels, size: mem.size, P, stats: part.stats, gathered: part.gathered, upload: part.upload, drawsNoise: noise.length > 0 };
}
