/**
 * A training thread: a model replica on its own TensorFlow.js backend that computes its shards' gradients
 * and updates its part of the parameters, all in shared memory (shards.ts). Started by executor.ts.
 */
import { parentPort, receiveMessageOnPort } from 'worker_threads';
import { BackendChoice, initBackend } from '../backend';
import { ModelConfig, Vae } from '../model/vae';
import { AdamConfig } from './adam';
import { flatLayout } from './flat';
import { ShardTask, ShardWorker, SharedTrainBuffers, SharedTrainMemory, awaitBarrier, updateParams, viewShared } from './shards';

export interface WorkerInit {
  cmd: 'init';
  backend: BackendChoice;
  model: ModelConfig;
  buffers: SharedTrainBuffers;
  shards: number[];
  paramRange: [number, number];
  adam: AdamConfig;
  /** How many training threads meet at the barrier between gradients and update. */
  threads: number;
}

export type WorkerRequest = WorkerInit | { cmd: 'step'; task: ShardTask; t: number };

let worker: ShardWorker | null = null;
let mem: SharedTrainMemory | null = null;
let init: WorkerInit | null = null;

async function start(request: WorkerInit): Promise<void> {
  await initBackend(request.backend);
  const vae = Vae.create(request.model, 0); // weights come from the shared parameters before every step
  mem = viewShared(request.buffers);
  worker = new ShardWorker(vae, flatLayout(vae.trainableVariables()), mem);
  init = request;
}

function step(task: ShardTask, t: number): void {
  worker!.loadParams();
  for (const s of init!.shards) worker!.computeShard(task, s);
  awaitBarrier(mem!.barrier, init!.threads); // every shard's gradient is written
  updateParams(mem!, init!.adam, t, init!.paramRange[0], init!.paramRange[1]);
  // Every part of the parameters is updated (and the gradients read) before any thread starts the next step.
  awaitBarrier(mem!.barrier, init!.threads);
}

const answer = (error: unknown) => parentPort!.postMessage(error === null ? { ok: true }
  : { ok: false, error: error instanceof Error ? error.message : String(error) });

function handle(request: WorkerRequest): void {
  if (request.cmd === 'init') {
    start(request).then(() => answer(null), answer);
    return;
  }
  try {
    step(request.task, request.t);
    answer(null);
  } catch (e) {
    answer(e);
  }
}

// A step already queued behind the one just done is taken at once, without a turn of the event loop in
// between (0.3 ms a step).
parentPort!.on('message', (request: WorkerRequest) => {
  for (let next: WorkerRequest | undefined = request; next; next = receiveMessageOnPort(parentPort!)?.message as WorkerRequest | undefined) {
    handle(next);
  }
});
