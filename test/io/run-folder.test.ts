/**
 * The accidents a run folder must survive, through the CLI: a second trainer on the same folder, a stale lock, a
 * write that fails (a full disk, a refused permission) at each file of a checkpoint, at the metrics and at the
 * sample grid, and a damaged newest checkpoint (truncated, or one bit flipped).
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { VAE_BIN, runVae } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

const work = tmpDir();
const small = ['--limit-train', '500', '--limit-test', '100', '--seed', '5'];

/** The metrics of a run without their timings: what an uninterrupted run must equal. */
const metrics = (run: string) => fs.readFileSync(path.join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => {
  const { seconds, samplesPerSec, time, ...rest } = JSON.parse(l);
  return rest;
});

function train(args: string[], env: Record<string, string> = {}) {
  return runVae(['-q', 'train', ...args], work, env);
}

/** Files and folders of a run that a failed write could leave behind. */
const leftovers = (run: string) => fs.readdirSync(run, { recursive: true }).map(String).filter((f) => /\.tmp-|\.old-|\.lock$/.test(f));

let reference: ReturnType<typeof metrics>;
beforeAll(() => {
  const r = train(['--epochs', '3', ...small, '--out', path.join(work, 'reference')]);
  expect(r.status).toBe(0);
  reference = metrics(path.join(work, 'reference'));
  expect(reference.map((m) => m.epoch)).toEqual([1, 2, 3]);
}, 120_000);

describe('one trainer per run folder', () => {
  test('a second `train --resume` of a run being trained refuses, naming the process; the run ends as an uninterrupted one', async () => {
    const run = path.join(work, 'twice');
    const big = ['--limit-train', '12000', '--limit-test', '100', '--seed', '5'];
    expect(train(['--epochs', '1', ...big, '--out', run]).status).toBe(0);
    const first = spawn(process.execPath, [VAE_BIN, '-q', 'train', '--resume', run, '--epochs', '4'], { cwd: work, stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => first.on('exit', resolve));
    const lock = path.join(run, '.lock');
    // Until the first has taken the folder.
    for (let i = 0; i < 600 && !(fs.existsSync(lock) && fs.readFileSync(lock, 'utf8').includes(`"pid":${first.pid}`)); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const second = train(['--resume', run, '--epochs', '4']);
    expect(second.status).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`^vae: .*twice is being trained by process ${first.pid} \\(started .*vae -q train --resume .*\\)`, 'm'));
    expect(await exited).toBe(0);
    expect(fs.existsSync(lock)).toBe(false);
    // Each epoch once, as one process training all four would have written them.
    const uninterrupted = path.join(work, 'twice-reference');
    expect(train(['--epochs', '4', ...big, '--out', uninterrupted]).status).toBe(0);
    expect(metrics(run)).toEqual(metrics(uninterrupted));
  }, 300_000);

  test('a lock whose process is gone is taken over with a warning', () => {
    const run = path.join(work, 'stale');
    expect(train(['--epochs', '1', ...small, '--out', run]).status).toBe(0);
    fs.writeFileSync(path.join(run, '.lock'), JSON.stringify({ pid: 2 ** 22 + 12345, host: require('os').hostname(), started: '2026-01-01T00:00:00.000Z',
      command: 'vae train --resume stale' }));
    const r = train(['--resume', run, '--epochs', '3']);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/^warning: .*stale was locked by process 4206649 \(started 2026-01-01T00:00:00.000Z\), which is gone: taking it over$/m);
    expect(metrics(run)).toEqual(reference);
    expect(leftovers(run)).toEqual([]);
  }, 120_000);
});

