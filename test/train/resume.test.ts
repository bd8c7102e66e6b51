import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { NonFiniteLossError } from '../../src/errors';
import { loadModel } from '../../src/io/checkpoint';
import { evaluateElbo } from '../../src/model/evaluate';
import { NewRunOptions, resumeRun, startRun } from '../../src/train/run';
import { train } from '../../src/train/train';
import { inputsOf, testMatrix } from '../../src/data/batches';
import { useTestBackend } from '../helpers/backend';
import { tmpDir } from '../helpers/tmp';

beforeAll(useTestBackend);

/** A small but real run: 1,000 MNIST images, 8 steps of 128 per epoch. */
function options(out: string, epochs: number): NewRunOptions {
  return { data: 'mnist', binarize: 'dynamic', zDim: 8, hidden: [64], beta: 1, epochs, batchSize: 128, lr: 1e-3, seed: 7,
    klWarmup: 1, out, limitTrain: 1000, limitTest: 200 };
}

function weightsOf(vars: tf.Variable[]): Float32Array[] {
  return vars.map((v) => v.dataSync() as Float32Array);
}

function maxAbsDiff(a: Float32Array[], b: Float32Array[]): number {
  let m = 0;
  a.forEach((arr, i) => arr.forEach((v, j) => { m = Math.max(m, Math.abs(v - b[i][j])); }));
  return m;
}

