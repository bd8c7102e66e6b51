/**
 * The WGSL building blocks every kernel of the WebGPU engine is made of: the bindings and the step's uniform (and
 * its writer on the host), the workgroup reduction, the one-thread-per-element opening, the rows of a step, and
 * the arena that places every buffer in the one storage buffer `mem`. A kernel is WGSL text with its numbers
 * (offsets, sizes) written in, and a function giving its workgroups for a step's rows.
 */

/** Threads of a 1-D workgroup, and of a workgroup reduction. */
export const REDUCE = 256;
/** Workgroups per dimension of a dispatch (WebGPU's default limit). */
export const MAX_GROUPS = 65535;

/** Workgroups of a dispatch: x, y and, for a batch of products side by side, z. */
export type Groups = [x: number, y: number, z?: number];

/** A kernel of the step, and its workgroups for a batch of n rows (nk decoder rows). */
export interface Kernel {
  name: string;
  source: string;
  groups: (n: number, nk: number) => Groups;
  /** Its floating-point operations for n rows (a product's 2·M·N·K), where they are most of its work: the profile's TFLOP/s. */
  flops?: (n: number, nk: number) => number;
  /** Its work as a part of a dispatch that may run other kernels' too (joinKernels), where it has that form. */
  job?: Job;
}

/**
 * A kernel's work as one part of a dispatch (joinKernels): the WGSL it needs at module scope (functions, bindings,
 * workgroup memory), its workgroups of REDUCE threads (in WGSL, u32, and on the host), and the body of
 * fn(job_group: u32, l: vec3u) that each of them runs: job_group the workgroup's index among the kernel's, l.x its
 * thread's.
 */
export interface Job {
  prelude: string;
  groups: string;
  count: (n: number, nk: number) => number;
  body: string;
}

/** The step's values every kernel may read. */
export const HEADER = /* wgsl */ `
struct Step { n: u32, beta: f32, inv_norm: f32, step_size: f32, inv_corr2: f32, slot: u32, b1: f32, b2: f32, a1: f32, a2: f32, nk: u32, pad1: f32,
  w_u: f32, w_l: f32, w_c: f32, unlabelled: u32, key0: u32, key1: u32, pad2: u32, pad3: u32 }
@group(0) @binding(0) var<storage, read_write> mem: array<f32>;
@group(0) @binding(1) var<uniform> step: Step;
`;

/** Bytes of HEADER's struct Step. */
export const STEP_BYTES = 80;

/**
 * The values of the kernels' `step` uniform (HEADER's struct Step): 1/n is the loss's normaliser; 1 − β1 and
 * 1 − β2 are computed here in double precision (in float32, 1 − 0.999 is off by 1.3e-5). `noiseKey`: the Philox key of
 * the step's noise, where the GPU draws it (noise.ts).
 */
export function stepUniform(v: { n: number; beta: number; stepSize: number; invCorr2: number; slot: number; beta1: number; beta2: number;
  nk?: number; semi?: { weights: { unlabelled: number; labelled: number; classification: number }; unlabelled: number };
  noiseKey?: [number, number] }): ArrayBuffer {
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
  if (v.noiseKey) new Uint32Array(bytes, 64, 2).set(v.noiseKey);
  return bytes;
}

/**
 * workgroup_sum(value, lane): the sum of `value` over the workgroup's REDUCE threads, by halving (the same tree,
 * hence the same float result, wherever it is used). Call it from uniform control flow.
 */
export const WORKGROUP_SUM = /* wgsl */ `
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
export const FLAT_INDEX = `(wg.y * ${MAX_GROUPS}u + wg.x) * ${REDUCE}u + l.x`;
export const flatGroups = (count: number): [number, number] => {
  const groups = Math.ceil(count / REDUCE);
  return [Math.min(groups, MAX_GROUPS), Math.ceil(groups / MAX_GROUPS)];
};

/**
 * A kernel of one thread per element (flatGroups): `idx`, the element, runs `body` where idx < `count` (WGSL,
 * u32), with `prelude` (WGSL before main: functions, bindings) where the body needs it.
 */
export function flatKernel(count: string, body: string, prelude = ''): string {
  return HEADER + prelude + /* wgsl */ `
