/**
 * Run folders and checkpoints (shared/DESIGN.md).
 *
 *   RUN/config.json          how to rebuild the model and prepare inputs, and the training settings
 *   RUN/checkpoint.json      {"last": "epoch-0007", "best": "epoch-0006", ...}: which checkpoint is which
 *   RUN/epoch-0007/          encoder/, decoder/ and the family's other networks (M2: classifier/), each model.json + weights.bin
 *                            in the TensorFlow.js layers format,
 *                            optimizer.json + optimizer.bin (Adam state), state.json (epoch, step, best, ...)
 *   RUN/metrics.jsonl        one JSON object per epoch
 *   RUN/samples/epoch-0007.png
 *
 * A checkpoint is written whole into a temporary folder and renamed into place; only then is
 * checkpoint.json replaced (also by rename) to point at it, and checkpoints no longer pointed at are
 * removed (the run keeps its last, its best and the last before: something to fall back to). A crash at any
 * moment leaves checkpoint.json naming complete checkpoints; a write that fails (a full disk) leaves nothing
 * behind and the previous checkpoints as they were.
 *
 * Each checkpoint proves itself: its checksums.json records the size and SHA-256 of each of its files, and every
 * load checks them. Given a run folder, a command falls back from a damaged checkpoint to the newest intact one
 * (with a warning naming the damaged one); given a damaged checkpoint by name, it refuses.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type * as tf from '@tensorflow/tfjs';
import { DiskError, VaeError, errorMessage } from '../errors';
import { M1Codes } from '../model/m1m2';
import { Vae } from '../model/vae';
import { assembleModel, extraNetworks, findFamily } from '../model/families/registry';
import { AdamConfig, AdamState } from '../engine/adam';
import { flatLayout } from '../model/flat';
import { TOOL_VERSION } from '../version';
import { CHECKPOINT_FORMAT } from '../model/run-config';
import type { EpochSums, ModelConfig, RunConfig, TrainSettings, TrainState } from '../model/run-config';

export type { EpochSums, RunConfig, TrainSettings, TrainState };
import { asDiskError, displayPath, readJson, writeFileAtomic } from '../files';
import { RunLock, lockRun } from './run-lock';
import { loadLayersModel } from './tfjs-files';
import { CHECKSUMS_FILE, CheckpointIndex, Checksums, OptimizerFile, checkpointFiles, checkpointName, checksumsText, nextIndex } from './run-files';

export { CHECKSUMS_FILE, checkpointName };

export const DEFAULT_CHECKPOINT_ROOT = 'checkpoints';


export interface LoadedModel {
  runDir: string;
  checkpointDir: string;
  config: RunConfig;
  vae: Vae;
  /** An M1+M2 model's M1, which turns images into the codes its M2 works on. */
  m1?: M1Codes;
}

/** Where an M1+M2 run keeps its copy of M1 (encoder/ and decoder/). */
export const M1_DIR = 'm1';

export function defaultRunDir(root = DEFAULT_CHECKPOINT_ROOT): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  let dir = path.join(root, `run-${stamp}`);
  for (let i = 2; fs.existsSync(dir); i++) dir = path.join(root, `run-${stamp}-${i}`);
  return dir;
}

/** Stops before a new run would overwrite one in runDir. */
export function assertNoRun(runDir: string): void {
  if (fs.existsSync(path.join(runDir, 'checkpoint.json')) || fs.existsSync(path.join(runDir, 'config.json'))) {
    throw new VaeError(`${runDir} already holds a run: continue it with --resume ${runDir}, or choose another --out`);
  }
}

/** Prints a warning on stderr (a damaged checkpoint passed over, a stale lock taken over). */
export const warnOnStderr = (message: string) => { process.stderr.write(`warning: ${message}\n`); };

