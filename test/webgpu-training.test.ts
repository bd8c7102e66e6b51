/**
 * Training on the GPU through the CLI (lavapipe here and in CI): the same test −ELBO as the CPU after a short
 * run, and checkpoints that resume across engines in both directions.
 */
import * as fs from 'fs';
import * as path from 'path';
import { readMetrics } from '../src/train/train';
import { runVae } from './helpers/cli';
import { webGpuUnsupported } from '../src/engine/webgpu/objectives';
import { createModel } from '../src/model/families/registry';
import { testGpu } from './helpers/gpu';
import type { Gpu } from '../src/gpu-device';
import { tmpDir } from './helpers/tmp';

const work = tmpDir();
let gpu: Gpu | null = null;
beforeAll(async () => { gpu = await testGpu(); });
/** What the engine line ends with on this adapter, untuned: a software one builds the step in its own form (plan.ts). */
const untunedForm = () => (gpu?.info.software ? ', its products in larger vector blocks \\(untuned: a software adapter\\)' : '');

const testElbo = (run: string) => readMetrics(path.join(run, 'metrics.jsonl')).map((m) => m.test.negElbo);

function train(args: string[], env: Record<string, string> = {}): string {
  const r = runVae(['train', ...args], work, env);
  expect(r.stderr).not.toMatch(/^vae: /m);
  expect(r.status).toBe(0);
  return r.stderr;
}

test('2 epochs on 5,000 images: the GPU reaches the CPU\'s test -ELBO within 0.5 nats', () => {
  if (!gpu) return expect(process.env.CI).toBeFalsy();
  const data = ['--epochs', '2', '--limit-train', '5000', '--limit-test', '1000'];
  const log = train(['--backend', 'webgpu', ...data, '--out', path.join(work, 'gpu')]);
  // MNIST as it is (no --binarize dynamic): the engine keeps the training images and gathers each batch itself.
  expect(log).toMatch(new RegExp(`^engine: webgpu \\(.*\\), \\d+ dispatches per step, the training images on the GPU${untunedForm()}$`, 'm'));
  train(['--backend', 'wasm', ...data, '--out', path.join(work, 'cpu')]);
  const [g, c] = [testElbo(path.join(work, 'gpu')), testElbo(path.join(work, 'cpu'))];
  expect(g).toHaveLength(2);
  g.forEach((v, i) => expect(Math.abs(v - c[i])).toBeLessThan(0.5));
  expect(g[1]).toBeLessThan(g[0]);
}, 300_000);

test('a checkpoint written on the GPU resumes on the CPU, and the other way round', () => {
  if (!gpu) return expect(process.env.CI).toBeFalsy();
  const data = ['--limit-train', '2000', '--limit-test', '500'];
  const runs = { gpuThenCpu: path.join(work, 'g-c'), cpuThenGpu: path.join(work, 'c-g'), cpu: path.join(work, 'c-c') };
  train(['--backend', 'webgpu', '--epochs', '1', ...data, '--out', runs.gpuThenCpu]);
  train(['--backend', 'wasm', '--resume', runs.gpuThenCpu, '--epochs', '2']);
  train(['--backend', 'wasm', '--epochs', '1', ...data, '--out', runs.cpuThenGpu]);
  const resumed = train(['--backend', 'webgpu', '--resume', runs.cpuThenGpu, '--epochs', '2']);
  expect(resumed).toMatch(/^engine: webgpu/m);
  train(['--backend', 'wasm', '--epochs', '2', ...data, '--out', runs.cpu]);
  const reference = testElbo(runs.cpu);
  for (const run of [runs.gpuThenCpu, runs.cpuThenGpu]) {
    const got = testElbo(run);
    expect(got).toHaveLength(2);
    got.forEach((v, i) => expect(Math.abs(v - reference[i])).toBeLessThan(0.5));
  }
}, 300_000);

