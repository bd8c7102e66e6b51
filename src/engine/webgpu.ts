/**
 * The WebGPU engine: a whole training step as a few fused WGSL kernels recorded into one command encoder, with the
 * parameters, gradients and Adam's moments resident on the GPU. It trains
 * - the VAE: Gaussian q(z|x), p(x|z) Bernoulli or Gaussian with a fixed σ, MLP or --arch conv, and the
 *   importance-weighted objective with K samples per image (the decoder on n·K rows);
 * - the cvae, its condition beside its inputs;
 * - the ae, dae and sae (a point code; the sae's through a sigmoid, with its sparsity penalty);
 * - the VQ-VAE (a quantised point code, the codebook trained with the rest);
 * - M2: every unlabelled image with every label and the labelled ones as the rows of one step, the classifier on
 *   the images (m2StepKernels); and M1+M2, M2 on an M1's codes with a Gaussian of learned variance.
 * tfjs-webgpu pays ~0.4 ms for every tensor operation (a step is ~150 of them); a dispatch here costs Dawn 6–9 µs,
 * and a step is 20 dispatches for the default MLP, 37 for the conv VAE at batch 128 (`dispatches`; more where
 * products are split, productPlan).
 *
 * All of the engine's numbers live in one storage buffer (`mem`), at offsets fixed when the engine is made and
 * written into each kernel's source: parameters, gradients, m and v in the flat layout of the CPU engine
 * (model/flat.ts), the split products' partial sums, then the batch, the activations, their gradients and the
 * statistics. Where a batch is the training images as they are, the training set stays on the GPU (bytes, binding 2)
 * and a step uploads its rows' indices (gatherKernel); otherwise the batch (a cvae's [x, y], [0, condition] and
 * missing pixels laid out on the CPU as the kernels read them) is uploaded. The noise is drawn on the CPU from the
 * same streams as ever and uploaded every step; a step's statistics come back through a small mapped buffer per
 * batch slot. The arithmetic is the CPU engine's in float32 (sums in another order, exp and log
 * of the GPU): a step agrees with it to ~1e-5 relative (test/engine/webgpu.test.ts).
 *
 * Kernels: forward dense layers and convolutions (bias and ReLU or sigmoid fused; a decoder's 2x upsampling read
 * on the fly), the reparameterised sample with its KL (or K samples with log p(z) − log q), the quantisation, the
 * Bernoulli (or Gaussian, its σ fixed or learned) NLL with its gradient, the importance weights; backward: each layer's weight and
 * bias gradients at once (for a dense layer one product, Xᵀ·dY with a row of ones), the input gradients with the
 * ReLU mask fused, the reparameterisation's gradient with the KL's closed form, the sparsity penalty's and the
 * codebook's gradients; one Adam pass over all parameters; the step's sums. `evaluate --iw` reuses the decoder's
 * forward kernels (webgpu-decode.ts). Products and convolutions are implicit GEMMs on one register-tiled kernel
 * (tiledKernel), each with the tile shape that fills the GPU for its size, a weight gradient's long sum over the
 * batch (or any long K with few tiles) split into chunks added in a fixed order.
 * VAE_GPU_PROFILE=1 times each kernel on the GPU (gpu-profile.ts).
 */
import { VaeError, errorMessage } from '../errors';
import { Gpu, dawnAwait, openGpu } from '../gpu';
import type { ShardTask } from '../model/families/family';
import { familyOf } from '../model/families/registry';
import { flatLayout, readVariables } from '../model/flat';
import type { Vae } from '../model/vae';
import { convShape } from '../model/conv';
import { writeDecoderCondition, writeDecoderTarget } from '../model/condition';
import type { AdamState } from './adam';
import type { BatchSlot, Engine, EngineSetup } from './engine';
import { BATCH_SLOTS } from './shards';
import { KernelProfiler } from './gpu-profile';

const REDUCE = 256;
/** Workgroups per dimension of a dispatch (WebGPU's default limit). */
const MAX_GROUPS = 65535;

/** Why the WebGPU engine cannot train this model, or null when it can. */
export function webGpuUnsupported(vae: Vae, objective: string | undefined): string | null {
  const m = vae.config;
  if (objective !== 'elbo' && objective !== 'autoencoder' && objective !== 'vq' && objective !== 'm2') return `the ${m.family} model's objective`;
  if (vae.pointCode !== (objective === 'autoencoder' || objective === 'vq')) throw new Error(`a ${m.family} model's code does not fit its GPU objective`);
  if (objective === 'vq' && (!vae.quantizer || Object.keys(vae.extras).join() !== 'codebook')) throw new Error(`a ${m.family} model has no codebook`);
  const extras = Object.keys(vae.extras).join();
  if (extras !== { vq: 'codebook', m2: 'classifier' }[objective as string] && extras !== '') return `the ${m.family} model's ${extras}`;
  if (m.condition && (m.arch === 'conv' || vae.pointCode)) return `a conditioned ${m.arch} ${m.family} model`;
  return null;
}

/** Where each weight of the model is in the flat parameters (a kernel, with its bias right after it). */
function weightsOf(vae: Vae): (name: string) => { off: number; shape: number[] } {
  const variables = vae.trainableVariables();
  const layout = flatLayout(variables);
  const weights = [...vae.encoder.trainableWeights, ...vae.decoder.trainableWeights, ...(vae.classifier?.trainableWeights ?? [])];
  // Beyond the encoder, the decoder and M2's classifier, only a VQ-VAE's codebook (its kernel, last: see codebookOf).
  if (weights.length !== variables.length - (vae.quantizer ? 1 : 0)) throw new Error('the webgpu engine trains an encoder, a decoder and a classifier only');
  const entry = new Map(weights.map((w, i) => [w.originalName, layout.entries[i]]));
  return (name) => {
    const kernel = entry.get(`${name}/kernel`);
    const bias = entry.get(`${name}/bias`);
    if (!kernel || !bias || bias.offset !== kernel.offset + kernel.size) throw new Error(`layer ${name} is not where the webgpu engine expects it`);
    return { off: kernel.offset, shape: kernel.shape };
  };
}

/** The step's values every kernel may read. */
const HEADER = /* wgsl */ `
struct Step { n: u32, beta: f32, inv_norm: f32, step_size: f32, inv_corr2: f32, slot: u32, b1: f32, b2: f32, a1: f32, a2: f32, nk: u32, pad1: f32,
  w_u: f32, w_l: f32, w_c: f32, unlabelled: u32 }
@group(0) @binding(0) var<storage, read_write> mem: array<f32>;
@group(0) @binding(1) var<uniform> step: Step;
`;

/**
 * workgroup_sum(value, lane): the sum of `value` over the workgroup's REDUCE threads, by halving (the same tree,
 * hence the same float result, wherever it is used). Call it from uniform control flow.
 */
const WORKGROUP_SUM = /* wgsl */ `
var<workgroup> part: array<f32, ${REDUCE}>;
fn workgroup_sum(value: f32, lane: u32) -> f32 {
  part[lane] = value;
  workgroupBarrier();
  for (var w = ${REDUCE / 2}u; w > 0u; w >>= 1u) {
    if (lane < w) { part[lane] += part[lane + w]; }
    workgroupBarrier();
  }
  let total = part[0];
  workgroupBarrier(); // part is free again
  return total;
}
`;

/** The index of one thread of a 1-D job of `count` elements, over a 2-D grid of workgroups of 256. */
const FLAT_INDEX = `(wg.y * ${MAX_GROUPS}u + wg.x) * ${REDUCE}u + l.x`;
const flatGroups = (count: number): [number, number] => {
  const groups = Math.ceil(count / REDUCE);
  return [Math.min(groups, MAX_GROUPS), Math.ceil(groups / MAX_GROUPS)];
};

/**
 * A dimension of a product: fixed, or the rows of the step: the batch's (step.n) or, for the decoder of an
 * importance-weighted step, K per example (step.nk = n·K).
 */
type Rows = 'n' | 'nk';
type Dim = number | Rows;
const dim = (d: Dim) => (typeof d === 'number' ? `${d}u` : `step.${d}`);
const rowCount = (d: Dim, n: number, nk: number) => (d === 'n' ? n : d === 'nk' ? nk : d);

/** A matrix in `mem`: element (i, j) of the logical matrix at off + i·ld + j, or off + j·ld + i when `trans`. */
interface Operand {
  off: number;
  ld: number;
  trans?: boolean;
}

export interface ProductSpec {
  /** C [M, N] = A [M, K] · B [K, N] (+ bias) (ReLU) (⊙ [mask > 0]) (+ C when accumulating). */
  M: Dim;
  N: number;
  K: Dim;
  a: Operand;
  b: Operand;
  c: { off: number; ld: number };
  bias?: number;
  relu?: boolean;
  /** The logistic sigmoid after the bias (a sparse autoencoder's code). */
  sigmoid?: boolean;
  mask?: { off: number; ld: number };
  accumulate?: boolean;
  /** The last row of A (row M − 1) is all ones: C's last row is then the column sums of B (a bias gradient). */
  onesRow?: boolean;
}

/** A product as tiledKernel computes it: A and B read from their operands, C written with what ProductSpec adds. */
function productTiled(p: ProductSpec) {
  const at = (o: Operand, r: string, c: string) => `mem[${o.off}u + ${o.trans ? `${c} * ${o.ld}u + ${r}` : `${r} * ${o.ld}u + ${c}`}]`;
  const lastRow = typeof p.M === 'number' ? `${p.M - 1}u` : `${dim(p.M)} - 1u`;
  return {
    M: dim(p.M), N: p.N, K: dim(p.K),
    aAt: `${p.onesRow ? `if (i == ${lastRow}) { return 1.0; }` : ''}
  return ${at(p.a, 'i', 'k')};`,
    bAt: `return ${at(p.b, 'k', 'j')};`,
    aFast: p.a.trans ? 'i' as const : 'k' as const,
    bFast: p.b.trans ? 'k' as const : 'j' as const,
    store: `let o = ${p.c.off}u + i * ${p.c.ld}u + j;
  var y = v;
  ${p.accumulate ? 'y = y + mem[o];' : ''}
  ${p.bias !== undefined ? `y = y + mem[${p.bias}u + j];` : ''}
  ${p.relu ? 'y = max(y, 0.0);' : ''}
  ${p.sigmoid ? 'y = 1.0 / (1.0 + exp(-y));' : ''}
  ${p.mask ? `if (mem[${p.mask.off}u + i * ${p.mask.ld}u + j] <= 0.0) { y = 0.0; }` : ''}
  mem[o] = y;`,
  };
}

/** productKernel's tile: the largest for N, K not split. */
const wholeProduct = (N: number) => ({ tm: 4, tn: tnFor(N), splits: 1 });

/** The product in one kernel (tiledKernel, its largest tile, K not split). */
export function productKernel(p: ProductSpec): string {
  return tiledKernel({ ...productTiled(p), ...wholeProduct(p.N) });
}

/** Workgroups of productKernel's product for a batch of n rows (nk decoder rows). */
export function productGroups(p: ProductSpec, n: number, nk = n): [number, number] {
  return tiledGroups({ N: p.N, ...wholeProduct(p.N) }, rowCount(p.M, n, nk));
}

/**
 * A register-tiled product for the GPU's heavy layers: C [M, N] = A [M, K] · B [K, N], where A and B are WGSL
 * functions of their indices (a convolution's gathered windows, its transposed filter: an implicit GEMM). Each
 * workgroup of 256 threads computes a tile of (16·tm) x (16·tn) of C through tiles 16 deep of A and B in workgroup
 * memory, each thread a tm x tn block of accumulators (rows ty + 16r, columns tx + 16c: no bank conflicts).
 * With `splits` > 1, K is cut into that many chunks (a multiple of 16 each, the same for every tile), and each
 * chunk's partial product goes to the scratch [splits, M, N] for tiledSumKernel to add in a fixed order: a
 * product with a small C and a long K (a filter gradient sums over every output position of the batch) then keeps
 * the whole GPU busy, and stays deterministic (no atomics).
 */
export interface TiledSpec {
  /** WGSL expressions (u32) for M and K; N is fixed. */
  M: string;
  N: number;
  K: string;
  /** WGSL bodies of fn a_at(i: u32, k: u32) -> f32 and fn b_at(k: u32, j: u32) -> f32, called in range only. */
  aAt: string;
  bAt: string;
  /** Which index of A (of B) runs along memory: the tile loads go along it. */
  aFast: 'i' | 'k';
  bFast: 'k' | 'j';
  tm: number;
  tn: number;
  /** splits = 1: WGSL body of fn store(i: u32, j: u32, v: f32), C's element (i, j) = v. */
  store?: string;
  /** splits > 1: the partial products go to mem at scratch. */
  splits: number;
  scratch?: number;
}

const TK = 16;

