/**
 * Training in the page (issue 25): `vae train`'s loop (src/train/loop.ts) with the WebGPU engine of src/engine/webgpu
 * on the page's own GPU, the same batches, noise and Adam steps as the CLI, and the shared part of an epoch's end
 * (src/train/epoch-close.ts). TensorFlow.js holds the model on its CPU backend here: the engine trains it, and
 * TensorFlow.js evaluates it and draws the previews between epochs. Runs in a dedicated worker (worker.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendInfo } from '../../src/backend';
import type { Dataset } from '../../src/data/datasets';
import type { AdamState } from '../../src/engine/adam';
import type { Engine } from '../../src/engine/engine';
import { webGpuEngine } from '../../src/engine/webgpu/engine';
import type { Gpu } from '../../src/gpu-device';
import type { RunConfig, TrainState } from '../../src/model/run-config';
import { createModel, familyOf } from '../../src/model/families/registry';
import { flatLayout, readVariables, writeVariables } from '../../src/model/flat';
import type { Preview } from '../../src/model/generate';
import { EpochClose, MetricsLine } from '../../src/train/epoch-close';
import { LoopRun, TrainOutcome, adamConfigOf, initialAdam, initialState, trainLoop } from '../../src/train/loop';
import type { Vae } from '../../src/model/vae';
import type { PageRunFolder } from './run-folder';
import type { EpochResult, TrainHooks } from '../../src/train/types';

/** A run as the page holds it: a new one (no params), or one to go on with (a run folder's checkpoint). */
export interface PageRun {
  config: RunConfig;
  dataset: Dataset;
  /** The parameters to start from, flat in the order of the model's trainable variables; else drawn from the seed. */
  params?: Float32Array;
  adam?: AdamState;
  state?: TrainState;
}

export interface PageHooks extends TrainHooks {
  /** After every epoch, before its checkpoint: the model as trained so far (the explorer's panels follow it). */
  onModel?(vae: Vae, run: LoopRun): Promise<void>;
  /** After every epoch: its numbers, its metrics.jsonl line, its preview and the parameters it ended with. */
  onEpochClosed?(result: EpochResult, metrics: MetricsLine, preview: Preview & { shape: number[] }, params: Float32Array): void;
}

export interface PageOutcome {
  outcome: TrainOutcome;
  params: Float32Array;
  adam: AdamState;
  state: TrainState;
}

/** What the engine is told of the backend: the page's GPU through the WebGPU engine, TensorFlow.js on its CPU. */
const PAGE_BACKEND: BackendInfo = { choice: 'webgpu', tfName: 'cpu', description: 'webgpu (the page)', threadChoice: 'cpu' };

/**
 * Trains `run` on `gpu` until its epochs are done or hooks.shouldStop says so; the run's state as it ends. With a
 * `folder`, every epoch's metrics line and checkpoint (and a stopped run's) go into it, as `vae train` writes them.
 */
export async function trainInPage(run: PageRun, gpu: Gpu, hooks: PageHooks = {}, folder?: PageRunFolder): Promise<PageOutcome> {
  if (tf.getBackend() !== 'cpu') await tf.setBackend('cpu');
  const { config, dataset } = run;
  const family = familyOf(config.model);
  const vae = createModel(config.model, config.train.seed);
  const variables = vae.trainableVariables();
  const layout = flatLayout(variables);
  if (run.params) {
    if (run.params.length !== layout.size) throw new Error(`the run's parameters are ${run.params.length} numbers; this model has ${layout.size}`);
    writeVariables(variables, layout, run.params);
  }
  const loopRun = { config, dataset, vae, adam: run.adam ?? initialAdam(vae), state: run.state ?? initialState(config.train.seed) };
  const close = new EpochClose(loopRun, family);
  const paramsNow = () => {
    const params = new Float32Array(layout.size);
    readVariables(variables, layout, params);
    return params;
  };
  try {
    const outcome = await trainLoop(loopRun, {
      engine: (setup): Promise<Engine> => webGpuEngine({ ...setup, backend: PAGE_BACKEND }, gpu, family),
      epochEnd: async (epoch, beta, epochHooks, save) => {
        const { result, metrics } = await close.close(epoch, beta, epochHooks);
        folder?.addMetrics(metrics);
        hooks.onEpochClosed?.(result, metrics, close.preview(), paramsNow());
        await hooks.onModel?.(vae, loopRun);
        result.checkpointDir = await save(result.isBest);
        return result;
      },
      // The run folder in memory ("Download run" zips it), or nothing kept.
      save: async (isBest) => (folder ? folder.save(vae, loopRun.adam, adamConfigOf(config), loopRun.state, isBest) : ''),
    }, hooks);
    return { outcome, params: paramsNow(), adam: loopRun.adam, state: loopRun.state };
  } finally {
    vae.dispose();
  }
}
