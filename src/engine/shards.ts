/**
 * One training step, split so that threads can share it: the batch is cut into GRAD_SHARDS fixed shards,
 * each shard's gradient of (Σ its losses) / (batch size) goes into its own array, and the Adam update sums
 * the shard gradients in a fixed order. The arithmetic is the same whether one thread computes every shard
 * or each thread one: the numbers do not depend on the number of threads.
 *
 * All arrays live in SharedArrayBuffers (see SharedTrainMemory) so that worker threads read and write them
 * without copies through messages.
 */
import * as tf from '@tensorflow/tfjs';
import { BatchSlot, Family, STEP_STATS, ShardTask } from '../model/families/family';
import { familyOf } from '../model/families/registry';
import { Vae } from '../model/vae';
import { AdamConfig, adamStep } from './adam';
import { BATCH_SLOTS } from './engine';
import { FlatLayout, writeVariables } from '../model/flat';
import { readInto } from '../model/tensor-io';
import { VaeError } from '../errors';
import { nativeReadsWeights } from '../native-kernels';

/** Shards per batch: fixed, so results are the same on any machine; also the most threads that help. */
export const GRAD_SHARDS = 2;

export type { ShardTask };
/**
 * Numbers each shard reports: the loss (already divided as the objective says), then its family's sums
 * (Family.stats: Σ reconstruction, Σ KL, ...); room for the family that reports the most.
 */
export const SHARD_STATS = STEP_STATS;

export interface SharedTrainMemory {
  params: Float32Array;
  m: Float32Array;
  v: Float32Array;
  /** One gradient array per shard. */
  grads: Float32Array[];
  /**
   * Batch slots: inputs [batch, dim], one-hot labels [batch, labelDim] (cvae) and noise ε [batch · samples, zDim].
   * An M2 batch holds its unlabelled images first, then its labelled ones (see SemiTask).
   */
  x: Float32Array[];
  y: Float32Array[];
  eps: Float32Array[];
  /** A denoising autoencoder's corrupted inputs, beside the clean images in x (empty for other models). */
  noisy: Float32Array[];
  /** Per batch slot and shard, SHARD_STATS numbers (see statsAt). */
  stats: Float64Array;
  /** Barrier of the training threads, after the gradients and after the update: [arrived, generation, failed]. */
  barrier: Int32Array;
}

/** The SharedArrayBuffers behind SharedTrainMemory, as sent to a worker. */
export interface SharedTrainBuffers {
  params: SharedArrayBuffer;
  m: SharedArrayBuffer;
  v: SharedArrayBuffer;
  grads: SharedArrayBuffer;
  x: SharedArrayBuffer;
  y: SharedArrayBuffer;
  eps: SharedArrayBuffer;
  noisy: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  barrier: SharedArrayBuffer;
  sizes: { params: number; batch: number; dim: number; labelDim: number; zDim: number; samples: number; noisyDim: number };
}

/**
 * `samples`: noise rows per example (K of the importance-weighted objective, else 1); `labelDim`: width of
 * the one-hot label of a label-conditioned model, else 0; `noisy`: room for corrupted inputs (denoising).
 */
export function allocateShared(params: number, batch: number, dim: number, zDim: number, samples = 1, labelDim = 0,
  noisy = false): SharedTrainBuffers {
  const f32 = (n: number) => new SharedArrayBuffer(4 * n);
  const noisyDim = noisy ? dim : 0;
  return {
    params: f32(params), m: f32(params), v: f32(params), grads: f32(GRAD_SHARDS * params),
    x: f32(BATCH_SLOTS * batch * dim), y: f32(BATCH_SLOTS * batch * labelDim), eps: f32(BATCH_SLOTS * batch * samples * zDim),
    noisy: f32(BATCH_SLOTS * batch * noisyDim),
    stats: new SharedArrayBuffer(8 * SHARD_STATS * GRAD_SHARDS * BATCH_SLOTS),
    barrier: new SharedArrayBuffer(12), sizes: { params, batch, dim, labelDim, zDim, samples, noisyDim },
  };
}

export function viewShared(b: SharedTrainBuffers): SharedTrainMemory {
  const { params, batch, dim, labelDim, zDim, samples, noisyDim } = b.sizes;
  const slots = (buffer: SharedArrayBuffer, size: number, count: number) =>
    Array.from({ length: count }, (_, i) => new Float32Array(buffer, 4 * i * size, size));
  return {
    params: new Float32Array(b.params), m: new Float32Array(b.m), v: new Float32Array(b.v),
    grads: slots(b.grads, params, GRAD_SHARDS),
    x: slots(b.x, batch * dim, BATCH_SLOTS), y: slots(b.y, batch * labelDim, BATCH_SLOTS), eps: slots(b.eps, batch * samples * zDim, BATCH_SLOTS),
    noisy: slots(b.noisy, batch * noisyDim, BATCH_SLOTS),
    stats: new Float64Array(b.stats),
    barrier: new Int32Array(b.barrier),
  };
}

/** Where the stats of shard s of the batch in `slot` begin in SharedTrainMemory.stats. */
function statsAt(slot: number, s: number): number {
  return SHARD_STATS * (slot * GRAD_SHARDS + s);
}