export function tiledKernel(p: TiledSpec): string {
  const BM = 16 * p.tm, BN = 16 * p.tn;
  const lda = BM + 1, ldb = BN + 1; // padded: the loads along k write a column without bank conflicts
  const nt = Math.ceil(p.N / BN);
  const acc = (r: number, c: number) => `c${r}_${c}`;
  const rs = Array.from({ length: p.tm }, (_, r) => r), cs = Array.from({ length: p.tn }, (_, c) => c);
  const load = (tile: string, ld: number, rows: number, fastIsRow: boolean, at: string, inRange: string) => {
    // rows: the tile's extent along its non-k index; element e → (k index kk, other index q)
    const [kk, q] = fastIsRow ? [`e / ${rows}u`, `e % ${rows}u`] : [`e % ${TK}u`, `e / ${TK}u`];
    return `for (var e = t; e < ${rows * TK}u; e += 256u) {
      let kk = ${kk};
      let q = ${q};
      var v = 0.0;
      if (${inRange}) { v = ${at}; }
      ${tile}[kk * ${ld}u + q] = v;
    }`;
  };
  if (p.splits > 1 && p.scratch === undefined) throw new Error('a split product needs its scratch');
  if (p.splits === 1 && p.store === undefined) throw new Error('a product needs its store');
  const out = p.splits > 1 ? `mem[${p.scratch}u + (split * M + i) * ${p.N}u + j] = v;` : 'store(i, j, v);';
  return HEADER + /* wgsl */ `
var<workgroup> ta: array<f32, ${TK * lda}>;
var<workgroup> tb: array<f32, ${TK * ldb}>;
fn a_at(i: u32, k: u32) -> f32 {
  ${p.aAt}
}
fn b_at(k: u32, j: u32) -> f32 {
  ${p.bAt}
}
${p.store !== undefined ? `fn store(i: u32, j: u32, v: f32) {
  ${p.store}
}` : ''}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let M = ${p.M};
  let K = ${p.K};
  let split = wg.x / ${nt}u;
  let j0 = (wg.x % ${nt}u) * ${BN}u;
  let i0 = wg.y * ${BM}u;
  let chunk = ((K + ${p.splits * TK - 1}u) / ${p.splits * TK}u) * ${TK}u;
  let k_begin = min(K, split * chunk);
  let k_end = min(K, k_begin + chunk);
  let tx = t % 16u;
  let ty = t / 16u;
  ${rs.flatMap((r) => cs.map((c) => `var ${acc(r, c)} = 0.0;`)).join(' ')}
  for (var k0 = k_begin; k0 < k_end; k0 += ${TK}u) {
    ${load('ta', lda, BM, p.aFast === 'i', 'a_at(i0 + q, k0 + kk)', `i0 + q < M && k0 + kk < k_end`)}
    ${load('tb', ldb, BN, p.bFast === 'j', 'b_at(k0 + kk, j0 + q)', `j0 + q < ${p.N}u && k0 + kk < k_end`)}
    workgroupBarrier();
    for (var kk = 0u; kk < ${TK}u; kk++) {
      ${rs.map((r) => `let a${r} = ta[kk * ${lda}u + ty + ${16 * r}u];`).join(' ')}
      ${cs.map((c) => `let b${c} = tb[kk * ${ldb}u + tx + ${16 * c}u];`).join(' ')}
      ${rs.flatMap((r) => cs.map((c) => `${acc(r, c)} = fma(a${r}, b${c}, ${acc(r, c)});`)).join('\n      ')}
    }
    workgroupBarrier();
  }
  ${rs.flatMap((r) => cs.map((c) => `{
    let i = i0 + ty + ${16 * r}u;
    let j = j0 + tx + ${16 * c}u;
    let v = ${acc(r, c)};
    if (i < M && j < ${p.N}u) { ${out} }
  }`)).join('\n  ')}
}`;
}

/** Workgroups of a tiled product with m rows. */
export function tiledGroups(p: Pick<TiledSpec, 'N' | 'tm' | 'tn' | 'splits'>, m: number): [number, number] {
  return [Math.ceil(p.N / (16 * p.tn)) * p.splits, Math.ceil(m / (16 * p.tm))];
}

/** C = the sum of a split product's partials [splits, M, N] at scratch, in split order: one thread per element of C. */
export function tiledSumKernel(p: { M: string; N: number; splits: number; scratch: number; store: string }): string {
  return HEADER + /* wgsl */ `
fn store(i: u32, j: u32, v: f32) {
  ${p.store}
}
@compute @workgroup_size(${REDUCE})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let idx = ${FLAT_INDEX};
  let M = ${p.M};
  if (idx >= M * ${p.N}u) { return; }
  var v = 0.0;
  for (var s = 0u; s < ${p.splits}u; s++) { v += mem[${p.scratch}u + s * M * ${p.N}u + idx]; }
  store(idx / ${p.N}u, idx % ${p.N}u, v);
}`;
}

/** Workgroups the GPU should have to run at once (a few per streaming multiprocessor of an H100/H200: 132). */
const GPU_GROUPS = 264;

/**
 * How a product of M x N (rows: at most M) over K is cut. A weight gradient (a sum over the batch) takes the
 * largest tiles and gets its parallelism from splitting K into chunks of 256 or more. Any other product takes the
 * largest tile whose count still fills the GPU (a small-M product in big tiles leaves most of it idle, each
 * workgroup waiting on its own loads), and splits K too where K is long and the tiles few.
 */
export function productPlan(M: number, N: number, K: number, sumOverRows: boolean): { tm: number; tn: number; splits: number } {
  const shapes = [[4, 4], [4, 2], [2, 2], [4, 1], [2, 1], [1, 1]].filter(([, tn]) => tn <= tnFor(N));
  const tilesOf = ([tm, tn]: number[]) => Math.ceil(M / (16 * tm)) * Math.ceil(N / (16 * tn));
  const [tm, tn] = sumOverRows ? shapes[0] : shapes.find((shape) => tilesOf(shape) >= (3 * GPU_GROUPS) / 4) ?? [1, 1];
  const tiles = tilesOf([tm, tn]);
  const splits = sumOverRows ? Math.max(1, Math.min(Math.ceil((2 * GPU_GROUPS) / tiles), Math.floor(K / 256)))
    : K >= 2048 && tiles < GPU_GROUPS ? Math.min(Math.ceil(GPU_GROUPS / tiles), Math.floor(K / 256)) : 1;
  return { tm, tn, splits };
}

/**
 * A product as planned (productPlan): one tiled kernel, or the split kernel and the sum of its partials, which
 * applies `store` (bias, activation, mask or accumulation). `m(n, nk)`: its rows in a step.
 */
function plannedKernels(name: string, t: Omit<TiledSpec, 'tm' | 'tn' | 'splits' | 'scratch' | 'store'> & { store: string },
  p: { tm: number; tn: number; splits: number }, scratch: number, m: (n: number, nk: number) => number): Kernel[] {
  const spec: TiledSpec = { ...t, tm: p.tm, tn: p.tn, splits: p.splits };
  if (p.splits === 1) return [{ name, source: tiledKernel(spec), groups: (n, nk) => tiledGroups(spec, m(n, nk)) }];
  const split: TiledSpec = { ...spec, scratch, store: undefined };
  return [{ name, source: tiledKernel(split), groups: (n, nk) => tiledGroups(split, m(n, nk)) },
    { name: `${name} sum`, source: tiledSumKernel({ M: t.M, N: t.N, splits: p.splits, scratch, store: t.store }),
      groups: (n, nk) => flatGroups(m(n, nk) * t.N) }];
}

/**
 * The loss kernels' rows: one per example, or K per example (importance-weighted: row r models x[r / K], and
 * its gradient is left unscaled for iwWeightsKernel to weight); 'step': step.nk per example, set for each call
 * (evaluate --iw's decoder, webgpu-decode.ts).
 */
const lossRows = (samples: number | 'step' = 1, unscaled = false) => samples === 'step' ? { x: '(r / step.nk)', scale: '1.0' }
  : { x: samples > 1 ? `(r / ${samples}u)` : 'r', scale: samples > 1 || unscaled ? '1.0' : 'step.inv_norm' };

/** What every loss kernel is given: logits [rows, dim] (or [rows, 2·dim]), targets, and where d logits and −log p go. */
interface LossSpec { logits: number; x: number; dlogits: number; rec: number; dim: number; samples?: number | 'step'; unscaled?: boolean }

/**
 * A loss kernel: one workgroup per row r, its threads over the row's values j (`value`: WGSL that adds value j's
 * term to s and writes its gradients, with x_at the target's offset), then rec[r] = `total` (of the row's sum s).
 */
function rowLossKernel(o: LossSpec, value: string, total = 'total'): string {
  const rows = lossRows(o.samples, o.unscaled);
  return HEADER + WORKGROUP_SUM + /* wgsl */ `
@compute @workgroup_size(${REDUCE})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let r = wg.x;
  let scale = ${rows.scale};
  var s = 0.0;
  for (var j = l.x; j < ${o.dim}u; j += ${REDUCE}u) {
    let x_at = ${o.x}u + ${rows.x} * ${o.dim}u + j;
    ${value}
  }
  let total = workgroup_sum(s, l.x);
  if (l.x == 0u) { mem[${o.rec}u + r] = ${total}; }
}`;
}

/**
 * −log p(x|z) of a Bernoulli decoder from its logits l, per row, and its gradient (σ(l) − x) / n:
 * one workgroup per row; rec[r] = Σ_j max(l, 0) − x·l + log(1 + e^−|l|).
 */
export function bernoulliKernel(o: LossSpec): string {
  return rowLossKernel(o, /* wgsl */ `
    let lg = mem[${o.logits}u + r * ${o.dim}u + j];
    let xv = mem[x_at];
    s += max(lg, 0.0) - xv * lg + log(1.0 + exp(-abs(lg)));
    mem[${o.dlogits}u + r * ${o.dim}u + j] = (1.0 / (1.0 + exp(-lg)) - xv) * scale;`);
}

/**
 * −log N(x; μ, σ²) with a fixed σ and μ = sigmoid(l), per row (as losses.ts's gaussianNllFixed), and its gradient
 * d/dl = (μ − x) / σ² · μ (1 − μ) / n: rec[r] = Σ_j (x − μ)² / (2σ²) + ½ D (log 2π + 2 log σ).
 */
export function gaussianKernel(o: LossSpec & { sigma: number }): string {
  const constant = 0.5 * o.dim * (Math.log(2 * Math.PI) + 2 * Math.log(o.sigma));
  const invVar = (1 / (o.sigma * o.sigma)).toExponential();
  return rowLossKernel(o, /* wgsl */ `
    let mu = 1.0 / (1.0 + exp(-mem[${o.logits}u + r * ${o.dim}u + j]));
    let diff = mu - mem[x_at];
    s += diff * diff;
    mem[${o.dlogits}u + r * ${o.dim}u + j] = diff * ${invVar} * mu * (1.0 - mu) * scale;`, `total * 0.5 * ${invVar} + ${constant.toExponential()}`);
}

/**
 * −log N(x; μ, diag σ²) with μ and log σ² from the decoder (its outputs [n, 2·dim]: μ, then log σ², as losses.ts's
 * gaussianNll; M1+M2's model of M1's codes), per row, and its gradients d μ = (μ − x) / σ², d log σ² = ½ (1 −
 * (x − μ)² / σ²), divided by n: rec[r] = Σ_j ½ (log 2π + log σ²_j + (x_j − μ_j)² / σ²_j).
 */
export function gaussianLearnedKernel(o: LossSpec): string {
  const w = 2 * o.dim;
  return rowLossKernel(o, /* wgsl */ `
    let mu = mem[${o.logits}u + r * ${w}u + j];
    let lv = mem[${o.logits}u + r * ${w}u + ${o.dim}u + j];
    let diff = mem[x_at] - mu;
    let scaled = diff * diff * exp(-lv);
    s += ${Math.log(2 * Math.PI).toExponential()} + lv + scaled;
    mem[${o.dlogits}u + r * ${w}u + j] = -diff * exp(-lv) * scale;
    mem[${o.dlogits}u + r * ${w}u + ${o.dim}u + j] = 0.5 * (1.0 - scaled) * scale;`, '0.5 * total');
}

/**
 * The loss kernel of the model's p(x|z): Bernoulli, a Gaussian with a fixed σ, or a Gaussian whose log σ² the
 * decoder gives beside μ. One workgroup per row: `rows` picks n or nk.
 */
export function likelihoodKernel(vae: Vae, o: LossSpec, rows: Rows): Kernel {
  const groups = (n: number, nk: number): [number, number] => [rowCount(rows, n, nk), 1];
  const { likelihood, sigma } = vae.config;
  if (likelihood !== 'gaussian') return { name: 'bernoulli', source: bernoulliKernel(o), groups };
  if (sigma === undefined) return { name: 'gaussian (learned variance)', source: gaussianLearnedKernel(o), groups };
  return { name: 'gaussian', source: gaussianKernel({ ...o, sigma }), groups };
}

