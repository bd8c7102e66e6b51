import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { semiSupervisedTerms } from '../../src/model/m2';
import { createModel } from '../../src/model/families/registry';
import { flatLayout, readVariables } from '../../src/model/flat';
import { NewRunOptions, startRun } from '../../src/train/run';
import { BarrierFailed, GRAD_SHARDS, ShardWorker, allocateShared, awaitBarrier, batchStats, viewShared } from '../../src/engine/shards';
import { createCpuEngine } from '../../src/engine/cpu';
import { Worker } from 'worker_threads';
import { train } from '../../src/train/train';
import { Rng } from '../../src/rng';
import { currentBackend } from '../../src/backend';
import { prestartThreads } from '../../src/engine/threads';
import { useTestBackend } from '../helpers/backend';
import { tmpDir } from '../helpers/tmp';

beforeAll(useTestBackend);

test('the shards\' gradients add up to the gradient of the whole batch, and their losses to its loss', () => {
  const vae = createModel({ family: 'vae', arch: 'mlp', inputShape: [6, 6, 1], hidden: [10], zDim: 3, likelihood: 'bernoulli' }, 4);
  const variables = vae.trainableVariables();
  const layout = flatLayout(variables);
  const n = 7; // odd: shards of 3 and 4
  const mem = viewShared(allocateShared(layout.size, 8, 36, 3));
  const rng = new Rng(9);
  for (let i = 0; i < n * 36; i++) mem.x[1][i] = rng.uniform();
  rng.fillNormals(mem.eps[1].subarray(0, n * 3));
  readVariables(variables, layout, mem.params);
  const worker = new ShardWorker(vae, layout, mem);
  for (let s = 0; s < GRAD_SHARDS; s++) worker.computeShard({ slot: 1, n, beta: 0.7, samples: 1 }, s);

  const x = tf.tensor2d(mem.x[1].subarray(0, n * 36), [n, 36]);
  const eps = tf.tensor2d(mem.eps[1].subarray(0, n * 3), [n, 3]);
  const whole = tf.variableGrads(() => vae.lossTerms(x, eps, 0.7).loss, variables);
  const wholeLoss = whole.value.dataSync()[0];
  // Batch slot 1: its stats are its own, slot 0's are untouched.
  expect(batchStats(mem, 1)[0]).toBeCloseTo(wholeLoss, 4);
  expect(batchStats(mem, 0)[0]).toBe(0);
  variables.forEach((v, i) => {
    const expected = whole.grads[v.name].dataSync();
    const { offset } = layout.entries[i];
    expected.forEach((g, j) => {
      const summed = mem.grads.reduce((acc, shard) => acc + shard[offset + j], 0);
      expect(summed).toBeCloseTo(g, 4);
    });
  });
});

test('an M2 batch: the shards\' gradients add up to the gradient of the whole batch, labelled and unlabelled parts alike', () => {
  const classes = 3;
  const vae = createModel({ family: 'm2', arch: 'mlp', inputShape: [2, 3, 1], hidden: [5], zDim: 2, likelihood: 'bernoulli',
    condition: { kind: 'label', classes } }, 4);
  const variables = vae.trainableVariables();
  const layout = flatLayout(variables);
  const nu = 5; // shards of 2 and 3 unlabelled images
  const nl = 3; // and of 1 and 2 labelled ones
  const mem = viewShared(allocateShared(layout.size, nu + nl, 6, 2, classes, classes));
  const rng = new Rng(11);
  for (let i = 0; i < (nu + nl) * 6; i++) mem.x[0][i] = rng.uniform();
  [2, 0, 1].forEach((label, j) => { mem.y[0][(nu + j) * classes + label] = 1; });
  rng.fillNormals(mem.eps[0].subarray(0, (nu * classes + nl) * 2));
  readVariables(variables, layout, mem.params);
  const weights = { unlabelled: 0.3, labelled: 0.05, classification: 2 };
  const worker = new ShardWorker(vae, layout, mem);
  const task = { slot: 0, n: nu + nl, beta: 1, samples: 1, semi: { unlabelled: nu, labelled: nl, weights } };
  for (let s = 0; s < GRAD_SHARDS; s++) worker.computeShard(task, s);

  const whole = tf.variableGrads(() => semiSupervisedTerms(vae, {
    unlabelled: { x: tf.tensor2d(mem.x[0].subarray(0, nu * 6), [nu, 6]), eps: tf.tensor2d(mem.eps[0].subarray(0, nu * classes * 2), [nu * classes, 2]) },
    labelled: { x: tf.tensor2d(mem.x[0].subarray(nu * 6, (nu + nl) * 6), [nl, 6]), y: tf.tensor2d(mem.y[0].subarray(nu * classes, (nu + nl) * classes), [nl, classes]),
      eps: tf.tensor2d(mem.eps[0].subarray(nu * classes * 2, (nu * classes + nl) * 2), [nl, 2]) },
  }, weights).loss, variables);
  expect(batchStats(mem, 0)[0]).toBeCloseTo(whole.value.dataSync()[0], 4);
  variables.forEach((v, i) => {
    const { offset } = layout.entries[i];
    whole.grads[v.name].dataSync().forEach((g, j) => {
      expect(mem.grads.reduce((acc, shard) => acc + shard[offset + j], 0)).toBeCloseTo(g, 4);
    });
  });
});

