/**
 * The dedicated worker the explorer's Train panel trains in (bundled by web/build.js into
 * dist/explore/train-worker.js), so that the page stays responsive: the pad, sliders and drawing keep working while
 * it trains. It opens the page's WebGPU device and runs trainInPage (core.ts).
 *
 * Messages in: { kind: 'flags' } (answered with 'flags': the panel's fields, settings.ts); { kind: 'start', values, dataset }
 * (a new run of the panel's fields, as `vae train` starts one); { kind: 'train', run: PageRun } (a run as it is);
 * { kind: 'stop' } (ends after the step under way, keeping the run); { kind: 'download' } (answered with 'run-zip': the run
 * folder of the last run started, as a zip, run-folder.ts).
 * Messages out: 'flags', 'engine' (its description), 'step' (StepInfo), 'epoch' (the result, the metrics line, the preview and
 * the parameters), then 'done' (the run's parameters, Adam's moments and state; `interrupted` when stopped), or
 * 'error' (one line: a browser without WebGPU, a model larger than the adapter binds, a lost device; with `kept`, the checkpoint
 * a failed run went back to, which Continue trains on and Download run saves).
 */
import { exploreDataOf } from '../../src/commands/explore-data';
import { testMatrix } from '../../src/data/batches';
import { adapterIdentity, gpuOfAdapter } from '../../src/gpu-device';
import { layersModelFiles } from '../../src/io/run-files';
import type { Vae } from '../../src/model/vae';
import type { LoopRun } from '../../src/train/loop';
import type { Dataset } from '../../src/data/datasets';
import { PageOutcome, PageRun, trainInPage } from './core';
import { indexedDbKeptForms } from './kept-forms';
import { PageRunFolder, joined, openRunFolder, unzipped } from './run-folder';
import { picturesDataset } from './pictures';
import { limitedDataset, panelFlags, panelOptions, panelRun } from './settings';

export type WorkerRequest = { kind: 'flags' } | { kind: 'start'; values: Record<string, string>; dataset?: Dataset; pictures?: Pictures } | { kind: 'train'; run: PageRun } |
  { kind: 'stop' } | { kind: 'download' } | { kind: 'open'; zip?: Uint8Array; files?: Record<string, Uint8Array>; dataset: Dataset; pictures?: Pictures } | { kind: 'continue'; epochs?: number };

/** The one line a browser without WebGPU gets. */
export const NO_WEBGPU = 'this browser has no WebGPU (Chrome or Edge 113+, Safari 26, Firefox 141+ on Windows; or a flag such as --enable-unsafe-webgpu)';

const scope = self as unknown as { postMessage(message: unknown, transfer?: Transferable[]): void; onmessage: ((e: MessageEvent<WorkerRequest>) => void) | null };
let stopping = false;
/** The run folder of the run last started or opened here (Continue goes on in it). */
let folder: PageRunFolder | null = null;
/** That run as it was left: Continue trains it on. */
let current: PageRun | null = null;

async function openGpu() {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) throw new Error(NO_WEBGPU);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error(`${NO_WEBGPU}: no adapter was given`);
  const opened = await gpuOfAdapter(adapter);
  // The tuner's picks kept for this GPU and browser (a new version may compile the kernels otherwise).
  opened.kept = indexedDbKeptForms(adapterIdentity(adapter.info, { browser: navigator.userAgent }));
  return opened;
}