/**
 * z = μ + exp(½ log σ²) ⊙ ε and KL(q || N(0, I)) = −½ Σ_j (1 + log σ²_j − μ_j² − σ²_j), one thread per row. z's
 * rows are zLd apart (a cvae's decoder input: z, then the condition beside it).
 */
export function reparameterizeKernel(o: { mu: number; logvar: number; eps: number; z: number; kl: number; zDim: number; zLd?: number }): string {
  return HEADER + /* wgsl */ `
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let r = g.x;
  if (r >= step.n) { return; }
  var kl = 0.0;
  for (var j = 0u; j < ${o.zDim}u; j++) {
    let i = r * ${o.zDim}u + j;
    let mu = mem[${o.mu}u + i];
    let lv = mem[${o.logvar}u + i];
    mem[${o.z}u + r * ${o.zLd ?? o.zDim}u + j] = mu + exp(0.5 * lv) * mem[${o.eps}u + i];
    kl += 1.0 + lv - mu * mu - exp(lv);
  }
  mem[${o.kl}u + r] = -0.5 * kl;
}`;
}

/**
 * The gradients of μ and log σ² from the sample's gradient dz and β·KL / n:
 *   dμ = dz + β μ / n,   d log σ² = dz ⊙ ε ⊙ ½ exp(½ log σ²) + β ½ (exp(log σ²) − 1) / n.
 */
export function reparameterizeGradKernel(o: { mu: number; logvar: number; eps: number; dz: number; dmu: number; dlogvar: number; zDim: number;
  zLd?: number; rowWeight?: number }): string {
  return HEADER + /* wgsl */ `
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x;
  if (i >= step.n * ${o.zDim}u) { return; }
  let mu = mem[${o.mu}u + i];
  let lv = mem[${o.logvar}u + i];
  let dz = mem[${o.dz}u + (i / ${o.zDim}u) * ${o.zLd ?? o.zDim}u + i % ${o.zDim}u];
  let kl = ${o.rowWeight === undefined ? 'step.beta * step.inv_norm' : `mem[${o.rowWeight}u + i / ${o.zDim}u]`};
  mem[${o.dmu}u + i] = dz + kl * mu;
  mem[${o.dlogvar}u + i] = dz * mem[${o.eps}u + i] * 0.5 * exp(0.5 * lv) + kl * 0.5 * (exp(lv) - 1.0);
}`;
}

/**
 * The importance-weighted objective (Vae.importanceWeightedLossTerms) samples K codes per example: decoder row
 * rk = r·K + k holds z = μ_r + σ_r ⊙ ε_rk (rows zLd apart), and lpq[rk] = log p(z) − log q(z|x) = Σ_j −½ z² +
 * ½ (ε² + log σ²) (the log 2π terms cancel). One thread per decoder row.
 */
export function iwReparameterizeKernel(o: { mu: number; logvar: number; eps: number; z: number; lpq: number; zDim: number; zLd: number;
  samples: number }): string {
  return HEADER + /* wgsl */ `
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let rk = g.x;
  if (rk >= step.nk) { return; }
  let r = rk / ${o.samples}u;
  var s = 0.0;
  for (var j = 0u; j < ${o.zDim}u; j++) {
    let lv = mem[${o.logvar}u + r * ${o.zDim}u + j];
    let e = mem[${o.eps}u + rk * ${o.zDim}u + j];
    let z = mem[${o.mu}u + r * ${o.zDim}u + j] + exp(0.5 * lv) * e;
    mem[${o.z}u + rk * ${o.zLd}u + j] = z;
    s += 0.5 * (e * e + lv) - 0.5 * z * z;
  }
  mem[${o.lpq}u + rk] = s;
}`;
}

/**
 * Per example r, from its K rows' rec (−log p(x|z)) and lpq: log w_k = −rec_k + β lpq_k, the normalised weights
 * w̃ = softmax_k(log w), and the bound log (1/K) Σ_k w_k. Writes loss[r] = −bound, recEx[r] = mean of rec, klEx[r]
 * = mean of −lpq, wt[rk] = w̃_k / n, and scales the K rows of d logits (left unscaled by the loss kernel) by it:
 * the loss is −Σ_r bound_r / n, whose gradient in log w_rk is −w̃_rk / n. One workgroup per example.
 */
export function iwWeightsKernel(o: { rec: number; lpq: number; dlogits: number; dim: number; wt: number; loss: number; recEx: number;
  klEx: number; samples: number }): string {
  const K = o.samples;
  return HEADER + /* wgsl */ `
@compute @workgroup_size(${REDUCE})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let r = wg.x;
  let first = r * ${K}u;
  var top = -3.0e38;
  for (var k = 0u; k < ${K}u; k++) { top = max(top, step.beta * mem[${o.lpq}u + first + k] - mem[${o.rec}u + first + k]); }
  var total = 0.0;
  for (var k = 0u; k < ${K}u; k++) { total += exp(step.beta * mem[${o.lpq}u + first + k] - mem[${o.rec}u + first + k] - top); }
  for (var k = 0u; k < ${K}u; k++) {
    let w = exp(step.beta * mem[${o.lpq}u + first + k] - mem[${o.rec}u + first + k] - top) / total * step.inv_norm;
    for (var j = l.x; j < ${o.dim}u; j += ${REDUCE}u) { mem[${o.dlogits}u + (first + k) * ${o.dim}u + j] *= w; }
    if (l.x == 0u) { mem[${o.wt}u + first + k] = w; }
  }
  if (l.x == 0u) {
    var rec = 0.0;
    var kl = 0.0;
    for (var k = 0u; k < ${K}u; k++) { rec += mem[${o.rec}u + first + k]; kl -= mem[${o.lpq}u + first + k]; }
    mem[${o.loss}u + r] = -(top + log(total) - ${Math.log(K).toExponential()});
    mem[${o.recEx}u + r] = rec / ${K}.0;
    mem[${o.klEx}u + r] = kl / ${K}.0;
  }
}`;
}

/**
 * The gradients of μ and log σ² of an importance-weighted step, from the decoder's dz (already weighted) and the
 * prior's share of each sample's gradient, w̃/n · β z:
 *   dμ = Σ_k d_k,  d log σ² = Σ_k d_k ⊙ ε_k ⊙ ½ σ − β / (2n),  d_k = dz_k + wt_k β z_k
 * (−β/(2n): log q's log σ² term, whose weights sum to 1). One thread per (example, dimension).
 */
export function iwReparameterizeGradKernel(o: { logvar: number; eps: number; z: number; dz: number; zLd: number; wt: number; dmu: number;
  dlogvar: number; zDim: number; samples: number }): string {
  return HEADER + /* wgsl */ `
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x;
  if (i >= step.n * ${o.zDim}u) { return; }
  let r = i / ${o.zDim}u;
  let j = i % ${o.zDim}u;
  var dm = 0.0;
  var dl = 0.0;
  for (var k = 0u; k < ${o.samples}u; k++) {
    let rk = r * ${o.samples}u + k;
    let d = mem[${o.dz}u + rk * ${o.zLd}u + j] + mem[${o.wt}u + rk] * step.beta * mem[${o.z}u + rk * ${o.zLd}u + j];
    dm += d;
    dl += d * mem[${o.eps}u + rk * ${o.zDim}u + j];
  }
  mem[${o.dmu}u + i] = dm;
  mem[${o.dlogvar}u + i] = dl * 0.5 * exp(0.5 * mem[${o.logvar}u + i]) - 0.5 * step.beta * step.inv_norm;
}`;
}

/** A VQ-VAE's codebook for the kernels: entry k is column k of its kernel [codeDim, K] at `off` (gradient at off + P). */
export interface Codebook { off: number; size: number; codeDim: number; commitment: number }

/**
 * The VQ-VAE's quantisation (model/families/vqvae.ts), one thread per row: each of the code's slots of codeDim
 * values ze is replaced by the nearest entry e_k (‖ze‖² − 2 ze·e_k + ‖e_k‖², the first of equal ones), the
 * decoder's input is the straight-through ze + (e_k − ze), the entry's index goes to idx, and the row's codebook
 * and commitment terms (1 + β) Σ ‖ze − e_k‖² to vq[r].
 */
export function vqQuantizeKernel(o: { ze: number; zq: number; idx: number; vq: number; zDim: number; book: Codebook }): string {
  const { off, size, codeDim } = o.book;
  const slots = o.zDim / codeDim;
  return HEADER + /* wgsl */ `
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let r = g.x;
  if (r >= step.n) { return; }
  var vq = 0.0;
  for (var s = 0u; s < ${slots}u; s++) {
    let z0 = r * ${o.zDim}u + s * ${codeDim}u;
    var zz = 0.0;
    for (var i = 0u; i < ${codeDim}u; i++) { let v = mem[${o.ze}u + z0 + i]; zz += v * v; }
    var best = 0u;
    var bestD = 3.0e38;
    for (var k = 0u; k < ${size}u; k++) {
      var dot = 0.0;
      var ee = 0.0;
      for (var i = 0u; i < ${codeDim}u; i++) {
        let e = mem[${off}u + i * ${size}u + k];
        dot += mem[${o.ze}u + z0 + i] * e;
        ee += e * e;
      }
      let d = zz - 2.0 * dot + ee;
      if (d < bestD) { bestD = d; best = k; }
    }
    mem[${o.idx}u + r * ${slots}u + s] = f32(best);
    for (var i = 0u; i < ${codeDim}u; i++) {
      let ze = mem[${o.ze}u + z0 + i];
      let diff = mem[${off}u + i * ${size}u + best] - ze;
      mem[${o.zq}u + z0 + i] = ze + diff;
      vq += diff * diff;
    }
  }
  mem[${o.vq}u + r] = ${(1 + o.book.commitment).toExponential()} * vq;
}`;
}

/**
 * The VQ-VAE's gradients from the decoder's d z_q: the encoder's code gets it straight through plus the
 * commitment term's 2β (ze − e_k) / n (one thread per code value), and each codebook value e_k[i] gets Σ over the
 * slots that chose entry k of 2 (e_k[i] − ze[i]) / n, in row order (one thread per codebook value).
 */
export function vqGradKernel(o: { ze: number; dzq: number; dze: number; idx: number; zDim: number; book: Codebook; P: number }): string {
  const { off, size, codeDim, commitment } = o.book;
  const slots = o.zDim / codeDim;
  return HEADER + /* wgsl */ `
@compute @workgroup_size(${REDUCE})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let t = ${FLAT_INDEX};
  let codes = step.n * ${o.zDim}u;
  if (t < codes) {
    let k = u32(mem[${o.idx}u + t / ${codeDim}u]);
    let ze = mem[${o.ze}u + t];
    mem[${o.dze}u + t] = mem[${o.dzq}u + t] + ${(2 * commitment).toExponential()} * (ze - mem[${off}u + (t % ${codeDim}u) * ${size}u + k]) * step.inv_norm;
  } else if (t < codes + ${codeDim * size}u) {
    let w = t - codes;
    let i = w / ${size}u;
    let k = w % ${size}u;
    let e = mem[${off}u + w];
    var g = 0.0;
    for (var q = 0u; q < step.n * ${slots}u; q++) {
      if (u32(mem[${o.idx}u + q]) == k) { g += 2.0 * (e - mem[${o.ze}u + q * ${codeDim}u + i]); }
    }
    mem[${o.P + off}u + w] = g * step.inv_norm;
  }
}`;
}

/** values[r, j] *= weights[r] for the step.n rows of `width` values (one thread per value). */
export function rowScaleKernel(o: { values: number; weights: number; width: number }): string {
  return HEADER + /* wgsl */ `
@compute @workgroup_size(${REDUCE})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let i = ${FLAT_INDEX};
  if (i >= step.n * ${o.width}u) { return; }
  mem[${o.values}u + i] *= mem[${o.weights}u + i / ${o.width}u];
}`;
}

/**
 * M2's objective (model/m2.ts) from the classifier's logits [images, C] and each encoder/decoder row's rec and KL,
 * one thread per image. The step's images are step.unlabelled unlabelled ones (rows i·C + k: image i with label k),
 * then labelled ones (row unlabelled·C + j, label y). With L = rec + KL + log C and q = softmax(logits):
 *   unlabelled: U = Σ_k q_k (L_k + log q_k); each row's weight w_u q_k; d logits_j = w_u q_j (L_j + log q_j − U)
 *   labelled:   L, its row's weight w_l; CE = −log q_y; d logits = w_c (q − y)
 * The rows' weights (rw) scale their d logits and their KL's gradient; per image u, Σ_k q_k rec, Σ_k q_k KL, L, CE
 * go to `sums` [5, images] for m2StatsKernel.
 */