/** A run's metrics without its timings, and its first epoch's decoder weights (bytes): what --seed must repeat. */
const numbers = (run: string) => readMetrics(path.join(run, 'metrics.jsonl')).map((m) => ({ ...m, time: '', seconds: 0, samplesPerSec: 0 }));
const weights = (run: string) => fs.readFileSync(path.join(run, 'epoch-0001', 'decoder', 'weights.bin'));

test('VAE_GPU_F16=1 from the command line: its engine line, --seed the same run twice, not fp32\'s numbers but within a nat of them, resumed on the CPU', () => {
  if (!gpu) return expect(process.env.CI).toBeFalsy();
  const data = ['--epochs', '1', '--limit-train', '640', '--limit-test', '64', '--seed', '5'];
  const [a, b, fp32] = ['half-a', 'half-b', 'half-fp32'].map((name) => path.join(work, name));
  const logs = [a, b].map((out) => train(['--backend', 'webgpu', ...data, '--out', out], { VAE_GPU_F16: '1' }));
  train(['--backend', 'webgpu', ...data, '--out', fp32]);
  // On matrices where the adapter has f16 subgroup matrices (Mesa 26's lavapipe, an NVIDIA GPU), else rounded (bookworm's lavapipe).
  for (const log of logs) expect(log).toMatch(/^engine: webgpu .*, products (in f16 on \d+x\d+x\d+ subgroup matrices|on f16-rounded operands) \(VAE_GPU_F16/m);
  expect(numbers(b)).toEqual(numbers(a));
  expect(weights(b).equals(weights(a))).toBe(true);
  expect(weights(a).equals(weights(fp32))).toBe(false);
  expect(Math.abs(testElbo(a)[0] - testElbo(fp32)[0])).toBeLessThan(1);
  train(['--backend', 'wasm', '--resume', a, '--epochs', '2']);
  expect(testElbo(a)).toHaveLength(2);
}, 300_000);

test('--seed gives the same run twice on the GPU, and with Dawn\'s robustness off and its products tuned, then tuned from the picks kept: the same metrics and weights, to the bit', () => {
  if (!gpu) return expect(process.env.CI).toBeFalsy();
  // The third run's kernels index workgroup memory unclamped (VAE_GPU_UNCHECKED=1): the same bits say that no kernel
  // reads out of bounds. Its products are timed in each form and the fastest kept (VAE_GPU_TUNE=1: on lavapipe too),
  // and its picks kept in a folder; the fourth run takes them from there, and times what the third had no time for.
  const tuned = { VAE_GPU_UNCHECKED: '1', VAE_GPU_TUNE: '1', VAE_GPU_TUNE_CACHE: path.join(work, 'tuner-picks') };
  const runs = ['seed-a', 'seed-b', 'seed-tuned', 'seed-tuned-again'].map((name) => path.join(work, name));
  const logs = runs.map((out, i) => train(['--backend', 'webgpu', '--arch', 'conv', '--epochs', '1', '--limit-train', '640', '--limit-test', '64', '--seed', '3',
    '--out', out], i >= 2 ? tuned : {}));
  expect(logs.map((log) => /^engine: .*, (\d+ of )?\d+ products timed/m.test(log))).toEqual([false, false, true, false]);
  // Each run times at least one product to the end: the fourth tunes more than the third, or all.
  const [third, fourth] = [logs[2], logs[3]].map((log) => /^engine: .*, (?:(\d+) of )?(\d+) products (?:timed|tuned)/m.exec(log)!.slice(1, 3).map(Number));
  expect(fourth[0] > third[0] || Number.isNaN(fourth[0])).toBe(true);
  expect(logs[3]).toMatch(/^engine: .*, (\d+ of )?\d+ products tuned \((all|\d+ timed now, \d+) as timed before on this GPU/m);
  expect(fs.readdirSync(tuned.VAE_GPU_TUNE_CACHE)).toEqual([expect.stringMatching(/^[0-9a-f]{16}\.json$/)]);
  expect(weights(runs[0]).length).toBeGreaterThan(0);
  for (const run of runs.slice(1)) {
    expect(numbers(run)).toEqual(numbers(runs[0]));
    expect(weights(run).equals(weights(runs[0]))).toBe(true);
  }
}, 300_000);

test('every family trains on the GPU: M1+M2, the last to come, says so in its engine line', () => {
  if (!gpu) return expect(process.env.CI).toBeFalsy();
  // M1+M2: M2 on an M1's codes, with a Gaussian p(codes|z) of learned variance.
  train(['--backend', 'wasm', '--epochs', '1', '--limit-train', '300', '--limit-test', '100', '--out', path.join(work, 'm1')]);
  const log = train(['--backend', 'webgpu', '--model', 'm1m2', '--m1', path.join(work, 'm1'), '--epochs', '1', '--limit-train', '300',
    '--limit-test', '100', '--out', path.join(work, 'm1m2')]);
  expect(log).toMatch(new RegExp(`^engine: webgpu \\(.*\\), \\d+ dispatches per step${untunedForm()}$`, 'm'));
  // A family without GPU kernels (none today) would train on the CPU, and the engine line would say why.
  const vae = createModel({ family: 'vae', arch: 'mlp', inputShape: [28, 28, 1], hidden: [8], zDim: 2, likelihood: 'bernoulli' }, 1);
  expect(webGpuUnsupported(vae, undefined)).toBe("the vae model's objective");
  vae.dispose();
}, 120_000);

test('VAE_GPU_PROFILE=1: each kernel\'s GPU time, the products\' GFLOP/s, the dispatches per step and the peak\'s share', () => {
  if (!gpu) return expect(process.env.CI).toBeFalsy();
  // 15 steps of 128: the first 10 are not counted.
  const r = runVae(['train', '--backend', 'webgpu', '--epochs', '1', '--limit-train', String(15 * 128), '--limit-test', '100',
    '--out', path.join(work, 'profile')], work, { VAE_GPU_PROFILE: '1', VAE_GPU_PEAK_TFLOPS: '2' });
  expect(r.status).toBe(0);
  const dispatches = Number(/^engine: .*, (\d+) dispatches per step/m.exec(r.stderr)![1]);
  const table = r.stderr.slice(r.stderr.indexOf('GPU profile over 5 steps of 128 images'));
  const rows = [...table.matchAll(/^ +([\d.]+) +([\d.]+)% +([\d.e+-]*) +(\S.*)$/gm)].map((m) => ({ us: Number(m[1]), rate: m[3], name: m[4] }));
  expect(rows).toHaveLength(dispatches);
  // The products (the dense layers' forward, dW and dX) have a rate; the others (noise, gather, Adam, ...) none.
  for (const row of rows) expect(row.rate !== '').toBe(/ (forward|dW|dX)$/.test(row.name));
  // The step's first kernels and its last, each joined into one dispatch.
  expect(rows.map((row) => row.name)).toEqual(expect.arrayContaining(['noise ε (Philox) + gather images', 'adam + stats']));
  expect(table).toMatch(new RegExp(`^ +${dispatches}  dispatches per step$`, 'm'));
  // The five largest products' rate: their FLOPs over their time, from the rows above (to the rounding of the table).
  const products = rows.filter((row) => row.rate !== '').slice(0, 5);
  const want = products.reduce((a, row) => a + Number(row.rate) * row.us, 0) / products.reduce((a, row) => a + row.us, 0) / 1000;
  const [, top, share] = /^ +([\d.e-]+)  TFLOP\/s of the five largest products together: ([\d.e-]+)% of the 2 TFLOP\/s/m.exec(table)!.map(Number);
  expect(top).toBeGreaterThan(0);
  expect(Math.abs(top - want) / want).toBeLessThan(0.02);
  // Both printed to 3 significant digits.
  expect(Math.abs(share - (100 * top) / 2) / share).toBeLessThan(0.015);
}, 300_000);
