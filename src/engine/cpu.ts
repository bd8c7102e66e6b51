/**
 * The CPU engine: the main thread alone (one thread), or worker threads that each take a shard of every batch
 * and a part of the parameters. Both do the same arithmetic in the same order (shards.ts), so they give the
 * same numbers. Parameters, Adam's moments, gradients and batch slots live in shared memory.
 *
 * Worker threads are used on the wasm and cpu backends, which compute on one core each; the native
 * TensorFlow backends already use every core themselves.
 */
import { BackendInfo } from '../backend';
import { FlatLayout, flatLayout, partRange, readVariables } from '../model/flat';
import { AdamConfig } from './adam';
import { BatchSlot, Engine, EngineSetup } from './engine';
import { GRAD_SHARDS, ShardTask, ShardWorker, SharedTrainBuffers, SharedTrainMemory, allocateShared, batchStats, slotOf, updateParams,
  viewShared } from './shards';
import { Thread, parallelThreads, trainingThread } from './threads';

/** Training threads worth starting: at most one per shard and per core (see parallelThreads). */
export function defaultThreads(backend: BackendInfo): number {
  return parallelThreads(backend, GRAD_SHARDS);
}

/** Runs the steps; the engine around it owns the memory. */
interface Runner {
  step(task: ShardTask, t: number): Promise<void>;
  close(): Promise<void>;
}

class MainThreadRunner implements Runner {
  private readonly worker: ShardWorker;

  constructor(setup: EngineSetup, layout: FlatLayout, private readonly mem: SharedTrainMemory, private readonly adam: AdamConfig) {
    this.worker = new ShardWorker(setup.vae, layout, mem);
  }

  async step(task: ShardTask, t: number): Promise<void> {
    this.worker.loadParams();
    for (let s = 0; s < GRAD_SHARDS; s++) this.worker.computeShard(task, s);
    updateParams(this.mem, this.adam, t, 0, this.mem.params.length);
  }

  async close(): Promise<void> {}
}

class ThreadRunner implements Runner {
  private constructor(private readonly threads: Thread[]) {}

  static async start(count: number, setup: EngineSetup, buffers: SharedTrainBuffers): Promise<ThreadRunner> {
    const threads = Array.from({ length: count }, (_, i) => trainingThread(i, setup.backend.threadChoice));
    const runner = new ThreadRunner(threads);
    try {
      await Promise.all(threads.map((thread, i) => thread.request({
        job: 'train-init', backend: setup.backend.threadChoice, model: setup.vae.config, buffers, adam: setup.adamConfig,
        shards: Array.from({ length: GRAD_SHARDS }, (_, s) => s).filter((s) => s % count === i),
        paramRange: partRange(buffers.sizes.params, i, count), threads: count,
      })));
    } catch (e) {
      await runner.close();
      throw e;
    }
    return runner;
  }

  /**
   * One message per thread: the threads meet at a barrier between gradients and update, and again after the
   * update, without us. A step sent while the previous one runs waits in the threads' message queues.
   */
  async step(task: ShardTask, t: number): Promise<void> {
    await Promise.all(this.threads.map((thread) => thread.request({ job: 'train-step', task, t })));
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((thread) => thread.terminate()));
  }
}

class CpuEngine implements Engine {
  constructor(readonly threads: number, private readonly mem: SharedTrainMemory, private readonly runner: Runner,
    private readonly note?: string) {}

  get description(): string {
    return `CPU, ${this.threads} training thread${this.threads > 1 ? 's' : ''}${this.note ? ` (${this.note})` : ''}`;
  }

  slot(i: number): BatchSlot {
    return slotOf(this.mem, i);
  }

  step(task: ShardTask, t: number): Promise<void> {
    return this.runner.step(task, t);
  }

  stats(slot: number): number[] {
    return batchStats(this.mem, slot);
  }

  async state() {
    return { params: this.mem.params, adam: { m: this.mem.m, v: this.mem.v } };
  }

  close(): Promise<void> {
    return this.runner.close();
  }
}

/** `note`: why the CPU trains when another engine was asked for. */
export async function createCpuEngine(setup: EngineSetup, note?: string): Promise<Engine> {
  const variables = setup.vae.trainableVariables();
  const layout = flatLayout(variables);
  const { rows, dim, zDim, samples, labelDim, noisy } = setup.sizes;
  const buffers = allocateShared(layout.size, rows, dim, zDim, samples, labelDim, noisy);
  const mem = viewShared(buffers);
  readVariables(variables, layout, mem.params);
  mem.m.set(setup.adam.m);
  mem.v.set(setup.adam.v);
  const threads = setup.threads ?? defaultThreads(setup.backend);
  const runner = threads <= 1 ? new MainThreadRunner(setup, layout, mem, setup.adamConfig) : await ThreadRunner.start(threads, setup, buffers);
  return new CpuEngine(threads <= 1 ? 1 : threads, mem, runner, note);
}
