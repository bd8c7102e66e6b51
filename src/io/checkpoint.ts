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
 * removed. A crash at any moment leaves checkpoint.json naming complete checkpoints.
 */
import * as fs from 'fs';
import * as path from 'path';
import type * as tf from '@tensorflow/tfjs';
import { VaeError, errorMessage } from '../errors';
import { M1Codes } from '../model/m1m2';
import { Vae } from '../model/vae';
import { assembleModel, extraNetworks, findFamily } from '../model/families/registry';
import { AdamConfig, AdamState } from '../engine/adam';
import { flatLayout } from '../model/flat';
import { TOOL_VERSION } from '../version';
import type { EpochSums, ModelConfig, RunConfig, TrainSettings, TrainState } from '../model/run-config';

export type { EpochSums, RunConfig, TrainSettings, TrainState };
import { readJson, writeFileAtomic } from '../files';
import { loadLayersModel, saveLayersModel } from './tfjs-files';

/** optimizer.json: Adam's settings; its moment estimates are in optimizer.bin. */
interface OptimizerFile {
  className: 'Adam';
  config: AdamConfig;
  step: number;
  parameters: number;
  layout: string;
}

export const CHECKPOINT_FORMAT = 1;
export const DEFAULT_CHECKPOINT_ROOT = 'checkpoints';

interface CheckpointIndex {
  last: string;
  best: string | null;
  epochsDone: number;
  updatedAt: string;
}

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

export function newRunConfig(fields: Omit<RunConfig, 'format' | 'tool' | 'createdAt'>): RunConfig {
  return { format: CHECKPOINT_FORMAT, tool: { name: 'vae', version: TOOL_VERSION }, createdAt: new Date().toISOString(), ...fields };
}

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

