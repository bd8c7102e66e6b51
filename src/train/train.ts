/**
 * `vae train`'s training: the loop of loop.ts with the engine engines.ts chooses on this process's backend, the
 * epoch-end pipeline of epoch-end.ts and checkpoints in the run folder.
 */
import * as path from 'path';
import { currentBackend } from '../backend';
import { Engine, EngineSetup } from '../engine/engine';
import { createEngine } from '../engine/engines';
import { saveCheckpoint } from '../io/checkpoint';
import { familyOf } from '../model/families/registry';
import { EpochEnd, readMetrics, truncateMetrics } from './epoch-end';
import { TrainOutcome, adamConfigOf, trainLoop } from './loop';
import { TrainHooks, TrainRun } from './types';

export type { EpochResult, StepInfo, TrainHooks, TrainRun } from './types';
export { betaAt, initialAdam, initialState } from './loop';
export type { TrainOutcome } from './loop';
export { readMetrics };

export interface TrainOptions {
  /** Training threads of the CPU engine (default: one per core, up to GRAD_SHARDS, on the wasm and cpu backends). */
  threads?: number;
  /** The engine that runs the steps (default: engines.ts's choice). */
  engine?: (setup: EngineSetup) => Promise<Engine>;
}

export async function train(run: TrainRun, hooks: TrainHooks = {}, options: TrainOptions = {}): Promise<TrainOutcome> {
  const { runDir, config, vae, state } = run;
  truncateMetrics(path.join(runDir, 'metrics.jsonl'), state.epochsDone);
  const epochEnd = new EpochEnd(run, familyOf(vae.config));
  return trainLoop(run, {
    engine: (setup) => (options.engine ?? createEngine)({ ...setup, backend: currentBackend(), threads: options.threads }),
    epochEnd: (epoch, beta, hooks, save) => epochEnd.finish(epoch, beta, hooks, save),
    save: (isBest) => saveCheckpoint(runDir, vae, run.adam, adamConfigOf(config), state, isBest),
  }, hooks);
}
