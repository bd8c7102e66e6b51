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
import { SemiWeights, semiSupervisedTerms } from '../model/m2';
import { Vae } from '../model/vae';
import { AdamConfig, adamStep } from './adam';
import { FlatLayout, partRange, writeVariables } from './flat';
import { readInto, tensorFrom } from './tensor-io';

/** Shards per batch: fixed, so results are the same on any machine; also the most threads that help. */
export const GRAD_SHARDS = 2;
/**
 * Batches in flight: one being trained on while the next is prepared and queued behind it, so the training
 * threads go from one step to the next without waiting for the main thread.
 */
export const BATCH_SLOTS = 2;
/**
 * Numbers each shard reports: the loss (already divided as the objective says), Σ reconstruction, Σ KL, and
 * for M2 Σ U(x) over the unlabelled images, Σ L(x, y) and Σ −log q(y|x) over the labelled ones.
 */
export const SHARD_STATS = 6;

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
  /** Barrier of the training threads, after the gradients and after the update: [arrived, generation]. */
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
    barrier: new SharedArrayBuffer(8), sizes: { params, batch, dim, labelDim, zDim, samples, noisyDim },
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

/** Blocks until `parties` threads have called it (generation counting, so it can be used again at once). */
export function awaitBarrier(barrier: Int32Array, parties: number): void {
  const generation = Atomics.load(barrier, 1);
  if (Atomics.add(barrier, 0, 1) === parties - 1) {
    Atomics.store(barrier, 0, 0);
    Atomics.add(barrier, 1, 1);
    Atomics.notify(barrier, 1);
  } else {
    while (Atomics.load(barrier, 1) === generation) Atomics.wait(barrier, 1, generation);
  }
}

export interface ShardTask {
  slot: number;
  /** Examples in this batch (the last batch of an epoch may be short). */
  n: number;
  beta: number;
  /** K > 1: the importance-weighted objective with K noise rows per example; 1: the ELBO. */
  samples: number;
  /** An M2 step: how the n examples split, and the weights of the objective's sums. */
  semi?: SemiTask;
}

/**
 * An M2 batch: `unlabelled` images (rows 0…) then `labelled` ones; noise: `classes` rows per unlabelled image
 * (one per label), then one row per labelled image; one-hot labels at the labelled images' rows.
 */
export interface SemiTask {
  unlabelled: number;
  labelled: number;
  weights: SemiWeights;
}

/** A model replica that computes shard gradients: the main thread's, or a worker's. */
export class ShardWorker {
  private readonly variables: tf.Variable[];

  constructor(private readonly vae: Vae, private readonly layout: FlatLayout, private readonly mem: SharedTrainMemory) {
    this.variables = vae.trainableVariables();
  }

  /** Loads the shared parameters into this replica's variables. */
  loadParams(): void {
    writeVariables(this.variables, this.layout, this.mem.params);
  }

  /** Writes shard s's gradient into grads[s] and its loss terms into stats. */
  computeShard(task: ShardTask, s: number): void {
    const dim = this.vae.inputDim;
    const zDim = this.vae.config.zDim;
    const [start, end] = partRange(task.n, s, GRAD_SHARDS);
    const out = this.mem.grads[s];
    const rows = end - start;
    if (task.semi) return this.computeSemiShard(task, task.semi, s);
    if (rows === 0) {
      out.fill(0);
      this.mem.stats.fill(0, statsAt(task.slot, s), statsAt(task.slot, s) + SHARD_STATS);
      return;
    }
    let kept: tf.Tensor[] = [];
    const grads = tf.tidy(() => {
      const x = tensorFrom(this.mem.x[task.slot], start * dim, [rows, dim]) as tf.Tensor2D;
      const k = task.samples;
      const eps = tensorFrom(this.mem.eps[task.slot], start * k * zDim, [rows * k, zDim]) as tf.Tensor2D;
      const labelDim = this.vae.labelDim;
      const y = labelDim > 0 ? tensorFrom(this.mem.y[task.slot], start * labelDim, [rows, labelDim]) as tf.Tensor2D : undefined;
      // A denoising autoencoder encodes the corrupted images and is scored on the clean ones.
      const noisy = this.mem.noisy[task.slot].length > 0 ? tensorFrom(this.mem.noisy[task.slot], start * dim, [rows, dim]) as tf.Tensor2D : null;
      const result = tf.variableGrads(() => {
        const terms = noisy ? this.vae.autoencoderLossTerms(noisy, x, task.n)
          : k > 1 ? this.vae.importanceWeightedLossTerms(x, eps, k, task.beta, task.n, y)
            : this.vae.lossTerms(x, eps, task.beta, task.n, y);
        kept = [tf.keep(terms.loss.clone()), tf.keep(terms.recSum), tf.keep(terms.klSum)];
        return terms.loss;
      }, this.variables);
      return this.variables.map((v) => result.grads[v.name]);
    });
    this.report(grads, kept, task.slot, s);
  }