export function m2WeightsKernel(o: { logits: number; y: number; rec: number; kl: number; rw: number; dlogits: number; sums: number; images: number;
  classes: number }): string {
  const C = o.classes;
  const sum = (k: number) => `mem[${o.sums + k * o.images}u + i]`;
  return HEADER + /* wgsl */ `
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x;
  if (i >= step.nk) { return; }
  var top = -3.0e38;
  for (var k = 0u; k < ${C}u; k++) { top = max(top, mem[${o.logits}u + i * ${C}u + k]); }
  var total = 0.0;
  for (var k = 0u; k < ${C}u; k++) { total += exp(mem[${o.logits}u + i * ${C}u + k] - top); }
  let log_z = top + log(total);
  let log_c = ${Math.log(C).toExponential()};
  if (i < step.unlabelled) {
    var u = 0.0;
    var rec = 0.0;
    var kl = 0.0;
    for (var k = 0u; k < ${C}u; k++) {
      let row = i * ${C}u + k;
      let lq = mem[${o.logits}u + i * ${C}u + k] - log_z;
      let q = exp(lq);
      u += q * (mem[${o.rec}u + row] + mem[${o.kl}u + row] + log_c + lq);
      rec += q * mem[${o.rec}u + row];
      kl += q * mem[${o.kl}u + row];
      mem[${o.rw}u + row] = step.w_u * q;
    }
    for (var k = 0u; k < ${C}u; k++) {
      let row = i * ${C}u + k;
      let lq = mem[${o.logits}u + i * ${C}u + k] - log_z;
      mem[${o.dlogits}u + i * ${C}u + k] = step.w_u * exp(lq) * (mem[${o.rec}u + row] + mem[${o.kl}u + row] + log_c + lq - u);
    }
    ${sum(0)} = u;
    ${sum(1)} = rec;
    ${sum(2)} = kl;
    ${sum(3)} = 0.0;
    ${sum(4)} = 0.0;
  } else {
    let row = step.unlabelled * ${C}u + (i - step.unlabelled);
    var ce = 0.0;
    for (var k = 0u; k < ${C}u; k++) {
      let lq = mem[${o.logits}u + i * ${C}u + k] - log_z;
      let y = mem[${o.y}u + i * ${C}u + k];
      ce -= y * lq;
      mem[${o.dlogits}u + i * ${C}u + k] = step.w_c * (exp(lq) - y);
    }
    mem[${o.rw}u + row] = step.w_l;
    ${sum(0)} = 0.0;
    ${sum(1)} = 0.0;
    ${sum(2)} = 0.0;
    ${sum(3)} = mem[${o.rec}u + row] + mem[${o.kl}u + row] + log_c;
    ${sum(4)} = ce;
  }
}`;
}

/**
 * M2's statistics into stats[slot], as its shardTerms reports them: the loss w_u Σ U + w_l Σ L + w_c Σ CE, then
 * Σ q·rec, Σ q·KL, Σ U (unlabelled), Σ L, Σ CE and the count of labelled images.
 */
export function m2StatsKernel(o: { sums: number; images: number; stats: number }): string {
  return HEADER + WORKGROUP_SUM + /* wgsl */ `
@compute @workgroup_size(${REDUCE})
fn main(@builtin(local_invocation_id) l: vec3u) {
  var part = array<f32, 5>(0.0, 0.0, 0.0, 0.0, 0.0);
  for (var i = l.x; i < step.nk; i += ${REDUCE}u) {
    for (var k = 0u; k < 5u; k++) { part[k] += mem[${o.sums}u + k * ${o.images}u + i]; }
  }
  let u = workgroup_sum(part[0], l.x);
  let rec = workgroup_sum(part[1], l.x);
  let kl = workgroup_sum(part[2], l.x);
  let big_l = workgroup_sum(part[3], l.x);
  let ce = workgroup_sum(part[4], l.x);
  if (l.x == 0u) {
    let at = ${o.stats}u + step.slot * ${STATS}u;
    mem[at] = step.w_u * u + step.w_l * big_l + step.w_c * ce;
    mem[at + 1u] = rec;
    mem[at + 2u] = kl;
    mem[at + 3u] = u;
    mem[at + 4u] = big_l;
    mem[at + 5u] = ce;
    mem[at + 6u] = f32(step.nk - step.unlabelled);
  }
}`;
}

/** Adam (engine/adam.ts) over the P parameters: params at 0, gradients at P, m at 2P, v at 3P. */
export function adamKernel(P: number, epsilon: number): string {
  return HEADER + /* wgsl */ `
@compute @workgroup_size(${REDUCE})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let i = ${FLAT_INDEX};
  if (i >= ${P}u) { return; }
  let g = mem[${P}u + i];
  let m = step.b1 * mem[${2 * P}u + i] + step.a1 * g;
  let v = step.b2 * mem[${3 * P}u + i] + step.a2 * g * g;
  mem[${2 * P}u + i] = m;
  mem[${3 * P}u + i] = v;
  mem[i] = mem[i] - step.step_size * m / (sqrt(v * step.inv_corr2) + ${epsilon.toExponential()});
}`;
}

/**
 * The step's statistics into stats[slot]: the loss (Σ rec + β Σ KL) / n, Σ rec, Σ KL; with `loss`, the loss is
 * Σ loss / n (an importance-weighted step's −log-mean-weight per example).
 */
export function statsKernel(o: { rec: number; kl: number; stats: number; loss?: number }): string {
  return HEADER + WORKGROUP_SUM + /* wgsl */ `
@compute @workgroup_size(${REDUCE})
fn main(@builtin(local_invocation_id) l: vec3u) {
  var r = 0.0;
  var k = 0.0;
  var b = 0.0;
  for (var i = l.x; i < step.n; i += ${REDUCE}u) {
    r += mem[${o.rec}u + i];
    k += mem[${o.kl}u + i];
    ${o.loss !== undefined ? `b += mem[${o.loss}u + i];` : ''}
  }
  let rec = workgroup_sum(r, l.x);
  let kl = workgroup_sum(k, l.x);
  let bound = workgroup_sum(b, l.x);
  if (l.x == 0u) {
    let at = ${o.stats}u + step.slot * ${STATS}u;
    mem[at] = ${o.loss !== undefined ? 'bound' : '(rec + step.beta * kl)'} * step.inv_norm;
    mem[at + 1u] = rec;
    mem[at + 2u] = kl;
  }
}`;
}

/**
 * A convolution with TensorFlow's 'same' padding (as conv.ts): input [n, H, W, Cin] (with `up`, stored at half
 * the size and upsampled 2x, nearest, on the fly), kernel [k, k, Cin, Cout] with its bias after it, output
 * [n, Ho, Wo, Cout] with Ho = ceil(H / s).
 */
/**
 * A sparse autoencoder's penalty (losses.ts's sparsityPenalty, per shard as the CPU engine computes it): for each
 * of the step's 2 shards (flat.ts's partRange) and code unit j, ρ̂ = the shard's mean of code_j (clipped to
 * [1e-6, 1 − 1e-6]); the shard's penalty P = weight · Σ_j KL(ρ || ρ̂_j) counts once per row (kl[r] = P, so Σ kl is
 * the CPU's Σ_s P_s · rows_s) and adds weight · (−ρ/ρ̂ + (1 − ρ)/(1 − ρ̂)) / n to each row's d code_j (0 where ρ̂ was
 * clipped). Then d code becomes the gradient before the code's sigmoid: × code (1 − code). One workgroup.
 */
export function sparsityKernel(o: { code: number; dcode: number; kl: number; zDim: number; target: number; weight: number }): string {
  const rho = o.target.toExponential();
  return HEADER + WORKGROUP_SUM + /* wgsl */ `
var<workgroup> grad: array<f32, ${2 * o.zDim}>;
var<workgroup> penalty: array<f32, 2>;
@compute @workgroup_size(${REDUCE})
fn main(@builtin(local_invocation_id) l: vec3u) {
  let n = step.n;
  for (var s = 0u; s < 2u; s++) {
    let start = (n * s) / 2u;
    let end = (n * (s + 1u)) / 2u;
    var total = 0.0;
    for (var j = 0u; j < ${o.zDim}u; j++) {
      var part = 0.0;
      for (var r = start + l.x; r < end; r += ${REDUCE}u) { part += mem[${o.code}u + r * ${o.zDim}u + j]; }
      let mean = workgroup_sum(part, l.x) / f32(max(end - start, 1u));
      let c = clamp(mean, 1e-6, 1.0 - 1e-6);
      total += ${rho} * log(${rho} / c) + (1.0 - ${rho}) * log((1.0 - ${rho}) / (1.0 - c));
      var g = 0.0;
      if (mean >= 1e-6 && mean <= 1.0 - 1e-6) { g = ${o.weight.toExponential()} * (-${rho} / c + (1.0 - ${rho}) / (1.0 - c)) * step.inv_norm; }
      if (l.x == 0u) { grad[s * ${o.zDim}u + j] = g; }
    }
    if (l.x == 0u) { penalty[s] = ${o.weight.toExponential()} * total; }
  }
  workgroupBarrier();
  for (var i = l.x; i < n * ${o.zDim}u; i += ${REDUCE}u) {
    let r = i / ${o.zDim}u;
    let s = select(0u, 1u, r >= n / 2u);
    let code = mem[${o.code}u + i];
    mem[${o.dcode}u + i] = (mem[${o.dcode}u + i] + grad[s * ${o.zDim}u + i % ${o.zDim}u]) * code * (1.0 - code);
  }
  for (var r = l.x; r < n; r += ${REDUCE}u) { mem[${o.kl}u + r] = penalty[select(0u, 1u, r >= n / 2u)]; }
}`;
}

export interface ConvSpec {
  H: number;
  W: number;
  cin: number;
  cout: number;
  k: number;
  s: number;
  up: boolean;
  /** Offset of the kernel (and bias) in the parameters; the gradients are at the same offset + P. */
  off: number;
  /** Its rows: the batch's (default), or K per example (an importance-weighted step's decoder). */
  rows?: Rows;
}

function convGeometry(c: ConvSpec) {
  const Ho = Math.ceil(c.H / c.s);
  const Wo = Math.ceil(c.W / c.s);
  const pt = Math.floor(Math.max((Ho - 1) * c.s + c.k - c.H, 0) / 2);
  const pl = Math.floor(Math.max((Wo - 1) * c.s + c.k - c.W, 0) / 2);
  const Hs = c.up ? c.H / 2 : c.H; // as stored
  const Ws = c.up ? c.W / 2 : c.W;
  return { Ho, Wo, pt, pl, Hs, Ws };
}

/** The rows × `dims` elements of a conv layer's tensors, in WGSL. */
const rowsOf = (c: ConvSpec, dims: string) => `${dim(c.rows ?? 'n')} * ${dims}u`;

/** WGSL that splits the flat index `idx` of a [n, H, W, C] tensor into b, and y, x (as i32), and c named as given. */
function nhwc(names: [string, string, string, string], H: number, W: number, C: number): string {
  const [b, y, x, c] = names;
  return `let ${c} = idx % ${C}u;
  let ${x} = i32((idx / ${C}u) % ${W}u);
  let ${y} = i32((idx / ${C * W}u) % ${H}u);
  let ${b} = idx / ${H * W * C}u;`;
}

/** WGSL: the offset in a conv's stored input [n, Hs, Ws, cin] of channel 0 at (iy, ix) of its (upsampled) grid, for batch row b. */
function storedInput(c: ConvSpec): string {
  const { Hs, Ws } = convGeometry(c);
  const half = c.up ? ' / 2' : '';
  return `((b * ${Hs}u + u32(iy${half})) * ${Ws}u + u32(ix${half})) * ${c.cin}u`;
}

/** y = conv(x) + b (ReLU), one thread per output element. */
export function convForwardKernel(c: ConvSpec, o: { input: number; out: number; relu: boolean }): string {
  const { Ho, Wo, pt, pl } = convGeometry(c);
  const per = Ho * Wo * c.cout;
  return HEADER + /* wgsl */ `
@compute @workgroup_size(${REDUCE})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let idx = ${FLAT_INDEX};
  if (idx >= ${rowsOf(c, String(per))}) { return; }
  ${nhwc(['b', 'oy', 'ox', 'co'], Ho, Wo, c.cout)}
  var acc = mem[${c.off + c.k * c.k * c.cin * c.cout}u + co];
  for (var ky = 0; ky < ${c.k}; ky++) {
    let iy = oy * ${c.s} + ky - ${pt};
    if (iy < 0 || iy >= ${c.H}) { continue; }
    for (var kx = 0; kx < ${c.k}; kx++) {
      let ix = ox * ${c.s} + kx - ${pl};
      if (ix < 0 || ix >= ${c.W}) { continue; }
      let base = ${storedInput(c)};
      let wbase = u32(ky * ${c.k} + kx) * ${c.cin * c.cout}u + co;
      for (var ci = 0u; ci < ${c.cin}u; ci++) { acc = fma(mem[${o.input}u + base + ci], mem[${c.off}u + wbase + ci * ${c.cout}u], acc); }
    }
  }
  ${o.relu ? 'acc = max(acc, 0.0);' : ''}
  mem[${o.out}u + idx] = acc;
}`;
}

