/** The same run on the wasm and the plain cpu backend: the same numbers and interchangeable checkpoints. */
import * as fs from 'fs';
import * as path from 'path';
import { runVae } from './helpers/cli';
import { tmpDir } from './helpers/tmp';

test('wasm and cpu train to the same test -ELBO, and each samples from the other\'s checkpoint', () => {
  const work = tmpDir('vae-backends-');
  const args = ['-q', 'train', '--epochs', '1', '--limit-train', '1024', '--limit-test', '200', '--hidden', '64', '--z-dim', '8'];
  const results: Record<string, number> = {};
  for (const backend of ['wasm', 'cpu']) {
    const r = runVae(['--backend', backend, ...args, '--out', backend], work);
    expect(r.status).toBe(0);
    const metrics = JSON.parse(fs.readFileSync(path.join(work, backend, 'metrics.jsonl'), 'utf8').trim());
    results[backend] = metrics.test.negElbo;
  }
  expect(Math.abs(results.wasm - results.cpu) / results.cpu).toBeLessThan(1e-3);
  expect(runVae(['--backend', 'cpu', 'sample', '-n', '4', 'a.png', '--checkpoint', 'wasm'], work).status).toBe(0);
  expect(runVae(['--backend', 'wasm', 'sample', '-n', '4', 'b.png', '--checkpoint', 'cpu'], work).status).toBe(0);
  expect(fs.readFileSync(path.join(work, 'a.png')).length).toBeGreaterThan(100);
});

test('wasm without the native kernels (VAE_NATIVE=0: its own matMul and conv2d) trains to the same test -ELBO as with them, MLP and conv', () => {
  // The wasm backend's own products pack each weight once and keep the packed copy under its tensor: parameters written
  // into the heap in place went unseen there, and a run without the addon did not learn (test -ELBO 543.70 for 242.80).
  const work = tmpDir('vae-no-native-');
  for (const model of [['--arch', 'mlp', '--limit-train', '2000'], ['--arch', 'conv', '--limit-train', '512']]) {
    const results: number[] = [];
    for (const native of ['1', '0']) {
      const out = `${model[1]}-${native}`;
      const r = runVae(['--backend', 'wasm', '-q', 'train', '--epochs', '1', '--limit-test', '200', ...model, '--out', out], work, { VAE_NATIVE: native });
      expect(r.status).toBe(0);
      results.push(JSON.parse(fs.readFileSync(path.join(work, out, 'metrics.jsonl'), 'utf8').trim()).test.negElbo);
    }
    expect(Math.abs(results[1] - results[0]) / results[0]).toBeLessThan(1e-3);
  }
});