  /** Writes the gradients and the stats of shard s of the batch in `slot`, and frees them. */
  private report(grads: tf.Tensor[], kept: tf.Tensor[], slot: number, s: number): void {
    grads.forEach((g, i) => readInto(g, this.mem.grads[s], this.layout.entries[i].offset));
    const at = statsAt(slot, s);
    this.mem.stats.fill(0, at, at + SHARD_STATS);
    kept.forEach((t, i) => { this.mem.stats[at + i] = t.dataSync()[0]; });
    tf.dispose([...grads, ...kept]);
  }

  /** Shard s of an M2 batch: its share of the unlabelled images and its share of the labelled ones. */
  private computeSemiShard(task: ShardTask, semi: SemiTask, s: number): void {
    const dim = this.vae.inputDim;
    const zDim = this.vae.config.zDim;
    const classes = this.vae.labelDim;
    const [u0, u1] = partRange(semi.unlabelled, s, GRAD_SHARDS);
    const [l0, l1] = partRange(semi.labelled, s, GRAD_SHARDS);
    const slot = task.slot;
    if (u1 === u0 && l1 === l0) {
      this.mem.grads[s].fill(0);
      this.mem.stats.fill(0, statsAt(slot, s), statsAt(slot, s) + SHARD_STATS);
      return;
    }
    let kept: tf.Tensor[] = [];
    const grads = tf.tidy(() => {
      const batch: Parameters<typeof semiSupervisedTerms>[1] = {};
      if (u1 > u0) {
        batch.unlabelled = {
          x: tensorFrom(this.mem.x[slot], u0 * dim, [u1 - u0, dim]) as tf.Tensor2D,
          eps: tensorFrom(this.mem.eps[slot], u0 * classes * zDim, [(u1 - u0) * classes, zDim]) as tf.Tensor2D,
        };
      }
      if (l1 > l0) {
        const row = semi.unlabelled + l0;
        batch.labelled = {
          x: tensorFrom(this.mem.x[slot], row * dim, [l1 - l0, dim]) as tf.Tensor2D,
          y: tensorFrom(this.mem.y[slot], row * classes, [l1 - l0, classes]) as tf.Tensor2D,
          eps: tensorFrom(this.mem.eps[slot], (semi.unlabelled * classes + l0) * zDim, [l1 - l0, zDim]) as tf.Tensor2D,
        };
      }
      const result = tf.variableGrads(() => {
        const t = semiSupervisedTerms(this.vae, batch, semi.weights);
        kept = [t.loss.clone(), t.recSum, t.klSum, t.uSum, t.lSum, t.ceSum].map((v) => tf.keep(v));
        return t.loss;
      }, this.variables);
      return this.variables.map((v) => result.grads[v.name] ?? tf.zerosLike(v));
    });
    this.report(grads, kept, slot, s);
  }
}

/** The Adam update of parameters [start, end) from the summed shard gradients. */
export function updateParams(mem: SharedTrainMemory, adam: AdamConfig, t: number, start: number, end: number): void {
  adamStep(adam, t, mem.params, mem, mem.grads, start, end);
}

export interface BatchStats {
  /** The batch's loss (the objective's estimate), Σ reconstruction, Σ KL; for M2 also Σ U, Σ L, Σ −log q(y|x). */
  loss: number;
  recSum: number;
  klSum: number;
  uSum: number;
  lSum: number;
  ceSum: number;
}

/** The numbers of the batch in `slot`: the sums of its shards' stats, in a fixed order. */
export function batchStats(mem: SharedTrainMemory, slot: number): BatchStats {
  const sum = (i: number) => {
    let total = 0;
    for (let s = 0; s < GRAD_SHARDS; s++) total += mem.stats[statsAt(slot, s) + i];
    return total;
  };
  return { loss: sum(0), recSum: sum(1), klSum: sum(2), uSum: sum(3), lSum: sum(4), ceSum: sum(5) };
}
