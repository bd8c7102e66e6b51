'use strict';
/**
 * The bench's folder section (`npm run bench -- --folder-scale N`): a folder of N generated colour photographs
 * (photo-folder.js: 100 class subfolders, JPEG and PNG, varied sizes), and
 *   1. the first run: `vae train --data DIR --image-size 64` with a tiny MLP (so that reading the folder is what
 *      takes the time), its cache removed first: seconds to its first training step, the pictures decoded per
 *      second, peak RSS;
 *   2. the second run, the same command: seconds to its first step (the pictures come from the cache's shards);
 *   3. the anchor, in the same run: torchvision's ImageFolder and a DataLoader of 2 workers decoding the same
 *      files for one epoch (bench/folder_torch.py), pictures per second;
 *   4. training speed, the set larger than memory against held in it: `vae train`'s default MLP (Gaussian p(x|z))
 *      with --data-memory 256 (streamed from the cache, two windows held) and with --data-memory 8192 (the whole set
 *      in memory), each for TRAIN_SECONDS of training: samples per second and peak RSS; and the same model on
 *      3,000 of the pictures (streamed within 16 MB, so that the engine is the streamed run's) for the peak RSS of the
 *      model and engine alone, without the set.
 * Each run is stopped (SIGTERM: it saves a checkpoint and exits) once its first step is done (4: once it has trained
 * TRAIN_SECONDS); time to first step is measured from the process's start. Plain Node, the CLI (bin/vae) only.
 */
const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { photoFolder } = require('./photo-folder');

const TORCH_FOLDER = path.join(__dirname, '..', 'folder_torch.py');
/** Seconds of training each speed run is given (its samples/s: the epoch's mean so far, from the progress line). */
const TRAIN_SECONDS = 60;
/** The budget of the streamed run (MB): the issue's, ~10x smaller than a 200,000-picture set. */
const STREAM_BUDGET_MB = 256;
/**
 * The budget of the model-alone run: 3,000 pictures (37 MB) streamed in 16 MB, so that its engine is the streamed
 * run's (lean: the main thread is one of the training threads) and the difference of their peaks is the pictures'.
 */
const MODEL_ALONE_BUDGET_MB = 16;

/** Runs `vae train ...` until its first step is done (its 'epoch 1 step 1/N' line): seconds to it, wall time, peak RSS. */
function untilFirstStep(node, args, options) {
  return untilStep(node, args, options, 0);
}

/**
 * Runs `vae train ...` until it has trained `trainSeconds` past its first step (0: until its first step): seconds to
 * the first step (and to its data line: the data set read), the samples/s of its last progress line, wall time, peak RSS.
 */
function untilStep(node, args, { cwd, preload, recordFile, timeoutSeconds }, trainSeconds) {
  return new Promise((resolve, reject) => {
    fs.rmSync(recordFile, { force: true });
    const t0 = process.hrtime.bigint();
    const child = spawn(node, ['--require', preload, ...args], { cwd, env: { ...process.env, BENCH_RUSAGE_OUT: recordFile },
      stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let firstStep = null;
    let dataLine = null;
    let samplesPerSec = null;
    const timer = setTimeout(() => child.kill('SIGKILL'), 1000 * timeoutSeconds);
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      const now = Number(process.hrtime.bigint() - t0) / 1e9;
      if (dataLine === null && /^data: /m.test(stderr)) dataLine = now;
      if (firstStep === null && /^epoch 1 step \d+\/\d+/m.test(stderr)) firstStep = now;
      if (firstStep === null || child.killed) return;
      const lines = [...stderr.matchAll(/^epoch 1 step \d+\/\d+ .* (\d+) samples\/s/gm)];
      if (lines.length > 0) samplesPerSec = Number(lines[lines.length - 1][1]);
      if (now - firstStep >= trainSeconds) child.kill('SIGTERM');
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
      resolve({ firstStepSeconds: firstStep, dataSeconds: dataLine, samplesPerSec, wallSeconds: wall, peakMiB: record ? record.maxRssKiB / 1024 : null, stderr });
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
  // 4. Training speed, streamed (the set ~10x larger than the budget) against resident, the same model and order.
  const speed = {};
  for (const [name, budget, limits] of [['streamed', STREAM_BUDGET_MB, []], ['resident', 8192, []],
    ['model alone', MODEL_ALONE_BUDGET_MB, ['--limit-train', '3000', '--limit-test', '300']]]) {
    log(`f4. training with --data-memory ${budget} (${name}) ...`);
    const r = await untilStep(process.execPath, [vae, 'train', '--data', dir, '--image-size', '64', '--likelihood', 'gaussian', '--data-memory', String(budget),
      ...limits, '--epochs', '1', '--out', path.join(tmp, `folder-${name.replace(' ', '-')}`)],
    { cwd: tmp, preload, recordFile: path.join(tmp, `folder-${name.replace(' ', '-')}.rusage.json`), timeoutSeconds: 3600 },
    limits.length > 0 ? TRAIN_SECONDS / 4 : TRAIN_SECONDS);
    speed[name] = { budgetMiB: budget, samplesPerSec: r.samplesPerSec, peakMiB: r.peakMiB, firstStepSeconds: r.firstStepSeconds,
      streamed: /streamed from its cache/.test(r.stderr) };
  }
  const decodeRate = pictures !== null ? pictures / first.firstStepSeconds : null;
  const cacheBytes = duBytes(path.join(dir, '.vae-cache'));
  return {
    count, generateSeconds, pictures, cacheMiB: cacheBytes / 2 ** 20,
    first: { firstStepSeconds: first.firstStepSeconds, picturesPerSec: decodeRate, peakMiB: first.peakMiB },
    second: { firstStepSeconds: second.firstStepSeconds, peakMiB: second.peakMiB },
    torch, ratio: decodeRate !== null && !torch.skipped ? decodeRate / torch.pictures_per_sec : null,
    speed, streamedVsResident: speed.streamed.samplesPerSec / speed.resident.samplesPerSec,
  };
}

function duBytes(dir) {
  let total = 0;
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) if (e.isFile()) total += fs.statSync(path.join(e.parentPath, e.name)).size;
  return total;
}

module.exports = { benchFolderScale, untilFirstStep };
