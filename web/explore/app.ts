/**
 * The page of `vae explore` (bundled by web/build.js). It loads the run's encoder and decoder with TensorFlow.js in
 * the browser (WebGL, else the CPU) and decodes as the user moves: a pad over the two main directions of the test
 * codes (or two chosen dimensions), one slider per latent dimension, a drawing canvas (and image upload) whose
 * code and reconstruction appear, an interpolation strip between two drawings, a label picker for a cvae or M2,
 * M2's class probabilities, and the training curves from metrics.jsonl (refreshed while the run trains). The
 * latent state is kept in the URL.
 */
import * as tf from '@tensorflow/tfjs';
import * as vega from 'vega';
import { compile, TopLevelSpec } from 'vega-lite';
import type { ExploreData } from '../../src/commands/explore-types';
import { borderMean, inkFit, placeByMass, removeBackground } from '../../src/data/ink';
import { setupTrainPanel } from './train-panel';

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

let info: ExploreData;
let encoder!: tf.LayersModel;
let decoder!: tf.LayersModel;
let classifier: tf.LayersModel | null = null;
/** An M1+M2 run's M1, between the images and M2's codes. */
let m1: { encoder: tf.LayersModel; decoder: tf.LayersModel } | null = null;
let [H, W, C] = [28, 28, 1];
let D = 784;
/** The current code, and the label a conditional model decodes with. */
const state = { z: new Float32Array(0), label: 0 };
/** The prepared drawing (flat, like the model's inputs), its code, and the interpolation's ends. */
let drawing: Float32Array | null = null;
let drawnCode: Float32Array | null = null;
const ends: { a: Float32Array | null; b: Float32Array | null } = { a: null, b: null };

/** PAD_RANGE standard deviations each way along a principal direction. */
const PAD_RANGE = 3;
const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

function oneHot(label: number): tf.Tensor2D {
  const classes = info.labelNames?.length ?? 0;
  return tf.oneHot(tf.tensor1d([label], 'int32'), classes).toFloat() as tf.Tensor2D;
}

/** The image decoded from code z [D] values in [0, 1] (a completion model: `source`'s observed pixels, the rest decoded). */
function decodeImage(z: Float32Array, label: number, source: Float32Array = drawing ?? Float32Array.from(info.example)): Float32Array {
  return tf.tidy(() => {
    const inputs: tf.Tensor[] = [tf.tensor2d(z, [1, info.zDim])];
    if (info.label) inputs.push(oneHot(label));
    if (info.region) inputs.push(tf.tensor2d(info.region.observed.map((i) => source[i]), [1, info.region.observed.length]));
    const mean = (out: tf.Tensor2D, outputs: ExploreData['outputs']) =>
      (outputs === 'mean-and-logvar' ? tf.slice(out, [0, 0], [1, out.shape[1] / 2]) : tf.sigmoid(out));
    let out = mean(tf.reshape(decoder.predict(inputs.length === 1 ? inputs[0] : inputs) as tf.Tensor, [1, -1]) as tf.Tensor2D, info.outputs);
    if (m1 && info.m1) {
      // M2 gave M1's code on its dimensions (the others at the prior's mean, 0): M1 decodes it.
      const code = new Float32Array(info.m1.zDim);
      const kept = out.dataSync();
      info.m1.dims.forEach((dim, j) => { code[dim] = kept[j]; });
      out = mean(tf.reshape(m1.decoder.predict(tf.tensor2d(code, [1, info.m1.zDim])) as tf.Tensor, [1, -1]) as tf.Tensor2D, info.m1.outputs);
    }
    const values = out.dataSync() as Float32Array;
    if (!info.region) return Float32Array.from(values);
    const image = Float32Array.from(source);
    info.region.missing.forEach((p, j) => { image[p] = values[j]; });
    return image;
  });
}

