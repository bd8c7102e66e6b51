/**
 * The training loop: shuffled mini-batches, one Adam step on the negative ELBO (β-weighted) per batch,
 * a test-set evaluation, a sample grid, a metrics line and a checkpoint after every epoch.
 *
 * Every random number comes from a stream named by (seed, purpose, epoch, step) (rng.ts): the data order
 * of an epoch, the binarization and ε of a step. A run resumed from a checkpoint therefore draws exactly
 * what the uninterrupted run would have drawn.
 */
import * as fs from 'fs';
import * as path from 'path';
import { currentBackend } from '../backend';
import { testMatrix, epochOrder, fillBatch } from '../data/batches';
import { Dataset } from '../data/datasets';
import { corrupt } from '../data/noise';
import { NonFiniteLossError, VaeError, errorMessage } from '../errors';
import { EpochSums, RunConfig, TrainState, saveCheckpoint } from '../io/checkpoint';
import { toTiles, writeImageGrid } from '../io/png';
import { EpochMetrics, writeTrainingCurves } from '../io/plots';
import { ElboTerms, evaluateElbo } from '../model/evaluate';
import { evaluateSemi, semiWeights } from '../model/m2';
import { fillOneHot } from '../model/condition';
import { previewImages } from '../model/generate';
import { M1Codes } from '../model/m1m2';
import { Vae, isAutoencoder } from '../model/vae';
import { Rng } from '../rng';
import { ADAM_DEFAULTS, AdamState } from './adam';
import { createExecutor, defaultThreads } from './executor';
import { flatLayout, readVariables, writeVariables } from './flat';
import { fillSemiBatch, semiSupervisedPlan } from './semi';
import { BATCH_SLOTS, ShardTask, allocateShared, batchStats, viewShared } from './shards';

export interface TrainRun {
  runDir: string;
  config: RunConfig;
  dataset: Dataset;
  vae: Vae;
  /** Adam's moment estimates, in the order of vae.trainableVariables(). */
  adam: AdamState;
  state: TrainState;
  /** M1+M2: the M1 whose codes M2 learns from. */
  m1?: M1Codes;
}

export interface TrainOptions {
  /** Training threads (default: one per core, up to GRAD_SHARDS, on the wasm and cpu backends). */
  threads?: number;
}

export interface StepInfo {
  epoch: number;
  step: number;
  steps: number;
  beta: number;
  /** Means over this epoch so far. */
  loss: number;
  rec: number;
  kl: number;
  samplesPerSec: number;
  /** An autoencoder: rec is its reconstruction loss, kl its sparsity penalty (sae; else 0). */
  autoencoder?: boolean;
}

export interface EpochResult {
  epoch: number;
  epochs: number;
  /** β at the end of the epoch (differs from the target while --kl-warmup is under way). */
  beta: number;
  /** For M2, negElbo, rec and kl are those of U(x) on the unlabelled images; labelled: L(x, y) and −log q(y|x). */
  train: ElboTerms & { loss: number; labelled?: { negElbo: number; crossEntropy: number } };
  /** For M2: U(x) and the classification error of q(y|x). */
  test: ElboTerms & { loss: number; error?: number };
  /** An autoencoder: rec is its reconstruction loss, kl its sparsity penalty (sae; else 0). */
  autoencoder: boolean;
  seconds: number;
  samplesPerSec: number;
  isBest: boolean;
  checkpointDir: string;
  samplesPng: string;
}

export interface TrainHooks {
  onEpochStart?(epoch: number, steps: number, startStep: number): void;
  onStep?(info: StepInfo): void;
  onEvaluate?(epoch: number): void;
  onEpochEnd?(result: EpochResult): void;
  /** Asked after every step; true saves a checkpoint at once and ends training (Ctrl-C). */
  shouldStop?(): boolean;
  /** Something went wrong that does not stop training (e.g. curves.png could not be drawn). */
  onWarning?(message: string): void;
}

export interface TrainOutcome {
  interrupted: boolean;
  epochs: EpochResult[];
  lastCheckpoint: string | null;
  threads: number;
}

