/**
 * What a run folder's files hold, byte for byte, with no Node module: `vae train` writes them (checkpoint.ts,
 * tfjs-files.ts) and the explorer's Train panel puts them into the run folder it downloads, so that the CLI opens
 * either. The layout is checkpoint.ts's (shared/DESIGN.md): config.json, checkpoint.json, one folder per checkpoint
 * (each network's model.json and weights.bin in the TensorFlow.js layers format, optimizer.json and optimizer.bin,
 * state.json, checksums.json), metrics.jsonl.
 */
import * as tf from '@tensorflow/tfjs';
import type { AdamConfig, AdamState } from '../engine/adam';
import type { TrainState } from '../model/run-config';
import { bytesOf } from '../model/tensor-io';
import type { Vae } from '../model/vae';

export const WEIGHTS_FILE = 'weights.bin';
export const CHECKSUMS_FILE = 'checksums.json';

/** checkpoint.json: which checkpoint is which. */
export interface CheckpointIndex {
  last: string;
  best: string | null;
  /** The last checkpoint before `last`, kept to fall back to should `last` be damaged. */
  previous?: string | null;
  epochsDone: number;
  updatedAt: string;
}

/** checksums.json. */
export interface Checksums {
  algorithm: 'sha256';
  /** Each file of the checkpoint (relative, '/'-separated) but this one: its size in bytes and hash. */
  files: Record<string, { bytes: number; sha256: string }>;
}

/** optimizer.json: Adam's settings; its moment estimates are in optimizer.bin. */
export interface OptimizerFile {
  className: 'Adam';
  config: AdamConfig;
  step: number;
  parameters: number;
  layout: string;
}

/** A file as parts to write one after the other (views where the values lie: no copy of a model). */
export type FileParts = Uint8Array[];

const text = (s: string): FileParts => [new TextEncoder().encode(s)];

/** epoch-0007, or epoch-0003-step-00120 for a run stopped in the middle of its epoch 4. */
export function checkpointName(state: TrainState): string {
  const epoch = `epoch-${String(state.epochsDone).padStart(4, '0')}`;
  return state.stepInEpoch > 0 ? `${epoch}-step-${String(state.stepInEpoch).padStart(5, '0')}` : epoch;
}

/**
 * A layers model's model.json and weights.bin as model.save writes them, to the byte. weights.bin's parts are views
 * of the weights where they lie (the wasm heap: valid until the next tensor is made, so write them at once): model.save
 * copies every weight, then joins the copies. A model with other than float32 weights goes through model.save.
 */
export async function layersModelFiles(model: tf.LayersModel): Promise<{ [WEIGHTS_FILE]: FileParts; 'model.json': FileParts }> {
  const weights = model.weights;
  if (weights.some((w) => w.dtype !== 'float32')) {
    let saved: FileParts[] = [];
    await model.save(tf.io.withSaveHandler(async (artifacts) => {
      const data = artifacts.weightData ? new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData)) : new Uint8Array(0);
      saved = [text(JSON.stringify(modelJson(artifacts.modelTopology as object, artifacts.weightSpecs ?? []))), [data]];
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }));
    return { [WEIGHTS_FILE]: saved[1], 'model.json': saved[0] };
  }
  const specs = weights.map((w) => ({ name: w.originalName, shape: w.read().shape, dtype: 'float32' as const }));
  // (weights.bin first, as model.save writes them.)
  return { [WEIGHTS_FILE]: weights.map((w) => bytesOf(w.read())), 'model.json': text(JSON.stringify(modelJson(model.toJSON(null, false) as object, specs))) };
}

function modelJson(modelTopology: object, weights: tf.io.WeightsManifestEntry[]): tf.io.ModelJSON {
  return { modelTopology, format: 'layers-model', generatedBy: `TensorFlow.js tfjs-layers v${tf.version['tfjs-layers']}`, convertedBy: null,
    weightsManifest: [{ paths: [WEIGHTS_FILE], weights }] };
}

/**
 * A checkpoint's files but checksums.json, by path relative to its folder: each network's, Adam's and the state.
 * The weights are views (see layersModelFiles): write them before another tensor is made.
 */
export async function checkpointFiles(vae: Vae, adam: AdamState, adamConfig: AdamConfig, state: TrainState): Promise<Map<string, FileParts>> {
  const files = new Map<string, FileParts>();
  const networks = Object.entries(vae.networks);
  // (Every network's files first: the views of the first must not outlive a tensor that the fallback of another makes.)
  const saved = await Promise.all(networks.map(([, model]) => layersModelFiles(model)));
  networks.forEach(([net], i) => { for (const [name, parts] of Object.entries(saved[i])) files.set(`${net}/${name}`, parts); });
  const bytesOfArray = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  files.set('optimizer.bin', [bytesOfArray(adam.m), bytesOfArray(adam.v)]);
  const meta: OptimizerFile = { className: 'Adam', config: adamConfig, step: state.globalStep, parameters: adam.m.length,
    layout: 'float32 m[parameters] then v[parameters], in the order of the encoder, decoder (and classifier) weights' };
  files.set('optimizer.json', text(JSON.stringify(meta, null, 2) + '\n'));
  files.set('state.json', text(JSON.stringify(state, null, 2) + '\n'));
  return files;
}

/** checksums.json's text for files of these sizes and SHA-256s (hex), by relative path. */
export function checksumsText(sums: Record<string, { bytes: number; sha256: string }>): string {
  const sorted = Object.keys(sums).filter((f) => f !== CHECKSUMS_FILE).sort();
  const checksums: Checksums = { algorithm: 'sha256', files: Object.fromEntries(sorted.map((f) => [f, sums[f]])) };
  return JSON.stringify(checksums, null, 2) + '\n';
}

/** checkpoint.json after a checkpoint `name` is placed, from the one before (null: the first). */
export function nextIndex(previous: CheckpointIndex | null, name: string, isBest: boolean, epochsDone: number): CheckpointIndex {
  return {
    last: name,
    // A best checkpoint overwritten by a later, worse one of the same name is not the best any more.
    best: isBest ? name : previous?.best === name ? null : previous?.best ?? null,
    previous: previous?.last !== name ? previous?.last ?? null : previous?.previous ?? null,
    epochsDone,
    updatedAt: new Date().toISOString(),
  };
}
