/**
 * The CPU engine: the main thread alone (one thread), or with worker threads, each taking a shard of every batch
 * and a part of the parameters. Both do the same arithmetic in the same order (shards.ts), so they give the
 * same numbers. Parameters, Adam's moments, gradients and batch slots live in shared memory.
 *
 * Worker threads are used on the wasm and cpu backends, which compute on one core each; the native
 * TensorFlow backends already use every core themselves.
 */
import { BackendInfo } from '../backend';
import { FlatLayout, flatLayout, readVariables } from '../model/flat';
import { AdamConfig } from './adam';
import { BatchSlot, Engine, EngineSetup } from './engine';
import { BarrierFailed, GRAD_SHARDS, ShardTask, ShardWorker, SharedTrainBuffers, SharedTrainMemory, allocateShared, batchStats, slotOf, trainShards,
  viewShared } from './shards';
import { Thread, parallelThreads, releaseStartedThreads, trainingThread } from './threads';

/** Training threads worth starting: at most one per shard and per core (see parallelThreads). */
export function defaultThreads(backend: BackendInfo): number {
  return parallelThreads(backend, GRAD_SHARDS);
}

/** Runs the steps; the engine around it owns the memory. */
interface Runner {
  step(task: ShardTask, t: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * Party i's part of the Adam update, of `parties`: when the main thread is party 0 it takes a half share, since it
 * also fills the next batch between steps (the update is elementwise: any cut gives the same numbers).
 */
function updateRange(params: number, i: number, parties: number, mainShare: number): [number, number] {
  const at = (k: number) => (k === 0 ? 0 : Math.floor((params * (k - 1 + mainShare)) / (parties - 1 + mainShare)));
  return [at(i), i === parties - 1 ? params : at(i + 1)];
}

/** How much of a worker's part of the update the main thread takes when it trains too (see updateRange). */
const MAIN_UPDATE_SHARE = 0.5;

/**
 * The training threads: `count` parties, each computing its shards (shard s: party s mod count) and updating its part
 * of the parameters, meeting at the barriers of trainShards without messages. The main thread is party 0 when it is
 * alone, or when `lean`: a worker holds a wasm heap of its own (the model, its gradients and a step's tensors: 130 MB
 * for the default MLP at 64x64 colour) and its own V8 (~45 MB), and the main thread then fills the next batch after
 * its part of a step instead of during it (measured: ~4% slower, 150 MB less, on that model). Otherwise the parties
 * are workers, and the main thread only feeds them.
 */
class SharedRunner implements Runner {
  /** The main thread's replica, when it is a party. */
  private readonly local: ShardWorker | null;

  private constructor(private readonly count: number, private readonly mainShare: number, setup: EngineSetup, layout: FlatLayout,
    private readonly mem: SharedTrainMemory, private readonly adam: AdamConfig, private readonly workers: Thread[]) {
    this.local = mainShare > 0 ? new ShardWorker(setup.vae, layout, mem) : null;
  }

  static async start(count: number, setup: EngineSetup, layout: FlatLayout, mem: SharedTrainMemory, buffers: SharedTrainBuffers): Promise<SharedRunner> {
    const mainTrains = count === 1 || setup.lean === true;
    const first = mainTrains ? 1 : 0; // the first worker's party
    const workers = Array.from({ length: count - first }, (_, k) => trainingThread(k, setup.backend.threadChoice));
    releaseStartedThreads(); // started ahead and not needed (the main thread trains)
    const runner = new SharedRunner(count, mainTrains ? (count === 1 ? 1 : MAIN_UPDATE_SHARE) : 0, setup, layout, mem, setup.adamConfig, workers);
    try {
      await Promise.all(workers.map((thread, k) => thread.request({
        job: 'train-init', backend: setup.backend.threadChoice, model: setup.vae.config, buffers, adam: setup.adamConfig,
        ...runner.part(first + k, buffers.sizes.params),
      })));
    } catch (e) {
      await runner.close();
      throw e;
    }
    return runner;
  }

  /** Party i's shards and part of the parameters. */
  private part(i: number, params: number): { shards: number[]; paramRange: [number, number]; threads: number } {
    return { shards: Array.from({ length: GRAD_SHARDS }, (_, s) => s).filter((s) => s % this.count === i),
      paramRange: updateRange(params, i, this.count, this.local ? this.mainShare : 1), threads: this.count };
  }

  /**
   * One message per worker, then the main thread's part if it has one. A failed worker's own error is the step's
   * (the main thread only learns that one failed).
   */
  async step(task: ShardTask, t: number): Promise<void> {
    const others = Promise.all(this.workers.map((thread) => thread.request({ job: 'train-step', task, t })));
    others.catch(() => undefined); // awaited below
    if (this.local) {
      try {
        trainShards(this.local, this.mem, this.adam, task, t, this.part(0, this.mem.params.length));
      } catch (e) {
        if (e instanceof BarrierFailed) await others; // a worker failed: its error
        else await others.catch(() => undefined); // the main thread's, and the workers stopped
        throw e;
      }
    }
    await others;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((thread) => thread.terminate()));
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
  const threads = Math.max(1, setup.threads ?? defaultThreads(setup.backend));
  return new CpuEngine(threads, mem, await SharedRunner.start(threads, setup, layout, mem, buffers), note);
}
