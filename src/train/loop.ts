/**
 * The training loop itself: a plain loop over the steps of each epoch, whose batches come from the model family's
 * batch source (model/families) and are trained by an engine (engine/); after every epoch, the caller's epoch end.
 * Nothing here reaches a Node module: `vae train` (train.ts) runs it with the engine engines.ts chooses and the
 * epoch-end pipeline of epoch-end.ts (evaluation, a sample grid, metrics.jsonl, a checkpoint), the explorer's Train
 * panel in a browser worker with the WebGPU engine on the page's GPU and its own epoch end.
 *
 * Every random number comes from a stream named by (seed, purpose, epoch, step) (rng.ts): the data order
 * of an epoch, the binarization and ε of a step. A run resumed from a checkpoint therefore draws exactly
 * what the uninterrupted run would have drawn.
 */
import { ADAM_DEFAULTS, AdamConfig, AdamState } from '../engine/adam';
import { BATCH_SLOTS, Engine, EngineSetup } from '../engine/engine';
import { NonFiniteLossError } from '../errors';
import type { EpochSums, RunConfig, TrainState } from '../io/checkpoint';
import { familyOf } from '../model/families/registry';
import { flatLayout, writeVariables } from '../model/flat';
import { Vae } from '../model/vae';
import { EpochResult, TrainHooks, TrainRun } from './types';

/** What the loop needs of a run (a run folder's path and lock are its caller's). */
export type LoopRun = Pick<TrainRun, 'config' | 'dataset' | 'vae' | 'adam' | 'state' | 'm1'>;

/** Where the loop's steps run and where its epochs end: Node's run folder, or the page's worker. */
export interface LoopParts {
  /** The engine for this setup (the backend is the caller's to add). */
  engine(setup: Omit<EngineSetup, 'backend'>): Promise<Engine>;
  /**
   * Ends epoch `epoch`, the model holding its trained parameters and run.adam its moments: evaluates, records, and
   * saves through `save` (a new checkpoint is the state as it is then), and resets the run's partial sums.
   */
  epochEnd(epoch: number, beta: number, hooks: TrainHooks, save: (isBest: boolean) => Promise<string>): Promise<EpochResult>;
  /** Saves the run as it is (an interrupted epoch: the partial sums and the step it reached); says where. */
  save(isBest: boolean): Promise<string>;
}

export interface TrainOutcome {
  interrupted: boolean;
  epochs: EpochResult[];
  lastCheckpoint: string | null;
  threads: number;
}

/** A step given to the engine: its batch slot, the examples it counts, its β, and the promise of its end. */
interface Submitted {
  step: number;
  slot: number;
  examples: number;
  beta: number;
  done: Promise<void>;
}

/** The sums of an epoch before its first step. */
export function emptySums(): EpochSums {
  return { loss: 0, rec: 0, kl: 0, count: 0, seconds: 0 };
}

export function initialAdam(vae: Vae): AdamState {
  const { size } = flatLayout(vae.trainableVariables());
  return { m: new Float32Array(size), v: new Float32Array(size) };
}

export function initialState(seed: number): TrainState {
  return { epochsDone: 0, stepInEpoch: 0, globalStep: 0, partial: emptySums(), bestTestLoss: null, bestEpoch: null,
    rng: { kind: 'counter', seed } };
}

/** Adam's settings for a run: its --lr, the defaults for the rest. */
export function adamConfigOf(config: RunConfig): AdamConfig {
  return { lr: config.train.lr, ...ADAM_DEFAULTS };
}

/** β for a step: with --kl-warmup N it rises linearly from 0 to β over the first N epochs. */
export function betaAt(beta: number, klWarmup: number, epoch: number, step: number, steps: number): number {
  if (klWarmup <= 0) return beta;
  return beta * Math.min(1, (epoch - 1 + step / steps) / klWarmup);
}

/** Lets other work (a Ctrl-C handler, a worker's messages) run: setImmediate under Node, a macrotask in a browser. */
const nextTick = () => new Promise<void>((resolve) => (typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0)));

