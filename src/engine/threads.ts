/**
 * Worker threads: how many are worth starting, and the one protocol every thread speaks. There is one
 * worker entry point (thread.ts); a request names its job, and the thread answers each request in order with
 * `done` (and a value) or `error`, after any number of `progress` messages.
 */
import * as os from 'os';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { BackendChoice, BackendInfo } from '../backend';
import { VaeError } from '../errors';
import type { ModelConfig } from '../model/run-config';
import type { AdamConfig } from './adam';
import type { ShardTask, SharedTrainBuffers } from './shards';

/** A training thread's set-up: its model replica, the shared memory, its shards and its part of the parameters. */
export interface TrainInit {
  job: 'train-init';
  backend: BackendChoice;
  model: ModelConfig;
  buffers: SharedTrainBuffers;
  shards: number[];
  paramRange: [number, number];
  adam: AdamConfig;
  /** How many training threads meet at the barrier between gradients and update. */
  threads: number;
}

/** L_K of images [indexOffset, indexOffset + n) (see evaluate.ts). */
export interface ImportanceJob {
  job: 'importance';
  backend: BackendChoice;
  model: ModelConfig;
  params: Float32Array;
  x: Float32Array;
  labels: Float32Array | null;
  n: number;
  k: number;
  seed: number;
  indexOffset: number;
}

/** Loads the backend, before the thread has work (prestartThreads). */
export interface WarmJob {
  job: 'warm';
  backend: BackendChoice;
}

export type ThreadRequest = TrainInit | { job: 'train-step'; task: ShardTask; t: number } | ImportanceJob | WarmJob;

export type ThreadReply = { kind: 'done'; value?: unknown } | { kind: 'error'; error: string } | { kind: 'progress'; done: number };

/**
 * Threads worth starting for work split across threads: one per core, at most `max`, on the wasm and cpu
 * backends (each computes on one core); 1 on the native TensorFlow backends, which use every core already.
 */
export function parallelThreads(backend: BackendInfo, max: number): number {
  if (backend.threadChoice !== 'wasm' && backend.threadChoice !== 'cpu') return 1;
  return Math.max(1, Math.min(max, os.availableParallelism()));
}

interface Pending {
  settle: (error: Error | null, value?: unknown) => void;
  onProgress?: (done: number) => void;
}

/** A worker thread running thread.ts (compiled, or TypeScript under ts-node in the tests), and its open requests. */
export class Thread {
  private readonly worker: Worker;
  /** Requests not answered yet, oldest first (a thread answers in order). */
  private pending: Pending[] = [];

  /** `name` says what the thread does, in its error messages ("training thread 2"). */
  constructor(private readonly name: string) {
    const ext = path.extname(__filename);
    this.worker = new Worker(path.join(__dirname, `thread${ext}`), ext === '.ts' ? { execArgv: ['-r', 'ts-node/register/transpile-only'] } : {});
    this.worker.on('message', (reply: ThreadReply) => {
      if (reply.kind === 'progress') this.pending[0]?.onProgress?.(reply.done);
      else this.pending.shift()?.settle(reply.kind === 'done' ? null : new VaeError(`${this.name}: ${reply.error}`), reply.kind === 'done' ? reply.value : undefined);
    });
    this.worker.on('error', (e) => this.failAll(e instanceof Error ? e : new Error(String(e))));
    this.worker.on('exit', (code) => this.failAll(new VaeError(`${this.name} stopped (exit code ${code})`)));
  }

  private failAll(error: Error): void {
    this.pending.splice(0).forEach((p) => p.settle(error));
  }

  /** Sends a request; the promise ends with the thread's answer to it. */
  request<T = void>(request: ThreadRequest, onProgress?: (done: number) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ settle: (error, value) => (error ? reject(error) : resolve(value as T)), onProgress });
      this.worker.postMessage(request);
    });
  }

  async terminate(): Promise<void> {
    this.pending = [];
    await this.worker.terminate();
  }

  /** Whether the thread keeps the process alive (a started thread waiting for work does not). */
  hold(held: boolean): void {
    if (held) this.worker.ref();
    else this.worker.unref();
  }
}

/** Training threads started ahead of their work, with their backend loading (prestartThreads). */
const started: { thread: Thread; backend: BackendChoice }[] = [];

/**
 * Starts `count` training threads now, each loading `backend` (a third of a second of a core each), so that they are
 * ready when the engine asks for them: a command starts them before it reads its data set. Threads no engine takes
 * do not keep the process alive.
 */
export function prestartThreads(count: number, backend: BackendChoice): void {
  for (let i = started.length; i < count; i++) {
    const thread = new Thread(`training thread ${i + 1}`);
    thread.request({ job: 'warm', backend }).catch(() => undefined); // a failure is met again by the engine's first request
    thread.hold(false);
    started.push({ thread, backend });
  }
}

/** Ends the threads started ahead that no engine took. */
export function releaseStartedThreads(): void {
  for (const { thread } of started.splice(0)) thread.terminate().catch(() => undefined);
}

/** Training thread `i` (0-based) for `backend`: one started ahead, or a new one. */
export function trainingThread(i: number, backend: BackendChoice): Thread {
  const at = started.findIndex((s) => s.backend === backend);
  if (at < 0) return new Thread(`training thread ${i + 1}`);
  const [{ thread }] = started.splice(at, 1);
  thread.hold(true);
  return thread;
}
