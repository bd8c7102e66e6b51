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