function metrics(runDir: string) {
  return fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

test('a run interrupted mid-epoch and resumed ends where the uninterrupted run ends', async () => {
  const root = tmpDir();
  const straight = await startRun(options(path.join(root, 'straight'), 3));
  await train(straight);

  // The same run, stopped during step 5 of epoch 2 (as Ctrl-C does), then resumed twice over. Step 6 is
  // already queued behind step 5 then: it is trained too, and the checkpoint holds both.
  const interrupted = await startRun(options(path.join(root, 'interrupted'), 3));
  let steps = 0;
  const first = await train(interrupted, { shouldStop: () => ++steps === 8 + 5 });
  expect(first.interrupted).toBe(true);
  expect(path.basename(first.lastCheckpoint!)).toBe('epoch-0001-step-00006');
  const index = JSON.parse(fs.readFileSync(path.join(root, 'interrupted', 'checkpoint.json'), 'utf8'));
  expect(index).toMatchObject({ last: 'epoch-0001-step-00006', best: 'epoch-0001' });

  const resumed = await resumeRun(path.join(root, 'interrupted'));
  expect(resumed.state).toMatchObject({ epochsDone: 1, stepInEpoch: 6, globalStep: 14 });
  const second = await train(resumed);
  expect(second.interrupted).toBe(false);

  expect(maxAbsDiff(weightsOf(straight.vae.trainableVariables()), weightsOf(resumed.vae.trainableVariables()))).toBeLessThan(1e-5);
  const a = metrics(path.join(root, 'straight'));
  const b = metrics(path.join(root, 'interrupted'));
  expect(b.map((m) => m.epoch)).toEqual([1, 2, 3]);
  for (let i = 0; i < 3; i++) {
    expect(b[i].test.negElbo).toBeCloseTo(a[i].test.negElbo, 3);
    expect(b[i].train.negElbo).toBeCloseTo(a[i].train.negElbo, 3);
  }
  // Only the checkpoints named in checkpoint.json remain (the last, the best and the one before the last), and
  // nothing hidden once the run folder is given up (the lock).
  interrupted.lock?.release();
  const finalIndex = JSON.parse(fs.readFileSync(path.join(root, 'interrupted', 'checkpoint.json'), 'utf8'));
  expect(finalIndex.previous).toBe('epoch-0002');
  const dirs = fs.readdirSync(path.join(root, 'interrupted')).filter((d) => d.startsWith('epoch-') || d.startsWith('.'));
  expect(dirs.sort()).toEqual([...new Set([finalIndex.best, finalIndex.previous, 'epoch-0003'])].sort());
});

test('the same seed gives the same numbers; another seed other numbers', async () => {
  const root = tmpDir();
  const runA = await startRun({ ...options(path.join(root, 'a'), 1) });
  const runB = await startRun({ ...options(path.join(root, 'b'), 1) });
  const runC = await startRun({ ...options(path.join(root, 'c'), 1), seed: 8 });
  const [a, b, c] = [await train(runA), await train(runB), await train(runC)];
  expect(b.epochs[0].test.negElbo).toBe(a.epochs[0].test.negElbo);
  expect(c.epochs[0].test.negElbo).not.toBe(a.epochs[0].test.negElbo);
});

test('a checkpoint loads back to a model with the same outputs', async () => {
  const run = await startRun(options(path.join(tmpDir(), 'rt'), 1));
  await train(run);
  const loaded = await loadModel(run.runDir);
  const x = testMatrix(run.dataset.test, 784, 'dynamic');
  const before = await evaluateElbo(run.vae, inputsOf(x, 784));
  const after = await evaluateElbo(loaded.vae, inputsOf(x, 784));
  expect(after.negElbo).toBeCloseTo(before.negElbo, 4);
  const z = tf.randomNormal([3, 8], 0, 1, 'float32', 1) as tf.Tensor2D;
  expect(maxAbsDiff([run.vae.decodeMean(z).dataSync() as Float32Array], [loaded.vae.decodeMean(z).dataSync() as Float32Array])).toBeLessThan(1e-6);
  // The decoder is a standard TensorFlow.js layers model.
  const modelJson = JSON.parse(fs.readFileSync(path.join(loaded.checkpointDir, 'decoder', 'model.json'), 'utf8'));
  expect(modelJson.format).toBe('layers-model');
  expect(modelJson.weightsManifest[0].paths).toEqual(['weights.bin']);
});

test('a NaN loss stops training naming epoch and step, and the last good checkpoint stays', async () => {
  const run = await startRun(options(path.join(tmpDir(), 'nan'), 3));
  await train(run);
  const poisoned = await resumeRun(run.runDir, 5);
  expect(JSON.parse(fs.readFileSync(path.join(run.runDir, 'config.json'), 'utf8')).train.epochs).toBe(5);
  const lastBefore = fs.readFileSync(path.join(run.runDir, 'checkpoint.json'), 'utf8');
  const kernel = poisoned.vae.trainableVariables()[0];
  kernel.assign(tf.fill(kernel.shape, NaN));
  const error = await train(poisoned).then(() => null, (e) => e);
  expect(error).toBeInstanceOf(NonFiniteLossError);
  expect(error.message).toMatch(/loss became NaN at epoch 4, step 1/);
  expect(fs.readFileSync(path.join(run.runDir, 'checkpoint.json'), 'utf8')).toBe(lastBefore);
  const good = await loadModel(run.runDir, 'last');
  expect(good.vae.trainableVariables()[0].dataSync().every(Number.isFinite)).toBe(true);
});

test('an M2 run interrupted mid-epoch and resumed ends where the uninterrupted run ends (classifier included)', async () => {
  const root = tmpDir();
  const m2 = (out: string): NewRunOptions => ({ ...options(out, 2), model: 'm2', labeled: 20, alpha: 50, klWarmup: 0, hidden: [32], zDim: 4,
    limitTrain: 660 }); // 640 unlabelled images: 5 steps of 128 per epoch
  const straight = await startRun(m2(path.join(root, 'straight')));
  await train(straight);
  const interrupted = await startRun(m2(path.join(root, 'interrupted')));
  let steps = 0;
  expect((await train(interrupted, { shouldStop: () => ++steps === 5 + 2 })).interrupted).toBe(true);
  const resumed = await resumeRun(path.join(root, 'interrupted'));
  expect(resumed.vae.classifier).not.toBeNull();
  expect(resumed.state).toMatchObject({ epochsDone: 1, stepInEpoch: 3 }); // step 3 was queued behind step 2
  await train(resumed);
  expect(maxAbsDiff(weightsOf(straight.vae.trainableVariables()), weightsOf(resumed.vae.trainableVariables()))).toBeLessThan(1e-5);
  const [a, b] = [metrics(path.join(root, 'straight')), metrics(path.join(root, 'interrupted'))];
  expect(b.map((m) => m.test.error)).toEqual(a.map((m) => m.test.error));
  b.forEach((m, i) => {
    expect(m.train.negElbo).toBeCloseTo(a[i].train.negElbo, 3);
    expect(m.train.labelled.crossEntropy).toBeCloseTo(a[i].train.labelled.crossEntropy, 4);
  });
});

test('a run made before the Philox noise (no train.normals in config.json) resumes with its sfc32 noise; new runs record philox', async () => {
  const root = tmpDir();
  const older = (out: string) => {
    const dir = path.join(root, out);
    return startRun(options(dir, 2)).then((run) => {
      // As a run made before 2026-12-05 was written: no train.normals.
      const file = path.join(dir, 'config.json');
      const config = JSON.parse(fs.readFileSync(file, 'utf8'));
      expect(config.train.normals).toBe('philox');
      delete config.train.normals;
      fs.writeFileSync(file, JSON.stringify(config, null, 2));
      delete run.config.train.normals;
      return run;
    });
  };
  const straight = await older('straight');
  await train(straight);
  const interrupted = await older('interrupted');
  let steps = 0;
  expect((await train(interrupted, { shouldStop: () => ++steps === 8 })).interrupted).toBe(true);
  const resumed = await resumeRun(path.join(root, 'interrupted'));
  expect(resumed.config.train.normals).toBeUndefined();
  await train(resumed);
  expect(maxAbsDiff(weightsOf(straight.vae.trainableVariables()), weightsOf(resumed.vae.trainableVariables()))).toBeLessThan(1e-5);
  // The same run with Philox's noise is another run.
  const philox = await startRun(options(path.join(root, 'philox'), 2));
  await train(philox);
  expect(maxAbsDiff(weightsOf(straight.vae.trainableVariables()), weightsOf(philox.vae.trainableVariables()))).toBeGreaterThan(1e-3);
});