describe('a write that fails while training says so in one line, leaves nothing behind, and the run resumes', () => {
  // Each file of epoch 2's checkpoint (written in its temporary folder), then checkpoint.json, which names it.
  const files = ['encoder/model.json', 'encoder/weights.bin', 'decoder/model.json', 'decoder/weights.bin', 'optimizer.bin', 'optimizer.json',
    'state.json', 'checksums.json'].map((f) => `epoch-0002\\.tmp-\\d+/${f.replace('.', '\\.')}$`);
  // (checkpoint.json: its second write, epoch 2's.)
  const cases = [...files.map((f) => `1:${f}`), '2:/checkpoint\\.json$'].map((fault, i) => [fault, i % 2 === 0 ? 'ENOSPC' : 'EACCES'] as const);

  test.each(cases)('%s (%s)', (fault, code) => {
    const run = path.join(work, `fail-${fault.replace(/[^a-z0-9]+/gi, '-')}`);
    const r = train(['--epochs', '3', ...small, '--out', run], { VAE_FAULT_WRITE: `${code}:${fault}` });
    expect(r.status).toBe(74);
    const reason = code === 'ENOSPC' ? 'no space left on the device \\(ENOSPC\\)' : 'permission denied \\(EACCES\\)';
    expect(r.stderr).toMatch(new RegExp(`^vae: could not write checkpoint epoch-0002 in .*: ${reason}; the last checkpoint, epoch-0001 \\(epoch 1\\), ` +
      'is kept: once there is room, continue with vae train --resume .*$', 'm'));
    expect(r.stderr.split('\n').filter((l) => l.startsWith('vae:'))).toHaveLength(1);
    expect(leftovers(run)).toEqual([]);
    expect(fs.existsSync(path.join(run, 'epoch-0002'))).toBe(false);
    expect(JSON.parse(fs.readFileSync(path.join(run, 'checkpoint.json'), 'utf8')).last).toBe('epoch-0001');
    const resumed = train(['--resume', run]);
    expect(resumed.status).toBe(0);
    expect(metrics(run)).toEqual(reference);
  }, 120_000);

  test.each([
    ['the metrics (of epoch 2: the second line)', '2:metrics\\.jsonl$', "the epoch's metrics"],
    ['the sample grid', '1:samples/epoch-0002\\.png$', 'the picture epoch-0002.png'],
  ])('%s', (_, fault, what) => {
    const run = path.join(work, `fail-${what.replace(/[^a-z0-9]+/gi, '-')}`);
    const r = train(['--epochs', '3', ...small, '--out', run], { VAE_FAULT_WRITE: `ENOSPC:${fault}` });
    expect(r.status).toBe(74);
    expect(r.stderr).toMatch(new RegExp(`^vae: could not write ${what} in .*: no space left on the device \\(ENOSPC\\); the last checkpoint, ` +
      'epoch-0001 \\(epoch 1\\), is kept', 'm'));
    expect(leftovers(run)).toEqual([]);
    expect(train(['--resume', run]).status).toBe(0);
    expect(metrics(run)).toEqual(reference);
  }, 120_000);
});

describe('a damaged newest checkpoint', () => {
  const damages = [
    ['truncated', (file: string) => fs.truncateSync(file, 1000), /encoder\/weights\.bin has 1000 bytes, \d+ were written/],
    ['one bit flipped', (file: string) => {
      const bytes = fs.readFileSync(file);
      bytes[bytes.length >> 1] ^= 0x10;
      fs.writeFileSync(file, bytes);
    }, /encoder\/weights\.bin is not the file that was written \(its SHA-256 differs\)/],
  ] as const;

  test.each(damages)('%s: commands given the run fall back to the intact one with a warning; given it by name, they refuse', (_, damage, why) => {
    const run = path.join(work, `damaged-${_.replace(/ /g, '-')}`);
    expect(train(['--epochs', '3', ...small, '--out', run]).status).toBe(0);
    damage(path.join(run, 'epoch-0003', 'encoder', 'weights.bin'));
    const warning = new RegExp(`^warning: checkpoint .*epoch-0003 is damaged: ${why.source}; using .*epoch-0002$`, 'm');

    const check = runVae(['evaluate', '--check', run], work);
    expect(check.status).toBe(1);
    expect(check.stdout).toMatch(new RegExp(`^epoch-0003 \\(last, best\\): DAMAGED: ${why.source}$`, 'm'));
    expect(check.stdout).toMatch(/^epoch-0002 \(previous\): intact, 7 files, [\d.]+ MB$/m);

    const sample = runVae(['sample', '--checkpoint', run, '-n', '4', path.join(run, 's.png')], work);
    expect(sample.status).toBe(0);
    expect(sample.stderr).toMatch(warning);
    const evaluate = runVae(['evaluate', '--checkpoint', run, '--json', '--limit-test', '50'], work);
    expect(evaluate.status).toBe(0);
    expect(evaluate.stderr).toMatch(warning);
    expect(JSON.parse(evaluate.stdout).checkpoint).toMatch(/epoch-0002$/);
    const explore = runVae(['explore', '--checkpoint', run, '--export', path.join(run, 'site')], work);
    expect(explore.status).toBe(0);
    expect(explore.stderr).toMatch(warning);

    const named = runVae(['sample', '--checkpoint', path.join(run, 'epoch-0003'), '-n', '4', path.join(run, 't.png')], work);
    expect(named.status).toBe(1);
    expect(named.stderr).toMatch(new RegExp(`^vae: checkpoint .*epoch-0003 is damaged: ${why.source}$`, 'm'));

    // Training resumes from epoch 2 and trains epoch 3 again, to the uninterrupted run's numbers.
    const resumed = train(['--resume', run]);
    expect(resumed.status).toBe(0);
    expect(resumed.stderr).toMatch(warning);
    expect(metrics(run)).toEqual(reference);
    expect(runVae(['evaluate', '--check', run], work).status).toBe(0);
  }, 180_000);
});
