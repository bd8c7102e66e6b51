/**
 * Test-set numbers that take long: the importance-sampled NLL on worker threads, and the whole report of
 * `vae evaluate`. The maths is in model/likelihood.ts and model/evaluate.ts.
 */
import { currentBackend } from '../backend';
import { openGpu } from '../gpu';
import type { Inputs } from '../data/batches';
import type { Labels } from '../data/folder';
import { VaeError } from '../errors';
import { oneHot, writeDecoderCondition, writeDecoderTarget } from '../model/condition';
import { ElboTerms, bitsPerDim, evaluateElbo, requireLabels } from '../model/evaluate';
import { familyOf } from '../model/families/registry';
import { flatLayout, partRange, readVariables } from '../model/flat';
import { codebookIndices, inferLabels } from '../model/generate';
import { ImportanceOptions, ImportanceSums, activeUnits, encodeAll, importanceChunks, vaeImportanceWeighted } from '../model/likelihood';
import { evaluateSemi } from '../model/m2';
import { Vae } from '../model/vae';
import { ImportanceJob, Thread } from './threads';
import { GpuLogLikelihood } from './webgpu/decode';
import { webGpuUnsupported } from './webgpu/objectives';

export interface TestSetReport extends ElboTerms {
  images: number;
  /** −ELBO in bits per dimension: nats / (D ln 2). */
  bitsPerDim: number;
  /** Latent dimensions whose mean code varies across the test set (Cov > 0.01), out of zDim. */
  activeUnits: number;
  zDim: number;
  /** With importance sampling: K, the test NLL −mean L_K in nats and in bits per dimension. */
  importance?: { k: number; nll: number; bitsPerDim: number };
  /**
   * A label-conditioned model as a classifier: the share of images whose best label under the conditional
   * bound (argmin_y −L(x, y)) is their true label.
   */
  labelAccuracy?: number;
  /** A quantised model: how many entries of its codebook the test images use. */
  codebook?: { used: number; size: number };
  /** M2: the bound U(x) on −log p(x) with the label summed out (nats), and the test error of its classifier q(y|x). */
  semi?: { negElbo: number; bitsPerDim: number; error: number };
}

/**
 * Images of a test set read and worked on at once by `vae evaluate` (a streamed set is never held whole): a multiple
 * of every batch below that draws noise (LABEL_BATCH) or encodes (encodeAll's 1,000), so that the numbers are those of
 * the whole set at once.
 */
export const EVAL_CHUNK = 2000;

/** fn over the images of `data` EVAL_CHUNK at a time: their floats, the first one's index, their count. */
async function forChunks(data: Inputs, fn: (x: Float32Array, start: number, m: number) => Promise<void> | void): Promise<void> {
  for (let start = 0; start < data.count; start += EVAL_CHUNK) {
    const m = Math.min(EVAL_CHUNK, data.count - start);
    await fn(data.rows(start, start + m), start, m);
  }
}

/**
 * vaeImportanceWeighted on `threads` worker threads, each taking a contiguous part of the images, EVAL_CHUNK at a
 * time. Every image draws the same samples as in one thread, so the numbers do not depend on the number of threads.
 */
export async function vaeImportanceWeightedParallel(vae: Vae, data: Inputs, labels: Float32Array | null,
  options: ImportanceOptions, threads: number): Promise<Float64Array> {
  const n = data.count;
  // (The GPU's decoder takes the whole set in calls of its own: held whole.)
  if (importanceOnGpu(vae)) return vaeImportanceWeightedGpu(vae, data.rows(0, n), n, labels, options);
  const classes = vae.labelDim;
  const result = new Float64Array(n);
  const labelsOf = (start: number, end: number) => (labels && classes > 0 ? labels.slice(start * classes, end * classes) : null);
  if (threads <= 1 || n < 2) {
    await forChunks(data, (x, start, m) => {
      result.set(vaeImportanceWeighted(vae, x, m, labelsOf(start, start + m), { ...options, indexOffset: start,
        onProgress: (done) => options.onProgress?.(start + done) }), start);
    });
    return result;
  }
  const variables = vae.trainableVariables();
  const layout = flatLayout(variables);
  const params = new Float32Array(layout.size);
  readVariables(variables, layout, params);
  const progress = new Array<number>(threads).fill(0);
  await Promise.all(Array.from({ length: threads }, (_, i) => partRange(n, i, threads)).map(async ([first, last], i) => {
    const thread = new Thread(`importance sampling thread ${i + 1}`);
    try {
      for (let start = first; start < last; start += EVAL_CHUNK) {
        const end = Math.min(last, start + EVAL_CHUNK);
        const job: ImportanceJob = { job: 'importance', backend: currentBackend().threadChoice, model: vae.config, params,
          x: data.rows(start, end).slice(), labels: labelsOf(start, end), n: end - start, k: options.k, seed: options.seed ?? 0, indexOffset: start };
        result.set(await thread.request<Float64Array>(job, (done) => {
          progress[i] = start - first + done;
          options.onProgress?.(progress.reduce((a, b) => a + b, 0));
        }), start);
      }
    } finally {
      await thread.terminate();
    }
  }));
  return result;
}