async function train(run: PageRun): Promise<void> {
  stopping = false;
  const gpu = await openGpu();
  let done: PageOutcome;
  try {
    done = await trainInPage(run, gpu, {
      onEngine: (description) => scope.postMessage({ kind: 'engine', description }),
      onStep: (info) => scope.postMessage({ kind: 'step', info }),
      onEpochClosed: (result, metrics, preview, params) => scope.postMessage({ kind: 'epoch', result, metrics, preview, params }, [params.buffer]),
      shouldStop: () => stopping,
      onModel: async (vae, loopRun) => scope.postMessage({ kind: 'model', ...(await modelForExplorer(vae, loopRun)) }),
    }, folder ?? undefined);
  } catch (error) {
    // A lost device (or any failure mid-run): the run goes back to its last checkpoint, which Continue trains on (on a
    // new device) and Download run saves.
    if (folder?.saved) {
      const back = await openRunFolder(folder.contents);
      current = { config: back.config, dataset: run.dataset, params: back.params, adam: back.adam, state: back.state };
      folder = back.folder;
      throw Object.assign(error instanceof Error ? error : new Error(String(error)), { kept: back.checkpoint });
    }
    throw error;
  } finally {
    gpu.device.destroy();
  }
  current = { ...run, params: done.params.slice(), adam: done.adam, state: done.state };
  scope.postMessage({ kind: 'done', interrupted: done.outcome.interrupted, params: done.params, adam: done.adam, state: done.state },
    [done.params.buffer]);
}

/** The user's pictures as the page has them: a zip, or a folder's files (paths from inside it). */
export interface Pictures {
  name: string;
  zip?: Uint8Array;
  files?: { path: string; bytes: Uint8Array }[];
}

/**
 * The user's pictures prepared as `vae train --data DIR` with these settings would prepare them (the worker says how
 * far it has read, then what it made of them).
 */
async function preparedPictures(pictures: Pictures, settings: { imageSize?: number; channels?: 1 | 3; testSplit?: number; seed: number }): Promise<Dataset> {
  const files = pictures.files ?? [...unzipped(pictures.zip!)].map(([path, bytes]) => ({ path, bytes }));
  // A zip of one folder: the folder is the data set (its subfolders the classes).
  const tops = new Set(files.map((f) => f.path.split('/')[0]));
  const inOne = tops.size === 1 && files.every((f) => f.path.includes('/'));
  const prepared = await picturesDataset(inOne ? [...tops][0] : pictures.name,
    inOne ? files.map((f) => ({ path: f.path.slice(f.path.indexOf('/') + 1), bytes: f.bytes })) : files,
    settings, (done, total) => scope.postMessage({ kind: 'progress', done, total }));
  const data = prepared.dataset;
  scope.postMessage({ kind: 'data', name: data.name, train: data.train.count, test: data.test.count, size: data.height, channels: data.channels,
    classes: data.labelNames, skipped: prepared.skipped });
  return data;
}

/** A new run of the panel's fields on MNIST (`dataset`) or on the user's pictures (prepared here first). */
async function startRun(values: Record<string, string>, dataset: Dataset | undefined, pictures: Pictures | undefined): Promise<void> {
  let data = dataset;
  if (pictures) {
    const options = panelOptions(values);
    data = await preparedPictures(pictures, { imageSize: options.imageSize, channels: options.channels as 1 | 3 | undefined, testSplit: options.testSplit,
      seed: options.seed });
  }
  const run = panelRun(values, data!);
  scope.postMessage({ kind: 'config', config: run.config });
  folder = new PageRunFolder(run.config);
  await train(run);
}

/**
 * Opens a run folder (a zip's or a folder's files): the run Continue trains on. A run on MNIST trains on `dataset`; a run
 * on a folder of pictures on `pictures` (chosen or dropped on the panel), prepared with the run's own settings and
 * refused when they are not the pictures it trained on (their counts or classes differ).
 */
