/**
 * The Train panel of `vae explore`: a model trained in this tab, on the computer's own GPU through WebGPU, by
 * `vae train`'s loop and engine in a dedicated worker (train-worker.js, from web/train/), so the page stays
 * responsive. Its fields are `vae train`'s flags (names, defaults, help and checks come from the worker, which has
 * train/flags.ts); the data are MNIST, served by `vae explore` (data/mnist/, the copy vae ships), or the user's pictures
 * (a folder or a zip, chosen or dropped on the panel; the worker prepares them as the CLI prepares a folder, and the
 * files it skips are listed). Each epoch adds a
 * line of numbers and shows the model's samples (or reconstructions); Stop ends after the step under way and keeps
 * the run, Continue trains it on (to the --epochs field's total); Download run saves its run folder (a zip) for the CLI;
 * Open run takes a run folder the CLI made (zipped), which Continue then trains on (a run on pictures: with those pictures
 * chosen first). The training curves panel follows the run's metrics lines.
 */

import type { ExploreData } from '../../src/commands/explore-types';

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** Shows the model the worker sends after each epoch in the explorer's other panels (app.ts). */
type ShowModel = (info: ExploreData, networks: Record<string, { json: string; weights: Uint8Array }>) => Promise<void>;
let showModel: ShowModel = async () => undefined;
/** Draws the training curves of the run in this tab (app.ts), from its metrics.jsonl lines. */
type ShowCurves = (lines: EpochLine[]) => void;
let showCurves: ShowCurves = () => undefined;

/** What the page says when the browser has no WebGPU (the worker says the same when asked to train). */
export const NO_WEBGPU_NOTE = 'This browser has no WebGPU, so it cannot train here (Chrome or Edge 113+, Safari 26, Firefox 141+ on ' +
  'Windows). The other panels still work.';

interface PanelFlag { name: string; value: string; placeholder: string; help: string; choices: string[] | null }
interface ImageSet { images: Uint8Array; labels: Uint8Array | null; count: number }
interface Preview { images: Float32Array; count: number; cols: number; shape: number[] }
interface EpochLine { epoch: number; train: { loss: number }; test: { loss: number }; samplesPerSec?: number }
type FromWorker =
  | { kind: 'flags'; flags: PanelFlag[] }
  | { kind: 'config'; config: unknown }
  | { kind: 'engine'; description: string }
  | { kind: 'step'; info: { epoch: number; step: number; steps: number; loss: number; samplesPerSec: number } }
  | { kind: 'epoch'; result: EpochLine & { epochs: number; samplesPerSec: number }; metrics: EpochLine; preview: Preview }
  | { kind: 'done'; interrupted: boolean; params: Float32Array; adam: unknown; state: unknown }
  | { kind: 'run-zip'; name: string; zip: Uint8Array }
  | { kind: 'progress'; done: number; total: number }
  | { kind: 'model'; info: ExploreData; networks: Record<string, { json: string; weights: Uint8Array }> }
  | { kind: 'data'; name: string; train: number; test: number; size: number; channels: number; classes: string[] | null;
      skipped: { file: string; why: string }[] }
  | { kind: 'opened'; config: { train: { epochs: number } }; state: { epochsDone: number }; checkpoint: string; metrics: EpochLine[] }
  | { kind: 'error'; message: string; kept?: string };

/** The state a test reads (window.vaeTrain). */
const seen = { ready: false, training: false, engine: '', epochs: [] as EpochLine[], error: '', kept: '', done: false, interrupted: false,
  downloaded: '', opened: '', shown: 0, data: null as null | { name: string; train: number; test: number; skipped: { file: string; why: string }[] } };

/** The user's pictures, once chosen or dropped: a zip, or a folder's files (paths from inside it). */
let pictures: { name: string; zip?: Uint8Array; files?: { path: string; bytes: Uint8Array }[] } | null = null;