/** Makes a new run's folder and takes it for this process (run-lock.ts); `warn` hears of a stale lock taken over. */
export function createRunDir(runDir: string, config: RunConfig, warn: (message: string) => void = warnOnStderr): RunLock {
  assertNoRun(runDir);
  try {
    fs.mkdirSync(path.join(runDir, 'samples'), { recursive: true });
  } catch (e) {
    throw new VaeError(`cannot create run folder ${runDir}: ${errorMessage(e)}`);
  }
  const lock = lockRun(runDir, warn);
  try {
    assertNoRun(runDir); // another run may have been made here since the first look, while the data was read
    writeFileAtomic(path.join(runDir, 'config.json'), JSON.stringify(config, null, 2) + '\n', 'the run\'s config.json');
  } catch (e) {
    lock.release();
    throw e instanceof VaeError ? e : new VaeError(`cannot create run folder ${runDir}: ${errorMessage(e)}`);
  }
  return lock;
}


function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** The file of a checkpoint that lists its files' sizes and hashes. */

/** The files of a checkpoint folder, relative and '/'-separated, checksums.json aside. */
function filesOf(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/')).filter((f) => f !== CHECKSUMS_FILE).sort();
}

/** A file's SHA-256, read a few MB at a time (a checkpoint's files are the size of the model: no copy of them held). */
function sha256(file: string): string {
  const hash = crypto.createHash('sha256');
  const chunk = Buffer.allocUnsafe(4 * 2 ** 20);
  const fd = fs.openSync(file, 'r');
  try {
    for (let got; (got = fs.readSync(fd, chunk, 0, chunk.length, null)) > 0;) hash.update(chunk.subarray(0, got));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

/**
 * Why the checkpoint in `dir` is damaged (a file missing, of another size, or whose hash differs from the one its
 * checksums.json recorded), or null when it is intact. A checkpoint of an older vae, without checksums.json, is
 * taken as it is (its files are checked when they load).
 */
export function checkpointDamage(dir: string): string | null {
  const file = path.join(dir, CHECKSUMS_FILE);
  if (!fs.existsSync(dir)) return 'it is missing';
  if (!fs.existsSync(file)) return null;
  let sums: Checksums;
  try {
    sums = readJson<Checksums>(file);
  } catch (e) {
    return `${CHECKSUMS_FILE} is damaged (${errorMessage(e).split('\n')[0]})`;
  }
  for (const [name, want] of Object.entries(sums.files ?? {})) {
    const at = path.join(dir, ...name.split('/'));
    if (!fs.existsSync(at)) return `${name} is missing`;
    const bytes = fs.statSync(at).size;
    if (bytes !== want.bytes) return `${name} has ${bytes} bytes, ${want.bytes} were written`;
    if (sha256(at) !== want.sha256) return `${name} is not the file that was written (its SHA-256 differs)`;
  }
  return null;
}

/** Every checkpoint of a run, newest first: its name, what checkpoint.json calls it, and its damage (null: intact). */
export function checkRun(runDir: string): { name: string; roles: string[]; damage: string | null; files: number; bytes: number; verified: boolean }[] {
  const index = readIndex(runDir);
  if (!index) throw new VaeError(`not a vae run: ${runDir} has no checkpoint.json`);
  const names = [...new Set([...checkpointsOf(runDir), index.last, ...(index.best ? [index.best] : [])])];
  return names.map((name) => {
    const dir = path.join(runDir, name);
    const files = fs.existsSync(dir) ? filesOf(dir) : [];
    return { name, roles: (['last', 'best', 'previous'] as const).filter((r) => index[r] === name), damage: checkpointDamage(dir), files: files.length,
      bytes: files.reduce((a, f) => a + fs.statSync(path.join(dir, ...f.split('/'))).size, 0), verified: fs.existsSync(path.join(dir, CHECKSUMS_FILE)) };
  });
}

/** Writes a checkpoint of the model, optimizer and training state, and makes it `last` (and `best`). */
export async function saveCheckpoint(runDir: string, vae: Vae, adam: AdamState, adamConfig: AdamConfig, state: TrainState,
  isBest: boolean): Promise<string> {
  const name = checkpointName(state);
  const finalDir = path.join(runDir, name);
  const tmpDir = path.join(runDir, `.${name}.tmp-${process.pid}`);
  const previous = readIndex(runDir);
  let placed = false;
  try {
    removeDir(tmpDir);
    fs.mkdirSync(tmpDir, { recursive: true });
    for (const [file, parts] of await checkpointFiles(vae, adam, adamConfig, state)) {
      const at = path.join(tmpDir, ...file.split('/'));
      fs.mkdirSync(path.dirname(at), { recursive: true });
      writeFileAtomic(at, parts);
    }
    // (Hashed as written, read back a few MB at a time.)
    const sums = checksumsText(Object.fromEntries(filesOf(tmpDir).map((f) => {
      const at = path.join(tmpDir, ...f.split('/'));
      return [f, { bytes: fs.statSync(at).size, sha256: sha256(at) }];
    })));
    writeFileAtomic(path.join(tmpDir, CHECKSUMS_FILE), sums);
    if (fs.existsSync(finalDir)) {
      const old = `${finalDir}.old-${process.pid}`;
      fs.renameSync(finalDir, old);
      fs.renameSync(tmpDir, finalDir);
      removeDir(old);
    } else {
      fs.renameSync(tmpDir, finalDir);
    }
    placed = true;
    const index = nextIndex(previous, name, isBest, state.epochsDone);
    writeFileAtomic(path.join(runDir, 'checkpoint.json'), JSON.stringify(index, null, 2) + '\n');
    // Remove checkpoints that nothing points at any more, and the leftovers of a save that was killed.
    const kept = new Set([index.last, index.best, index.previous]);
    for (const entry of fs.readdirSync(runDir)) {
      if (/^\.?epoch-\d+(-step-\d+)?(\.tmp-\d+|\.old-\d+)?$/.test(entry) && !kept.has(entry)) removeDir(path.join(runDir, entry));
    }
    return finalDir;
  } catch (e) {
    // Nothing half-written stays: the temporary folder, and a checkpoint that checkpoint.json does not name yet.
    removeDir(tmpDir);
    if (placed && previous?.last !== name && previous?.best !== name) removeDir(finalDir);
    const failure = asDiskError(e, `checkpoint ${name}`, finalDir);
    throw failure instanceof DiskError ? new DiskError(`checkpoint ${name}`, displayPath(runDir), failure.reason) : failure;
  }
}

/**
 * What a failed write during training adds to its one line: which checkpoint of `runDir` is kept, and how to go on
 * once the disk has room again.
 */
export function keptCheckpointAdvice(runDir: string): string {
  let index: CheckpointIndex | null = null;
  try {
    index = readIndex(runDir);
  } catch {
    // a damaged checkpoint.json: say nothing of what is kept
  }
  return index ? `the last checkpoint, ${index.last} (epoch ${index.epochsDone}), is kept: once there is room, continue with vae train --resume ${displayPath(runDir)}`
    : 'no checkpoint of this run was written yet: once there is room, train it again';
}

function readIndex(runDir: string): CheckpointIndex | null {
  const file = path.join(runDir, 'checkpoint.json');
  if (!fs.existsSync(file)) return null;
  try {
    return readJson<CheckpointIndex>(file);
  } catch (e) {
    throw new VaeError(`${file} is damaged: ${errorMessage(e)}`);
  }
}

export function readRunConfig(runDir: string): RunConfig {
  const file = path.join(runDir, 'config.json');
  if (!fs.existsSync(file)) throw new VaeError(`not a vae checkpoint: ${runDir} has no config.json`);
  let config: RunConfig;
  try {
    config = readJson<RunConfig>(file);
  } catch (e) {
    throw new VaeError(`${file} is damaged: ${errorMessage(e)}`);
  }
  if (config.format !== CHECKPOINT_FORMAT || config.tool?.name !== 'vae') {
    throw new VaeError(`incompatible checkpoint ${runDir}: format ${config.format ?? 'unknown'}, this vae reads format ${CHECKPOINT_FORMAT}`);
  }
  if (!findFamily(config.model) || !(config.model.arch === 'mlp' || config.model.arch === 'conv')) {
    throw new VaeError(`incompatible checkpoint ${runDir}: model ${config.model?.family}/${config.model?.arch} is not supported by vae ${TOOL_VERSION}`);
  }
  return config;
}

/** The run folder under `root` whose checkpoint was written last, or null. */
export function newestRun(root = DEFAULT_CHECKPOINT_ROOT): string | null {
  if (!fs.existsSync(root)) return null;
  let best: { dir: string; mtime: number } | null = null;
  for (const entry of fs.readdirSync(root)) {
    const index = path.join(root, entry, 'checkpoint.json');
    if (!fs.existsSync(index)) continue;
    const mtime = fs.statSync(index).mtimeMs;
    if (!best || mtime > best.mtime) best = { dir: path.join(root, entry), mtime };
  }
  return best?.dir ?? null;
}

/** A run's checkpoint folders (epoch-NNNN, epoch-NNNN-step-NNNNN), newest first. */
export function checkpointsOf(runDir: string): string[] {
  const order = (name: string) => {
    const [, epochs, step] = /^epoch-(\d+)(?:-step-(\d+))?$/.exec(name)!;
    return Number(epochs) * 1e6 + Number(step ?? 0);
  };
  return fs.readdirSync(runDir, { withFileTypes: true }).filter((e) => e.isDirectory() && /^epoch-\d+(-step-\d+)?$/.test(e.name))
    .map((e) => e.name).sort((a, b) => order(b) - order(a));
}

/**
 * Finds the checkpoint a command should use: `arg` may be a run folder (its best checkpoint, or `which`)
 * or one checkpoint folder inside a run; without `arg`, the newest run under checkpoints/. `fallbacks`: for a run
 * folder, its other checkpoints, newest first, to use should the chosen one be damaged (none for one named).
 */
export function resolveCheckpoint(arg: string | undefined, which: 'best' | 'last' = 'best',
  root = DEFAULT_CHECKPOINT_ROOT): { runDir: string; checkpointDir: string; guessed: boolean; fallbacks: string[] } {
  let runDir: string;
  let guessed = false;
  if (arg === undefined) {
    const newest = newestRun(root);
    if (!newest) throw new VaeError(`no trained model found under ${root}/: run 'vae train' first, or pass --checkpoint DIR`);
    runDir = newest;
    guessed = true;
  } else {
    if (!fs.existsSync(arg)) throw new VaeError(`checkpoint not found: ${arg}`);
    if (fs.existsSync(path.join(arg, 'encoder', 'model.json')) || fs.existsSync(path.join(arg, CHECKSUMS_FILE))) {
      return { runDir: path.dirname(path.resolve(arg)), checkpointDir: arg, guessed, fallbacks: [] };
    }
    runDir = arg;
  }
  const index = readIndex(runDir);
  if (!index) throw new VaeError(`not a vae checkpoint: ${runDir} has no checkpoint.json (has training finished an epoch?)`);
  const name = which === 'best' ? index.best ?? index.last : index.last;
  const fallbacks = checkpointsOf(runDir).filter((c) => c !== name).map((c) => path.join(runDir, c));
  return { runDir, checkpointDir: path.join(runDir, name), guessed, fallbacks };
}

/**
 * Opens the checkpoint `resolved` chose with `open`, or where it is damaged (its checksums, or a file that does not
 * load), the newest intact one of its fallbacks, with a warning naming the damaged one; a checkpoint given by name
 * (no fallbacks) that is damaged is refused.
 */
async function openIntact<T>(resolved: { runDir: string; checkpointDir: string; fallbacks: string[] }, open: (dir: string) => Promise<T>,
  warn: (message: string) => void): Promise<{ checkpointDir: string; opened: T }> {
  const candidates = [resolved.checkpointDir, ...resolved.fallbacks];
  let first = '';
  for (const [i, dir] of candidates.entries()) {
    let damage = checkpointDamage(dir);
    let opened: T | undefined;
    if (damage === null) {
      try {
        opened = await open(dir);
      } catch (e) {
        if (!(e instanceof VaeError) || e instanceof DiskError) throw e;
        damage = errorMessage(e);
      }
    }
    if (damage === null) return { checkpointDir: dir, opened: opened as T };
    const why = `checkpoint ${displayPath(dir)} is damaged: ${damage}`;
    first ||= why;
    if (resolved.fallbacks.length === 0) throw new VaeError(why);
    if (i + 1 < candidates.length) warn(`${why}; using ${displayPath(candidates[i + 1])}`);
  }
  throw new VaeError(`no intact checkpoint in ${displayPath(resolved.runDir)} (${first}); 'vae check ${displayPath(resolved.runDir)}' lists them`);
}

async function loadVae(config: RunConfig, checkpointDir: string): Promise<Vae> {
  return loadVaeModel(config.model, checkpointDir);
}

/** An M1+M2 run's M1 (from RUN/m1), or undefined for any other model. */
async function loadM1(config: RunConfig, runDir: string): Promise<M1Codes | undefined> {
  const features = config.model.features;
  if (!features) return undefined;
  return new M1Codes(await loadVaeModel(features.m1, path.join(runDir, M1_DIR)), features.dims);
}

async function loadVaeModel(model: ModelConfig, checkpointDir: string): Promise<Vae> {
  try {
    const encoder = await loadLayersModel(path.join(checkpointDir, 'encoder'));
    const decoder = await loadLayersModel(path.join(checkpointDir, 'decoder'));
    const extras: Record<string, tf.LayersModel> = {};
    for (const name of extraNetworks(model)) extras[name] = await loadLayersModel(path.join(checkpointDir, name));
    return assembleModel(model, encoder, decoder, extras);
  } catch (e) {
    throw new VaeError(`cannot load the model in ${checkpointDir}: ${errorMessage(e).split('\n')[0]}`);
  }
}

export async function loadModel(arg: string | undefined, which: 'best' | 'last' = 'best',
  announce?: (message: string) => void, warn: (message: string) => void = warnOnStderr): Promise<LoadedModel> {
  const resolved = resolveCheckpoint(arg, which);
  const { runDir, guessed } = resolved;
  const config = readRunConfig(runDir);
  const { checkpointDir, opened: vae } = await openIntact(resolved, (dir) => loadVae(config, dir), warn);
  if (guessed && announce) announce(`using checkpoint ${checkpointDir} (the newest run under ${DEFAULT_CHECKPOINT_ROOT}/)`);
  return { runDir, checkpointDir, config, vae, m1: await loadM1(config, runDir) };
}

/**
 * Everything needed to continue training: the last checkpoint's model, Adam state and training state (or the
 * newest intact checkpoint's, should the last be damaged).
 */
export async function loadForResume(runDir: string, warn: (message: string) => void = warnOnStderr):
  Promise<LoadedModel & { state: TrainState; adam: AdamState }> {
  if (!fs.existsSync(runDir)) throw new VaeError(`cannot resume: ${runDir} does not exist`);
  const config = readRunConfig(runDir);
  const { checkpointDir, opened } = await openIntact(resolveCheckpoint(runDir, 'last'), async (dir) => {
    const vae = await loadVae(config, dir);
    try {
      return { vae, ...readTrainingState(dir, flatLayout(vae.trainableVariables()).size) };
    } catch (e) {
      vae.dispose();
      throw new VaeError(`cannot resume from ${dir}: ${errorMessage(e).split('\n')[0]}`);
    }
  }, warn);
  return { runDir, checkpointDir, config, ...opened, m1: await loadM1(config, runDir) };
}

/** A checkpoint's training state and Adam's moments, for a model of `parameters` parameters. */
function readTrainingState(checkpointDir: string, parameters: number): { state: TrainState; adam: AdamState } {
  const state = readJson<TrainState>(path.join(checkpointDir, 'state.json'));
  const meta = readJson<OptimizerFile>(path.join(checkpointDir, 'optimizer.json'));
  const bin = fs.readFileSync(path.join(checkpointDir, 'optimizer.bin'));
  if (meta.className !== 'Adam' || meta.parameters !== parameters || bin.length !== 8 * parameters) {
    throw new Error(`optimizer state is for ${meta.parameters} parameters (${bin.length} bytes), the model has ${parameters}`);
  }
  const floats = new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength));
  return { state, adam: { m: floats.slice(0, parameters), v: floats.slice(parameters) } };
}