/** What M2 sees of an image: M1's mean code on the kept dimensions (M1+M2), else the image. */
function modelInput(x: Float32Array): tf.Tensor2D {
  if (!m1 || !info.m1) return tf.tensor2d(x, [1, D]);
  const out = m1.encoder.predict(tf.tensor2d(x, [1, D]));
  const mu = (Array.isArray(out) ? out[0] : out).dataSync();
  return tf.tensor2d(info.m1.dims.map((dim) => mu[dim]), [1, info.m1.dims.length]);
}

/** The code of a prepared image x [D]: μ of q(z|x, y) (an autoencoder: its code). */
function encodeImage(x: Float32Array, label: number): Float32Array {
  return tf.tidy(() => {
    const image = info.arch === 'conv' ? tf.tensor4d(x, [1, H, W, C]) : modelInput(x);
    const inputs = encoder.inputs.length > 1 ? [image, oneHot(label)] : image;
    const out = encoder.predict(inputs);
    return Float32Array.from((Array.isArray(out) ? out[0] : out).dataSync());
  });
}

/** q(y|x) of an M2 model for a prepared image. */
function classProbabilities(x: Float32Array): Float32Array {
  return tf.tidy(() => Float32Array.from(tf.softmax(classifier!.predict(modelInput(x)) as tf.Tensor2D).dataSync()));
}

/** Draws images [count · D] side by side on a canvas at their own size (CSS scales it up). */
function paint(canvas: HTMLCanvasElement, images: Float32Array, count = 1): void {
  canvas.width = W * count;
  canvas.height = H;
  const ctx = canvas.getContext('2d')!;
  const data = ctx.createImageData(W * count, H);
  for (let k = 0; k < count; k++) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const at = ((y * W * count) + k * W + x) * 4;
        for (let c = 0; c < 3; c++) {
          const v = images[k * D + (y * W + x) * C + (C === 3 ? c : 0)];
          data.data[at + c] = Math.round(Math.min(Math.max(v, 0), 1) * 255);
        }
        data.data[at + 3] = 255;
      }
    }
  }
  ctx.putImageData(data, 0, 0);
}

// ---------------------------------------------------------------------------------------------------- the pad
const pad = () => byId<HTMLCanvasElement>('pad');
let scatter: HTMLCanvasElement | null = null;

/** A pad axis: a unit direction in the code space and the codes' standard deviation along it. */
interface Axis { direction: number[]; spread: number }
/** The pad's axes: the two main principal directions of the test codes, or two dimensions the user picks. */
const axes: Array<Axis | null> = [null, null];

/** Axis 'pc0', 'pc1' (principal directions) or 'z<j>' (a dimension). */
function axisNamed(name: string): Axis | null {
  if (name.startsWith('pc')) {
    const k = Number(name.slice(2));
    return info.directions[k] ? { direction: info.directions[k], spread: info.spread[k] || 1 } : null;
  }
  const j = Number(name.slice(1));
  return { direction: Array.from({ length: info.zDim }, (_, i) => (i === j ? 1 : 0)), spread: info.std[j] || 1 };
}

/** The code's coordinates on the pad: along each axis, in standard deviations of the codes. */
function padCoordinates(z: Float32Array): [number, number] {
  const along = (k: number) => {
    const axis = axes[k];
    if (!axis) return 0;
    let s = 0;
    for (let j = 0; j < info.zDim; j++) s += (z[j] - info.mean[j]) * axis.direction[j];
    return s / axis.spread;
  };
  return [along(0), along(1)];
}

function setupAxes(): void {
  const names = [...info.directions.map((_, k) => [`pc${k}`, `principal direction ${k + 1}`]),
    ...info.order.map((j) => [`z${j}`, `dimension z${j}`])];
  ['axis-x', 'axis-y'].forEach((id, k) => {
    const select = byId<HTMLSelectElement>(id);
    const kept = select.value;
    select.replaceChildren(...names.map(([value, text]) => new Option(text, value)));
    select.value = names.some(([value]) => value === kept) ? kept : names[Math.min(k, names.length - 1)][0];
    axes[k] = axisNamed(select.value);
  });
}