/**
 * The kernel's and the bias's gradients, one workgroup per weight (the bias's after the kernel's), its threads
 * sharing the sum over the batch and the output positions (the few weights of a layer with one output channel
 * still keep the GPU busy):
 *   dW[ky, kx, ci, co] = Σ_{b, oy, ox} x[b, oy·s + ky − pt, ox·s + kx − pl, ci] · dy[b, oy, ox, co],  db[co] = Σ dy[., co].
 */
export function convWeightGradKernel(c: ConvSpec, o: { input: number; dOut: number; P: number }): string {
  const { Ho, Wo, pt, pl } = convGeometry(c);
  const weights = c.k * c.k * c.cin * c.cout;
  return HEADER + WORKGROUP_SUM + /* wgsl */ `
@compute @workgroup_size(${REDUCE})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let idx = wg.y * ${MAX_GROUPS}u + wg.x;
  if (idx >= ${weights + c.cout}u) { return; }
  let positions = ${rowsOf(c, String(Ho * Wo))};
  var acc = 0.0;
  if (idx >= ${weights}u) {
    let co = idx - ${weights}u;
    for (var p = l.x; p < positions; p += ${REDUCE}u) { acc += mem[${o.dOut}u + p * ${c.cout}u + co]; }
  } else {
    let co = idx % ${c.cout}u;
    let ci = (idx / ${c.cout}u) % ${c.cin}u;
    let kx = i32((idx / ${c.cout * c.cin}u) % ${c.k}u);
    let ky = i32(idx / ${c.cout * c.cin * c.k}u);
    for (var p = l.x; p < positions; p += ${REDUCE}u) {
      let ox = i32(p % ${Wo}u);
      let oy = i32((p / ${Wo}u) % ${Ho}u);
      let b = p / ${Ho * Wo}u;
      let iy = oy * ${c.s} + ky - ${pt};
      let ix = ox * ${c.s} + kx - ${pl};
      if (iy < 0 || iy >= ${c.H} || ix < 0 || ix >= ${c.W}) { continue; }
      let xv = mem[${o.input}u + ${storedInput(c)} + ci];
      acc = fma(xv, mem[${o.dOut}u + p * ${c.cout}u + co], acc);
    }
  }
  let total = workgroup_sum(acc, l.x);
  if (l.x == 0u) { mem[${o.P + c.off}u + idx] = total; }
}`;
}

/**
 * The input's gradient, one thread per stored input element (for an upsampled input, the sum over its 2x2
 * copies): dx[b, iy, ix, ci] = Σ_{ky, kx, co} dy[b, (iy + pt − ky) / s, (ix + pl − kx) / s, co] · W[ky, kx, ci, co]
 * where the division is exact and in range; ⊙ [mask > 0] for a ReLU layer's output.
 */
export function convInputGradKernel(c: ConvSpec, o: { dOut: number; dIn: number; mask?: number }): string {
  const { Ho, Wo, pt, pl, Hs, Ws } = convGeometry(c);
  const per = Hs * Ws * c.cin;
  const copies = c.up ? 2 : 1;
  return HEADER + /* wgsl */ `
@compute @workgroup_size(${REDUCE})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let idx = ${FLAT_INDEX};
  if (idx >= ${rowsOf(c, String(per))}) { return; }
  ${nhwc(['b', 'sy', 'sx', 'ci'], Hs, Ws, c.cin)}
  var acc = 0.0;
  for (var uy = 0; uy < ${copies}; uy++) {
    for (var ux = 0; ux < ${copies}; ux++) {
      let iy = sy * ${copies} + uy;
      let ix = sx * ${copies} + ux;
      for (var ky = 0; ky < ${c.k}; ky++) {
        let ty = iy + ${pt} - ky;
        if (ty < 0 || ty % ${c.s} != 0 || ty / ${c.s} >= ${Ho}) { continue; }
        for (var kx = 0; kx < ${c.k}; kx++) {
          let tx = ix + ${pl} - kx;
          if (tx < 0 || tx % ${c.s} != 0 || tx / ${c.s} >= ${Wo}) { continue; }
          let dbase = ((b * ${Ho}u + u32(ty / ${c.s})) * ${Wo}u + u32(tx / ${c.s})) * ${c.cout}u;
          let wbase = (u32(ky * ${c.k} + kx) * ${c.cin}u + ci) * ${c.cout}u;
          for (var co = 0u; co < ${c.cout}u; co++) { acc = fma(mem[${o.dOut}u + dbase + co], mem[${c.off}u + wbase + co], acc); }
        }
      }
    }
  }
  ${o.mask !== undefined ? `if (mem[${o.mask}u + idx] <= 0.0) { acc = 0.0; }` : ''}
  mem[${o.dIn}u + idx] = acc;
}`;
}

/** A layer of the step: its output per row, and its kernels. */
export interface Layer {
  name: string;
  out: number;
  /** Each: one kernel, or a split product and its sum. */
  forward(input: number, out: number): Kernel[];
  /** The kernel's and the bias's gradients. */
  weightGrad(input: number, dOut: number): Kernel[];
  /** Floats of scratch its kernels use (at the plan's `scratch`), 0 for none. */
  scratch: number;
  /** The same for its forward kernels alone (a decoder that only runs forward: webgpu-decode.ts). */
  forwardScratch: number;
  /** dX from dY (⊙ [mask > 0], the input being a ReLU's output), or added to dX. */
  inputGrad(dOut: number, dIn: number, mask?: number, accumulate?: boolean): Kernel[];
}

export function denseLayer(name: string, w: { off: number; shape: number[] }, activation: 'relu' | 'linear' | 'sigmoid', P: number,
  plan: StepPlan, rows: Rows = 'n'): Layer {
  const [inDim, out] = w.shape;
  const maxRows = rows === 'n' ? plan.rows : plan.decRows;
  const m = (n: number, nk: number) => rowCount(rows, n, nk);
  const fwd = productPlan(maxRows, out, inDim, false);
  // dW and db at once: [Xᵀ; 1ᵀ] · dY, written over the kernel's and the bias's gradients (contiguous).
  const dW = productPlan(inDim + 1, out, maxRows, true);
  const dX = productPlan(maxRows, inDim, out, false);
  const product = (label: string, p: ProductSpec, at: { tm: number; tn: number; splits: number }, rowsOf: (n: number, nk: number) => number) =>
    plannedKernels(`${name} ${label}`, productTiled(p), at, plan.scratch, rowsOf);
  return {
    name, out, scratch: Math.max(scratchOf(fwd, maxRows, out), scratchOf(dW, inDim + 1, out), scratchOf(dX, maxRows, inDim)),
    forwardScratch: scratchOf(fwd, maxRows, out),
    forward: (input, o) => product('forward', { M: rows, N: out, K: inDim, a: { off: input, ld: inDim }, b: { off: w.off, ld: out },
      c: { off: o, ld: out }, bias: w.off + inDim * out, relu: activation === 'relu', sigmoid: activation === 'sigmoid' }, fwd, m),
    weightGrad: (input, dOut) => product('dW', { M: inDim + 1, N: out, K: rows, a: { off: input, ld: inDim, trans: true }, b: { off: dOut, ld: out },
      c: { off: P + w.off, ld: out }, onesRow: true }, dW, () => inDim + 1),
    inputGrad: (dOut, dIn, mask, accumulate = false) => product('dX', { M: rows, N: inDim, K: out, a: { off: dOut, ld: out },
      b: { off: w.off, ld: out, trans: true }, c: { off: dIn, ld: inDim }, mask: mask === undefined ? undefined : { off: mask, ld: inDim },
      accumulate }, dX, m),
  };
}

/** Floats of scratch a planned product of M x N needs for its partial sums. */
const scratchOf = (p: { splits: number }, M: number, N: number) => (p.splits > 1 ? p.splits * M * N : 0);

/**
 * Where the step's split products keep their partial sums (right after the parameters, their gradients and Adam's
 * moments: 4·P), and the most rows a step has (the batch's, and the decoder's), which size them.
 */
export interface StepPlan { scratch: number; rows: number; decRows: number }

/** A convolution's output channels below this take the one-thread-per-output kernels: a 16-wide tile would idle. */
const NARROW = 8;
/** Accumulator columns per thread of a tiled product N wide. */
const tnFor = (N: number) => (N >= 64 ? 4 : N >= 32 ? 2 : 1);

/**
 * A convolution layer. Forward, the filter gradient and the input gradient are implicit GEMMs on tiledKernel
 * (the windows gathered as they are read), except forward and the filter gradient of a layer with few output
 * channels (a decoder's logits), which keep one thread per output element, or per weight.
 */
export function convLayer(name: string, c: ConvSpec, relu: boolean, P: number, plan: StepPlan): Layer {
  const { Ho, Wo, Hs, Ws, pt, pl } = convGeometry(c);
  const out = Ho * Wo * c.cout;
  const rows = c.rows ?? 'n';
  const maxRows = rows === 'n' ? plan.rows : plan.decRows;
  const taps = c.k * c.k;
  const copies = c.up ? 2 : 1;
  const weights = taps * c.cin * c.cout;
  const narrow = c.cout < NARROW;
  // The filter gradient [taps·cin + 1, cout] (its last row the bias's: a row of ones in A) sums over every output
  // position of the batch: split.
  const fwd = productPlan(maxRows * Ho * Wo, c.cout, taps * c.cin, false);
  const dW = productPlan(taps * c.cin + 1, c.cout, maxRows * Ho * Wo, true);
  const dX = productPlan(maxRows * Hs * Ws, c.cin, copies * copies * taps * c.cout, false);
  const m = (positions: number) => (n: number, nk: number) => rowCount(rows, n, nk) * positions;
  const window = (pos: string, tapCi: string) => /* wgsl */ `
  let b = ${pos} / ${Ho * Wo}u;
  let p = ${pos} % ${Ho * Wo}u;
  let ci = ${tapCi} % ${c.cin}u;
  let tap = ${tapCi} / ${c.cin}u;
  let iy = i32(p / ${Wo}u) * ${c.s} + i32(tap / ${c.k}u) - ${pt};
  let ix = i32(p % ${Wo}u) * ${c.s} + i32(tap % ${c.k}u) - ${pl};
  if (iy < 0 || iy >= ${c.H} || ix < 0 || ix >= ${c.W}) { return 0.0; }`;
  return {
    name, out,
    scratch: Math.max(narrow ? 0 : Math.max(scratchOf(fwd, maxRows * Ho * Wo, c.cout), scratchOf(dW, taps * c.cin + 1, c.cout)),
      scratchOf(dX, maxRows * Hs * Ws, c.cin)),
    forwardScratch: narrow ? 0 : scratchOf(fwd, maxRows * Ho * Wo, c.cout),
    forward: (input, o) => {
      if (narrow) {
        return [{ name: `${name} forward`, source: convForwardKernel(c, { input, out: o, relu }),
          groups: (n, nk) => flatGroups(rowCount(rows, n, nk) * out) }];
      }
      return plannedKernels(`${name} forward`, { M: rowsOf(c, String(Ho * Wo)), N: c.cout, K: `${taps * c.cin}u`, aFast: 'k', bFast: 'j',
        aAt: `${window('i', 'k')}
  return mem[${input}u + ${storedInput(c)} + ci];`,
        bAt: `return mem[${c.off}u + k * ${c.cout}u + j];`,
        store: `var y = v + mem[${c.off + weights}u + j];
  ${relu ? 'y = max(y, 0.0);' : ''}
  mem[${o}u + i * ${c.cout}u + j] = y;` }, fwd, plan.scratch, m(Ho * Wo));
    },
    weightGrad: (input, dOut) => {
      if (narrow) {
        const count = weights + c.cout; // one workgroup each
        return [{ name: `${name} dW`, source: convWeightGradKernel(c, { input, dOut, P }),
          groups: () => [Math.min(count, MAX_GROUPS), Math.ceil(count / MAX_GROUPS)] }];
      }
      return plannedKernels(`${name} dW`, { M: `${taps * c.cin + 1}u`, N: c.cout, K: rowsOf(c, String(Ho * Wo)), aFast: 'i', bFast: 'j',
        store: `mem[${P + c.off}u + i * ${c.cout}u + j] = v;`,
        aAt: `if (i == ${taps * c.cin}u) { return 1.0; }
  ${window('k', 'i')}
  return mem[${input}u + ${storedInput(c)} + ci];`,
        bAt: `return mem[${dOut}u + k * ${c.cout}u + j];` }, dW, plan.scratch, () => taps * c.cin + 1);
    },
    inputGrad: (dOut, dIn, mask, accumulate = false) => {
      if (accumulate) throw new Error('a convolution\'s input gradient is not accumulated');
      // dx at a stored position (b, sy, sx) and channel ci: over k = (copy u, ky, kx, co), the output gradient at the
      // position each tap reaches from the copy (none where the stride does not divide) times W[ky, kx, ci, co].
      return plannedKernels(`${name} dX`, { M: rowsOf(c, String(Hs * Ws)), N: c.cin, K: `${copies * copies * taps * c.cout}u`, aFast: 'k', bFast: 'k',
        aAt: /* wgsl */ `let b = i / ${Hs * Ws}u;
  let p = i % ${Hs * Ws}u;
  let co = k % ${c.cout}u;
  let tap = k / ${c.cout}u;
  let u = tap / ${taps}u;
  let ty = i32(p / ${Ws}u) * ${copies} + i32(u / ${copies}u) + ${pt} - i32((tap / ${c.k}u) % ${c.k}u);
  let tx = i32(p % ${Ws}u) * ${copies} + i32(u % ${copies}u) + ${pl} - i32(tap % ${c.k}u);
  if (ty < 0 || tx < 0 || ty % ${c.s} != 0 || tx % ${c.s} != 0 || ty / ${c.s} >= ${Ho} || tx / ${c.s} >= ${Wo}) { return 0.0; }
  return mem[${dOut}u + ((b * ${Ho}u + u32(ty / ${c.s})) * ${Wo}u + u32(tx / ${c.s})) * ${c.cout}u + co];`,
        bAt: `return mem[${c.off}u + (((k / ${c.cout}u) % ${taps}u) * ${c.cin}u + j) * ${c.cout}u + k % ${c.cout}u];`,
        store: `${mask !== undefined ? `if (mem[${mask}u + i * ${c.cin}u + j] <= 0.0) { mem[${dIn}u + i * ${c.cin}u + j] = 0.0; return; }` : ''}
  mem[${dIn}u + i * ${c.cin}u + j] = v;` }, dX, plan.scratch, m(Hs * Ws));
    },
  };
}

