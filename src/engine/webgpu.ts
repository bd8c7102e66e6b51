/**
 * The WebGPU engine: a whole training step of the VAE (Gaussian q(z|x), Bernoulli p(x|z), MLP) as a few fused
 * WGSL kernels recorded into one command encoder, with the parameters, gradients and Adam's moments resident on
 * the GPU. tfjs-webgpu pays ~0.4 ms for every tensor operation (a step is ~150 of them); a dispatch here costs
 * Dawn 6–9 µs, and a step is about 20 dispatches (`dispatches`).
 *
 * All of the engine's numbers live in one storage buffer (`mem`), at offsets fixed when the engine is made and
 * written into each kernel's source: parameters, gradients, m and v in the flat layout of the CPU engine
 * (model/flat.ts), then the batch, the activations, their gradients and the statistics. The batch (images and
 * noise, drawn on the CPU from the same streams as ever) is uploaded every step; a step's statistics come back
 * through a small mapped buffer per batch slot. The arithmetic is the CPU engine's in float32 (sums in another
 * order, exp and log of the GPU): a step agrees with it to ~1e-5 relative (test/engine/webgpu.test.ts).
 *
 * Kernels (for hidden layers [H]): forward dense layers (bias and ReLU fused), the reparameterised sample with
 * its KL, the Bernoulli NLL with its gradient; backward: each layer's weight and bias gradients in one product
 * (Xᵀ·dY with a row of ones), the input gradients with the ReLU mask fused, the reparameterisation's gradient
 * with the KL's closed form; one Adam pass over all parameters; the step's sums.
 */
import { VaeError, errorMessage } from '../errors';
import { Gpu, dawnAwait, openGpu } from '../gpu';
import type { ShardTask } from '../model/families/family';
import { flatLayout, readVariables } from '../model/flat';
import type { Vae } from '../model/vae';
import type { AdamState } from './adam';
import type { BatchSlot, Engine, EngineSetup } from './engine';
import { BATCH_SLOTS } from './shards';

const TILE = 16;
const REDUCE = 256;
/** Workgroups per dimension of a dispatch (WebGPU's default limit). */
const MAX_GROUPS = 65535;

/** A dense layer in the flat parameters: its kernel [in, out] at `off`, its bias [out] right after it. */
interface Dense {
  off: number;
  in: number;
  out: number;
}

/** Why the WebGPU engine cannot train this model, or null when it can. */
export function webGpuUnsupported(vae: Vae, objective: string | undefined, samples: number): string | null {
  const m = vae.config;
  if (objective !== 'elbo') return `the ${m.family} model's objective`;
  if (m.arch !== 'mlp') return `--arch ${m.arch}`;
  if (m.likelihood !== 'bernoulli') return `a ${m.likelihood} p(x|z)`;
  if (m.condition || m.noise || vae.pointCode || Object.keys(vae.extras).length > 0) return `the ${m.family} model's inputs`;
  if (samples > 1) return '--iw-train';
  return null;
}

/** The dense layers of the encoder (hidden, then μ and log σ²) and of the decoder, where the flat parameters hold them. */
function denseLayers(vae: Vae): { enc: Dense[]; mu: Dense; logvar: Dense; dec: Dense[] } {
  const variables = vae.trainableVariables();
  const layout = flatLayout(variables);
  const weights = [...vae.encoder.trainableWeights, ...vae.decoder.trainableWeights];
  if (weights.length !== variables.length) throw new Error('the webgpu engine trains an encoder and a decoder only');
  const entry = new Map(weights.map((w, i) => [w.originalName, layout.entries[i]]));
  const dense = (name: string): Dense => {
    const kernel = entry.get(`${name}/kernel`);
    const bias = entry.get(`${name}/bias`);
    if (!kernel || !bias || bias.offset !== kernel.offset + kernel.size) throw new Error(`layer ${name} is not where the webgpu engine expects it`);
    return { off: kernel.offset, in: kernel.shape[0], out: kernel.shape[1] };
  };
  const hidden = vae.config.hidden;
  return {
    enc: hidden.map((_, i) => dense(`enc_hidden_${i + 1}`)),
    mu: dense('mu'),
    logvar: dense('logvar'),
    dec: [...hidden.map((_, i) => dense(`dec_hidden_${i + 1}`)), dense('logits')],
  };
}