let worker: Worker;
/** Whether the worker holds a run (started, or opened): Continue trains it on, Download run saves it. */
let hasRun = false;
/** The metrics.jsonl lines of that run (the curves). */
let curve: EpochLine[] = [];

/** An MNIST-format idx file: its dimensions and bytes. */
function idx(buffer: ArrayBuffer): { dims: number[]; bytes: Uint8Array } {
  const view = new DataView(buffer);
  const rank = view.getUint8(3);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  return { dims, bytes: new Uint8Array(buffer, 4 + 4 * rank) };
}

async function fetchIdx(name: string): Promise<{ dims: number[]; bytes: Uint8Array }> {
  const response = await fetch(`data/mnist/${name}`);
  if (!response.ok) throw new Error(`data/mnist/${name}: ${response.status} ${response.statusText}`);
  return idx(await response.arrayBuffer());
}

/** MNIST as `vae train --data mnist` reads it (60,000 training and 10,000 test digits). */
async function mnist() {
  const [trainX, trainY, testX, testY] = await Promise.all(['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte',
    't10k-labels-idx1-ubyte'].map(fetchIdx));
  const set = (x: typeof trainX, y: typeof trainY): ImageSet => ({ images: x.bytes, labels: y.bytes, count: x.dims[0] });
  return { name: 'mnist', source: 'mnist', kind: 'idx', height: 28, width: 28, channels: 1, labelNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    train: set(trainX, trainY), test: set(testX, testY) };
}

function buildFields(flags: PanelFlag[]): void {
  const box = byId('train-flags');
  for (const flag of flags) {
    const label = document.createElement('label');
    label.title = flag.help;
    label.append(`--${flag.name} `);
    let input: HTMLInputElement | HTMLSelectElement;
    if (flag.choices) {
      input = document.createElement('select');
      for (const c of flag.choices) input.append(new Option(c, c));
      if (!flag.value) input.prepend(new Option(flag.placeholder || 'default', ''));
    } else {
      input = document.createElement('input');
      input.placeholder = flag.placeholder;
      input.size = 8;
    }
    input.value = flag.value;
    input.dataset.flag = flag.name;
    label.append(input);
    box.append(label);
  }
}

function values(): Record<string, string> {
  const out: Record<string, string> = {};
  document.querySelectorAll<HTMLInputElement | HTMLSelectElement>('#train-flags [data-flag]').forEach((el) => { out[el.dataset.flag!] = el.value; });
  return out;
}

/** Sets a field (tests, and a link that names settings). */
function setValue(name: string, value: string): void {
  const el = document.querySelector<HTMLInputElement | HTMLSelectElement>(`#train-flags [data-flag="${name}"]`);
  if (!el) throw new Error(`no field --${name}`);
  el.value = value;
}

/** A grid of images in [0, 1], `cols` to a row. */
function paintGrid(canvas: HTMLCanvasElement, p: Preview): void {
  const [h, w, c] = p.shape;
  const rows = Math.ceil(p.count / p.cols);
  canvas.width = w * p.cols;
  canvas.height = h * rows;
  const ctx = canvas.getContext('2d')!;
  const data = ctx.createImageData(canvas.width, canvas.height);
  for (let k = 0; k < p.count; k++) {
    const [ox, oy] = [(k % p.cols) * w, Math.floor(k / p.cols) * h];
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const at = ((oy + y) * canvas.width + ox + x) * 4;
        for (let ch = 0; ch < 3; ch++) data.data[at + ch] = Math.round(Math.min(Math.max(p.images[k * h * w * c + (y * w + x) * c + (c === 3 ? ch : 0)], 0), 1) * 255);
        data.data[at + 3] = 255;
      }
    }
  }
  ctx.putImageData(data, 0, 0);
}

const status = (text: string) => { byId('train-status').textContent = text; };