/** The kernels that run `layers` forward, the first on `input`, each into its own output (`outs`). */
export function forwardStack(layers: Layer[], input: number, outs: number[]): Kernel[] {
  return layers.flatMap((l, i) => l.forward(i === 0 ? input : outs[i - 1], outs[i]));
}

/**
 * The kernels back through `layers` (run forward by forwardStack from `input` into `outs`) from the gradient of the
 * last output: each layer's weight gradients, and the gradient of its input into the layer before's (masked by that
 * ReLU output); the first layer's input gradient goes to `dInput` (unmasked) when given, else nowhere.
 */
function backwardStack(layers: Layer[], input: number, outs: number[], dOuts: number[], dInput?: number): Kernel[] {
  const kernels: Kernel[] = [];
  for (let i = layers.length - 1; i >= 0; i--) {
    kernels.push(...layers[i].weightGrad(i === 0 ? input : outs[i - 1], dOuts[i]));
    if (i > 0) kernels.push(...layers[i].inputGrad(dOuts[i], dOuts[i - 1], outs[i - 1]));
    else if (dInput !== undefined) kernels.push(...layers[i].inputGrad(dOuts[i], dInput));
  }
  return kernels;
}

/**
 * The encoder's layers up to μ and log σ², and the decoder's, in the order they run (conv.ts's shapes for --arch
 * conv); the decoder's have `decRows` rows.
 */
export function modelLayers(vae: Vae, P: number, decRows: Rows, plan: StepPlan): { enc: Layer[]; mu: Layer; logvar: Layer | null; dec: Layer[]; cls: Layer[]; scratch: number; forwardScratch: number } {
  const w = weightsOf(vae);
  const { hidden, arch, inputShape } = vae.config;
  const dense = (name: string, relu: boolean, rows: Rows = 'n') => denseLayer(name, w(name), relu ? 'relu' : 'linear', P, plan, rows);
  const decDense = (name: string, relu: boolean) => dense(name, relu, decRows);
  const enc: Layer[] = [];
  const dec: Layer[] = [];
  if (arch === 'conv') {
    const [size, , channels] = inputShape;
    const { channels: widths, map } = convShape(size);
    widths.forEach((cout, i) => {
      const side = size / 2 ** i;
      enc.push(convLayer(`encoder conv ${i + 1}`, { H: side, W: side, cin: i === 0 ? channels : widths[i - 1], cout, k: w(`enc_conv_${i + 1}`).shape[0],
        s: 2, up: false, off: w(`enc_conv_${i + 1}`).off }, true, P, plan));
    });
    enc.push(...hidden.map((_, i) => dense(`enc_hidden_${i + 1}`, true)));
    dec.push(...hidden.map((_, i) => decDense(`dec_hidden_${i + 1}`, true)), decDense('dec_project', true));
    const names = [...widths.slice(1).map((_, i) => `dec_conv_${i + 1}`), 'logits'];
    const outs = [...[...widths].reverse().slice(1), channels];
    names.forEach((name, j) => {
      const side = map * 2 ** (j + 1);
      dec.push(convLayer(name === 'logits' ? 'logits' : `decoder conv ${j + 1}`, { H: side, W: side, cin: j === 0 ? widths[widths.length - 1] : outs[j - 1],
        cout: outs[j], k: w(name).shape[0], s: 1, up: true, off: w(name).off, rows: decRows }, name !== 'logits', P, plan));
    });
  } else {
    enc.push(...hidden.map((_, i) => dense(`enc_hidden_${i + 1}`, true)));
    dec.push(...hidden.map((_, i) => decDense(`dec_hidden_${i + 1}`, true)), decDense('logits', false));
  }
  // An autoencoder's code is the 'mu' layer's output, a point: no log σ²; a sparse autoencoder's goes through a sigmoid.
  const codeActivation = (vae.encoder.getLayer('mu').getConfig() as { activation?: string }).activation;
  const mu = denseLayer('mu', w('mu'), codeActivation === 'sigmoid' ? 'sigmoid' : 'linear', P, plan);
  // M2's classifier q(y|x) runs on the step's images (step.nk of them), not on its rows.
  const cls = vae.classifier ? [...hidden.map((_, i) => dense(`cls_hidden_${i + 1}`, true, 'nk')), dense('class_logits', false, 'nk')] : [];
  const logvar = vae.pointCode ? null : dense('logvar', false);
  // The layers' split products run one after another: they share one scratch.
  const all = [...enc, mu, ...(logvar ? [logvar] : []), ...dec, ...cls];
  return { enc, mu, logvar, dec, cls, scratch: Math.max(0, ...all.map((l) => l.scratch)), forwardScratch: Math.max(0, ...all.map((l) => l.forwardScratch)) };
}

/** A kernel of the step, and its workgroups for a batch of n rows (nk decoder rows). */
export interface Kernel {
  name: string;
  source: string;
  groups: (n: number, nk: number) => [number, number];
}

/** Offsets in `mem`, allocated one after the other. */
export class Arena {
  size = 0;
  take(floats: number): number {
    const at = this.size;
    this.size += floats;
    return at;
  }
}

/** A VQ-VAE's codebook: its kernel, the last of the trainable variables; null for other models. */
function codebookOf(vae: Vae): Codebook | null {
  if (!vae.quantizer) return null;
  const variables = vae.trainableVariables();
  const last = flatLayout(variables).entries[variables.length - 1];
  const [codeDim, size] = last.shape;
  const commitment = Number(vae.config.options?.commitment);
  if (size !== vae.quantizer.size || !(commitment >= 0)) throw new Error('the codebook is not where the webgpu engine expects it');
  return { off: last.offset, size, codeDim, commitment };
}

/**
 * M2's step (model/m2.ts): its rows are every unlabelled image with every label (i·C + k), then the labelled images
 * with theirs, laid out on the CPU (uploadSemi) as the encoder ([x, y]) and decoder ([0, y]) read them; the
 * classifier runs on the images. Each row's loss and KL gradient are weighted as m2WeightsKernel says.
 */
function m2StepKernels(vae: Vae, images: number, epsilon: number) {
  const P = flatLayout(vae.trainableVariables()).size;
  const C = vae.labelDim;
  const rows = images * C; // at most: every image unlabelled
  const { enc, mu, logvar, dec, cls, scratch } = modelLayers(vae, P, 'n', { scratch: 4 * P, rows, decRows: rows });
  if (!logvar || cls.length === 0) throw new Error('an M2 model has a Gaussian code and a classifier');
  const D = vae.inputDim;
  const Z = vae.config.zDim;
  const mem = new Arena();
  mem.take(4 * P + scratch);
  const x = mem.take(images * D);
  const y = mem.take(images * C);
  const xy = mem.take(rows * (D + C));
  const target = mem.take(rows * D);
  const eps = mem.take(rows * Z);
  const encH = enc.map((l) => mem.take(rows * l.out));
  const muAt = mem.take(rows * Z);
  const lvAt = mem.take(rows * Z);
  const zLd = Z + C;
  const z = mem.take(rows * zLd);
  const decH = dec.map((l) => mem.take(rows * l.out));
  const clsH = cls.map((l) => mem.take(images * l.out));
  const dEncH = enc.map((l) => mem.take(rows * l.out));
  const dmu = mem.take(rows * Z);
  const dz = mem.take(rows * zLd);
  const dlv = mem.take(rows * Z);
  const dDecH = dec.map((l) => mem.take(rows * l.out));
  const dClsH = cls.map((l) => mem.take(images * l.out));
  const rec = mem.take(rows);
  const kl = mem.take(rows);
  const rw = mem.take(rows);
  const sums = mem.take(5 * images);
  const stats = mem.take(STATS * BATCH_SLOTS);

  const kernels: Kernel[] = [];
  kernels.push(...forwardStack(enc, xy, encH));
  const top = encH[enc.length - 1];
  kernels.push(...mu.forward(top, muAt), ...logvar.forward(top, lvAt));
  kernels.push({ name: 'reparameterize', source: reparameterizeKernel({ mu: muAt, logvar: lvAt, eps, z, kl, zDim: Z, zLd }),
    groups: (n) => [Math.ceil(n / 64), 1] });
  kernels.push(...forwardStack(dec, z, decH));
  const logits = decH[dec.length - 1];
  const dLogits = dDecH[dec.length - 1];
  kernels.push(likelihoodKernel(vae, { logits, x: target, dlogits: dLogits, rec, dim: D, unscaled: true }, 'n'));
  kernels.push(...forwardStack(cls, x, clsH));
  const last = cls.length - 1;
  kernels.push({ name: 'M2 weights', source: m2WeightsKernel({ logits: clsH[last], y, rec, kl, rw, dlogits: dClsH[last], sums, images, classes: C }),
    groups: (_, nk) => [Math.ceil(nk / 64), 1] });
  const outputs = dec[dec.length - 1].out; // D, or 2D for μ and log σ²
  kernels.push({ name: 'weight d logits', source: rowScaleKernel({ values: dLogits, weights: rw, width: outputs }),
    groups: (n) => flatGroups(n * outputs) });
  kernels.push(...backwardStack(dec, z, decH, dDecH, dz));
  kernels.push({ name: 'reparameterize dμ, dlog σ²', source: reparameterizeGradKernel({ mu: muAt, logvar: lvAt, eps, dz, dmu, dlogvar: dlv, zDim: Z, zLd,
    rowWeight: rw }), groups: (n) => [Math.ceil((n * Z) / 64), 1] });
  kernels.push(...mu.weightGrad(top, dmu), ...logvar.weightGrad(top, dlv));
  const lastEnc = enc.length - 1;
  kernels.push(...mu.inputGrad(dmu, dEncH[lastEnc]), ...logvar.inputGrad(dlv, dEncH[lastEnc], encH[lastEnc], true));
  kernels.push(...backwardStack(enc, xy, encH, dEncH), ...backwardStack(cls, x, clsH, dClsH));
  kernels.push({ name: 'adam', source: adamKernel(P, epsilon), groups: () => flatGroups(P) });
  kernels.push({ name: 'stats', source: m2StatsKernel({ sums, images, stats }), groups: () => [1, 1] });
  return { kernels, size: mem.size, P, x, noisy: null, eps, stats, D, Z, K: 1, gathered: null,
    condition: { xy: null, target: null, z: null }, semi: { y, xy, target, z, C } };
}

/**
 * x [n, D] = the training set's images (bytes, at binding 2, packed four to a u32) of the step's rows (their
 * indices in mem at `index`), each byte b read as lut[b]: the CPU's b · (1/255) in float32, exactly.
 */
export function gatherKernel(o: { index: number; lut: number; x: number; D: number }): string {
  return HEADER + /* wgsl */ `
@group(0) @binding(2) var<storage, read> images: array<u32>;
@compute @workgroup_size(${REDUCE})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let idx = ${FLAT_INDEX};
  if (idx >= step.n * ${o.D}u) { return; }
  let at = u32(mem[${o.index}u + idx / ${o.D}u]) * ${o.D}u + idx % ${o.D}u;
  let byte = (images[at / 4u] >> ((at % 4u) * 8u)) & 255u;
  mem[${o.x}u + idx] = mem[${o.lut}u + byte];
}`;
}