const toPixel = (a: number, b: number, size: number): [number, number] =>
  [((a + PAD_RANGE) / (2 * PAD_RANGE)) * size, ((PAD_RANGE - b) / (2 * PAD_RANGE)) * size];

function drawPad(): void {
  const canvas = pad();
  const size = canvas.width;
  const ctx = canvas.getContext('2d')!;
  if (!scatter) {
    scatter = document.createElement('canvas');
    scatter.width = scatter.height = size;
    const s = scatter.getContext('2d')!;
    s.fillStyle = '#fff';
    s.fillRect(0, 0, size, size);
    for (let i = 0; i < info.count; i++) {
      const [a, b] = padCoordinates(Float32Array.from(info.codes.slice(i * info.zDim, (i + 1) * info.zDim)));
      const [x, y] = toPixel(a, b, size);
      s.fillStyle = info.labels ? PALETTE[info.labels[i] % PALETTE.length] : '#888';
      s.globalAlpha = 0.5;
      s.fillRect(x - 1, y - 1, 2.5, 2.5);
    }
    s.globalAlpha = 1;
  }
  ctx.drawImage(scatter, 0, 0);
  const mark = (z: Float32Array, colour: string, radius: number) => {
    const [x, y] = toPixel(...padCoordinates(z), size);
    ctx.strokeStyle = colour;
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.arc(x, y, radius, 0, 2 * Math.PI);
    ctx.stroke();
  };
  if (drawnCode) mark(drawnCode, '#d62728', 7);
  mark(state.z, '#000', 5);
}

/** Moves the code within the pad's plane to the pointer, keeping its other components. */
function padMove(event: PointerEvent): void {
  const canvas = pad();
  const rect = canvas.getBoundingClientRect();
  const a = ((event.clientX - rect.left) / rect.width) * 2 * PAD_RANGE - PAD_RANGE;
  const b = PAD_RANGE - ((event.clientY - rect.top) / rect.height) * 2 * PAD_RANGE;
  const [a0, b0] = padCoordinates(state.z);
  [a - a0, b - b0].forEach((delta, k) => {
    const axis = axes[k];
    if (axis) for (let j = 0; j < info.zDim; j++) state.z[j] += delta * axis.spread * axis.direction[j];
  });
  render();
}

// ------------------------------------------------------------------------------------------------- the sliders
const sliders: HTMLInputElement[] = [];

function buildSliders(): void {
  const box = byId('sliders');
  box.replaceChildren();
  sliders.length = 0;
  for (const j of info.order) {
    const label = document.createElement('label');
    const name = document.createElement('span');
    name.textContent = `z${j}`;
    const input = document.createElement('input');
    input.type = 'range';
    const half = 4 * Math.max(info.std[j], info.prior ? 1 : 1e-3);
    input.min = String(info.mean[j] - half);
    input.max = String(info.mean[j] + half);
    input.step = String(half / 100);
    input.dataset.dim = String(j);
    const value = document.createElement('span');
    input.addEventListener('input', () => {
      state.z[j] = Number(input.value);
      render();
    });
    label.append(name, input, value);
    box.append(label);
    sliders[j] = input;
  }
}

function updateSliders(): void {
  sliders.forEach((input, j) => {
    input.value = String(state.z[j]);
    (input.nextElementSibling as HTMLElement).textContent = state.z[j].toFixed(2);
  });
}

// ------------------------------------------------------------------------------------------ drawing and upload
const sketch = () => byId<HTMLCanvasElement>('sketch');

/** The ink of the sketch canvas (or of an uploaded picture drawn on it) as grey levels [h · w] in [0, 1]. */
function inkOf(canvas: HTMLCanvasElement): Float32Array {
  const { width, height } = canvas;
  const pixels = canvas.getContext('2d')!.getImageData(0, 0, width, height).data;
  const ink = new Float32Array(width * height);
  for (let i = 0; i < ink.length; i++) ink[i] = (0.299 * pixels[4 * i] + 0.587 * pixels[4 * i + 1] + 0.114 * pixels[4 * i + 2]) / 255;
  return ink;
}