function setTraining(on: boolean): void {
  seen.training = on;
  byId<HTMLButtonElement>('train-start').disabled = on;
  byId<HTMLButtonElement>('train-continue').disabled = on || !hasRun;
  byId<HTMLButtonElement>('train-stop').disabled = !on;
  byId<HTMLButtonElement>('train-download').disabled = on || !hasRun;
  byId<HTMLInputElement>('train-open').disabled = on;
  byId<HTMLInputElement>('train-open-folder').disabled = on;
}

function onMessage(message: FromWorker): void {
  switch (message.kind) {
    case 'flags':
      buildFields(message.flags);
      seen.ready = true;
      break;
    case 'config':
      break;
    case 'model':
      // The pad, sliders and drawing now work on the model as trained so far.
      showModel(message.info, message.networks).then(() => { seen.shown += 1; })
        .catch((e: unknown) => onMessage({ kind: 'error', message: `the explorer could not load the model: ${String(e)}` }));
      break;
    case 'progress':
      status(`reading the pictures: ${message.done}/${message.total}`);
      break;
    case 'data': {
      seen.data = message;
      const list = byId('train-skipped');
      list.replaceChildren(...message.skipped.map((s) => Object.assign(document.createElement('li'), { textContent: `${s.file}: ${s.why}` })));
      byId('train-data-note').textContent = `${message.name}: ${message.train} training and ${message.test} test pictures, ` +
        `${message.size}x${message.size} ${message.channels === 3 ? 'colour' : 'grey'}` +
        `${message.classes ? `, ${message.classes.length} classes (${message.classes.slice(0, 5).join(', ')}${message.classes.length > 5 ? ', …' : ''})` : ''}` +
        `${message.skipped.length ? `; ${message.skipped.length} file${message.skipped.length === 1 ? '' : 's'} skipped:` : ''}`;
      break;
    }
    case 'engine':
      seen.engine = message.description;
      status(`training on ${message.description}`);
      break;
    case 'step': {
      const i = message.info;
      status(`epoch ${i.epoch} step ${i.step}/${i.steps}  loss ${i.loss.toFixed(2)}  ${Math.round(i.samplesPerSec)} samples/s  (${seen.engine})`);
      break;
    }
    case 'epoch': {
      const r = message.result;
      seen.epochs.push(r);
      const row = (byId<HTMLTableElement>('train-epochs')).insertRow();
      for (const text of [`${r.epoch}/${r.epochs}`, r.train.loss.toFixed(2), r.test.loss.toFixed(2), `${Math.round(r.samplesPerSec)}`]) row.insertCell().textContent = text;
      paintGrid(byId('train-preview'), message.preview);
      curve = [...curve.filter((l) => l.epoch < message.metrics.epoch), message.metrics];
      showCurves(curve);
      break;
    }
    case 'done':
      hasRun = true;
      seen.done = true;
      seen.interrupted = message.interrupted;
      setTraining(false);
      status(message.interrupted ? 'stopped: Continue trains on from here' : `done: ${seen.epochs.length} epoch${seen.epochs.length === 1 ? '' : 's'}` +
        ' (raise --epochs and Continue to train longer)');
      break;
    case 'opened':
      hasRun = true;
      seen.opened = message.checkpoint;
      curve = message.metrics;
      showCurves(curve);
      setValue('epochs', String(message.config.train.epochs));
      setTraining(false);
      status(`opened the run at ${message.checkpoint} (${message.state.epochsDone} epochs done): set --epochs to the new total, then Continue`);
      break;
    case 'run-zip': {
      // A download of the run folder, as a zip: unzipped, the CLI opens it (vae sample --checkpoint, vae train --resume).
      const link = document.createElement('a');
      link.href = URL.createObjectURL(new Blob([message.zip as Uint8Array<ArrayBuffer>], { type: 'application/zip' }));
      link.download = `${message.name}.zip`;
      document.body.append(link);
      link.click();
      link.remove();
      seen.downloaded = link.download;
      status(`downloaded ${link.download}: unzip it, then vae sample --checkpoint ${message.name} or vae train --resume ${message.name}`);
      break;
    }
    case 'error':
      seen.error = message.message;
      // A run that failed mid-way (a lost device, say) went back to its last checkpoint: Continue trains on from there,
      // Download run saves it.
      if (message.kept) {
        hasRun = true;
        seen.kept = message.kept;
        curve = curve.filter((l) => l.epoch <= Number(/\d+/.exec(message.kept!)![0]));
        showCurves(curve);
      }
      setTraining(false);
      status(`error: ${message.message}${message.kept ? ` (the run is kept as at ${message.kept}: Continue trains on from there, Download run saves it)` : ''}`);
      break;
  }
}