/** The step's values every kernel may read. */
const HEADER = /* wgsl */ `
struct Step { n: u32, beta: f32, inv_norm: f32, step_size: f32, inv_corr2: f32, slot: u32, b1: f32, b2: f32, a1: f32, a2: f32, pad0: f32, pad1: f32 }
@group(0) @binding(0) var<storage, read_write> mem: array<f32>;
@group(0) @binding(1) var<uniform> step: Step;
`;

/** A dimension of a product: fixed, or the batch's rows (step.n). */
type Dim = number | 'n';
const dim = (d: Dim) => (d === 'n' ? 'step.n' : `${d}u`);

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
  mask?: { off: number; ld: number };
  accumulate?: boolean;
  /** The last row of A (row M − 1) is all ones: C's last row is then the column sums of B (a bias gradient). */
  onesRow?: boolean;
}

/** A tiled product: each 16x16 workgroup computes a 16x16 tile of C, through 16x16 tiles of A and B in workgroup memory. */
export function productKernel(p: ProductSpec): string {
  const at = (o: Operand, r: string, c: string) => `mem[${o.off}u + ${o.trans ? `${c} * ${o.ld}u + ${r}` : `${r} * ${o.ld}u + ${c}`}]`;
  const lastRow = p.M === 'n' ? 'step.n - 1u' : `${(p.M as number) - 1}u`;
  return HEADER + /* wgsl */ `
var<workgroup> ta: array<f32, ${TILE * TILE}>;
var<workgroup> tb: array<f32, ${TILE * TILE}>;
fn a_at(i: u32, k: u32) -> f32 {
  ${p.onesRow ? `if (i == ${lastRow}) { return 1.0; }` : ''}
  return ${at(p.a, 'i', 'k')};
}
fn b_at(k: u32, j: u32) -> f32 { return ${at(p.b, 'k', 'j')}; }
@compute @workgroup_size(${TILE}, ${TILE})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let M = ${dim(p.M)};
  let K = ${dim(p.K)};
  let N = ${p.N}u;
  let i = wg.y * ${TILE}u + l.y;
  let j = wg.x * ${TILE}u + l.x;
  var acc = 0.0;
  for (var k0 = 0u; k0 < K; k0 += ${TILE}u) {
    var av = 0.0;
    if (i < M && k0 + l.x < K) { av = a_at(i, k0 + l.x); }
    ta[l.y * ${TILE}u + l.x] = av;
    var bv = 0.0;
    if (k0 + l.y < K && j < N) { bv = b_at(k0 + l.y, j); }
    tb[l.y * ${TILE}u + l.x] = bv;
    workgroupBarrier();
    for (var kk = 0u; kk < ${TILE}u; kk++) { acc = fma(ta[l.y * ${TILE}u + kk], tb[kk * ${TILE}u + l.x], acc); }
    workgroupBarrier();
  }
  if (i < M && j < N) {
    let o = ${p.c.off}u + i * ${p.c.ld}u + j;
    var y = acc;
    ${p.accumulate ? 'y = y + mem[o];' : ''}
    ${p.bias !== undefined ? `y = y + mem[${p.bias}u + j];` : ''}
    ${p.relu ? 'y = max(y, 0.0);' : ''}
    ${p.mask ? `if (mem[${p.mask.off}u + i * ${p.mask.ld}u + j] <= 0.0) { y = 0.0; }` : ''}
    mem[o] = y;
  }
}`;
}

/** Workgroups of a product for a batch of n rows. */
export function productGroups(p: ProductSpec, n: number): [number, number] {
  const rows = p.M === 'n' ? n : p.M;
  return [Math.ceil(p.N / TILE), Math.ceil(rows / TILE)];
}

/**
 * −log p(x|z) of a Bernoulli decoder from its logits l, per row, and its gradient (σ(l) − x) / n:
 * one workgroup per row; rec[r] = Σ_j max(l, 0) − x·l + log(1 + e^−|l|).
 */
