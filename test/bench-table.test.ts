/**
 * The GPU check's table (bench/run.js --gpu-table): the GPU sections of the check's parts merged into the one
 * table, vae beside each PyTorch mode and its ratio to the fastest of them.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir } from './helpers/tmp';

const RUN_JS = path.join(__dirname, '..', 'bench', 'run.js');

const torch = (workload: string, batch: number, mode: string, samplesPerSec: number) =>
  ({ workload, arch: workload, batch, mode, samplesPerSec, setupSeconds: mode === 'compile' ? 41 : 2, torch: '2.11', device: 'H200' });
const vae = (workload: string, batch: number, samplesPerSec: number | null) =>
  ({ workload, arch: workload, batch, samplesPerSec, dispatchesPerStep: samplesPerSec === null ? null : 14,
    engine: samplesPerSec === null ? null : 'webgpu (H200), 14 dispatches per step' });

function write(dir: string, name: string, date: string, gpu: object, machine?: object): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, JSON.stringify({ date, commit: 'abc1234', machine, gpu }));
  return file;
}

function table(files: string[], ...flags: string[]) {
  return spawnSync(process.execPath, [RUN_JS, '--gpu-table', files.join(','), ...flags], { encoding: 'utf8' });
}

test('each row takes vae from the part that trained it and every peer from the part that ran it; vae against the fastest', () => {
  const dir = tmpDir();
  // Part 1 of the check: vae's rows with eager and CUDA-graph PyTorch (conv28 first, as `ls` lists the files).
  const conv = write(dir, 'bench-conv28.json', '2026-12-07T10:01:00Z', { runs: [vae('conv28', 128, 90_000)], folder: null,
    torchCuda: { skipped: false, runs: [torch('conv28', 128, 'eager', 30_000), torch('conv28', 128, 'cuda-graph', 60_000)], failures: [] } });
  const mlp = write(dir, 'bench-mlp.json', '2026-12-07T10:00:00Z', { runs: [vae('mlp', 128, 300_000), vae('mlp', 1024, 700_000)], folder: null,
    torchCuda: { skipped: false, runs: [torch('mlp', 128, 'eager', 50_000), torch('mlp', 1024, 'eager', 400_000)], failures: [] } });
  // Part 1b: compiled PyTorch alone (vae's rows not trained); its conv28 run stopped in time.
  const compiled = write(dir, 'compile-mlp.json', '2026-12-07T10:05:00Z', { runs: [vae('mlp', 128, null), vae('mlp', 1024, null)], folder: null,
    torchCuda: { skipped: false, runs: [torch('mlp', 128, 'compile', 120_000), torch('mlp', 1024, 'compile', 800_000)],
      failures: [{ workload: 'conv28', mode: 'compile', why: 'stopped after 90 s' }] } });
  const r = table([conv, mlp, compiled]); // as the check lists them: its compiled parts last
  expect(r.status).toBe(0);
  const lines = r.stdout.split('\n');
  const header = lines.find((l) => l.startsWith('GPU section'))!;
  expect(header.split(/\s{2,}/)).toEqual(['GPU section (epoch 2 of vae train --epochs 2)', 'vae samples/s', 'dispatches/step', 'PyTorch eager',
    'PyTorch cuda-graph', 'PyTorch compile', 'vae / fastest']);
  const row = (name: string) => lines.find((l) => l.startsWith(name))!.split(/\s{2,}/).slice(1);
  // The merged rows in the workloads' order, whatever the files' order.
  expect(lines.filter((l) => /, batch \d+\s/.test(l) && !l.startsWith('engine')).map((l) => l.split(',')[0])).toEqual(['mlp', 'mlp', 'conv28']);
  expect(row('mlp, batch 128')).toEqual(['300,000', '14', '50,000', '-', '120,000', '2.50x']); // the compiled peer is the fastest
  expect(row('mlp, batch 1024')).toEqual(['700,000', '14', '400,000', '-', '800,000', '0.88x']);
  expect(row('conv28, batch 128')).toEqual(['90,000', '14', '30,000', '60,000', '-', '1.50x']);
  expect(r.stdout).toMatch(/^PyTorch compile on conv28 failed: stopped after 90 s$/m);
  expect(r.stdout).toMatch(/^PyTorch compile's warm-up, compiling included: mlp 128 41 s, mlp 1024 41 s\.$/m);
  expect(r.stdout).toMatch(/^vae bench --gpu-table {2}2026-12-07T10:00:00Z to 2026-12-07T10:05:00Z {2}commit abc1234 {2}\(3 files\)$/m);
});

test('a file that is not there, or has no GPU section, is one line and exit 2', () => {
  const dir = tmpDir();
  const missing = table([path.join(dir, 'nope.json')]);
  expect(missing.status).toBe(2);
  expect(missing.stderr.trim()).toMatch(/^bench: --gpu-table: .*nope\.json: ENOENT/);
  const cpu = write(dir, 'cpu.json', '2026-12-07T10:00:00Z', undefined as unknown as object);
  const none = table([cpu]);
  expect(none.status).toBe(2);
  expect(none.stderr.trim().split('\n')).toEqual([`bench: --gpu-table: ${cpu} has no GPU section`]);
});

test('--markdown: the section bench/README.md records, headed by the GPU and the day, its driver and versions, the rows merged', () => {
  const dir = tmpDir();
  const machine = { node: 'v20.20.2', webgpu: '0.6.2', gpus: [{ name: 'NVIDIA H200', driver: '580.159.04' }] };
  const mlp = write(dir, 'bench-mlp.json', '2026-12-07T10:00:00Z', { runs: [vae('mlp', 128, 300_000), vae('mlp', 1024, 700_000)], folder: null,
    torchCuda: { skipped: false, runs: [torch('mlp', 128, 'eager', 50_000), torch('mlp', 128, 'cuda-graph', 150_000),
      torch('mlp', 1024, 'eager', 400_000)], failures: [] } }, machine);
  const compiled = write(dir, 'compile-mlp.json', '2026-12-07T10:05:00Z', { runs: [vae('mlp', 128, null), vae('mlp', 1024, null)], folder: null,
    torchCuda: { skipped: false, runs: [torch('mlp', 1024, 'compile', 800_000)], failures: [{ workload: 'mlp', mode: 'compile', why: 'stopped' }] } },
  machine);
  const r = table([mlp, compiled], '--markdown');
  expect(r.status).toBe(0);
  const lines = r.stdout.split('\n');
  expect(lines[0]).toBe('### NVIDIA H200, 2026-12-07');
  expect(lines[2]).toMatch(/^Driver 580\.159\.04, Dawn from `webgpu` 0\.6\.2, Node 20\.20\.2, PyTorch 2\.11; commit abc1234; /);
  const at = lines.indexOf('| model | batch | vae, WebGPU | dispatches / step | PyTorch eager | PyTorch CUDA graph | PyTorch compiled | vae / fastest |');
  expect(at).toBeGreaterThan(0);
  expect(lines[at + 1]).toBe('|---|---:|---:|---:|---:|---:|---:|---:|');
  expect(lines[at + 2]).toBe('| MLP 784-400-20 | 128 | **300,000** | 14 | 50,000 | 150,000 | - | **2.00x** |');
  expect(lines[at + 3]).toBe('| MLP 784-400-20 | 1024 | **700,000** | 14 | 400,000 | - | 800,000 | **0.88x** |');
  expect(lines).toContain('- engine (mlp, batch 128): webgpu (H200), 14 dispatches per step');
  expect(lines).toContain('- PyTorch compile on mlp failed: stopped');
  // Without nvidia-smi's answer in the results (an older file): the GPU as PyTorch named it, the driver unknown.
  const old = write(dir, 'old.json', '2026-12-07T09:00:00Z', { runs: [vae('mlp', 128, 300_000)], folder: null,
    torchCuda: { skipped: false, runs: [torch('mlp', 128, 'eager', 50_000)], failures: [] } });
  const o = table([old], '--markdown').stdout.split('\n');
  expect(o[0]).toBe('### H200, 2026-12-07');
  expect(o[2]).toMatch(/^Driver unknown \(no nvidia-smi\), PyTorch 2\.11; /);
  expect(o).toContain('| MLP 784-400-20 | 128 | **300,000** | 14 | 50,000 | **6.00x** |');
  // Without a table to print, one line and exit 2 (nothing is run).
  const alone = spawnSync(process.execPath, [RUN_JS, '--markdown'], { encoding: 'utf8' });
  expect([alone.status, alone.stderr.trim()]).toEqual([2, 'bench: --markdown needs --gpu-table']);
});