async function start(): Promise<void> {
  const onPictures = byId<HTMLSelectElement>('train-data').value === 'pictures';
  if (onPictures && !pictures) {
    status('choose a folder or a zip of pictures first (or drop one on this panel)');
    return;
  }
  setTraining(true);
  seen.done = false;
  seen.error = '';
  seen.data = null;
  byId('train-skipped').replaceChildren();
  byId('train-data-note').textContent = '';
  byId<HTMLTableElement>('train-epochs').querySelectorAll('tr:not(:first-child)').forEach((r) => r.remove());
  seen.epochs = [];
  curve = [];
  if (onPictures) {
    worker.postMessage({ kind: 'start', values: values(), pictures });
    return;
  }
  status('reading MNIST …');
  worker.postMessage({ kind: 'start', values: values(), dataset: await mnist() });
}

/** Pictures chosen in a file input (a zip, or a folder's files) or dropped: the data of the next Start. */
async function choosePictures(files: { file: File; path: string }[]): Promise<void> {
  if (files.length === 1 && files[0].file.name.endsWith('.zip')) {
    pictures = { name: files[0].file.name.replace(/\.zip$/, ''), zip: new Uint8Array(await files[0].file.arrayBuffer()) };
  } else {
    // A folder's files: its name first in their paths (webkitRelativePath), taken off.
    const top = files[0].path.includes('/') ? files[0].path.slice(0, files[0].path.indexOf('/')) : 'pictures';
    const inside = files.every((f) => f.path.startsWith(`${top}/`));
    pictures = { name: top, files: await Promise.all(files.map(async (f) => ({ path: inside ? f.path.slice(top.length + 1) : f.path,
      bytes: new Uint8Array(await f.file.arrayBuffer()) }))) };
  }
  byId<HTMLSelectElement>('train-data').value = 'pictures';
  status(`pictures: ${pictures.name} (${pictures.zip ? 'a zip' : `${pictures.files!.length} files`}); Start trains on them`);
}

/** The files of a drop: files, and the files inside dropped folders (with their paths). */
async function droppedFiles(items: DataTransferItemList): Promise<{ file: File; path: string }[]> {
  const out: { file: File; path: string }[] = [];
  const walk = async (entry: FileSystemEntry, prefix: string): Promise<void> => {
    if (entry.isFile) {
      const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
      out.push({ file, path: `${prefix}${entry.name}` });
    } else if (entry.isDirectory) {
      const reader = (entry as FileSystemDirectoryEntry).createReader();
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
        if (batch.length === 0) break;
        for (const child of batch) await walk(child, `${prefix}${entry.name}/`);
      }
    }
  };
  const entries = Array.from(items).map((item) => item.webkitGetAsEntry());
  for (const entry of entries.filter((e): e is FileSystemEntry => e !== null)) await walk(entry, '');
  // (Files without entries, such as a drop made by a script: taken as they are.)
  Array.from(items).forEach((item, i) => {
    const file = entries[i] === null && item.kind === 'file' ? item.getAsFile() : null;
    if (file) out.push({ file, path: file.name });
  });
  return out;
}

function continueRun(): void {
  setTraining(true);
  seen.done = false;
  seen.error = '';
  seen.kept = '';
  const epochs = Number(values().epochs);
  worker.postMessage({ kind: 'continue', epochs: Number.isInteger(epochs) && epochs > 0 ? epochs : undefined });
}

