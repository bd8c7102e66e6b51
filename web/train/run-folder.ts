/**
 * The run folder a run trained in the page would have on disk, kept in the worker's memory: config.json, a checkpoint
 * per epoch (and one where it was stopped) in the CLI's layout and bytes (src/io/run-files.ts), checkpoint.json
 * keeping its last, best and previous, metrics.jsonl. "Download run" zips it: the folder `vae sample --checkpoint`,
 * `vae evaluate` and `vae train --resume` open.
 */
import * as tf from '@tensorflow/tfjs';
import { unzipSync, zipSync } from 'fflate';
import type { AdamConfig, AdamState } from '../../src/engine/adam';
import { CHECKSUMS_FILE, CheckpointIndex, Checksums, OptimizerFile, WEIGHTS_FILE, checkpointFiles, checkpointName, checksumsText, nextIndex }
  from '../../src/io/run-files';
import { assembleModel, extraNetworks } from '../../src/model/families/registry';
import { flatLayout, readVariables } from '../../src/model/flat';
import { CHECKPOINT_FORMAT, RunConfig, TrainState } from '../../src/model/run-config';
import type { Vae } from '../../src/model/vae';
import type { MetricsLine } from '../../src/train/epoch-close';

const encode = (s: string) => new TextEncoder().encode(s);