export async function trainLoop(run: LoopRun, parts: LoopParts, hooks: TrainHooks = {}): Promise<TrainOutcome> {
  const { config, dataset, vae, state } = run;
  const { epochs, beta, klWarmup } = config.train;
  const family = familyOf(vae.config);
  const source = family.batches({ vae, train: dataset.train, settings: config.train, binarize: config.data.binarize === 'dynamic', m1: run.m1 });
  const steps = source.steps;
  // A streamed set starts reading its first window now, while the engine starts (awaited again before the step).
  if (state.epochsDone < epochs && state.stepInEpoch < steps) source.ready?.(state.epochsDone + 1, state.stepInEpoch).catch(() => undefined);

  const variables = vae.trainableVariables();
  const layout = flatLayout(variables);
  const adamConfig = adamConfigOf(config);
  const engine = await parts.engine({ vae, adam: run.adam, adamConfig,
    lean: dataset.train.store !== undefined,
    sizes: { rows: source.rows, dim: vae.inputDim, labelDim: vae.labelDim, zDim: vae.config.zDim, samples: source.samples,
      noisy: vae.config.noise !== undefined }, images: source.gather, imageBytes: source.imageBytes,
    normals: config.train.normals });
  hooks.onEngine?.(engine.description);
  const depth = engine.depth ?? BATCH_SLOTS;
  const group = Math.min(engine.group ?? 1, depth);
  /** The main thread's model and run.adam take the trained state (for evaluation, samples and checkpoints). */
  const syncModel = async () => {
    const trained = await engine.state();
    writeVariables(variables, layout, trained.params);
    run.adam = trained.adam;
  };
  const save = (isBest: boolean) => parts.save(isBest);

  const outcome: TrainOutcome = { interrupted: false, epochs: [], lastCheckpoint: null, threads: engine.threads };
  let failed = false;
  try {
    while (state.epochsDone < epochs) {
      const epoch = state.epochsDone + 1;
      const sums = state.partial;
      const named = sums as unknown as Record<string, number>;
      hooks.onEpochStart?.(epoch, steps, state.stepInEpoch);
      let betaNow = betaAt(beta, klWarmup, epoch, state.stepInEpoch, steps);
      const firstGlobalStep = state.globalStep - state.stepInEpoch; // Adam's t of this epoch's step s is this + s + 1
      /** Writes batch `step` into its slot and gives it to the engine, which starts it when the one before is done. */
      const submit = (step: number): Submitted => {
        const slot = step % depth;
        const { task, examples } = source.fill(epoch, step, engine.slot(slot));
        const stepBeta = betaAt(beta, klWarmup, epoch, step, steps);
        const done = engine.step({ ...task, slot, beta: stepBeta }, firstGlobalStep + step + 1);
        done.catch(() => undefined); // awaited in finish(); until then a failure must not count as unhandled
        return { step, slot, examples, beta: stepBeta, done };
      };
      let lastDone = performance.now();
      /** Waits for a submitted step and adds its numbers to the epoch's. */
      const finish = async ({ step, slot, examples, beta: stepBeta, done }: Submitted): Promise<void> => {
        await done;
        const [loss, ...stats] = engine.stats(slot);
        if (!Number.isFinite(loss)) throw new NonFiniteLossError(epoch, step + 1, loss);
        sums.loss += loss * examples;
        family.stats.forEach((name, i) => { named[name] = (named[name] ?? 0) + stats[i]; });
        sums.count += examples;
        const now = performance.now();
        sums.seconds += (now - lastDone) / 1000;
        lastDone = now;
        state.stepInEpoch = step + 1;
        state.globalStep++;
        betaNow = stepBeta;
        hooks.onStep?.({ epoch, step: step + 1, steps, beta: betaNow, autoencoder: !family.traits.kl, penalty: family.penalty, loss: sums.loss / sums.count,
          rec: sums.rec / sums.count, kl: sums.kl / sums.count, samplesPerSec: sums.count / sums.seconds });
      };
      // Steps are queued behind the running one (`depth` in flight: one behind it on the CPU, more on the GPU), so
      // the engine never waits for this thread's bookkeeping; the batches after it are prepared while it works.
      /** submit, once a streamed set has read the step's pictures (the steps given before start meanwhile). */
      const submitReady = async (step: number): Promise<Submitted> => {
        if (source.ready) {
          engine.flush?.();
          await source.ready(epoch, step);
        }
        return submit(step);
      };
      const queued: Submitted[] = [];
      let toSubmit = state.stepInEpoch;
      /** Queues steps in runs of `group` (the engine's submissions): once a whole run has room, or the epoch's last steps. */
      const fill = async () => {
        if (depth - queued.length < Math.min(group, steps - toSubmit)) return;
        while (queued.length < depth && toSubmit < steps) queued.push(await submitReady(toSubmit++));
        engine.flush?.();
      };
      await fill();
      while (queued.length > 0) {
        await finish(queued.shift()!);
        await nextTick(); // lets a Ctrl-C handler run
        if (queued.length > 0 && hooks.shouldStop?.()) {
          for (const step of queued.splice(0)) await finish(step); // already queued: trained, and saved with the rest
          if (state.stepInEpoch < steps) {
            await syncModel();
            outcome.lastCheckpoint = await save(false);
            outcome.interrupted = true;
            return outcome;
          }
        }
        await fill();
      }

      await syncModel();
      const result = await parts.epochEnd(epoch, betaNow, hooks, save);
      outcome.lastCheckpoint = result.checkpointDir;
      outcome.epochs.push(result);
      hooks.onEpochEnd?.(result);
      if (state.epochsDone < epochs && hooks.shouldStop?.()) {
        outcome.interrupted = true;
        return outcome;
      }
    }
    return outcome;
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    try {
      await syncModel();
    } catch (e) {
      if (!failed) throw e; // else the first failure (e.g. a lost GPU, which also fails this) is the one to report
    } finally {
      source.close?.();
      await engine.close();
    }
  }
}