test.each([
  ['a VAE', {}],
  ['a cvae on the label', { model: 'cvae', condition: 'label' }],
  ['a cvae completing the left half', { model: 'cvae', condition: 'left-half' }],
  ['M2, whose batches hold labelled and unlabelled images', { model: 'm2', labeled: 20, alpha: 50 }],
  ['a VQ-VAE, whose codebook is a third network', { model: 'vqvae', codebookSize: 16 }],
  ['a conv VAE (the native convolutions, where the addon is built)', { arch: 'conv' }],
] as const)('one and two training threads give the same numbers, to the last bit: %s', async (_, kind) => {
  const options = (out: string): NewRunOptions => ({ data: 'mnist', binarize: 'dynamic', zDim: 8, hidden: [64], beta: 1, epochs: 2,
    batchSize: 100, lr: 1e-3, seed: 3, klWarmup: 0, out, limitTrain: 1050, limitTest: 200, ...kind });
  const root = tmpDir();
  const one = await startRun(options(path.join(root, 'one')));
  const two = await startRun(options(path.join(root, 'two')));
  const a = await train(one, {}, { threads: 1 });
  const b = await train(two, {}, { threads: 2 });
  expect([a.threads, b.threads]).toEqual([1, 2]);
  expect(b.epochs.map((e) => e.test.negElbo)).toEqual(a.epochs.map((e) => e.test.negElbo));
  expect(b.epochs.map((e) => e.train.negElbo)).toEqual(a.epochs.map((e) => e.train.negElbo));
  expect(b.epochs.map((e) => [e.test.error, e.train.labelled])).toEqual(a.epochs.map((e) => [e.test.error, e.train.labelled]));
  const wa = one.vae.trainableVariables().map((v) => Array.from(v.dataSync()));
  const wb = two.vae.trainableVariables().map((v) => Array.from(v.dataSync()));
  expect(wb).toEqual(wa);
  expect(Array.from(two.adam.v)).toEqual(Array.from(one.adam.v));
});

test('threads started ahead, and given their work while their backend still loads, train the numbers of threads started then', async () => {
  const options = (out: string): NewRunOptions => ({ data: 'mnist', binarize: 'dynamic', zDim: 8, hidden: [64], beta: 1, epochs: 1,
    batchSize: 100, lr: 1e-3, seed: 5, klWarmup: 0, out, limitTrain: 500, limitTest: 100 });
  const root = tmpDir();
  const fresh = await startRun(options(path.join(root, 'fresh')));
  const a = await train(fresh, {}, { threads: 2 });
  prestartThreads(2, currentBackend().threadChoice);
  const ahead = await startRun(options(path.join(root, 'ahead')));
  const b = await train(ahead, {}, { threads: 2 });
  expect(b.epochs.map((e) => [e.train.negElbo, e.test.negElbo])).toEqual(a.epochs.map((e) => [e.train.negElbo, e.test.negElbo]));
  expect(Array.from(ahead.adam.m)).toEqual(Array.from(fresh.adam.m));
});

test.each([
  ['a VAE', {}],
  ['M2', { model: 'm2', labeled: 20, alpha: 50 }],
] as const)('the main thread as one of two training threads (lean, a streamed set) gives the numbers of one thread, to the last bit: %s', async (_, kind) => {
  const options = (out: string): NewRunOptions => ({ data: 'mnist', binarize: 'dynamic', zDim: 8, hidden: [64], beta: 1, epochs: 2,
    batchSize: 100, lr: 1e-3, seed: 4, klWarmup: 0, out, limitTrain: 1050, limitTest: 200, ...kind });
  const root = tmpDir();
  const one = await startRun(options(path.join(root, 'one')));
  const lean = await startRun(options(path.join(root, 'lean')));
  const a = await train(one, {}, { threads: 1 });
  const b = await train(lean, {}, { threads: 2, engine: (setup) => createCpuEngine({ ...setup, lean: true }) });
  expect(b.threads).toBe(2);
  expect(b.epochs.map((e) => [e.train.negElbo, e.test.negElbo])).toEqual(a.epochs.map((e) => [e.train.negElbo, e.test.negElbo]));
  expect(Array.from(lean.adam.v)).toEqual(Array.from(one.adam.v));
  expect(lean.vae.trainableVariables().map((v) => Array.from(v.dataSync()))).toEqual(one.vae.trainableVariables().map((v) => Array.from(v.dataSync())));
});

test('a training thread that fails stops the others at the barrier instead of leaving them waiting for ever', async () => {
  const barrier = new Int32Array(new SharedArrayBuffer(12));
  // A thread that fails 100 ms after the main thread began to wait for it.
  const shards = path.join(__dirname, '..', '..', 'dist', 'engine', 'shards.js');
  const worker = new Worker(`const { workerData } = require('worker_threads');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    require(${JSON.stringify(shards)}).failBarrier(new Int32Array(workerData));`, { eval: true, workerData: barrier.buffer });
  expect(() => awaitBarrier(barrier, 2)).toThrow(BarrierFailed);
  await new Promise((resolve) => worker.on('exit', resolve));
  // And a thread that reaches the barrier after the failure does not wait at all.
  expect(() => awaitBarrier(barrier, 2)).toThrow(BarrierFailed);
});