/** The grey levels of bytes as the CPU's batches hold them (data/batches.ts's fillBatch): b · (1/255) in float32. */
export function byteLevels(): Float32Array<ArrayBuffer> {
  const scale = 1 / 255;
  return Float32Array.from({ length: 256 }, (_, b) => b * scale);
}

/** Whether a model's batch is its images and noise only (no labels, conditions or corruption): a step can gather it. */
function plainBatches(vae: Vae): boolean {
  const c = vae.condition;
  return !vae.classifier && !vae.config.noise && c.encoderExtra === 0 && c.decoderExtra === 0 && c.outputDim === vae.inputDim;
}

/**
 * The step's kernels for this model and batch size, and the layout of `mem`. With `gather`, the step starts by
 * gathering its images from the training set at binding 2 (gatherKernel; only for plainBatches).
 */
export function stepKernels(vae: Vae, rows: number, epsilon: number, samples = 1, gather = false) {
  if (vae.classifier) return m2StepKernels(vae, rows, epsilon);
  if (gather && !plainBatches(vae)) throw new Error('only plain batches are gathered on the GPU');
  const P = flatLayout(vae.trainableVariables()).size;
  // The importance-weighted objective (--iw-train K) decodes K samples per example: the decoder has rows · K rows.
  const K = samples;
  const iw = K > 1;
  const decRows = rows * K;
  const { enc, mu, logvar, dec, scratch } = modelLayers(vae, P, iw ? 'nk' : 'n', { scratch: 4 * P, rows, decRows });
  const book = codebookOf(vae);
  const D = vae.inputDim;
  const Z = vae.config.zDim;
  // A cvae (condition.ts): the encoder reads [x, y] (E = the label's width, else 0), the decoder [z, c] (C = the
  // label's width or the observed pixels'), and the decoder models `out` values (the missing pixels of a completion).
  const { encoderExtra: E, decoderExtra: C, outputDim: out } = vae.condition;
  const mem = new Arena();
  mem.take(4 * P + scratch); // parameters, gradients, m, v; the split products' partial sums
  const x = mem.take(rows * D);
  // A denoising autoencoder encodes corrupted images (uploaded beside the clean ones) and is scored on the clean.
  const noisy = vae.config.noise ? mem.take(rows * D) : null;
  const xy = E > 0 ? mem.take(rows * (D + E)) : null;
  const input = xy ?? noisy ?? x;
  const target = out !== D ? mem.take(rows * out) : x;
  const eps = mem.take(decRows * Z);
  const encH = enc.map((l) => mem.take(rows * l.out));
  const muAt = mem.take(rows * Z);
  const lvAt = mem.take(rows * Z);
  // An autoencoder decodes its code itself (z is μ), and its KL rows stay 0. A cvae's z has its condition beside it
  // (uploaded with zeros where z goes).
  const zLd = Z + C;
  // A VQ-VAE decodes the quantised code (straight through), and keeps each slot's entry.
  const z = logvar || book ? mem.take(decRows * zLd) : muAt;
  const idx = book ? mem.take(rows * (Z / book.codeDim)) : -1;
  const decH = dec.map((l) => mem.take(decRows * l.out)); // the last is the logits
  const dEncH = enc.map((l) => mem.take(rows * l.out));
  const dmu = mem.take(rows * Z);
  const dz = logvar || book ? mem.take(decRows * zLd) : dmu;
  const dlv = mem.take(rows * Z);
  const dDecH = dec.map((l) => mem.take(decRows * l.out)); // the last is d logits
  const rec = mem.take(rows);
  const kl = mem.take(rows);
  const stats = mem.take(STATS * BATCH_SLOTS);
  // Importance-weighted: per decoder row −log p(x|z), log p(z) − log q(z|x) and the weight w̃ / n; per example the
  // loss (rec and kl above then hold the K-sample means).
  const iwAt = iw ? { rec: mem.take(decRows), lpq: mem.take(decRows), wt: mem.take(decRows), loss: mem.take(rows) } : null;
  const gathered = gather ? { index: mem.take(rows), lut: mem.take(256) } : null;

  const kernels: Kernel[] = [];
  if (gathered) kernels.push({ name: 'gather images', source: gatherKernel({ ...gathered, x, D }), groups: (n) => flatGroups(n * D) });
  // Forward.
  kernels.push(...forwardStack(enc, input, encH));
  const top = enc.length > 0 ? encH[enc.length - 1] : input;
  kernels.push(...mu.forward(top, muAt));
  if (logvar) kernels.push(...logvar.forward(top, lvAt));
  if (iwAt) {
    kernels.push({ name: 'reparameterize K samples', source: iwReparameterizeKernel({ mu: muAt, logvar: lvAt, eps, z, lpq: iwAt.lpq, zDim: Z, zLd,
      samples: K }), groups: (_, nk) => [Math.ceil(nk / 64), 1] });
  } else if (logvar) {
    kernels.push({ name: 'reparameterize', source: reparameterizeKernel({ mu: muAt, logvar: lvAt, eps, z, kl, zDim: Z, zLd }),
      groups: (n) => [Math.ceil(n / 64), 1] });
  } else if (book) {
    kernels.push({ name: 'quantize', source: vqQuantizeKernel({ ze: muAt, zq: z, idx, vq: kl, zDim: Z, book }), groups: (n) => [Math.ceil(n / 64), 1] });
  }
  kernels.push(...forwardStack(dec, z, decH));
  const logits = decH[dec.length - 1];
  const dLogits = dDecH[dec.length - 1];
  kernels.push(likelihoodKernel(vae, { logits, x: target, dlogits: dLogits, rec: iwAt?.rec ?? rec, dim: out, samples: K }, 'nk'));
  if (iwAt) {
    kernels.push({ name: 'importance weights', source: iwWeightsKernel({ rec: iwAt.rec, lpq: iwAt.lpq, dlogits: dLogits, dim: out, wt: iwAt.wt,
      loss: iwAt.loss, recEx: rec, klEx: kl, samples: K }), groups: (n) => [n, 1] });
  }
  kernels.push(...backwardStack(dec, z, decH, dDecH, dz));
  if (iwAt) {
    kernels.push({ name: 'reparameterize K samples dμ, dlog σ²', source: iwReparameterizeGradKernel({ logvar: lvAt, eps, z, dz, zLd, wt: iwAt.wt,
      dmu, dlogvar: dlv, zDim: Z, samples: K }), groups: (n) => [Math.ceil((n * Z) / 64), 1] });
  } else if (logvar) {
    kernels.push({ name: 'reparameterize dμ, dlog σ²', source: reparameterizeGradKernel({ mu: muAt, logvar: lvAt, eps, dz, dmu, dlogvar: dlv, zDim: Z, zLd }),
      groups: (n) => [Math.ceil((n * Z) / 64), 1] });
  } else if (book) {
    kernels.push({ name: 'codebook and commitment gradients', source: vqGradKernel({ ze: muAt, dzq: dz, dze: dmu, idx, zDim: Z, book, P }),
      groups: (n) => flatGroups(n * Z + book.codeDim * book.size) });
  }
  const sparsity = vae.config.sparsity;
  if (sparsity) {
    kernels.push({ name: 'sparsity', source: sparsityKernel({ code: muAt, dcode: dmu, kl, zDim: Z, ...sparsity }), groups: () => [1, 1] });
  }
  kernels.push(...mu.weightGrad(top, dmu));
  if (logvar) kernels.push(...logvar.weightGrad(top, dlv));
  if (enc.length > 0) {
    const last = enc.length - 1;
    if (logvar) kernels.push(...mu.inputGrad(dmu, dEncH[last]), ...logvar.inputGrad(dlv, dEncH[last], encH[last], true));
    else kernels.push(...mu.inputGrad(dmu, dEncH[last], encH[last]));
    kernels.push(...backwardStack(enc, input, encH, dEncH));
  }
  kernels.push({ name: 'adam', source: adamKernel(P, epsilon), groups: () => flatGroups(P) });
  kernels.push({ name: 'stats', source: statsKernel({ rec, kl, stats, loss: iwAt?.loss }), groups: () => [1, 1] });
  return { kernels, size: mem.size, P, x, noisy, eps, stats, D, Z, K, gathered,
    condition: { xy: xy === null ? null : { off: xy, E }, target: target === x ? null : target, z: C > 0 ? { off: z, C } : null },
    semi: null as { y: number; xy: number; target: number; z: number; C: number } | null };
}

export const STEP_BYTES = 64;
/** Numbers of a step's statistics per batch slot (the loss, then a family's sums: M2 has 6). */
const STATS = 8;

/**
 * The values of the kernels' `step` uniform (HEADER's struct Step): 1/n is the loss's normaliser; 1 − β1 and
 * 1 − β2 are computed here in double precision (in float32, 1 − 0.999 is off by 1.3e-5).
 */
export function stepUniform(v: { n: number; beta: number; stepSize: number; invCorr2: number; slot: number; beta1: number; beta2: number;
  nk?: number; semi?: { weights: { unlabelled: number; labelled: number; classification: number }; unlabelled: number } }): ArrayBuffer {
  const bytes = new ArrayBuffer(STEP_BYTES);
  new Uint32Array(bytes, 0, 1)[0] = v.n;
  new Float32Array(bytes, 4, 4).set([v.beta, 1 / v.n, v.stepSize, v.invCorr2]);
  new Uint32Array(bytes, 20, 1)[0] = v.slot;
  new Float32Array(bytes, 24, 4).set([v.beta1, v.beta2, 1 - v.beta1, 1 - v.beta2]);
  new Uint32Array(bytes, 40, 1)[0] = v.nk ?? v.n;
  if (v.semi) {
    const { unlabelled, labelled, classification } = v.semi.weights;
    new Float32Array(bytes, 48, 3).set([unlabelled, labelled, classification]);
    new Uint32Array(bytes, 60, 1)[0] = v.semi.unlabelled;
  }
  return bytes;
}

class WebGpuEngine implements Engine {
  readonly threads = 1;
  private lost: string | null = null;
  /** The batch slots, in this process's memory: a step uploads its images and noise from them. */
  private readonly slots: { x: Float32Array<ArrayBuffer>; y: Float32Array<ArrayBuffer>; eps: Float32Array<ArrayBuffer>; noisy: Float32Array<ArrayBuffer>;
    imageIndex?: Float32Array<ArrayBuffer> }[];

  constructor(private readonly gpu: Gpu, private readonly layout: ReturnType<typeof stepKernels>,
    private readonly pipelines: GPUComputePipeline[], private readonly bindGroup: GPUBindGroup, private readonly mem: GPUBuffer,
    private readonly uniform: GPUBuffer, private readonly readbacks: GPUBuffer[], private readonly setup: EngineSetup,
    private readonly data: GPUBuffer) {
    const { rows, labelDim } = setup.sizes;
    this.slots = Array.from({ length: BATCH_SLOTS }, () => ({ x: new Float32Array(rows * layout.D), y: new Float32Array(rows * labelDim),
      eps: new Float32Array(rows * setup.sizes.samples * layout.Z), noisy: new Float32Array(layout.noisy === null ? 0 : rows * layout.D),
      imageIndex: layout.gathered ? new Float32Array(rows) : undefined }));
    const { xy, target, z } = layout.condition;
    const semi = layout.semi;
    this.semiStaging = semi ? { xy: new Float32Array(rows * semi.C * (layout.D + semi.C)), target: new Float32Array(rows * semi.C * layout.D),
      z: new Float32Array(rows * semi.C * (layout.Z + semi.C)) } : null;
    this.staging = { xy: new Float32Array(xy ? rows * (layout.D + xy.E) : 0), z: new Float32Array(z ? rows * layout.K * (layout.Z + z.C) : 0),
      target: new Float32Array(target === null ? 0 : rows * setup.vae.condition.outputDim) };
    this.profiler = gpu.info.timestamps ? new KernelProfiler(gpu.device, layout.kernels.map((k) => k.name), BATCH_SLOTS) : null;
    void gpu.device.lost.then((info) => { this.lost = `the GPU device was lost (${info.reason}: ${info.message})`; });
    gpu.device.onuncapturederror = (e) => { this.lost ??= `GPU error: ${e.error.message.split('\n')[0]}`; };
  }

  /** A cvae's inputs as its kernels read them: [x, y] for the encoder, [0, c] for the decoder, x's missing pixels. */
  private readonly staging: { xy: Float32Array<ArrayBuffer>; z: Float32Array<ArrayBuffer>; target: Float32Array<ArrayBuffer> };

  /** M2's inputs laid out as its kernels read them (m2StepKernels): [x, y] and [0, y] per row, each row's image. */
  private readonly semiStaging: { xy: Float32Array<ArrayBuffer>; target: Float32Array<ArrayBuffer>; z: Float32Array<ArrayBuffer> } | null;