export function bernoulliKernel(o: { logits: number; x: number; dlogits: number; rec: number; dim: number }): string {
  return HEADER + /* wgsl */ `
var<workgroup> part: array<f32, ${REDUCE}>;
@compute @workgroup_size(${REDUCE})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let r = wg.x;
  var s = 0.0;
  for (var j = l.x; j < ${o.dim}u; j += ${REDUCE}u) {
    let lg = mem[${o.logits}u + r * ${o.dim}u + j];
    let xv = mem[${o.x}u + r * ${o.dim}u + j];
    s += max(lg, 0.0) - xv * lg + log(1.0 + exp(-abs(lg)));
    mem[${o.dlogits}u + r * ${o.dim}u + j] = (1.0 / (1.0 + exp(-lg)) - xv) * step.inv_norm;
  }
  part[l.x] = s;
  workgroupBarrier();
  for (var w = ${REDUCE / 2}u; w > 0u; w >>= 1u) {
    if (l.x < w) { part[l.x] += part[l.x + w]; }
    workgroupBarrier();
  }
  if (l.x == 0u) { mem[${o.rec}u + r] = part[0]; }
}`;
}

/** z = μ + exp(½ log σ²) ⊙ ε and KL(q || N(0, I)) = −½ Σ_j (1 + log σ²_j − μ_j² − σ²_j), one thread per row. */
export function reparameterizeKernel(o: { mu: number; logvar: number; eps: number; z: number; kl: number; zDim: number }): string {
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
    mem[${o.z}u + i] = mu + exp(0.5 * lv) * mem[${o.eps}u + i];
    kl += 1.0 + lv - mu * mu - exp(lv);
  }
  mem[${o.kl}u + r] = -0.5 * kl;
}`;
}

/**
 * The gradients of μ and log σ² from the sample's gradient dz and β·KL / n:
 *   dμ = dz + β μ / n,   d log σ² = dz ⊙ ε ⊙ ½ exp(½ log σ²) + β ½ (exp(log σ²) − 1) / n.
 */
export function reparameterizeGradKernel(o: { mu: number; logvar: number; eps: number; dz: number; dmu: number; dlogvar: number; zDim: number }): string {
  return HEADER + /* wgsl */ `
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x;
  if (i >= step.n * ${o.zDim}u) { return; }
  let mu = mem[${o.mu}u + i];
  let lv = mem[${o.logvar}u + i];
  let dz = mem[${o.dz}u + i];
  let kl = step.beta * step.inv_norm;
  mem[${o.dmu}u + i] = dz + kl * mu;
  mem[${o.dlogvar}u + i] = dz * mem[${o.eps}u + i] * 0.5 * exp(0.5 * lv) + kl * 0.5 * (exp(lv) - 1.0);
}`;
}

/** Adam (engine/adam.ts) over the P parameters: params at 0, gradients at P, m at 2P, v at 3P. */
export function adamKernel(P: number, epsilon: number): string {
  return HEADER + /* wgsl */ `
@compute @workgroup_size(${REDUCE})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let i = (wg.y * ${MAX_GROUPS}u + wg.x) * ${REDUCE}u + l.x;
  if (i >= ${P}u) { return; }
  let g = mem[${P}u + i];
  let m = step.b1 * mem[${2 * P}u + i] + step.a1 * g;
  let v = step.b2 * mem[${3 * P}u + i] + step.a2 * g * g;
  mem[${2 * P}u + i] = m;
  mem[${3 * P}u + i] = v;
  mem[i] = mem[i] - step.step_size * m / (sqrt(v * step.inv_corr2) + ${epsilon.toExponential()});
}`;
}

/** The step's statistics into stats[slot]: the loss (Σ rec + β Σ KL) / n, Σ rec, Σ KL. */
export function statsKernel(o: { rec: number; kl: number; stats: number }): string {
  return HEADER + /* wgsl */ `
