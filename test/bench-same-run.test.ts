/**
 * The GPU check's comparison of runs (bench/same-run.js): two runs of the same --seed are the same run to the bit (here
 * on the CPU); a run of another seed differs in its metrics and in each epoch's weights and optimizer state.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { runVae } from './helpers/cli';
import { tmpDir } from './helpers/tmp';

const SAME_RUN = path.join(__dirname, '..', 'bench', 'same-run.js');

test('bench/same-run.js: the same --seed twice is the same run; another seed is not, and it says what differs', () => {
  const work = tmpDir();
  const run = (name: string, seed: number) => {
    const r = runVae(['train', '--backend', 'wasm', '--hidden', '16', '--z-dim', '2', '--epochs', '2', '--limit-train', '256', '--limit-test', '64',
      '--seed', String(seed), '--out', path.join(work, name)], work);
    expect(r.status).toBe(0);
    return path.join(work, name);
  };
  const [a, b, c] = [run('a', 5), run('b', 5), run('c', 6)];
  const compare = (...dirs: string[]) => spawnSync(process.execPath, [SAME_RUN, ...dirs], { encoding: 'utf8' });
  const same = compare(a, b);
  expect(same.stdout.trim()).toBe(`${b}: the same run as ${a} (2 epochs' metrics, 2 epochs' weights and optimizer state, to the bit)`);
  expect(same.status).toBe(0);
  const other = compare(a, b, c);
  expect(other.status).toBe(1);
  expect(other.stdout.trim().split('\n')[1]).toBe(`${c}: not the same run as ${a}: the metrics of epoch 1, the metrics of epoch 2, `
    + ['epoch-0001', 'epoch-0002'].map((e) => ['decoder/weights.bin', 'encoder/weights.bin', 'optimizer.bin'].map((f) => `${e}/${f}`).join(', ')).join(', ')
    + ' differ');
  // One weight file changed in place (its checksum with it, as a run would write it): only that file differs.
  const sums = path.join(b, 'epoch-0002', 'checksums.json');
  const checksums = JSON.parse(fs.readFileSync(sums, 'utf8'));
  checksums.files['decoder/weights.bin'].sha256 = '0'.repeat(64);
  fs.writeFileSync(sums, JSON.stringify(checksums));
  expect(compare(a, b).stdout.trim()).toBe(`${b}: not the same run as ${a}: epoch-0002/decoder/weights.bin differ`);
}, 120_000);