/**
 * A grey drawing prepared as the CLI prepares one (data/images.ts, whose steps are in data/ink.ts): cropped to the
 * ink, thin strokes thickened, its longer side scaled to 20/28 of the frame, its centre of mass put at the centre.
 * The CLI resamples with Lanczos, the browser's canvas with its own smoothing.
 */
function fitDigit(ink: Float32Array, w: number, h: number): Float32Array {
  const fit = inkFit(ink, w, h, { height: H, width: W });
  if (!fit) return new Float32Array(H * W);
  const source = document.createElement('canvas');
  source.width = fit.cropW;
  source.height = fit.cropH;
  const img = source.getContext('2d')!.createImageData(fit.cropW, fit.cropH);
  fit.crop.forEach((v, i) => {
    const b = Math.round(v * 255);
    img.data.set([b, b, b, 255], i * 4);
  });
  source.getContext('2d')!.putImageData(img, 0, 0);
  const small = document.createElement('canvas');
  small.width = fit.newW;
  small.height = fit.newH;
  const sctx = small.getContext('2d')!;
  sctx.imageSmoothingQuality = 'high';
  sctx.drawImage(source, 0, 0, fit.newW, fit.newH);
  return placeByMass(inkOf(small), fit.newW, fit.newH, { height: H, width: W });
}

/** A picture (any size, colour or grey) centre-cropped to a square and scaled to the model's frame, [D]. */
function fitPhoto(canvas: HTMLCanvasElement): Float32Array {
  const side = Math.min(canvas.width, canvas.height);
  const frame = document.createElement('canvas');
  frame.width = W;
  frame.height = H;
  const ctx = frame.getContext('2d')!;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(canvas, (canvas.width - side) / 2, (canvas.height - side) / 2, side, side, 0, 0, W, H);
  const pixels = ctx.getImageData(0, 0, W, H).data;
  const out = new Float32Array(D);
  for (let i = 0; i < H * W; i++) {
    if (C === 3) for (let c = 0; c < 3; c++) out[i * 3 + c] = pixels[4 * i + c] / 255;
    else out[i] = (0.299 * pixels[4 * i] + 0.587 * pixels[4 * i + 1] + 0.114 * pixels[4 * i + 2]) / 255;
  }
  return out;
}

/** Prepares what the sketch canvas shows, encodes it, and moves the code there. */
function useSketch(canvas: HTMLCanvasElement, uploaded: boolean): void {
  let x: Float32Array;
  if (info.preprocess.fit === 'photo' || C === 3) {
    x = fitPhoto(canvas);
  } else {
    // As the CLI does: a bright border is a dark drawing on light paper (inverted), the paper's level is removed.
    let grey = inkOf(canvas);
    if (uploaded && info.preprocess.lightOnDark && borderMean(grey, canvas.width, canvas.height) > 0.5) grey = grey.map((v) => 1 - v);
    x = fitDigit(removeBackground(grey), canvas.width, canvas.height);
  }
  drawing = x;
  let label = state.label;
  const probs = byId('probs');
  if (classifier) {
    const p = classProbabilities(x);
    label = p.indexOf(Math.max(...p));
    const names = info.labelNames ?? [];
    probs.hidden = false;
    probs.textContent = 'q(y|x): ' + Array.from(p, (v, k) => [v, k]).sort((a, b) => b[0] - a[0]).slice(0, 3)
      .map(([v, k]) => `${names[k] ?? k} ${(100 * v).toFixed(0)}%`).join(', ');
    state.label = label;
    byId<HTMLSelectElement>('label').value = String(label);
  }
  drawnCode = encodeImage(x, label);
  state.z = Float32Array.from(drawnCode);
  paint(byId('reconstruction'), decodeImage(drawnCode, label, x));
  render();
}