var<workgroup> rs: array<f32, ${REDUCE}>;
var<workgroup> ks: array<f32, ${REDUCE}>;
@compute @workgroup_size(${REDUCE})
fn main(@builtin(local_invocation_id) l: vec3u) {
  var r = 0.0;
  var k = 0.0;
  for (var i = l.x; i < step.n; i += ${REDUCE}u) { r += mem[${o.rec}u + i]; k += mem[${o.kl}u + i]; }
  rs[l.x] = r;
  ks[l.x] = k;
  workgroupBarrier();
  for (var w = ${REDUCE / 2}u; w > 0u; w >>= 1u) {
    if (l.x < w) { rs[l.x] += rs[l.x + w]; ks[l.x] += ks[l.x + w]; }
    workgroupBarrier();
  }
  if (l.x == 0u) {
    let at = ${o.stats}u + step.slot * 4u;
    mem[at] = (rs[0] + step.beta * ks[0]) * step.inv_norm;
    mem[at + 1u] = rs[0];
    mem[at + 2u] = ks[0];
  }
}`;
}

/** A kernel of the step, and its workgroups for a batch of n rows. */
interface Kernel {
  name: string;
  source: string;
  groups: (n: number) => [number, number];
}

/** Offsets in `mem`, allocated one after the other. */
class Arena {
  size = 0;
  take(floats: number): number {
    const at = this.size;
    this.size += floats;
    return at;
  }
}

/** The step's kernels for this model and batch size, and the layout of `mem`. */
export function stepKernels(vae: Vae, rows: number, epsilon: number) {
  const { enc, mu, logvar, dec } = denseLayers(vae);
  const P = flatLayout(vae.trainableVariables()).size;
  const D = vae.inputDim;
  const Z = vae.config.zDim;
  const mem = new Arena();
  mem.take(4 * P); // parameters, gradients, m, v
  const x = mem.take(rows * D);
  const eps = mem.take(rows * Z);
  const encH = enc.map((l) => mem.take(rows * l.out));
  const muAt = mem.take(rows * Z);
  const lvAt = mem.take(rows * Z);
  const z = mem.take(rows * Z);
  const decH = dec.map((l) => mem.take(rows * l.out)); // the last is the logits
  const dEncH = enc.map((l) => mem.take(rows * l.out));
  const dz = mem.take(rows * Z);
  const dmu = mem.take(rows * Z);
  const dlv = mem.take(rows * Z);
  const dDecH = dec.map((l) => mem.take(rows * l.out)); // the last is d logits
  const rec = mem.take(rows);
  const kl = mem.take(rows);
  const stats = mem.take(4 * BATCH_SLOTS);

  const kernels: Kernel[] = [];
  const product = (name: string, p: ProductSpec) => kernels.push({ name, source: productKernel(p), groups: (n) => productGroups(p, n) });
  /** Y = act(X · W + b) for X [n, in] at `input`. */
  const forward = (name: string, l: Dense, input: number, out: number, relu: boolean) =>
    product(name, { M: 'n', N: l.out, K: l.in, a: { off: input, ld: l.in }, b: { off: l.off, ld: l.out }, c: { off: out, ld: l.out },
      bias: l.off + l.in * l.out, relu });
  /** dW and db of a layer at once: [Xᵀ; 1ᵀ] · dY, written over the kernel's and the bias's gradients (contiguous). */
  const weightGrad = (name: string, l: Dense, input: number, dOut: number) =>
    product(name, { M: l.in + 1, N: l.out, K: 'n', a: { off: input, ld: l.in, trans: true }, b: { off: dOut, ld: l.out },
      c: { off: P + l.off, ld: l.out }, onesRow: true });
  /** dX = dY · Wᵀ (⊙ [X > 0] for a ReLU layer's input), or added to dX. */
  const inputGrad = (name: string, l: Dense, dOut: number, dIn: number, mask?: number, accumulate = false) =>
    product(name, { M: 'n', N: l.in, K: l.out, a: { off: dOut, ld: l.out }, b: { off: l.off, ld: l.out, trans: true }, c: { off: dIn, ld: l.in },
      mask: mask === undefined ? undefined : { off: mask, ld: l.in }, accumulate });

  // Forward.
  enc.forEach((l, i) => forward(`encoder layer ${i + 1}`, l, i === 0 ? x : encH[i - 1], encH[i], true));
  const top = enc.length > 0 ? encH[enc.length - 1] : x;
  forward('mu', mu, top, muAt, false);
  forward('log σ²', logvar, top, lvAt, false);
  kernels.push({ name: 'reparameterize', source: reparameterizeKernel({ mu: muAt, logvar: lvAt, eps, z, kl, zDim: Z }),
    groups: (n) => [Math.ceil(n / 64), 1] });
  dec.forEach((l, i) => forward(`decoder layer ${i + 1}`, l, i === 0 ? z : decH[i - 1], decH[i], i < dec.length - 1));
  const logits = decH[dec.length - 1];
  const dLogits = dDecH[dec.length - 1];
  kernels.push({ name: 'bernoulli', source: bernoulliKernel({ logits, x, dlogits: dLogits, rec, dim: D }), groups: (n) => [n, 1] });
  // Backward through the decoder.
  for (let i = dec.length - 1; i >= 0; i--) {
    const input = i === 0 ? z : decH[i - 1];
    weightGrad(`decoder layer ${i + 1} dW`, dec[i], input, dDecH[i]);
    inputGrad(`decoder layer ${i + 1} dX`, dec[i], dDecH[i], i === 0 ? dz : dDecH[i - 1], i === 0 ? undefined : decH[i - 1]);
  }
  kernels.push({ name: 'reparameterize dμ, dlog σ²', source: reparameterizeGradKernel({ mu: muAt, logvar: lvAt, eps, dz, dmu, dlogvar: dlv, zDim: Z }),
    groups: (n) => [Math.ceil((n * Z) / 64), 1] });
  weightGrad('mu dW', mu, top, dmu);
  weightGrad('log σ² dW', logvar, top, dlv);
  if (enc.length > 0) {
    const last = enc.length - 1;
    inputGrad('mu dX', mu, dmu, dEncH[last]);
    inputGrad('log σ² dX', logvar, dlv, dEncH[last], encH[last], true);
    for (let i = last; i >= 0; i--) {
      weightGrad(`encoder layer ${i + 1} dW`, enc[i], i === 0 ? x : encH[i - 1], dEncH[i]);
      if (i > 0) inputGrad(`encoder layer ${i + 1} dX`, enc[i], dEncH[i], dEncH[i - 1], encH[i - 1]);
    }
  }
  const adamGroups = Math.ceil(P / REDUCE);
  kernels.push({ name: 'adam', source: adamKernel(P, epsilon),
    groups: () => [Math.min(adamGroups, MAX_GROUPS), Math.ceil(adamGroups / MAX_GROUPS)] });
  kernels.push({ name: 'stats', source: statsKernel({ rec, kl, stats }), groups: () => [1, 1] });
  return { kernels, size: mem.size, P, x, eps, stats, D, Z };
}

const STEP_BYTES = 48;

/**
 * The values of the kernels' `step` uniform (HEADER's struct Step): 1/n is the loss's normaliser; 1 − β1 and
 * 1 − β2 are computed here in double precision (in float32, 1 − 0.999 is off by 1.3e-5).
 */
export function stepUniform(v: { n: number; beta: number; stepSize: number; invCorr2: number; slot: number; beta1: number; beta2: number }): ArrayBuffer {
  const bytes = new ArrayBuffer(STEP_BYTES);
  new Uint32Array(bytes, 0, 1)[0] = v.n;
  new Float32Array(bytes, 4, 4).set([v.beta, 1 / v.n, v.stepSize, v.invCorr2]);
  new Uint32Array(bytes, 20, 1)[0] = v.slot;
  new Float32Array(bytes, 24, 4).set([v.beta1, v.beta2, 1 - v.beta1, 1 - v.beta2]);
  return bytes;
}

class WebGpuEngine implements Engine {
  readonly threads = 1;
  private lost: string | null = null;
  /** The batch slots, in this process's memory: a step uploads its images and noise from them. */
  private readonly slots: { x: Float32Array<ArrayBuffer>; y: Float32Array<ArrayBuffer>; eps: Float32Array<ArrayBuffer>; noisy: Float32Array<ArrayBuffer> }[];

  constructor(private readonly gpu: Gpu, private readonly layout: ReturnType<typeof stepKernels>,
    private readonly pipelines: GPUComputePipeline[], private readonly bindGroup: GPUBindGroup, private readonly mem: GPUBuffer,
    private readonly uniform: GPUBuffer, private readonly readbacks: GPUBuffer[], private readonly setup: EngineSetup) {
    const { rows } = setup.sizes;
    this.slots = Array.from({ length: BATCH_SLOTS }, () => ({ x: new Float32Array(rows * layout.D), y: new Float32Array(0),
      eps: new Float32Array(rows * layout.Z), noisy: new Float32Array(0) }));
    void gpu.device.lost.then((info) => { this.lost = `the GPU device was lost (${info.reason}: ${info.message})`; });
    gpu.device.onuncapturederror = (e) => { this.lost ??= `GPU error: ${e.error.message.split('\n')[0]}`; };
  }

  private statsBySlot: number[][] = Array.from({ length: BATCH_SLOTS }, () => [NaN, NaN, NaN]);

  get description(): string {
    return `webgpu (${this.gpu.info.name}), ${this.dispatches} dispatches per step`;
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
    if (task.samples !== 1 || task.semi) throw new Error('the webgpu engine trains the ELBO of plain batches');
    const { device } = this.gpu;
    const { n, slot } = task;
    const { D, Z, x, eps, stats } = this.layout;
    const { beta1, beta2, lr } = this.setup.adamConfig;
    const source = this.slots[slot];
    device.queue.writeBuffer(this.mem, 4 * x, source.x, 0, n * D);
    device.queue.writeBuffer(this.mem, 4 * eps, source.eps, 0, n * Z);
    device.queue.writeBuffer(this.uniform, 0, stepUniform({ n, beta: task.beta, stepSize: lr / (1 - Math.pow(beta1, t)),
      invCorr2: 1 / (1 - Math.pow(beta2, t)), slot, beta1, beta2 }));
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setBindGroup(0, this.bindGroup);
    this.layout.kernels.forEach((k, i) => {
      pass.setPipeline(this.pipelines[i]);
      pass.dispatchWorkgroups(...k.groups(n));
    });
    pass.end();
    const readback = this.readbacks[slot];
    encoder.copyBufferToBuffer(this.mem, 4 * (stats + 4 * slot), readback, 0, 16);
    device.queue.submit([encoder.finish()]);
    try {
      await dawnAwait(readback.mapAsync(GPUMapMode.READ));
    } catch (e) {
      throw new VaeError(this.lost ?? `the GPU step failed: ${errorMessage(e).split('\n')[0]}`);
    }
    this.statsBySlot[slot] = Array.from(new Float32Array(readback.getMappedRange(), 0, 3));
    readback.unmap();
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
    for (const b of [this.mem, this.uniform, ...this.readbacks]) b.destroy();
  }
}

export async function createWebGpuEngine(setup: EngineSetup): Promise<Engine> {
  const gpu = await openGpu();
  const { device } = gpu;
  const { vae } = setup;
  const layout = stepKernels(vae, setup.sizes.rows, setup.adamConfig.epsilon);
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  const mem = device.createBuffer({ size: 4 * layout.size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  const uniform = device.createBuffer({ size: STEP_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  const readbacks = Array.from({ length: BATCH_SLOTS }, () =>
    device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }));
  const bindGroupLayout = device.createBindGroupLayout({ entries: [
    { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
    { binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } },
  ] });
  const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [bindGroupLayout] });
  const pipelines = layout.kernels.map((k) => device.createComputePipeline({
    label: k.name, layout: pipelineLayout, compute: { module: device.createShaderModule({ label: k.name, code: k.source }), entryPoint: 'main' },
  }));
  const bindGroup = device.createBindGroup({ layout: bindGroupLayout, entries: [
    { binding: 0, resource: { buffer: mem } }, { binding: 1, resource: { buffer: uniform } }] });
  const invalid = await dawnAwait(device.popErrorScope());
  const memory = await dawnAwait(device.popErrorScope());
  if (memory) throw new VaeError(`the GPU has not enough memory for this model and batch (${(4 * layout.size / 2 ** 20).toFixed(0)} MiB): ${memory.message}`);
  if (invalid) throw new Error(`the webgpu engine's kernels: ${invalid.message}`);
  // Parameters and Adam's moments as training left them.
  const variables = vae.trainableVariables();
  const params = new Float32Array(layout.P);
  readVariables(variables, flatLayout(variables), params);
  device.queue.writeBuffer(mem, 0, params);
  device.queue.writeBuffer(mem, 8 * layout.P, new Float32Array(setup.adam.m)); // copies: the moments may be views of shared memory
  device.queue.writeBuffer(mem, 12 * layout.P, new Float32Array(setup.adam.v));
  return new WebGpuEngine(gpu, layout, pipelines, bindGroup, mem, uniform, readbacks, setup);
}
