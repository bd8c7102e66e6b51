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
import { Vae } from '../model/vae';
import { AdamConfig, adamStep } from './adam';
import { FlatLayout, partRange, writeVariables } from './flat';
import { readInto, tensorFrom } from './tensor-io';

/** Shards per batch: fixed, so results are the same on any machine; also the most threads that help. */
export const GRAD_SHARDS = 2;
/** Batches in flight: one being trained on while the next is prepared. */
export const BATCH_SLOTS = 2;

export interface SharedTrainMemory {
  params: Float32Array;
  m: Float32Array;
  v: Float32Array;
  /** One gradient array per shard. */
  grads: Float32Array[];
  /** Batch slots: inputs [batch, dim], one-hot labels [batch, labelDim] (cvae) and noise ε [batch · samples, zDim]. */
  x: Float32Array[];
  y: Float32Array[];
  eps: Float32Array[];
  /** Per shard: loss (already divided by the batch size), Σ reconstruction, Σ KL. */
  stats: Float64Array;
  /** Barrier between the gradient and the update phase of the training threads: [arrived, generation]. */
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
  stats: SharedArrayBuffer;
  barrier: SharedArrayBuffer;
  sizes: { params: number; batch: number; dim: number; labelDim: number; zDim: number; samples: number };
}

/**
 * `samples`: noise rows per example (K of the importance-weighted objective, else 1); `labelDim`: width of
 * the one-hot label of a label-conditioned model, else 0.
 */
export function allocateShared(params: number, batch: number, dim: number, zDim: number, samples = 1, labelDim = 0): SharedTrainBuffers {
  const f32 = (n: number) => new SharedArrayBuffer(4 * n);
  return {
    params: f32(params), m: f32(params), v: f32(params), grads: f32(GRAD_SHARDS * params),
    x: f32(BATCH_SLOTS * batch * dim), y: f32(BATCH_SLOTS * batch * labelDim), eps: f32(BATCH_SLOTS * batch * samples * zDim),
    stats: new SharedArrayBuffer(8 * 3 * GRAD_SHARDS),
    barrier: new SharedArrayBuffer(8), sizes: { params, batch, dim, labelDim, zDim, samples },
  };
}

export function viewShared(b: SharedTrainBuffers): SharedTrainMemory {
  const { params, batch, dim, labelDim, zDim, samples } = b.sizes;
  const slots = (buffer: SharedArrayBuffer, size: number, count: number) =>
    Array.from({ length: count }, (_, i) => new Float32Array(buffer, 4 * i * size, size));
  return {
    params: new Float32Array(b.params), m: new Float32Array(b.m), v: new Float32Array(b.v),
    grads: slots(b.grads, params, GRAD_SHARDS),
    x: slots(b.x, batch * dim, BATCH_SLOTS), y: slots(b.y, batch * labelDim, BATCH_SLOTS), eps: slots(b.eps, batch * samples * zDim, BATCH_SLOTS),
    stats: new Float64Array(b.stats),
    barrier: new Int32Array(b.barrier),
  };
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
    if (rows === 0) {
      out.fill(0);
      this.mem.stats.fill(0, 3 * s, 3 * s + 3);
      return;
    }
    let kept: tf.Tensor[] = [];
    const grads = tf.tidy(() => {
      const x = tensorFrom(this.mem.x[task.slot], start * dim, [rows, dim]) as tf.Tensor2D;
      const k = task.samples;
      const eps = tensorFrom(this.mem.eps[task.slot], start * k * zDim, [rows * k, zDim]) as tf.Tensor2D;
      const labelDim = this.vae.labelDim;
      const y = labelDim > 0 ? tensorFrom(this.mem.y[task.slot], start * labelDim, [rows, labelDim]) as tf.Tensor2D : undefined;
      const result = tf.variableGrads(() => {
        const terms = k > 1 ? this.vae.importanceWeightedLossTerms(x, eps, k, task.beta, task.n, y)
          : this.vae.lossTerms(x, eps, task.beta, task.n, y);
        kept = [tf.keep(terms.loss.clone()), tf.keep(terms.recSum), tf.keep(terms.klSum)];
        return terms.loss;
      }, this.variables);
      return this.variables.map((v) => result.grads[v.name]);
    });
    grads.forEach((g, i) => readInto(g, out, this.layout.entries[i].offset));
    kept.forEach((t, i) => { this.mem.stats[3 * s + i] = t.dataSync()[0]; });
    tf.dispose([...grads, ...kept]);
  }
}

/** The Adam update of parameters [start, end) from the summed shard gradients. */
export function updateParams(mem: SharedTrainMemory, adam: AdamConfig, t: number, start: number, end: number): void {
  adamStep(adam, t, mem.params, mem, mem.grads, start, end);
}

/** Loss (batch mean), Σ reconstruction and Σ KL of the batch, from the shards' stats. */
export function batchStats(mem: SharedTrainMemory): { loss: number; recSum: number; klSum: number } {
  let loss = 0, recSum = 0, klSum = 0;
  for (let s = 0; s < GRAD_SHARDS; s++) {
    loss += mem.stats[3 * s];
    recSum += mem.stats[3 * s + 1];
    klSum += mem.stats[3 * s + 2];
  }
  return { loss, recSum, klSum };
}
