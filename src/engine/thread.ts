/**
 * The one worker entry point (threads.ts starts it). A training thread holds a model replica on its own
 * TensorFlow.js backend that computes its shards' gradients and updates its part of the parameters, all in
 * shared memory (shards.ts); an importance-sampling thread computes L_K for its part of the test images.
 */
import { parentPort, receiveMessageOnPort } from 'worker_threads';
import { initBackend } from '../backend';
import { flatLayout, writeVariables } from '../model/flat';
import { vaeImportanceWeighted } from '../model/likelihood';
import { createModel } from '../model/families/registry';
import { ShardWorker, SharedTrainMemory, trainShards, viewShared } from './shards';
import { ImportanceJob, ThreadReply, ThreadRequest, TrainInit } from './threads';

let worker: ShardWorker | null = null;
let mem: SharedTrainMemory | null = null;
let init: TrainInit | null = null;

const reply = (message: ThreadReply) => parentPort!.postMessage(message);
const fail = (error: unknown) => reply({ kind: 'error', error: error instanceof Error ? error.message : String(error) });

async function startTraining(request: TrainInit): Promise<void> {
  await initBackend(request.backend);
  const vae = createModel(request.model, 0); // weights come from the shared parameters before every step
  mem = viewShared(request.buffers);
  worker = new ShardWorker(vae, flatLayout(vae.trainableVariables()), mem);
  init = request;
}

function trainStep(task: Parameters<ShardWorker['computeShard']>[0], t: number): void {
  trainShards(worker!, mem!, init!.adam, task, t, init!);
}

async function importance(job: ImportanceJob): Promise<Float64Array> {
  await initBackend(job.backend);
  const vae = createModel(job.model, 0);
  const variables = vae.trainableVariables();
  writeVariables(variables, flatLayout(variables), job.params);
  return vaeImportanceWeighted(vae, job.x, job.n, job.labels, { k: job.k, seed: job.seed, indexOffset: job.indexOffset,
    onProgress: (done) => reply({ kind: 'progress', done }) });
}

function handle(request: ThreadRequest): void {
  if (request.job === 'train-init') {
    startTraining(request).then(() => reply({ kind: 'done' }), fail);
  } else if (request.job === 'warm') {
    initBackend(request.backend).then(() => reply({ kind: 'done' }), fail);
  } else if (request.job === 'importance') {
    importance(request).then((bounds) => reply({ kind: 'done', value: bounds }), fail);
  } else {
    try {
      trainStep(request.task, request.t);
      reply({ kind: 'done' });
    } catch (e) {
      fail(e);
    }
  }
}

// A training step already queued behind the one just done is taken at once, without a turn of the event loop
// in between (0.3 ms a step).
parentPort!.on('message', (request: ThreadRequest) => {
  for (let next: ThreadRequest | undefined = request; next; next = receiveMessageOnPort(parentPort!)?.message as ThreadRequest | undefined) {
    handle(next);
  }
});