function setupSketch(): void {
  const canvas = sketch();
  const ctx = canvas.getContext('2d')!;
  const clear = () => {
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  };
  clear();
  let last: [number, number] | null = null;
  const at = (e: PointerEvent): [number, number] => {
    const r = canvas.getBoundingClientRect();
    return [((e.clientX - r.left) / r.width) * canvas.width, ((e.clientY - r.top) / r.height) * canvas.height];
  };
  canvas.addEventListener('pointerdown', (e) => { last = at(e); canvas.setPointerCapture(e.pointerId); });
  canvas.addEventListener('pointermove', (e) => {
    if (!last) return;
    const next = at(e);
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = 18;
    ctx.lineCap = 'round';
    ctx.beginPath();
    ctx.moveTo(...last);
    ctx.lineTo(...next);
    ctx.stroke();
    last = next;
  });
  const end = () => {
    if (!last) return;
    last = null;
    useSketch(canvas, false);
  };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
  byId('clear').addEventListener('click', clear);
  byId<HTMLInputElement>('upload').addEventListener('change', async (e) => {
    const file = (e.target as HTMLInputElement).files?.[0];
    if (!file) return;
    const bitmap = await createImageBitmap(file);
    const picture = document.createElement('canvas');
    picture.width = bitmap.width;
    picture.height = bitmap.height;
    picture.getContext('2d')!.drawImage(bitmap, 0, 0);
    clear();
    const side = Math.min(canvas.width / bitmap.width, canvas.height / bitmap.height);
    ctx.drawImage(bitmap, (canvas.width - bitmap.width * side) / 2, (canvas.height - bitmap.height * side) / 2, bitmap.width * side, bitmap.height * side);
    useSketch(picture, true);
  });
}

// ------------------------------------------------------------------------------------------- interpolation
function drawStrip(): void {
  if (!ends.a || !ends.b) return;
  const steps = 8;
  const images = new Float32Array(steps * D);
  for (let k = 0; k < steps; k++) {
    const t = k / (steps - 1);
    const z = ends.a.map((v, j) => (1 - t) * v + t * ends.b![j]);
    images.set(decodeImage(z, state.label), k * D);
  }
  const strip = byId<HTMLCanvasElement>('strip');
  paint(strip, images, steps);
  strip.hidden = false;
  byId('strip-hint').hidden = true;
}

// ------------------------------------------------------------------------------------------------ the curves
/** Whether the curves are the run training in this tab's (the served run's are then no longer drawn). */
let pageCurves = false;

async function drawCurves(): Promise<void> {
  if (pageCurves) return;
  let text: string;
  try {
    const response = await fetch('metrics.jsonl', { cache: 'no-store' });
    if (!response.ok) return;
    text = await response.text();
  } catch {
    return;
  }
  if (!pageCurves) await plotCurves(text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as CurveRow));
}

/** A metrics.jsonl line, as far as the curves read it. */
interface CurveRow { epoch: number; train?: { loss?: number }; test?: { loss?: number } }

/** The training and test loss by epoch, in the curves panel. */
async function plotCurves(rows: CurveRow[]): Promise<void> {
  const values = rows.flatMap((r) => [
    ...(r.train?.loss !== undefined ? [{ epoch: r.epoch, loss: r.train.loss, set: 'train' }] : []),
    ...(r.test?.loss !== undefined ? [{ epoch: r.epoch, loss: r.test.loss, set: 'test' }] : []),
  ]);
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json', width: 260, height: 180, data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', axis: { tickMinStep: 1, format: 'd' } },
      y: { field: 'loss', type: 'quantitative', scale: { zero: false }, title: info?.pointCode ? 'loss (nats)' : '−ELBO (nats)' },
      color: { field: 'set', type: 'nominal', legend: { orient: 'bottom', title: null } },
    },
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'svg', container: '#curves', hover: true });
  await view.runAsync();
}

