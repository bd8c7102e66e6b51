/**
 * The loop keeps as many steps in flight as its engine takes (Engine.depth: 2 on the CPU, GPU_STEPS_IN_FLIGHT on the
 * GPU), and the numbers do not depend on it: an engine that queues 5 steps (here the CPU engine behind a queue of 5
 * slots of its own, run one after another) trains the same parameters, to the bit, as the CPU engine with 2; and a
 * stop mid-epoch finishes the steps already queued, then saves. An engine that starts steps in runs (Engine.group,
 * the GPU's submissions) is handed them in whole runs, the epoch's last run shorter, and trains the same parameters.
 */
import * as path from 'path';
import { initBackend } from '../../src/backend';
import { createCpuEngine } from '../../src/engine/cpu';
import type { Engine, EngineSetup } from '../../src/engine/engine';
import type { BatchSlot, ShardTask } from '../../src/model/families/family';
import { familyOf } from '../../src/model/families/registry';
import { flatLayout, readVariables } from '../../src/model/flat';
import { EpochClose } from '../../src/train/epoch-close';
import { trainLoop } from '../../src/train/loop';
import { startRun } from '../../src/train/run';
import type { TrainRun } from '../../src/train/types';
import { tmpDir } from '../helpers/tmp';

const BACKEND = { choice: 'wasm', tfName: 'wasm', description: 'wasm', threadChoice: 'wasm' } as const;

/** 640 MNIST images at batch 64 (10 steps an epoch), 2 epochs. */
function smallRun(batchSize = 64): Promise<TrainRun> {
  return startRun({ data: 'mnist', out: path.join(tmpDir(), 'run'), limitTrain: 640, limitTest: 64, hidden: [32], zDim: 4, beta: 1, epochs: 2,
    batchSize, lr: 1e-3, seed: 11, klWarmup: 0, binarize: 'dynamic' });
}

/**
 * The CPU engine behind `depth` slots of its own: step() returns at once and runs the step after the ones before it
 * (as the GPU's queue does), copying its slot into the CPU engine's first. Counts the steps in flight. With `group`,
 * steps start only in runs, as the GPU's submissions do: when `group` are given, or at flush; the runs are noted.
 */
function queuedEngine(cpu: Engine, depth: number, group?: number) {
  const first = cpu.slot(0);
  const copy = (s: BatchSlot): BatchSlot => ({ x: new Float32Array(s.x.length), y: new Float32Array(s.y.length), eps: new Float32Array(s.eps.length),
    noisy: new Float32Array(s.noisy.length) });
  const slots = Array.from({ length: depth }, () => copy(first));
  const stats: number[][] = Array.from({ length: depth }, () => []);
  let chain = Promise.resolve();
  const seen = { inFlight: 0, most: 0, runs: [] as number[] };
  /** The steps given and not started (with `group`), each with what starts it. */
  let waiting: (() => void)[] = [];
  const flush = () => {
    if (waiting.length > 0) seen.runs.push(waiting.length);
    for (const start of waiting.splice(0)) start();
  };
  const engine: Engine = {
    depth,
    group,
    flush: group ? flush : undefined,
    threads: cpu.threads,
    description: `queued (${depth})`,
    slot: (i) => slots[i],
    step(task: ShardTask, t: number) {
      seen.inFlight++;
      seen.most = Math.max(seen.most, seen.inFlight);
      const started = group ? new Promise<void>((resolve) => waiting.push(resolve)) : Promise.resolve();
      // (Each step starts on a later turn of the event loop, as a GPU's would: the loop queues the next ones meanwhile.)
      const mine = Promise.all([chain, started]).then(() => new Promise((resolve) => setImmediate(resolve))).then(async () => {
        const from = slots[task.slot];
        for (const key of ['x', 'y', 'eps', 'noisy'] as const) first[key].set(from[key]);
        await cpu.step({ ...task, slot: 0 }, t);
        stats[task.slot] = cpu.stats(0);
        seen.inFlight--;
      });
      chain = mine;
      if (group && waiting.length === group) flush();
      return mine;
    },
    stats: (slot) => stats[slot],
    state: () => cpu.state(),
    close: () => cpu.close(),
  };
  return { engine, seen };
}

const paramsOf = (run: TrainRun) => {
  const variables = run.vae.trainableVariables();
  const params = new Float32Array(flatLayout(variables).size);
  readVariables(variables, flatLayout(variables), params);
  return params;
};

async function train(run: TrainRun, depth: number | null, stopAfter?: number, group?: number) {
  const close = new EpochClose(run, familyOf(run.vae.config));
  let seen = { inFlight: 0, most: 0, runs: [] as number[] };
  let steps = 0;
  const outcome = await trainLoop(run, {
    engine: async (setup: Omit<EngineSetup, 'backend'>) => {
      const cpu = await createCpuEngine({ ...setup, backend: BACKEND, threads: 1 });
      if (depth === null) return cpu;
      const queued = queuedEngine(cpu, depth, group);
      seen = queued.seen;
      return queued.engine;
    },
    epochEnd: async (epoch, beta, hooks) => (await close.close(epoch, beta, hooks)).result,
    save: async () => '',
  }, { onStep: () => { steps++; }, shouldStop: () => stopAfter !== undefined && steps >= stopAfter });
  return { outcome, seen, params: paramsOf(run) };
}

test('5 steps in flight train the same parameters as 2, to the bit; a stop finishes the queued steps', async () => {
  await initBackend('wasm');
  const plain = await smallRun();
  const two = await train(plain, null);
  const deep = await smallRun();
  const five = await train(deep, 5);
  expect(five.seen.most).toBe(5);
  expect(two.outcome.epochs.map((e) => e.train.loss)).toEqual(five.outcome.epochs.map((e) => e.train.loss));
  expect(Buffer.from(five.params.buffer).equals(Buffer.from(two.params.buffer))).toBe(true);
  expect(deep.state).toMatchObject({ epochsDone: 2, globalStep: 20 });

  // Stopped after its 3rd step: the 4 queued behind it are trained too, then it stops mid-epoch (step 7 of 10).
  const stopped = await smallRun();
  const early = await train(stopped, 5, 3);
  expect(early.outcome.interrupted).toBe(true);
  expect(stopped.state).toMatchObject({ epochsDone: 0, stepInEpoch: 7, globalStep: 7 });
  for (const run of [plain, deep, stopped]) {
    run.vae.dispose();
    run.lock?.release();
  }
}, 120_000);

test('an engine that starts steps in runs of 4 (8 in flight) is handed whole runs, and the epoch\'s rest, and trains the same parameters', async () => {
  await initBackend('wasm');
  for (const [batch, want] of [[64, [4, 4, 2]], [32, [4, 4, 4, 4, 4]], [48, [4, 4, 4, 2]]] as const) {
    const plain = await smallRun(batch);
    const one = await train(plain, null);
    const grouped = await smallRun(batch);
    const runs = await train(grouped, 8, undefined, 4);
    // Two epochs of 10, 20 and 14 steps: a run is queued once 4 slots of the 8 are free, never a step at a time.
    expect(runs.seen.runs).toEqual([...want, ...want]);
    expect(runs.seen.most).toBe(8);
    expect(Buffer.from(runs.params.buffer).equals(Buffer.from(one.params.buffer))).toBe(true);
    expect(runs.outcome.epochs.map((e) => e.train.loss)).toEqual(one.outcome.epochs.map((e) => e.train.loss));
    for (const run of [plain, grouped]) {
      run.vae.dispose();
      run.lock?.release();
    }
  }
}, 120_000);
