'use strict';
/**
 * The bench's folder section (`npm run bench -- --folder-scale N`): a folder of N generated colour photographs
 * (photo-folder.js: 100 class subfolders, JPEG and PNG, varied sizes), and
 *   1. the first run: `vae train --data DIR --image-size 64` with a tiny MLP (so that reading the folder is what
 *      takes the time), its cache removed first: seconds to its first training step, the pictures decoded per
 *      second, peak RSS;
 *   2. the second run, the same command: seconds to its first step (the pictures come from the cache's shards);
 *   3. the anchor, in the same run: torchvision's ImageFolder and a DataLoader of 2 workers decoding the same
 *      files for one epoch (bench/folder_torch.py), pictures per second.
 * Each run is stopped (SIGTERM: it saves a checkpoint and exits) once its first step is done; time to first step
 * is measured from the process's start. Plain Node, the CLI (bin/vae) only.
 */
const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { photoFolder } = require('./photo-folder');

const TORCH_FOLDER = path.join(__dirname, '..', 'folder_torch.py');

/** Runs `vae train ...` until its first step (the 'epoch 1: N steps' line, as it starts): seconds to it, wall time, peak RSS. */
function untilFirstStep(node, args, { cwd, preload, recordFile, timeoutSeconds }) {
  return new Promise((resolve, reject) => {
    fs.rmSync(recordFile, { force: true });
    const t0 = process.hrtime.bigint();
    const child = spawn(node, ['--require', preload, ...args], { cwd, env: { ...process.env, BENCH_RUSAGE_OUT: recordFile },
      stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let firstStep = null;
    const timer = setTimeout(() => child.kill('SIGKILL'), 1000 * timeoutSeconds);
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      if (firstStep === null && /^epoch 1: \d+ steps/m.test(stderr)) {
        firstStep = Number(process.hrtime.bigint() - t0) / 1e9;
        child.kill('SIGTERM');
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      if (firstStep === null) {
        reject(new Error(`vae ${args.slice(1).join(' ')} ended (${code ?? signal}) before its first step: ${stderr.trim().split('\n').slice(-2).join(' | ')}`));
        return;
      }
      let record = null;
      try { record = JSON.parse(fs.readFileSync(recordFile, 'utf8')); } catch { /* no figure */ }
      resolve({ firstStepSeconds: firstStep, wallSeconds: wall, peakMiB: record ? record.maxRssKiB / 1024 : null, stderr });
    });
  });
}

async function benchFolderScale({ count, dir, root, python, tmp, preload, log }) {
  log(`f. a folder of ${count} generated photographs in ${dir} ...`);
  const g0 = Date.now();
  await photoFolder(dir, count, { onProgress: (done) => log(`   ${done} written`) });
  const generateSeconds = (Date.now() - g0) / 1000;
  const vae = path.join(root, 'bin', 'vae');
  // A tiny model: one step costs little beside reading the folder. Progress on stderr (not a TTY) gives the
  // step lines; --limit-test keeps the test set's evaluation out of the time to the first step.
  const args = [vae, 'train', '--data', dir, '--image-size', '64', '--hidden', '8', '--z-dim', '2', '--batch-size', '256', '--epochs', '1'];
  fs.rmSync(path.join(dir, '.vae-cache'), { recursive: true, force: true });
  log('f1. the first run (no cache) until its first step ...');
  const first = await untilFirstStep(process.execPath, [...args, '--out', path.join(tmp, 'folder-1')],
    { cwd: tmp, preload, recordFile: path.join(tmp, 'folder-1.rusage.json'), timeoutSeconds: 6 * 3600 });
  const data = /^data: .*\((\d+) train, (\d+) test/m.exec(first.stderr);
  const pictures = data ? Number(data[1]) + Number(data[2]) : null;
  log('f2. the second run (from the cache) until its first step ...');
  const second = await untilFirstStep(process.execPath, [...args, '--out', path.join(tmp, 'folder-2')],
    { cwd: tmp, preload, recordFile: path.join(tmp, 'folder-2.rusage.json'), timeoutSeconds: 3600 });
  let torch = { skipped: true, why: python ? `${python} not found` : '--no-torch' };
  if (python && fs.existsSync(python)) {
    log('f3. torchvision ImageFolder + DataLoader (2 workers), one epoch ...');
    const r = spawnSync(python, [TORCH_FOLDER, dir, '--size', '64', '--workers', '2'], { encoding: 'utf8', timeout: 1000 * 6 * 3600 });
    torch = r.status === 0 ? { skipped: false, ...JSON.parse(r.stdout.trim().split('\n').pop()) }
      : { skipped: true, why: (r.stderr || '').trim().split('\n').pop() || `exit ${r.status}`,
        install: 'apt-get install -y python3-torchvision python3-torch libopenblas0-openmp' };
  }
  const decodeRate = pictures !== null ? pictures / first.firstStepSeconds : null;
  const cacheBytes = duBytes(path.join(dir, '.vae-cache'));
  return {
    count, generateSeconds, pictures, cacheMiB: cacheBytes / 2 ** 20,
    first: { firstStepSeconds: first.firstStepSeconds, picturesPerSec: decodeRate, peakMiB: first.peakMiB },
    second: { firstStepSeconds: second.firstStepSeconds, peakMiB: second.peakMiB },
    torch, ratio: decodeRate !== null && !torch.skipped ? decodeRate / torch.pictures_per_sec : null,
  };
}

function duBytes(dir) {
  let total = 0;
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) if (e.isFile()) total += fs.statSync(path.join(e.parentPath, e.name)).size;
  return total;
}

module.exports = { benchFolderScale };