// ------------------------------------------------------------------------------------------- state and URL
function render(): void {
  paint(byId('image'), decodeImage(state.z, state.label));
  drawPad();
  updateSliders();
  const params = new URLSearchParams({ z: Array.from(state.z, (v) => v.toFixed(3)).join(',') });
  if (info.label) params.set('label', String(state.label));
  history.replaceState(null, '', `#${params}`);
  if (ends.a && ends.b) drawStrip();
}

/** The code and label in the URL, for a run's `data` (before it is shown: showModel keeps a code of its size). */
function readUrl(data: ExploreData): void {
  const params = new URLSearchParams(location.hash.slice(1));
  const z = params.get('z')?.split(',').map(Number);
  if (z && z.length === data.zDim && z.every(Number.isFinite)) state.z = Float32Array.from(z);
  const label = Number(params.get('label'));
  if (data.label && Number.isInteger(label) && label >= 0 && label < (data.labelNames?.length ?? 0)) state.label = label;
}

function normal(): number {
  return Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
}

/** The networks of a model, by name (encoder, decoder, classifier; m1/encoder and m1/decoder for M1+M2). */
type Load = (net: string) => Promise<tf.LayersModel>;

/**
 * Shows a model in the panels: a run's (explore.json and its checkpoint), or the one training in this tab (after each
 * of its epochs: the code stays where it was when the latent size is the same).
 */
async function showModel(data: ExploreData, load: Load): Promise<void> {
  const [newEncoder, newDecoder] = await Promise.all([load('encoder'), load('decoder')]);
  const newClassifier = data.classifies ? await load('classifier') : null;
  const newM1 = data.m1 ? { encoder: await load('m1/encoder'), decoder: await load('m1/decoder') } : null;
  for (const old of [encoder as tf.LayersModel | undefined, decoder as tf.LayersModel | undefined, classifier, m1?.encoder, m1?.decoder]) old?.dispose();
  [encoder, decoder, classifier, m1] = [newEncoder, newDecoder, newClassifier, newM1];
  const sameCode = info !== undefined && info.zDim === data.zDim && state.z.length === data.zDim;
  info = data;
  [H, W, C] = info.inputShape;
  D = H * W * C;
  byId('run').textContent = `${info.run}: ${info.noun}, ${info.zDim}-dimensional code`;
  if (!sameCode) state.z = Float32Array.from(info.mean);
  for (const id of ['image', 'reconstruction']) paint(byId(id), new Float32Array(D));
  const select = byId<HTMLSelectElement>('label');
  select.replaceChildren(...(info.labelNames ?? []).map((name, k) => new Option(name, String(k))));
  if (state.label >= (info.labelNames?.length ?? 0)) state.label = 0;
  select.value = String(state.label);
  byId('label-picker').hidden = !(info.label && info.labelNames);
  byId<HTMLButtonElement>('random').disabled = !info.prior;
  const note = byId('sample-note');
  note.hidden = info.prior;
  note.textContent = info.prior ? '' : info.family === 'vqvae'
    ? 'A VQ-VAE has no learnt prior over its codebook entries: nothing to sample from. The pad and sliders move the code before quantisation.'
    : `An autoencoder (${info.noun}) has no prior over its codes: nothing to sample from. The pad and sliders still move the code.`;
  byId('pad-hint').textContent = info.zDim < 2 ? 'One latent dimension: the pad moves along it left to right.'
    : 'Drag on the pad: its axes are two directions of the code space (the test codes are the dots, coloured by label).';
  setupAxes();
  byId<HTMLSelectElement>('axis-y').disabled = info.zDim < 2;
  buildSliders();
  scatter = null;
  drawnCode = drawing ? encodeImage(drawing, state.label) : null;
  for (const id of ['latent', 'output', 'draw']) byId(id).hidden = false;
  render();
}