/**
 * Opens a run folder (one `vae train` wrote, or a download of this panel's): a zip, or the folder's files (the folder
 * picker). Continue then trains it on.
 */
async function openRun(files: File[]): Promise<void> {
  setTraining(true);
  seen.opened = '';
  seen.error = '';
  status(`opening ${files.length === 1 ? files[0].name : `${files.length} files`} …`);
  // The data it trained on: MNIST, or the pictures chosen on the panel (the worker checks they are the run's).
  const data = { dataset: await mnist(), ...(pictures ? { pictures } : {}) };
  if (files.length === 1 && files[0].name.endsWith('.zip')) {
    worker.postMessage({ kind: 'open', zip: new Uint8Array(await files[0].arrayBuffer()), ...data });
    return;
  }
  const contents: Record<string, Uint8Array> = {};
  for (const file of files) contents[file.webkitRelativePath || file.name] = new Uint8Array(await file.arrayBuffer());
  worker.postMessage({ kind: 'open', files: contents, ...data });
}

/** Sets the panel up: its fields from the worker, or the one sentence a browser without WebGPU gets. */
export function setupTrainPanel(show: ShowModel, curves: ShowCurves): void {
  showModel = show;
  showCurves = curves;
  (window as unknown as { vaeTrain: unknown }).vaeTrain = { seen, setValue, start: () => byId('train-start').click() };
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  // (navigator.gpu may be there with no adapter behind it: Chromium on Linux without its WebGPU flag.)
  const noWebGpu = () => {
    byId('train-note').textContent = NO_WEBGPU_NOTE;
    for (const id of ['train-start', 'train-continue', 'train-open', 'train-open-folder']) byId<HTMLButtonElement>(id).disabled = true;
    seen.error = NO_WEBGPU_NOTE;
    seen.ready = true;
  };
  if (!gpu) {
    noWebGpu();
    return;
  }
  gpu.requestAdapter().then((adapter) => { if (!adapter) noWebGpu(); }, noWebGpu);
  worker = new Worker('train-worker.js');
  worker.onmessage = (e: MessageEvent<FromWorker>) => onMessage(e.data);
  worker.onerror = (e) => onMessage({ kind: 'error', message: e.message });
  worker.postMessage({ kind: 'flags' });
  byId('train-start').addEventListener('click', () => { start().catch((e: unknown) => onMessage({ kind: 'error', message: String(e) })); });
  byId('train-continue').addEventListener('click', continueRun);
  byId('train-stop').addEventListener('click', () => worker.postMessage({ kind: 'stop' }));
  byId('train-download').addEventListener('click', () => worker.postMessage({ kind: 'download' }));
  for (const id of ['train-pictures', 'train-pictures-folder']) {
    byId<HTMLInputElement>(id).addEventListener('change', (e) => {
      const input = e.target as HTMLInputElement;
      const files = Array.from(input.files ?? []).map((file) => ({ file, path: file.webkitRelativePath || file.name }));
      input.value = ''; // (so that choosing the same files again is a change too)
      if (files.length > 0) choosePictures(files).catch((error: unknown) => onMessage({ kind: 'error', message: String(error) }));
    });
  }
  const section = byId('train-section');
  section.addEventListener('dragover', (e) => e.preventDefault());
  section.addEventListener('drop', (e) => {
    e.preventDefault();
    if (!e.dataTransfer) return;
    droppedFiles(e.dataTransfer.items).then((files) => (files.length > 0 ? choosePictures(files) : undefined))
      .catch((error: unknown) => onMessage({ kind: 'error', message: String(error) }));
  });
  for (const id of ['train-open', 'train-open-folder']) {
    byId<HTMLInputElement>(id).addEventListener('change', (e) => {
      const input = e.target as HTMLInputElement;
      const files = Array.from(input.files ?? []);
      input.value = ''; // (a run opened again after a refusal: the same file is a change too)
      if (files.length > 0) openRun(files).catch((error: unknown) => onMessage({ kind: 'error', message: String(error) }));
    });
  }
}