  /**
   * Uploads an M2 batch: `unlabelled` images each with every label, then the labelled ones with theirs (the
   * slot's x and y hold the unlabelled images first; its noise has the rows in this order already).
   */
  private uploadSemi(source: { x: Float32Array<ArrayBuffer>; y: Float32Array<ArrayBuffer>; eps: Float32Array<ArrayBuffer> }, unlabelled: number,
    images: number): number {
    const { D, Z, semi } = this.layout;
    const staging = this.semiStaging!;
    const { C } = semi!;
    const rows = unlabelled * C + (images - unlabelled);
    for (let r = 0; r < rows; r++) {
      const image = r < unlabelled * C ? Math.floor(r / C) : r - unlabelled * C + unlabelled;
      const pixels = source.x.subarray(image * D, (image + 1) * D);
      const label = staging.xy.subarray(r * (D + C) + D, (r + 1) * (D + C));
      if (r < unlabelled * C) {
        label.fill(0);
        label[r % C] = 1;
      } else {
        label.set(source.y.subarray(image * C, (image + 1) * C));
      }
      staging.xy.set(pixels, r * (D + C));
      staging.target.set(pixels, r * D);
      staging.z.set(label, r * (Z + C) + Z);
    }
    const queue = this.gpu.device.queue;
    queue.writeBuffer(this.mem, 4 * this.layout.x, source.x, 0, images * D);
    queue.writeBuffer(this.mem, 4 * semi!.y, source.y, 0, images * C);
    queue.writeBuffer(this.mem, 4 * semi!.xy, staging.xy, 0, rows * (D + C));
    queue.writeBuffer(this.mem, 4 * semi!.target, staging.target, 0, rows * D);
    queue.writeBuffer(this.mem, 4 * semi!.z, staging.z, 0, rows * (Z + C));
    queue.writeBuffer(this.mem, 4 * this.layout.eps, source.eps, 0, rows * Z);
    return rows;
  }

  /** Uploads a cvae's inputs for the n rows of `source` (see stepKernels). */
  private uploadCondition(source: BatchSlot, n: number): void {
    const { D, Z, condition } = this.layout;
    const layout = this.setup.vae.condition;
    const queue = this.gpu.device.queue;
    const rowsOf = (width: number, fill: (r: number, row: Float32Array) => void, buffer: Float32Array<ArrayBuffer>, off: number, count = n) => {
      for (let r = 0; r < count; r++) fill(r, buffer.subarray(r * width, (r + 1) * width));
      queue.writeBuffer(this.mem, 4 * off, buffer, 0, count * width);
    };
    const image = (r: number) => source.x.subarray(r * D, (r + 1) * D);
    if (condition.xy) {
      const { E } = condition.xy;
      rowsOf(D + E, (r, row) => { row.set(image(r)); row.set(source.y.subarray(r * E, (r + 1) * E), D); }, this.staging.xy, condition.xy.off);
    }
    if (condition.z) {
      const { C } = condition.z;
      const K = this.layout.K; // the decoder's rows: K per example
      rowsOf(Z + C, (rk, row) => writeDecoderCondition(layout, source.x, D, source.y, Math.floor(rk / K), row.subarray(Z)),
        this.staging.z, condition.z.off, n * K);
    }
    if (condition.target !== null) {
      rowsOf(layout.outputDim, (r, row) => writeDecoderTarget(layout, source.x, D, r, row), this.staging.target, condition.target);
    }
  }

  private statsBySlot: number[][] = Array.from({ length: BATCH_SLOTS }, () => []);
  /** VAE_GPU_PROFILE=1 (and a device with timestamp-query): each kernel timed on the GPU. */
  private readonly profiler: KernelProfiler | null;

  get description(): string {
    return `webgpu (${this.gpu.info.name}), ${this.dispatches} dispatches per step${this.layout.gathered ? ', the training images on the GPU' : ''}`;
  }

  /** Compute dispatches a training step records. */
  get dispatches(): number {
    return this.pipelines.length;
  }

  slot(i: number): BatchSlot {
    return this.slots[i];
  }

  async step(task: ShardTask, t: number): Promise<void> {
    if (this.lost) throw new VaeError(this.lost);
    if (task.samples !== this.layout.K || !task.semi !== !this.layout.semi) {
      throw new Error(`the webgpu engine was made for ${this.layout.semi ? 'M2 batches' : `plain batches, ${this.layout.K} noise rows each`}`);
    }
    const { device } = this.gpu;
    const { slot } = task;
    const { D, Z, x, noisy, eps, stats } = this.layout;
    const { beta1, beta2, lr } = this.setup.adamConfig;
    const source = this.slots[slot];
    // The kernels' rows n and nk: a batch's images and their K samples each; M2: its rows (every unlabelled image
    // with every label, then the labelled ones) and its images.
    let n = task.n;
    let nk = n * this.layout.K;
    if (task.semi) {
      nk = task.n;
      n = this.uploadSemi(source, task.semi.unlabelled, task.n);
    } else {
      if (this.layout.gathered) device.queue.writeBuffer(this.mem, 4 * this.layout.gathered.index, source.imageIndex!, 0, n);
      else device.queue.writeBuffer(this.mem, 4 * x, source.x, 0, n * D);
      if (noisy !== null) device.queue.writeBuffer(this.mem, 4 * noisy, source.noisy, 0, n * D);
      device.queue.writeBuffer(this.mem, 4 * eps, source.eps, 0, nk * Z);
      this.uploadCondition(source, n);
    }
    device.queue.writeBuffer(this.uniform, 0, stepUniform({ n, beta: task.beta, stepSize: lr / (1 - Math.pow(beta1, t)),
      invCorr2: 1 / (1 - Math.pow(beta2, t)), slot, beta1, beta2, nk, semi: task.semi }));
    const encoder = device.createCommandEncoder();
    const program = { pipelines: this.pipelines, bindGroup: this.bindGroup };
    if (this.profiler) this.profiler.record(encoder, program, this.layout.kernels.map((k) => k.groups(n, nk)), slot);
    else recordKernels(encoder, program, this.layout.kernels, n, nk);
    const readback = this.readbacks[slot];
    encoder.copyBufferToBuffer(this.mem, 4 * (stats + STATS * slot), readback, 0, 4 * STATS);
    device.queue.submit([encoder.finish()]);
    try {
      await dawnAwait(readback.mapAsync(GPUMapMode.READ));
    } catch (e) {
      throw new VaeError(this.lost ?? `the GPU step failed: ${errorMessage(e).split('\n')[0]}`);
    }
    this.statsBySlot[slot] = Array.from(new Float32Array(readback.getMappedRange(), 0, 1 + familyOf(this.setup.vae.config).stats.length));
    readback.unmap();
    if (this.profiler) await this.profiler.collect(slot, task.n);
    if (this.lost) throw new VaeError(this.lost);
  }

  stats(slot: number): number[] {
    return this.statsBySlot[slot];
  }

  async state(): Promise<{ params: Float32Array; adam: AdamState }> {
    if (this.lost) throw new VaeError(this.lost);
    const { device } = this.gpu;
    const P = this.layout.P;
    const out = device.createBuffer({ size: 12 * P, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const encoder = device.createCommandEncoder();
    encoder.copyBufferToBuffer(this.mem, 0, out, 0, 4 * P);
    encoder.copyBufferToBuffer(this.mem, 8 * P, out, 4 * P, 8 * P);
    device.queue.submit([encoder.finish()]);
    try {
      await dawnAwait(out.mapAsync(GPUMapMode.READ));
    } catch (e) {
      throw new VaeError(this.lost ?? `reading the parameters back from the GPU failed: ${errorMessage(e).split('\n')[0]}`);
    }
    const all = new Float32Array(out.getMappedRange().slice(0));
    out.unmap();
    out.destroy();
    if (this.lost) throw new VaeError(this.lost);
    return { params: all.slice(0, P), adam: { m: all.slice(P, 2 * P), v: all.slice(2 * P) } };
  }

  async close(): Promise<void> {
    if (this.profiler) {
      process.stderr.write(this.profiler.report() + '\n');
      this.profiler.destroy();
    }
    for (const b of [this.mem, this.uniform, this.data, ...this.readbacks]) b.destroy();
  }
}

/**
 * One storage buffer of `floats` values, the step uniform, and the pipelines of `kernels` bound to them. A buffer
 * larger than the GPU binds is a one-line error ending with `hint`.
 */
export async function gpuProgram(gpu: Gpu, kernels: Kernel[], floats: number, what: string, hint: string, images?: Uint8Array) {
  const { device } = gpu;
  const bytes = 4 * floats;
  const mib = (b: number) => `${Math.ceil(b / 2 ** 20)} MiB`;
  if (bytes > device.limits.maxStorageBufferBindingSize) {
    throw new VaeError(`the webgpu engine keeps ${what} in one ${mib(bytes)} buffer, and this GPU binds ` +
      `at most ${mib(device.limits.maxStorageBufferBindingSize)}: ${hint}`);
  }
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  const mem = device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  const uniform = device.createBuffer({ size: STEP_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  // Binding 2: the training images (gatherKernel), bytes packed four to a u32; 4 bytes where there are none.
  const data = device.createBuffer({ size: Math.max(4, 4 * Math.ceil((images?.length ?? 0) / 4)), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  if (images) {
    const padded = images.length % 4 === 0 ? images : Uint8Array.from({ length: 4 * Math.ceil(images.length / 4) }, (_, i) => images[i] ?? 0);
    device.queue.writeBuffer(data, 0, padded as Uint8Array<ArrayBuffer>);
  }
  const bindGroupLayout = device.createBindGroupLayout({ entries: [
    { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
    { binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } },
    { binding: 2, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
  ] });
  const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [bindGroupLayout] });
  const pipelines = kernels.map((k) => device.createComputePipeline({
    label: k.name, layout: pipelineLayout, compute: { module: device.createShaderModule({ label: k.name, code: k.source }), entryPoint: 'main' },
  }));
  const bindGroup = device.createBindGroup({ layout: bindGroupLayout, entries: [
    { binding: 0, resource: { buffer: mem } }, { binding: 1, resource: { buffer: uniform } }, { binding: 2, resource: { buffer: data } }] });
  const invalid = await dawnAwait(device.popErrorScope());
  const memory = await dawnAwait(device.popErrorScope());
  if (memory) throw new VaeError(`the GPU has not enough memory for ${what} (${mib(bytes)}): ${memory.message}`);
  if (invalid) throw new Error(`the webgpu engine's kernels: ${invalid.message}`);
  return { mem, uniform, pipelines, bindGroup, data };
}

/** Records `kernels` (a gpuProgram's) into one compute pass of `encoder`, for n rows (nk decoder rows). */
export function recordKernels(encoder: GPUCommandEncoder, program: { pipelines: GPUComputePipeline[]; bindGroup: GPUBindGroup },
  kernels: Kernel[], n: number, nk: number): void {
  const pass = encoder.beginComputePass();
  pass.setBindGroup(0, program.bindGroup);
  kernels.forEach((k, i) => {
    pass.setPipeline(program.pipelines[i]);
    pass.dispatchWorkgroups(...k.groups(n, nk));
  });
  pass.end();
}

/** The model's parameters (flat, in the order of its trainable variables), written at the start of `mem`. */
export function uploadParams(gpu: Gpu, vae: Vae, mem: GPUBuffer): void {
  const variables = vae.trainableVariables();
  const layout = flatLayout(variables);
  const params = new Float32Array(layout.size);
  readVariables(variables, layout, params);
  gpu.device.queue.writeBuffer(mem, 0, params);
}

export async function createWebGpuEngine(setup: EngineSetup): Promise<Engine> {
  const gpu = await openGpu();
  const { device } = gpu;
  const { vae } = setup;
  // The training set stays on the GPU where the batches are its images as they are and it fits in one binding.
  const images = setup.images;
  const bytes = images ? 4 * Math.ceil(images.images.length / 4) : 0;
  const gather = images !== undefined && plainBatches(vae) && bytes <= Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  const layout = stepKernels(vae, setup.sizes.rows, setup.adamConfig.epsilon, setup.sizes.samples, gather);
  const { mem, uniform, pipelines, bindGroup, data } = await gpuProgram(gpu, layout.kernels, layout.size,
    `this model and a batch of ${setup.sizes.rows}`, 'use a smaller --batch-size', gather ? images!.images : undefined);
  if (layout.gathered) device.queue.writeBuffer(mem, 4 * layout.gathered.lut, byteLevels());
  const readbacks = Array.from({ length: BATCH_SLOTS }, () =>
    device.createBuffer({ size: 4 * STATS, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }));
  // Parameters and Adam's moments as training left them.
  uploadParams(gpu, vae, mem);
  device.queue.writeBuffer(mem, 8 * layout.P, new Float32Array(setup.adam.m)); // copies: the moments may be views of shared memory
  device.queue.writeBuffer(mem, 12 * layout.P, new Float32Array(setup.adam.v));
  return new WebGpuEngine(gpu, layout, pipelines, bindGroup, mem, uniform, readbacks, setup, data);
}
