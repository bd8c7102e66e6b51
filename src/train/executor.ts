/**
 * Who runs the training steps: the main thread alone (LocalExecutor), or worker threads that each take a
 * shard of every batch and a part of the parameters (WorkerExecutor). Both do the same arithmetic in the
 * same order (shards.ts), so they give the same numbers.
 *
 * Worker threads are used on the wasm and cpu backends, which compute on one core each; the native
 * TensorFlow backends already use every core themselves.
 */
import { Worker } from 'worker_threads';
import { parallelThreads, startWorker } from '../workers';
import { BackendInfo } from '../backend';
import { VaeError } from '../errors';
import { Vae } from '../model/vae';
import { AdamConfig } from './adam';
import { FlatLayout, partRange } from './flat';
import { GRAD_SHARDS, ShardTask, ShardWorker, SharedTrainBuffers, SharedTrainMemory, updateParams } from './shards';
import type { WorkerRequest } from './worker';

export interface StepExecutor {
  readonly threads: number;
  /**
   * Gradients of every shard of the batch in `task.slot`, then Adam step t on all parameters. A step may be
   * given before the previous one is done: it runs after it (at most BATCH_SLOTS steps in flight).
   */
  step(task: ShardTask, t: number): Promise<void>;
  close(): Promise<void>;
}

/** Training threads worth starting: at most one per shard and per core (see parallelThreads). */
export function defaultThreads(backend: BackendInfo): number {
  return parallelThreads(backend, GRAD_SHARDS);
}

class LocalExecutor implements StepExecutor {
  readonly threads = 1;
  private readonly worker: ShardWorker;

  constructor(vae: Vae, layout: FlatLayout, private readonly mem: SharedTrainMemory, private readonly adam: AdamConfig) {
    this.worker = new ShardWorker(vae, layout, mem);
  }

  async step(task: ShardTask, t: number): Promise<void> {
    this.worker.loadParams();
    for (let s = 0; s < GRAD_SHARDS; s++) this.worker.computeShard(task, s);
    updateParams(this.mem, this.adam, t, 0, this.mem.params.length);
  }

  async close(): Promise<void> {}
}

class WorkerExecutor implements StepExecutor {
  /** Per thread, the requests it has not answered yet, oldest first (a thread answers in order). */
  private pending: ((error: Error | null) => void)[][];

  private constructor(private readonly workers: Worker[]) {
    this.pending = workers.map(() => []);
    const failAll = (i: number, error: Error) => this.pending[i].splice(0).forEach((settle) => settle(error));
    workers.forEach((w, i) => {
      w.on('message', (reply: { ok: boolean; error?: string }) => {
        this.pending[i].shift()?.(reply.ok ? null : new VaeError(`training thread ${i + 1}: ${reply.error}`));
      });
      w.on('error', (e) => failAll(i, e instanceof Error ? e : new Error(String(e))));
      w.on('exit', (code) => failAll(i, new VaeError(`training thread ${i + 1} stopped (exit code ${code})`)));
    });
  }

  get threads(): number {
    return this.workers.length;
  }

  static async start(count: number, backend: BackendInfo, vae: Vae, buffers: SharedTrainBuffers,
    adam: AdamConfig): Promise<WorkerExecutor> {
    const workers = Array.from({ length: count }, () => startWorker(__filename, 'worker'));
    const executor = new WorkerExecutor(workers);
    await executor.all((i) => ({
      cmd: 'init', backend: backend.choice, model: vae.config, buffers, adam,
      shards: Array.from({ length: GRAD_SHARDS }, (_, s) => s).filter((s) => s % count === i),
      paramRange: partRange(buffers.sizes.params, i, count), threads: count,
    }));
    return executor;
  }

  private all(request: (index: number) => WorkerRequest): Promise<void> {
    return Promise.all(this.workers.map((w, i) => new Promise<void>((resolve, reject) => {
      this.pending[i].push((error) => (error ? reject(error) : resolve()));
      w.postMessage(request(i));
    }))).then(() => undefined);
  }

  /**
   * One message per thread: the threads meet at a barrier between gradients and update, and again after the
   * update, without us. A step sent while the previous one runs waits in the threads' message queues.
   */
  async step(task: ShardTask, t: number): Promise<void> {
    await this.all(() => ({ cmd: 'step', task, t }));
  }

  async close(): Promise<void> {
    this.pending = this.workers.map(() => []);
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

export async function createExecutor(threads: number, backend: BackendInfo, vae: Vae, layout: FlatLayout,
  buffers: SharedTrainBuffers, mem: SharedTrainMemory, adam: AdamConfig): Promise<StepExecutor> {
  return threads <= 1 ? new LocalExecutor(vae, layout, mem, adam) : WorkerExecutor.start(threads, backend, vae, buffers, adam);
}