export const EPOCH_SAMPLES = 64;

/** A step given to the executor: its batch (slot, size), its β, and the promise of its end. */
interface Submitted {
  step: number;
  slot: number;
  n: number;
  beta: number;
  done: Promise<void>;
}

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

/** β for a step: with --kl-warmup N it rises linearly from 0 to β over the first N epochs. */
export function betaAt(beta: number, klWarmup: number, epoch: number, step: number, steps: number): number {
  if (klWarmup <= 0) return beta;
  return beta * Math.min(1, (epoch - 1 + step / steps) / klWarmup);
}

const nextTick = () => new Promise<void>((resolve) => setImmediate(resolve));

export function readMetrics(file: string): EpochMetrics[] {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter((line) => line.trim()).map((line) => JSON.parse(line) as EpochMetrics);
}

/** Keeps only the metrics of epochs already in the checkpoint we resume from. */
function truncateMetrics(file: string, epochsDone: number): void {
  if (!fs.existsSync(file)) return;
  const kept = readMetrics(file).filter((m) => m.epoch <= epochsDone);
  fs.writeFileSync(file, kept.map((m) => JSON.stringify(m) + '\n').join(''));
}

export async function train(run: TrainRun, hooks: TrainHooks = {}, options: TrainOptions = {}): Promise<TrainOutcome> {
  const { runDir, config, dataset, vae, state } = run;
  const { epochs, batchSize, beta, klWarmup, seed } = config.train;
  const binarize = config.data.binarize === 'dynamic';
  const dim = vae.inputDim;
  const zDim = vae.config.zDim;
  const trainSet = dataset.train;
  const semi = vae.config.family === 'm2' ? semiSupervisedPlan(run) : null;
  const autoencoder = isAutoencoder(vae.config.family);
  const steps = Math.ceil((semi ? semi.split.unlabelled.length : trainSet.count) / batchSize);
  // M1+M2 learns from M1's codes of the images: drawn afresh from q(z1|x) in every step; tests use the mean.
  const m1 = run.m1;
  const trainCodes = m1 ? m1.encode(testMatrix(trainSet, m1.m1.inputDim, 'none'), trainSet.count) : null;
  const testX = m1 ? m1.encode(testMatrix(dataset.test, m1.m1.inputDim, 'none'), dataset.test.count).mean
    : testMatrix(dataset.test, dim, config.data.binarize);
  const metricsFile = path.join(runDir, 'metrics.jsonl');
  const sampleZ = new Rng(seed, 'epoch-samples').normals(EPOCH_SAMPLES * zDim);
  const labelDim = vae.labelDim;
  if (labelDim > 0 && !trainSet.labels) throw new VaeError('a label-conditioned model needs a data set with labels');
  truncateMetrics(metricsFile, state.epochsDone);

  // Parameters, Adam moments, gradients and batches live in shared memory, for the training threads.
  const variables = vae.trainableVariables();
  const layout = flatLayout(variables);
  const samples = Math.max(1, config.train.iwTrain ?? 1);
  // An M2 batch also holds its labelled images, and one noise row per label for each unlabelled image.
  const noise = vae.config.noise;
  const buffers = allocateShared(layout.size, batchSize + (semi?.labelledBatch ?? 0), dim, zDim, semi ? labelDim : samples, labelDim,
    noise !== undefined);
  const mem = viewShared(buffers);
  readVariables(variables, layout, mem.params);
  mem.m.set(run.adam.m);
  mem.v.set(run.adam.v);
  run.adam = { m: mem.m, v: mem.v };
  const adamConfig = { lr: config.train.lr, ...ADAM_DEFAULTS };
  const backend = currentBackend();
  const executor = await createExecutor(options.threads ?? defaultThreads(backend), backend, vae, layout, buffers, mem, adamConfig);
  /** The main thread's model takes the trained parameters (for evaluation, samples and checkpoints). */
  const syncModel = () => writeVariables(variables, layout, mem.params);

  /** Writes batch `step` of `epoch` (its examples and its noise) into a batch slot; returns its size. */
  const prepareBatch = (order: Uint32Array, epoch: number, step: number, slot: number): number => {
    if (semi) return prepareSemiBatch(order, epoch, step, slot);
    const start = step * batchSize;
    const n = Math.min(batchSize, trainSet.count - start);
    fillBatch(trainSet, dim, order, start, start + n, mem.x[slot].subarray(0, n * dim),
      binarize ? new Rng(seed, 'binarize', epoch, step) : undefined);
    if (labelDim > 0) fillOneHot(trainSet.labels!, labelDim, order, start, start + n, mem.y[slot]);
    new Rng(seed, 'eps', epoch, step).fillNormals(mem.eps[slot].subarray(0, n * samples * zDim));
    if (noise) corrupt(mem.x[slot].subarray(0, n * dim), noise, new Rng(seed, 'corrupt', epoch, step), mem.noisy[slot].subarray(0, n * dim));
    return n;
  };

  const prepareSemiBatch = (order: Uint32Array, epoch: number, step: number, slot: number): number =>
    fillSemiBatch(semi!, { set: trainSet, codes: trainCodes, dim, binarize, seed }, order, epoch, step,
      { x: mem.x[slot], y: mem.y[slot], eps: mem.eps[slot] }, { batch: batchSize, classes: labelDim, zDim });
  /** The task of a batch of n examples (for M2: n unlabelled images and the labelled ones). */
  const taskFor = (slot: number, n: number, betaNow: number): ShardTask => {
    if (!semi) return { slot, n, beta: betaNow, samples };
    const nl = semi.labelledBatch;
    return { slot, n: n + nl, beta: betaNow, samples: 1, semi: { unlabelled: n, labelled: nl,
      weights: semiWeights(semi.split.unlabelled.length, semi.split.labelled.length, n, nl, semi.alpha) } };
  };

  const outcome: TrainOutcome = { interrupted: false, epochs: [], lastCheckpoint: null, threads: executor.threads };
  try {
    while (state.epochsDone < epochs) {
      const epoch = state.epochsDone + 1;
      const order = semi ? epochOrder(seed, epoch, semi.split.unlabelled.length).map((i) => semi.split.unlabelled[i])
        : epochOrder(seed, epoch, trainSet.count);
      const sums = state.partial;
      hooks.onEpochStart?.(epoch, steps, state.stepInEpoch);
      let betaNow = betaAt(beta, klWarmup, epoch, state.stepInEpoch, steps);
      const firstGlobalStep = state.globalStep - state.stepInEpoch; // Adam's t of this epoch's step s is this + s + 1
      /** Prepares batch `step` in its slot and gives it to the threads, which start it when the one before is done. */
      const submit = (step: number): Submitted => {
        const slot = step % BATCH_SLOTS;
        const n = prepareBatch(order, epoch, step, slot);
        const stepBeta = betaAt(beta, klWarmup, epoch, step, steps);
        const done = executor.step(taskFor(slot, n, stepBeta), firstGlobalStep + step + 1);
        done.catch(() => undefined); // awaited in finish(); until then a failure must not count as unhandled
        return { step, slot, n, beta: stepBeta, done };
      };
      let lastDone = performance.now();
      /** Waits for a submitted step and adds its numbers to the epoch's. */
      const finish = async ({ step, slot, n, beta: stepBeta, done }: Submitted): Promise<void> => {
        await done;
        const stats = batchStats(mem, slot);
        const { loss } = stats;
        if (!Number.isFinite(loss)) throw new NonFiniteLossError(epoch, step + 1, loss);
        sums.loss += loss * n;
        sums.rec += stats.recSum;
        sums.kl += stats.klSum;
        sums.count += n;
        if (semi) {
          sums.u = (sums.u ?? 0) + stats.uSum;
          sums.l = (sums.l ?? 0) + stats.lSum;
          sums.ce = (sums.ce ?? 0) + stats.ceSum;
          sums.labelled = (sums.labelled ?? 0) + semi.labelledBatch;
        }
        const now = performance.now();
        sums.seconds += (now - lastDone) / 1000;
        lastDone = now;
        state.stepInEpoch = step + 1;
        state.globalStep++;
        betaNow = stepBeta;
        hooks.onStep?.({ epoch, step: step + 1, steps, beta: betaNow, autoencoder, loss: sums.loss / sums.count,
          rec: sums.rec / sums.count, kl: sums.kl / sums.count, samplesPerSec: sums.count / sums.seconds });
      };
      // One step is always queued behind the running one, so the threads never wait for this thread's
      // bookkeeping; the batch after it is prepared while they work.
      let running: Submitted | null = state.stepInEpoch < steps ? submit(state.stepInEpoch) : null;
      while (running) {
        const next: Submitted | null = running.step + 1 < steps ? submit(running.step + 1) : null;
        await finish(running);
        running = next;
        await nextTick(); // lets a Ctrl-C handler run
        if (running && hooks.shouldStop?.()) {
          await finish(running); // already queued: it is trained, and saved with the rest
          running = null;
          if (state.stepInEpoch < steps) {
            syncModel();
            outcome.lastCheckpoint = await saveCheckpoint(runDir, vae, run.adam, adamConfig, state, false);
            outcome.interrupted = true;
            return outcome;
          }
        }
      }

      syncModel();
      hooks.onEvaluate?.(epoch);
      const test = semi ? await evaluateSemi(vae, testX, dataset.test.count, dataset.test.labels!)
        : await evaluateElbo(vae, testX, dataset.test.count, dataset.test.labels);
      const testLoss = semi ? test.negElbo : test.rec + beta * test.kl;
      const isBest = state.bestTestLoss === null || testLoss < state.bestTestLoss;
      const result: EpochResult = {
        epoch, epochs, beta: betaNow, autoencoder,
        train: { loss: sums.loss / sums.count, negElbo: (semi ? sums.u! : sums.rec + sums.kl) / sums.count, rec: sums.rec / sums.count,
          kl: sums.kl / sums.count,
          ...(semi ? { labelled: { negElbo: sums.l! / sums.labelled!, crossEntropy: sums.ce! / sums.labelled! } } : {}) },
        test: { loss: testLoss, ...test },
        seconds: sums.seconds,
        samplesPerSec: sums.count / sums.seconds,
        isBest,
        checkpointDir: '',
        samplesPng: path.join(runDir, 'samples', `epoch-${String(epoch).padStart(4, '0')}.png`),
      };
      const preview = previewImages(vae, sampleZ, testX);
      // An M1+M2 model's samples are codes: M1 draws them.
      const [height, width, channels] = m1 ? m1.m1.config.inputShape : config.model.inputShape;
      const images = m1 ? m1.decode(preview.images, preview.count) : preview.images;
      await writeImageGrid(result.samplesPng, toTiles(images, preview.count, height * width * channels), { height, width, channels },
        { cols: preview.cols, rowLabels: preview.rowLabels?.map((y) => config.data.labelNames?.[y] ?? String(y)) });

      fs.appendFileSync(metricsFile, JSON.stringify({
        epoch, step: state.globalStep, beta: betaNow, train: result.train, test: result.test,
        seconds: result.seconds, samplesPerSec: result.samplesPerSec, time: new Date().toISOString(),
      }) + '\n');
      try {
        await writeTrainingCurves(readMetrics(metricsFile), path.join(runDir, 'curves.png'));
      } catch (e) {
        hooks.onWarning?.(errorMessage(e)); // a picture is not worth stopping a run for
      }
      state.epochsDone = epoch;
      state.stepInEpoch = 0;
      state.partial = emptySums();
      if (isBest) {
        state.bestTestLoss = testLoss;
        state.bestEpoch = epoch;
      }
      result.checkpointDir = await saveCheckpoint(runDir, vae, run.adam, adamConfig, state, isBest);
      outcome.lastCheckpoint = result.checkpointDir;
      outcome.epochs.push(result);
      hooks.onEpochEnd?.(result);
      if (state.epochsDone < epochs && hooks.shouldStop?.()) {
        outcome.interrupted = true;
        return outcome;
      }
    }
    return outcome;
  } finally {
    syncModel();
    await executor.close();
  }
}