export function createRunDir(runDir: string, config: RunConfig): void {
  assertNoRun(runDir);
  try {
    fs.mkdirSync(path.join(runDir, 'samples'), { recursive: true });
    writeFileAtomic(path.join(runDir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  } catch (e) {
    throw new VaeError(`cannot create run folder ${runDir}: ${errorMessage(e)}`);
  }
}

export function checkpointName(state: TrainState): string {
  const epoch = `epoch-${String(state.epochsDone).padStart(4, '0')}`;
  return state.stepInEpoch > 0 ? `${epoch}-step-${String(state.stepInEpoch).padStart(5, '0')}` : epoch;
}

function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Writes a checkpoint of the model, optimizer and training state, and makes it `last` (and `best`). */
export async function saveCheckpoint(runDir: string, vae: Vae, adam: AdamState, adamConfig: AdamConfig, state: TrainState,
  isBest: boolean): Promise<string> {
  const name = checkpointName(state);
  const finalDir = path.join(runDir, name);
  const tmpDir = path.join(runDir, `.${name}.tmp-${process.pid}`);
  removeDir(tmpDir);
  fs.mkdirSync(tmpDir, { recursive: true });
  for (const [name, net] of Object.entries(vae.networks)) await saveLayersModel(net, path.join(tmpDir, name));
  const moments = new Uint8Array(8 * adam.m.length);
  moments.set(new Uint8Array(adam.m.buffer, adam.m.byteOffset, adam.m.byteLength), 0);
  moments.set(new Uint8Array(adam.v.buffer, adam.v.byteOffset, adam.v.byteLength), adam.m.byteLength);
  writeFileAtomic(path.join(tmpDir, 'optimizer.bin'), moments);
  const meta: OptimizerFile = { className: 'Adam', config: adamConfig, step: state.globalStep, parameters: adam.m.length,
    layout: 'float32 m[parameters] then v[parameters], in the order of the encoder, decoder (and classifier) weights' };
  writeFileAtomic(path.join(tmpDir, 'optimizer.json'), JSON.stringify(meta, null, 2) + '\n');
  writeFileAtomic(path.join(tmpDir, 'state.json'), JSON.stringify(state, null, 2) + '\n');
  if (fs.existsSync(finalDir)) {
    const old = `${finalDir}.old-${process.pid}`;
    fs.renameSync(finalDir, old);
    fs.renameSync(tmpDir, finalDir);
    removeDir(old);
  } else {
    fs.renameSync(tmpDir, finalDir);
  }

  const previous = readIndex(runDir);
  const index: CheckpointIndex = {
    last: name,
    best: isBest ? name : previous?.best ?? null,
    epochsDone: state.epochsDone,
    updatedAt: new Date().toISOString(),
  };
  writeFileAtomic(path.join(runDir, 'checkpoint.json'), JSON.stringify(index, null, 2) + '\n');
  // Remove checkpoints that nothing points at any more, and the leftovers of a save that was killed.
  for (const entry of fs.readdirSync(runDir)) {
    if (/^\.?epoch-\d+(-step-\d+)?(\.tmp-\d+|\.old-\d+)?$/.test(entry) && entry !== index.last && entry !== index.best) {
      removeDir(path.join(runDir, entry));
    }
  }
  return finalDir;
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

/**
 * Finds the checkpoint a command should use: `arg` may be a run folder (its best checkpoint, or `which`)
 * or one checkpoint folder inside a run; without `arg`, the newest run under checkpoints/.
 */
export function resolveCheckpoint(arg: string | undefined, which: 'best' | 'last' = 'best',
  root = DEFAULT_CHECKPOINT_ROOT): { runDir: string; checkpointDir: string; guessed: boolean } {
  let runDir: string;
  let guessed = false;
  if (arg === undefined) {
    const newest = newestRun(root);
    if (!newest) throw new VaeError(`no trained model found under ${root}/: run 'vae train' first, or pass --checkpoint DIR`);
    runDir = newest;
    guessed = true;
  } else {
    if (!fs.existsSync(arg)) throw new VaeError(`checkpoint not found: ${arg}`);
    if (fs.existsSync(path.join(arg, 'encoder', 'model.json'))) {
      return { runDir: path.dirname(path.resolve(arg)), checkpointDir: arg, guessed };
    }
    runDir = arg;
  }
  const index = readIndex(runDir);
  if (!index) throw new VaeError(`not a vae checkpoint: ${runDir} has no checkpoint.json (has training finished an epoch?)`);
  const name = which === 'best' ? index.best ?? index.last : index.last;
  const checkpointDir = path.join(runDir, name);
  if (!fs.existsSync(checkpointDir)) throw new VaeError(`checkpoint ${checkpointDir} named in ${runDir}/checkpoint.json is missing`);
  return { runDir, checkpointDir, guessed };
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
  announce?: (message: string) => void): Promise<LoadedModel> {
  const { runDir, checkpointDir, guessed } = resolveCheckpoint(arg, which);
  if (guessed && announce) announce(`using checkpoint ${checkpointDir} (the newest run under ${DEFAULT_CHECKPOINT_ROOT}/)`);
  const config = readRunConfig(runDir);
  return { runDir, checkpointDir, config, vae: await loadVae(config, checkpointDir), m1: await loadM1(config, runDir) };
}

/** Everything needed to continue training: the last checkpoint's model, Adam state and training state. */
export async function loadForResume(runDir: string): Promise<LoadedModel & { state: TrainState; adam: AdamState }> {
  if (!fs.existsSync(runDir)) throw new VaeError(`cannot resume: ${runDir} does not exist`);
  const { checkpointDir } = resolveCheckpoint(runDir, 'last');
  const config = readRunConfig(runDir);
  const vae = await loadVae(config, checkpointDir);
  const parameters = flatLayout(vae.trainableVariables()).size;
  let state: TrainState;
  let adam: AdamState;
  try {
    state = readJson<TrainState>(path.join(checkpointDir, 'state.json'));
    const meta = readJson<OptimizerFile>(path.join(checkpointDir, 'optimizer.json'));
    const bin = fs.readFileSync(path.join(checkpointDir, 'optimizer.bin'));
    if (meta.className !== 'Adam' || meta.parameters !== parameters || bin.length !== 8 * parameters) {
      throw new Error(`optimizer state is for ${meta.parameters} parameters (${bin.length} bytes), the model has ${parameters}`);
    }
    const floats = new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength));
    adam = { m: floats.slice(0, parameters), v: floats.slice(parameters) };
  } catch (e) {
    throw new VaeError(`cannot resume from ${checkpointDir}: ${errorMessage(e).split('\n')[0]}`);
  }
  return { runDir, checkpointDir, config, vae, state, adam, m1: await loadM1(config, runDir) };
}
