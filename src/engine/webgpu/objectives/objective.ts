/**
 * A GPU objective: what differs between the families' training steps, plugged into the one step skeleton of
 * step.ts. The skeleton records, in this order: the objective's inputs (a gather, or nothing: the batch is
 * uploaded), the encoder, the objective's latent forward (its code layers and what it does with the code), the
 * decoder, the objective's likelihood and weights, the decoder backward, the objective's latent backward (down to
 * the encoder's top), the encoder backward, the objective's other networks backward, Adam, and the objective's
 * statistics. An objective says which rows the networks run on, which buffers it needs (taken from the step's
 * arena when it is built), how a batch slot is laid out in them (upload), and where its statistics are.
 *
 * A family names its objective in its own file (Family.gpu); objectives/index.ts maps the names to these modules.
 */
import type { BatchSlot, ShardTask } from '../../../model/families/family';
import type { GradientSink, Layer, LayerInput, StepPlan } from '../layers';
import type { CodeLayers, GpuModel } from '../networks';
import { ROW_GROUP } from '../wgsl';
import type { Arena, Kernel, Rows } from '../wgsl';

/** What an engine is made for, besides its model. */
export interface StepOptions {
  /** Rows of a batch slot (M2: its unlabelled and labelled images together). */
  rows: number;
  /** Noise rows per row: K of the importance-weighted objective, else 1 (M2: one per label). */
  samples: number;
}

/** Writes `count` floats of `data` into mem at offset `at` (the engine's queue). */
export type Upload = (at: number, data: Float32Array, count: number) => void;

/** Writes a slot's `count` noise values, unless the GPU draws them (the engine then gives slots an empty eps). */
export function writeNoise(write: Upload, at: number, eps: Float32Array, count: number): void {
  if (eps.length > 0) write(at, eps, count);
}

/** What the skeleton gives an objective's build: the model and its layers, the step's arena and plan, the layers' buffers. */
export interface StepContext {
  model: GpuModel;
  mem: Arena;
  /** The split products' scratch, and the most rows of the encoder (rows) and of the decoder (decRows). */
  plan: StepPlan;
  code: CodeLayers;
  /** The encoder's layers (up to the code) and their outputs [rows, out] and gradients; the same for the decoder's. */
  enc: Layer[];
  encH: number[];
  dEncH: number[];
  dec: Layer[];
  decH: number[];
  dDecH: number[];
  /** The training set is on the GPU (binding 2): the batch's images are gathered there (only where the objective gathers). */
  gather: boolean;
  /**
   * Where what finishes a weight gradient goes (Layer.weightGrad's kernels after the first: a split product's sum), a
   * list a stage (backwardStack's `later`): the skeleton runs each stage in one dispatch after the backward pass.
   */
  later: Kernel[][];
}

/** The objective's part of a step, as built into the step's arena. */
export interface ObjectiveStep {
  /**
   * Where the encoder reads its rows, the decoder its input (as wide as its first layer; or made as it is read), and
   * the decoder's input gradient goes (a place, or a store that makes the code's gradients of it): the decoder's
   * first layer is dense.
   */
  encoderInput: number;
  decoderInput: LayerInput;
  dDecoderInput: GradientSink;
  /** Its kernels at each point of the skeleton (see above). */
  inputs: Kernel[];
  latent: Kernel[];
  likelihood: Kernel[];
  latentBackward: Kernel[];
  networksBackward: Kernel[];
  statistics: Kernel[];
  /** Where the statistics of batch slot s are: STEP_STATS numbers at stats + s · STEP_STATS. */
  stats: number;
  /** Its noise ε, a row of Z per decoder row (of the step's n or nk): where the GPU may draw it (noise.ts). None: no noise. */
  noise?: { at: number; rows: Rows };
  /** The training set's rows are gathered on the GPU: each row's index (written at index), the byte levels at lut. */
  gathered: { index: number; lut: number } | null;
  /** Writes the batch in `slot` into mem; returns the step's rows n and nk (the kernels' step.n and step.nk). */
  upload(write: Upload, slot: BatchSlot, task: ShardTask): { n: number; nk: number };
}

export interface GpuObjective {
  /** The most rows of the encoder and of the decoder, and which of a step's counts the decoder's rows are. */
  rows: { rows: number; decRows: number; decoder: Rows };
  /** The networks it trains besides the encoder and the decoder (as the family names them). */
  networks: readonly string[];
  /** Whether its batches may be gathered on the GPU (they are the images as they are, and nothing else). */
  gathers: boolean;
  /** Layers of its other networks (M2's classifier), made with the step's plan (their scratch counts in the step's). */
  layers?(model: GpuModel, plan: StepPlan): Layer[];
  build(ctx: StepContext): ObjectiveStep;
}

/** Refuses a task the step was not made for: K noise rows per example, and an M2 batch or not. */
export function checkTask(task: ShardTask, samples: number, semi: boolean): void {
  if (task.samples !== samples || !task.semi !== !semi) {
    throw new Error(`the webgpu engine was made for ${semi ? 'M2 batches' : `plain batches, ${samples} noise rows each`}`);
  }
}

/** A rowKernel's dispatch over the step's n rows (or its nk), `width` threads a row. */
export const perRow = (name: string, source: string, rows: 'n' | 'nk' = 'n', width = 1): Kernel =>
  ({ name, source, groups: (n, nk) => [Math.ceil(((rows === 'n' ? n : nk) * width) / ROW_GROUP), 1] });