/** Whether the importance samples are decoded on the GPU: under --backend webgpu, for a VAE or cvae its engine trains. */
export function importanceOnGpu(vae: Vae): boolean {
  const spec = familyOf(vae.config).gpu?.(vae.config);
  return currentBackend().choice === 'webgpu' && (spec?.objective === 'elbo' || spec?.objective === 'cvae') && webGpuUnsupported(vae, spec) === null;
}

/**
 * vaeImportanceWeighted with the decoder on the GPU (webgpu/decode.ts), many images a call: the same samples
 * (importanceChunks), log p(z) here in double precision; L_K equals the CPU's to float precision.
 */
export async function vaeImportanceWeightedGpu(vae: Vae, x: Float32Array, n: number, labels: Float32Array | null,
  options: ImportanceOptions): Promise<Float64Array> {
  const gpu = await GpuLogLikelihood.create(await openGpu(), vae);
  try {
    const d = vae.config.zDim;
    const dim = vae.inputDim;
    const layout = vae.condition;
    const { decoderExtra: C, outputDim: out } = layout;
    const { mu, logvar } = encodeAll(vae, x, n, labels ?? undefined);
    const samplesPerCall = Math.max(1, Math.min(options.k, options.rowsPerCall ?? 2000));
    if (samplesPerCall > gpu.capacity) throw new VaeError(`the GPU decodes ${gpu.capacity} rows at once, fewer than the ${samplesPerCall} samples of a call`);
    const sums = new ImportanceSums(n, options.k);
    for (const chunk of importanceChunks(mu, logvar, n, d, { ...options, imagesPerCall: Math.floor(gpu.capacity / samplesPerCall) })) {
      const { rows, z } = chunk;
      // A chunk's rows are its images' samples, image by image (importanceChunks): one target per image.
      const images = chunk.end - chunk.start;
      const target = new Float32Array(images * out);
      for (let i = 0; i < images; i++) writeDecoderTarget(layout, x, dim, chunk.start + i, target.subarray(i * out, (i + 1) * out));
      const codes = new Float32Array(rows * (d + C));
      const logPz = new Float64Array(rows);
      for (let r = 0; r < rows; r++) {
        const image = chunk.start + chunk.images[r];
        const row = codes.subarray(r * (d + C), (r + 1) * (d + C));
        row.set(z.subarray(r * d, (r + 1) * d));
        writeDecoderCondition(layout, x, dim, labels, image, row.subarray(d));
        let squares = 0;
        for (let j = 0; j < d; j++) squares += z[r * d + j] ** 2;
        logPz[r] = -0.5 * (squares + d * Math.log(2 * Math.PI));
      }
      const logPx = await gpu.logLikelihood(codes, target, rows, rows / images);
      sums.add(chunk, logPz.map((v, r) => v + logPx[r]));
      if (chunk.last) options.onProgress?.(chunk.end);
    }
    return sums.result();
  } finally {
    gpu.close();
  }
}

/** Everything `vae evaluate` reports, for the test images `data`: read EVAL_CHUNK at a time (M2's bound: all at once). */
export async function evaluateTestSet(vae: Vae, data: Inputs, labels: Labels | null,
  options: { importanceSamples?: number; seed?: number; threads?: number; onProgress?: (done: number) => void } = {}): Promise<TestSetReport> {
  const n = data.count;
  const nats2bits = (nats: number) => bitsPerDim(vae, nats);
  const elbo = await evaluateElbo(vae, data, labels);
  const classes = vae.labelDim;
  const oneHotLabels = classes > 0 ? oneHot(requireLabels(labels), classes) : undefined;
  const d = vae.config.zDim;
  const mu = new Float32Array(n * d);
  const inferring = !vae.classifier && classes > 0 && labels !== null;
  let rightLabels = 0;
  const used = new Set<number>();
  await forChunks(data, (x, start, m) => {
    mu.set(encodeAll(vae, x, m, oneHotLabels?.subarray(start * classes, (start + m) * classes)).mu, start * d);
    if (inferring) inferLabels(vae, x, m, 1, start).forEach((l, i) => { if (l === labels![start + i]) rightLabels++; });
    if (vae.quantizer) codebookIndices(vae, x, m).forEach((k) => used.add(k));
  });
  const report: TestSetReport = { images: n, ...elbo, bitsPerDim: nats2bits(elbo.negElbo),
    activeUnits: activeUnits(mu, n, d).count, zDim: d };
  if (vae.classifier && labels) {
    // M2 trains on a set held in memory only: its test set is held too.
    const semi = await evaluateSemi(vae, data.rows(0, n), n, labels);
    report.semi = { negElbo: semi.negElbo, bitsPerDim: nats2bits(semi.negElbo), error: semi.error };
  } else if (inferring) {
    report.labelAccuracy = rightLabels / n;
  }
  if (vae.quantizer) report.codebook = { used: used.size, size: vae.quantizer.size };
  const k = options.importanceSamples;
  const family = familyOf(vae.config);
  if (k && !family.traits.prior) {
    throw new VaeError(`--iw estimates log p(x) with q(z|x) and p(z); this ${family.noun} (${family.name}) has neither`);
  }
  if (k) {
    const bounds = await vaeImportanceWeightedParallel(vae, data, oneHotLabels ?? null,
      { k, seed: options.seed ?? 0, onProgress: options.onProgress }, options.threads ?? 1);
    const nll = -bounds.reduce((a, v) => a + v, 0) / n;
    report.importance = { k, nll, bitsPerDim: nats2bits(nll) };
  }
  return report;
}