/**
 * Blocks until `parties` threads have called it (generation counting, so it can be used again at once); throws when a
 * training thread failed (failBarrier) instead of arriving.
 */
export function awaitBarrier(barrier: Int32Array, parties: number): void {
  const generation = Atomics.load(barrier, 1);
  if (Atomics.add(barrier, 0, 1) === parties - 1) {
    Atomics.store(barrier, 0, 0);
    Atomics.add(barrier, 1, 1);
    Atomics.notify(barrier, 1);
  } else {
    // (A failure moves the generation on: a thread about to wait does not, one waiting wakes.)
    while (Atomics.load(barrier, 1) === generation && Atomics.load(barrier, 2) === 0) Atomics.wait(barrier, 1, generation);
  }
  if (Atomics.load(barrier, 2) !== 0) throw new BarrierFailed();
}

/** What a training thread throws when another failed (that one's error says why). */
export class BarrierFailed extends VaeError {
  constructor() {
    super('stopped: another training thread failed');
  }
}

/** Says that a training thread failed: the threads waiting at the barrier, and those that reach it, throw. */
export function failBarrier(barrier: Int32Array): void {
  Atomics.store(barrier, 2, 1);
  Atomics.add(barrier, 1, 1); // a new generation wakes the waiting threads, and keeps a thread about to wait from it
  Atomics.notify(barrier, 1);
}

/**
 * A training thread's part of step t (the main thread's too): the gradients of its shards, then (once every thread's
 * are written) the Adam update of its part of the parameters, then a wait until every part is updated, so that no
 * thread starts the next step on parameters half updated. A failure fails the barrier, so that no thread waits for
 * this one for ever.
 */
export function trainShards(worker: ShardWorker, mem: SharedTrainMemory, adam: AdamConfig, task: ShardTask, t: number,
  part: { shards: number[]; paramRange: [number, number]; threads: number }): void {
  try {
    worker.loadParams();
    for (const s of part.shards) worker.computeShard(task, s);
    awaitBarrier(mem.barrier, part.threads); // every shard's gradient is written
    updateParams(mem, adam, t, part.paramRange[0], part.paramRange[1]);
    awaitBarrier(mem.barrier, part.threads); // every part of the parameters is updated (and the gradients read)
  } catch (e) {
    failBarrier(mem.barrier);
    throw e;
  }
}

/** A model replica that computes shard gradients: the main thread's, or a worker's. */
export class ShardWorker {
  private readonly variables: tf.Variable[];
  private readonly family: Family;

  constructor(private readonly vae: Vae, private readonly layout: FlatLayout, private readonly mem: SharedTrainMemory) {
    this.variables = vae.trainableVariables();
    this.family = familyOf(vae.config);
  }

  /** Loads the shared parameters into this replica's variables. */
  loadParams(): void {
    writeVariables(this.variables, this.layout, this.mem.params, nativeReadsWeights());
  }

  /** Writes shard s's gradient into grads[s] and its statistics (the loss, then the family's sums) into stats. */
  computeShard(task: ShardTask, s: number): void {
    const at = statsAt(task.slot, s);
    let kept: tf.Tensor[] = [];
    const grads = tf.tidy(() => {
      const terms = this.family.shardTerms(this.vae, slotOf(this.mem, task.slot), task, s, GRAD_SHARDS);
      if (!terms) return []; // a shard without examples
      const result = tf.variableGrads(() => {
        const [loss, ...sums] = terms();
        kept = [loss.clone(), ...sums].map((t) => tf.keep(t));
        return loss;
      }, this.variables);
      return this.variables.map((v) => result.grads[v.name] ?? tf.zerosLike(v));
    });
    this.mem.stats.fill(0, at, at + SHARD_STATS);
    if (grads.length === 0) {
      this.mem.grads[s].fill(0);
      return;
    }
    grads.forEach((g, i) => readInto(g, this.mem.grads[s], this.layout.entries[i].offset));
    kept.forEach((t, i) => { this.mem.stats[at + i] = t.dataSync()[0]; });
    tf.dispose([...grads, ...kept]);
  }
}

/** Batch slot `slot` of the shared memory. */
export function slotOf(mem: SharedTrainMemory, slot: number): BatchSlot {
  return { x: mem.x[slot], y: mem.y[slot], eps: mem.eps[slot], noisy: mem.noisy[slot] };
}

/** The Adam update of parameters [start, end) from the summed shard gradients. */
export function updateParams(mem: SharedTrainMemory, adam: AdamConfig, t: number, start: number, end: number): void {
  adamStep(adam, t, mem.params, mem, mem.grads, start, end);
}

/** The statistics of the batch in `slot`: the loss, then the family's sums, each summed over the shards in a fixed order. */
export function batchStats(mem: SharedTrainMemory, slot: number): number[] {
  return Array.from({ length: SHARD_STATS }, (_, i) => {
    let total = 0;
    for (let s = 0; s < GRAD_SHARDS; s++) total += mem.stats[statsAt(slot, s) + i];
    return total;
  });
}