async function open(files: Map<string, Uint8Array>, dataset: Dataset, pictures: Pictures | undefined): Promise<void> {
  const opened = await openRunFolder(files);
  const { data: recorded, train: settings } = opened.config;
  const onPictures = recorded.kind === 'folder';
  const what = `${recorded.name} (${recorded.trainCount} training and ${recorded.testCount} test pictures, ${recorded.imageSize}x${recorded.imageSize} ` +
    `${recorded.channels === 3 ? 'colour' : 'grey'})`;
  let data = dataset;
  if (onPictures) {
    if (!pictures) throw new Error(`this run trained on the pictures of ${what}: choose or drop that folder (or its zip) first, then open the run`);
    data = await preparedPictures(pictures, { imageSize: recorded.imageSize, channels: recorded.channels as 1 | 3, testSplit: recorded.testSplit,
      seed: recorded.splitSeed ?? settings.seed });
  } else if (recorded.name !== dataset.name) {
    throw new Error(`this run trained on ${recorded.name}; the page trains on ${dataset.name} or on a folder of pictures`);
  }
  const limited = limitedDataset(data, settings.limitTrain, settings.limitTest); // as the run trained on it
  const classes = (names: string[] | null) => (names ? names.join(', ') : 'none');
  if (onPictures && (limited.train.count !== recorded.trainCount || limited.test.count !== recorded.testCount ||
    classes(data.labelNames) !== classes(recorded.labelNames))) {
    throw new Error(`this run trained on ${what}, classes ${classes(recorded.labelNames)}; the pictures given make ${limited.train.count} training ` +
      `and ${limited.test.count} test pictures, classes ${classes(data.labelNames)}`);
  }
  current = { config: opened.config, dataset: limited, params: opened.params, adam: opened.adam, state: opened.state };
  folder = opened.folder;
  scope.postMessage({ kind: 'opened', config: opened.config, state: opened.state, checkpoint: opened.checkpoint, metrics: folder.metricsLines });
}

/** Test codes the explorer's pad shows of the page's model. */
const PAGE_CODES = 500;

/**
 * The model as the explorer's panels load it: explore.json's numbers for its first PAGE_CODES test images, and each
 * network's model.json and weights.bin (the files of a checkpoint).
 */
async function modelForExplorer(vae: Vae, run: LoopRun) {
  const { config, dataset } = run;
  const count = Math.min(PAGE_CODES, dataset.test.count);
  const dim = vae.inputDim;
  const first = { images: dataset.test.images!.subarray(0, count * dim), labels: dataset.test.labels?.subarray(0, count) ?? null, count };
  const images = testMatrix(first, dim, config.data.binarize);
  const info = exploreDataOf({ vae, config, run: `${config.data.name}, in this tab`, images, inputs: images, labels: first.labels, count });
  const networks: Record<string, { json: string; weights: Uint8Array }> = {};
  const decoder = new TextDecoder();
  for (const [net, model] of Object.entries(vae.networks)) {
    const files = await layersModelFiles(model);
    networks[net] = { json: decoder.decode(files['model.json'][0]), weights: joined(files['weights.bin']) };
  }
  return { info, networks };
}

/** The one-line error; `kept`: the checkpoint a failed run went back to. */
const failed = (error: unknown) =>
  scope.postMessage({ kind: 'error', message: String(error instanceof Error ? error.message : error).split('\n')[0],
    kept: (error as { kept?: string } | null)?.kept });

scope.onmessage = (e) => {
  const request = e.data;
  if (request.kind === 'stop') stopping = true;
  else if (request.kind === 'flags') scope.postMessage({ kind: 'flags', flags: panelFlags() });
  else if (request.kind === 'start') {
    startRun(request.values, request.dataset, request.pictures).catch(failed);
  } else if (request.kind === 'train') train(request.run).catch(failed);
  else if (request.kind === 'open') {
    open(request.zip ? unzipped(request.zip) : new Map(Object.entries(request.files ?? {})), request.dataset, request.pictures).catch(failed);
  }
  else if (request.kind === 'continue') {
    if (!current) failed(new Error('no run to continue: start one, or open a run folder'));
    else {
      const epochs = request.epochs ?? current.config.train.epochs;
      if (epochs <= current.state!.epochsDone) failed(new Error(`the run has already finished its ${current.state!.epochsDone} epochs; set --epochs higher to train longer`));
      else {
        current.config.train.epochs = epochs; // as vae train --resume --epochs N: the new total
        train(current).catch(failed);
      }
    }
  } else if (request.kind === 'download') {
    if (!folder?.saved) failed(new Error('no checkpoint yet: train for an epoch, or stop, first'));
    else {
      const name = `run-${new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}`;
      const zip = folder.zip(name);
      scope.postMessage({ kind: 'run-zip', name, zip }, [zip.buffer]);
    }
  }
};