@compute @workgroup_size(${REDUCE})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let idx = ${FLAT_INDEX};
  if (idx >= ${count}) { return; }
  ${body}
}`;
}

/**
 * flatKernel as a kernel of the step, `threads` its count on the host (of `count`, WGSL), with its job: in a joined
 * dispatch, its workgroups run the same body on the same elements.
 */
export function flatJobKernel(name: string, count: string, threads: (n: number, nk: number) => number, body: string, prelude = ''): Kernel {
  return { name, source: flatKernel(count, body, prelude), groups: (n, nk) => flatGroups(threads(n, nk)),
    job: { prelude, groups: `(${count} + ${REDUCE - 1}u) / ${REDUCE}u`, count: (n, nk) => Math.ceil(threads(n, nk) / REDUCE),
      body: /* wgsl */ `let idx = job_group * ${REDUCE}u + l.x;
  if (idx >= ${count}) { return; }
  ${body}` } };
}

/** A kernel of one workgroup of REDUCE threads (a reduction over the step's rows: `l.x` the thread), with its job. */
export function oneGroupKernel(name: string, body: string, prelude = ''): Kernel {
  return { name, source: HEADER + prelude + /* wgsl */ `
@compute @workgroup_size(${REDUCE})
fn main(@builtin(local_invocation_id) l: vec3u) {
${body}
}`, groups: () => [1, 1], job: { prelude, groups: '1u', count: () => 1, body } };
}

/**
 * Kernels that do not depend on each other (none reads what another writes), those of them that have a job in one
 * dispatch: the workgroups of each one after the other along a flat index (2-D past MAX_GROUPS), each running its
 * kernel's body as that kernel alone does (the same bits); the others after it, in their order. A dispatch costs
 * ~6 µs in a pass on the H200 (../shared/gpu), more than most small kernels of a step at batch 128 take.
 */
export function joinKernels(kernels: Kernel[]): Kernel[] {
  const jobs = kernels.filter((k) => k.job);
  if (jobs.length < 2) return kernels;
  const job = (k: Kernel) => k.job!;
  const preludes = [...new Set(jobs.map((k) => job(k).prelude))];
  const source = HEADER + preludes.join('') + jobs.map((k, q) => /* wgsl */ `
fn job_${q}(job_group: u32, l: vec3u) {
  ${job(k).body}
}
`).join('') + /* wgsl */ `
@compute @workgroup_size(${REDUCE})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  var id = wg.y * ${MAX_GROUPS}u + wg.x;${jobs.map((k, q) => /* wgsl */ `
  let groups_${q} = ${job(k).groups};
  if (id < groups_${q}) {
    job_${q}(id, l);
    return;
  }
  id -= groups_${q};`).join('')}
}`;
  const together: Kernel = { name: jobs.map((k) => k.name).join(' + '), source, groups: (n, nk) => {
    const total = jobs.reduce((sum, k) => sum + job(k).count(n, nk), 0);
    return [Math.min(total, MAX_GROUPS), Math.ceil(total / MAX_GROUPS)];
  } };
  return [together, ...kernels.filter((k) => !k.job)];
}

/** Threads of a workgroup of a one-thread-per-row kernel (rowKernel; objectives/objective.ts's perRow dispatches it). */
export const ROW_GROUP = 64;

/**
 * A kernel of one thread per row (or per value) of a small job: the thread's index, named `index` in `body`, runs
 * `body` where it is below `count` (WGSL, u32), after the functions of `prelude`.
 */
export function rowKernel(index: string, count: string, body: string, prelude = ''): string {
  return HEADER + prelude + /* wgsl */ `
@compute @workgroup_size(${ROW_GROUP})
fn main(@builtin(global_invocation_id) g: vec3u) {
  let ${index} = g.x;
  if (${index} >= ${count}) { return; }
  ${body}
}`;
}

/**
 * A dimension of a product: fixed, or the rows of the step: the batch's (step.n) or, for the decoder of an
 * importance-weighted step, K per example (step.nk = n·K).
 */
export type Rows = 'n' | 'nk';
export type Dim = number | Rows;
export const dim = (d: Dim) => (typeof d === 'number' ? `${d}u` : `step.${d}`);
export const rowCount = (d: Dim, n: number, nk: number) => (d === 'n' ? n : d === 'nk' ? nk : d);

/** Offsets in `mem`, allocated one after the other. */
export class Arena {
  size = 0;
  take(floats: number): number {
    const at = this.size;
    this.size += floats;
    return at;
  }
}
