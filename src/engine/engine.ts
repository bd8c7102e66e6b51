/**
 * An engine runs training steps: it holds the parameters and Adam's moments, takes a batch written into one
 * of its batch slots, computes the gradient of the family's objective on it and applies the Adam update.
 * The training loop (train/train.ts) only prepares batches, hands them over and reads the numbers back, so a
 * new engine (e.g. one on the GPU) is a new file here and a line in engines.ts.
 *
 * Every engine gives the numbers of the CPU engine (cpu.ts): the same batch, noise, order of sums and Adam
 * arithmetic; a step's statistics are the family's (model/families), in the order it names them.
 */
import type { BackendInfo } from '../backend';
import type { BatchSlot, ShardTask } from '../model/families/family';
import type { Vae } from '../model/vae';
import type { ResidentSet } from '../data/datasets';
import type { AdamConfig, AdamState } from './adam';
import type { NormalsKind } from '../rng';

/**
 * Batches in flight: one being trained on while the next is prepared and queued behind it, so an engine goes
 * from one step to the next without waiting for the main thread.
 */
export const BATCH_SLOTS = 2;

/** How big a batch slot is. */
export interface SlotSizes {
  /** Rows of a batch (for M2: unlabelled and labelled images together). */
  rows: number;
  dim: number;
  labelDim: number;
  zDim: number;
  /** Noise rows per row (K of IWAE; M2: one per label). */
  samples: number;
  noisy: boolean;
}

export type { BatchSlot };

export interface EngineSetup {
  backend: BackendInfo;
  /** The model whose trainable variables are trained; its parameters and `adam` are where training starts. */
  vae: Vae;
  adam: AdamState;
  adamConfig: AdamConfig;
  sizes: SlotSizes;
  /** CPU engine: training threads (default: one per core, up to the shards of a batch). */
  threads?: number;
  /**
   * CPU engine: save memory over speed (a set streamed within a memory budget): the main thread is one of the
   * training threads, instead of a worker of its own (see cpu.ts).
   */
  lean?: boolean;
  /**
   * The training set, when batches are its images as they are (BatchSource.gather): an engine may keep it and
   * gather each batch itself from the slot's imageIndex, instead of the batch's x being written and uploaded.
   */
  images?: ResidentSet;
  /**
   * Batches are the training images as they are (BatchSource.imageBytes), held or not: an engine that does not keep
   * the set may take each batch's images as bytes (its slots' `bytes`).
   */
  imageBytes?: boolean;
  /**
   * How the batches' noise ε is drawn (the run's train.normals; absent: 'sfc32'). With 'philox', an engine may draw
   * it itself from each task's noiseKey: its slots' eps are then empty.
   */
  normals?: NormalsKind;
}

export interface Engine {
  /** For the backend line: where steps run ("2 training threads"). */
  readonly description: string;
  readonly threads: number;
  /**
   * Steps that may be in flight at once, each in a batch slot of its own: BATCH_SLOTS when not given. An engine
   * whose steps run asynchronously (the GPU's) takes more, so that its queue never waits for the main thread.
   */
  readonly depth?: number;
  /**
   * Steps the engine records and submits together (the GPU's; 1 when not given): the loop hands steps over in runs
   * of this many and calls flush after each run (the epoch's last, shorter, too), and before it waits for a streamed
   * set's pictures (a step at a time, then), so that no step it waits for is left unstarted.
   */
  readonly group?: number;
  /** Starts the steps given and not yet started (a run shorter than `group`). */
  flush?(): void;
  /** Where the batch of a step goes: slot i of `depth`; write it before calling step. */
  slot(i: number): BatchSlot;
  /**
   * The gradient of the batch in `task.slot`, then Adam step t on all parameters. A step may be given before
   * the previous one is done: it runs after it (at most `depth` steps in flight).
   */
  step(task: ShardTask, t: number): Promise<void>;
  /** The statistics of the last step run in `slot`: the loss, then the family's named sums. */
  stats(slot: number): number[];
  /** Parameters (flat, in the order of vae.trainableVariables()) and Adam's moments, with no step running. */
  state(): Promise<{ params: Float32Array; adam: AdamState }>;
  close(): Promise<void>;
}