/** The bytes of a file's parts, joined (a copy: the parts may be views that the next tensor invalidates). */
export function joined(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

export class PageRunFolder {
  /** The files, by path relative to the run folder ('/'-separated). */
  private readonly files = new Map<string, Uint8Array>();
  private index: CheckpointIndex | null = null;
  private metrics = '';

  /** A new run's folder, or (`files`, `index`, `metrics`) one opened as it was. */
  constructor(config: RunConfig, opened?: { files: Map<string, Uint8Array>; index: CheckpointIndex; metrics: string }) {
    if (opened) {
      for (const [file, bytes] of opened.files) this.files.set(file, bytes);
      this.index = opened.index;
      this.metrics = opened.metrics;
    }
    this.files.set('config.json', encode(JSON.stringify(config, null, 2) + '\n'));
  }

  /** Adds an epoch's metrics.jsonl line. */
  addMetrics(line: MetricsLine): void {
    this.metrics += JSON.stringify(line) + '\n';
    this.files.set('metrics.jsonl', encode(this.metrics));
  }

  /** A checkpoint of the run as it is, as saveCheckpoint writes one; makes it `last` (and `best`). Its name. */
  async save(vae: Vae, adam: AdamState, adamConfig: AdamConfig, state: TrainState, isBest: boolean): Promise<string> {
    const name = checkpointName(state);
    const files = new Map<string, Uint8Array>();
    for (const [file, parts] of await checkpointFiles(vae, adam, adamConfig, state)) files.set(file, joined(parts));
    const sums: Record<string, { bytes: number; sha256: string }> = {};
    for (const [file, bytes] of files) sums[file] = { bytes: bytes.length, sha256: await sha256(bytes) };
    files.set('checksums.json', encode(checksumsText(sums)));
    for (const key of [...this.files.keys()]) if (key.startsWith(`${name}/`)) this.files.delete(key);
    for (const [file, bytes] of files) this.files.set(`${name}/${file}`, bytes);
    this.index = nextIndex(this.index, name, isBest, state.epochsDone);
    this.files.set('checkpoint.json', encode(JSON.stringify(this.index, null, 2) + '\n'));
    const kept = new Set([this.index.last, this.index.best, this.index.previous]);
    for (const key of [...this.files.keys()]) {
      const top = key.split('/')[0];
      if (/^epoch-\d+(-step-\d+)?$/.test(top) && !kept.has(top)) this.files.delete(key);
    }
    return name;
  }

  /** The files as they are now, by path (openRunFolder opens them again: the run as its last checkpoint left it). */
  get contents(): ReadonlyMap<string, Uint8Array> {
    return this.files;
  }

  /** metrics.jsonl's lines so far, parsed. */
  get metricsLines(): MetricsLine[] {
    return this.metrics.split('\n').filter((line) => line.trim()).map((line) => JSON.parse(line) as MetricsLine);
  }

  /** Whether a checkpoint has been saved (before, there is nothing to open). */
  get saved(): boolean {
    return this.index !== null;
  }

  /** The run folder as a zip, its files under `name`/. */
  zip(name: string): Uint8Array {
    return zipSync(Object.fromEntries([...this.files].map(([file, bytes]) => [`${name}/${file}`, bytes])), { level: 1 });
  }
}

/** What opening a run folder gives: the run as its last checkpoint left it, and its folder to go on in. */
export interface OpenedRun {
  config: RunConfig;
  params: Float32Array;
  adam: AdamState;
  state: TrainState;
  folder: PageRunFolder;
  /** The checkpoint it starts from ('epoch-0003'). */
  checkpoint: string;
}

const decoder = new TextDecoder();

/**
 * A run folder the CLI wrote (or the page), given as its files by path: a zip's entries, or a folder's files. Paths may
 * begin with the folder's own name. Its last checkpoint is checked against its checksums.json, as the CLI checks it;
 * a damaged or foreign folder is one line.
 */
export async function openRunFolder(given: ReadonlyMap<string, Uint8Array>): Promise<OpenedRun> {
  const configAt = [...given.keys()].filter((f) => f.endsWith('config.json') && !f.includes('/epoch-')).sort((a, b) => a.length - b.length)[0];
  if (configAt === undefined) throw new Error('not a run folder: it has no config.json');
  const prefix = configAt.slice(0, configAt.length - 'config.json'.length);
  const files = new Map([...given].filter(([f]) => f.startsWith(prefix)).map(([f, b]) => [f.slice(prefix.length), b]));
  const json = <T>(file: string): T => {
    const bytes = files.get(file);
    if (!bytes) throw new Error(`not a complete run folder: ${file} is missing`);
    return JSON.parse(decoder.decode(bytes)) as T;
  };
  const config = json<RunConfig>('config.json');
  if (config.format !== CHECKPOINT_FORMAT || config.tool?.name !== 'vae') throw new Error(`not a vae run folder of format ${CHECKPOINT_FORMAT}`);
  const index = json<CheckpointIndex>('checkpoint.json');
  const at = (file: string) => `${index.last}/${file}`;
  const sums = json<Checksums>(at(CHECKSUMS_FILE));
  for (const [file, { bytes, sha256: want }] of Object.entries(sums.files)) {
    const got = files.get(at(file));
    if (!got || got.length !== bytes || (await sha256(got)) !== want) throw new Error(`checkpoint ${index.last} is damaged: ${file} does not match its checksum`);
  }
  const network = (net: string) => {
    const model = json<tf.io.ModelJSON>(at(`${net}/model.json`));
    const weights = files.get(at(`${net}/${WEIGHTS_FILE}`))!;
    return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: model.modelTopology, weightSpecs: model.weightsManifest[0].weights,
      weightData: weights.slice().buffer }));
  };
  const extras: Record<string, tf.LayersModel> = {};
  for (const name of extraNetworks(config.model)) extras[name] = await network(name);
  const vae = assembleModel(config.model, await network('encoder'), await network('decoder'), extras);
  try {
    const variables = vae.trainableVariables();
    const layout = flatLayout(variables);
    const params = new Float32Array(layout.size);
    readVariables(variables, layout, params);
    const meta = json<OptimizerFile>(at('optimizer.json'));
    const bin = files.get(at('optimizer.bin'))!;
    if (meta.parameters !== layout.size || bin.length !== 8 * layout.size) throw new Error(`checkpoint ${index.last}: its optimizer state does not fit the model`);
    const moments = new Float32Array(bin.slice().buffer);
    const state = json<TrainState>(at('state.json'));
    // (As --resume does: the metrics of epochs after the checkpoint are dropped.)
    const metrics = (files.has('metrics.jsonl') ? decoder.decode(files.get('metrics.jsonl')!) : '').split('\n')
      .filter((line) => line.trim() && (JSON.parse(line) as { epoch: number }).epoch <= state.epochsDone).map((line) => line + '\n').join('');
    return { config, params, adam: { m: moments.slice(0, layout.size), v: moments.slice(layout.size) }, state,
      folder: new PageRunFolder(config, { files, index, metrics }), checkpoint: index.last };
  } finally {
    vae.dispose();
  }
}

/** The files of a zip, by path. */
export function unzipped(zip: Uint8Array): Map<string, Uint8Array> {
  return new Map(Object.entries(unzipSync(zip)).filter(([name]) => !name.endsWith('/')));
}