/** The panels' controls, wired once (they read the model shown at the time). */
function wire(): void {
  ['axis-x', 'axis-y'].forEach((id, k) => {
    const select = byId<HTMLSelectElement>(id);
    select.addEventListener('change', () => {
      axes[k] = axisNamed(select.value);
      scatter = null;
      render();
    });
  });
  byId<HTMLSelectElement>('label').addEventListener('change', (e) => { state.label = Number((e.target as HTMLSelectElement).value); render(); });
  const padCanvas = pad();
  padCanvas.addEventListener('pointerdown', (e) => { padCanvas.setPointerCapture(e.pointerId); padMove(e); });
  padCanvas.addEventListener('pointermove', (e) => { if (padCanvas.hasPointerCapture(e.pointerId)) padMove(e); });
  byId('reset').addEventListener('click', () => { state.z = Float32Array.from(info.mean); render(); });
  byId('random').addEventListener('click', () => { state.z = Float32Array.from({ length: info.zDim }, normal); render(); });
  byId('set-a').addEventListener('click', () => { if (drawnCode) { ends.a = Float32Array.from(drawnCode); drawStrip(); } });
  byId('set-b').addEventListener('click', () => { if (drawnCode) { ends.b = Float32Array.from(drawnCode); drawStrip(); } });
  setupSketch();
}

/** The model the Train panel's worker sends after each epoch: the panels follow it. */
function showPageModel(data: ExploreData, networks: Record<string, { json: string; weights: Uint8Array }>): Promise<void> {
  ends.a = null;
  ends.b = null;
  return showModel(data, (net) => {
    const { json, weights } = networks[net];
    const model = JSON.parse(json) as tf.io.ModelJSON;
    return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: model.modelTopology, weightSpecs: model.weightsManifest[0].weights,
      weightData: weights.slice().buffer }));
  });
}

async function main(): Promise<void> {
  wire();
  // The run training in this tab: its curves in the curves panel (shown from its first epoch on).
  setupTrainPanel(showPageModel, (rows) => {
    pageCurves = true;
    byId('curves-section').hidden = rows.length === 0;
    plotCurves(rows).catch(() => undefined);
  });
  const response = await fetch('explore.json');
  if (response.status === 404) {
    // No run yet (`vae explore` with none under checkpoints/): the Train panel, and the panels once it has trained an epoch.
    for (const id of ['latent', 'output', 'draw', 'curves-section']) byId(id).hidden = true;
    byId('status').textContent = `no run yet: train one in the Train panel (TensorFlow.js ${tf.version.tfjs} on ${tf.getBackend()})`;
    exposeState({ ready: true, run: false });
    return;
  }
  const data = await response.json() as ExploreData;
  readUrl(data);
  await showModel(data, (net) => tf.loadLayersModel(`model/${net}/model.json`));
  await drawCurves();
  // While served, the curves follow a run that is still training; a static export shows them as they were.
  if (location.protocol.startsWith('http')) setInterval(() => { void drawCurves(); }, 5000);
  byId('status').textContent = `TensorFlow.js ${tf.version.tfjs} on ${tf.getBackend()}`;
  exposeState({ ready: true });
}

/** window.vaeExplore, for the tests: readiness, the state, a decode. */
function exposeState(extra: Record<string, unknown>): void {
  (window as unknown as { vaeExplore: unknown }).vaeExplore = {
    ...extra,
    state: () => ({ z: Array.from(state.z), label: state.label, drawn: drawnCode ? Array.from(drawnCode) : null,
      prepared: drawing ? Array.from(drawing) : null, run: info?.run ?? null }),
    decode: (z: number[], label = 0) => Array.from(decodeImage(Float32Array.from(z), label)),
  };
}

main().catch((e) => {
  byId('status').textContent = `error: ${e instanceof Error ? e.message : String(e)}`;
  (window as unknown as { vaeExplore: unknown }).vaeExplore = { ready: false, error: String(e) };
});
