/**
 * The Gaussian code's kernels: the reparameterised sample z = μ + σ ⊙ ε with its KL to N(0, I), and its gradients;
 * and the importance-weighted objective's (IWAE): K samples per example, log p(z) − log q(z|x), the normalised
 * weights and the bound, and the gradients through them.
 */
import { HEADER, REDUCE, rowKernel } from './wgsl';

interface SampleAt { mu: number; logvar: number; eps: number; zDim: number }

/** WGSL: z = μ + exp(½ log σ²) ε of element e = r·Z + j (its row and dimension). */
const sampleOf = (o: SampleAt, e: string) => `mem[${o.mu}u + ${e}] + exp(0.5 * mem[${o.logvar}u + ${e}]) * mem[${o.eps}u + ${e}]`;

/** WGSL: fn kl_row(r: u32) -> f32, row r's KL(q || N(0, I)) = −½ Σ_j (1 + log σ²_j − μ_j² − σ²_j). */
export function klRowFunction(o: Omit<SampleAt, 'eps'>): string {
  return /* wgsl */ `
fn kl_row(r: u32) -> f32 {
  var kl = 0.0;
  for (var j = 0u; j < ${o.zDim}u; j++) {
    let mu = mem[${o.mu}u + r * ${o.zDim}u + j];
    let lv = mem[${o.logvar}u + r * ${o.zDim}u + j];
    kl += 1.0 + lv - mu * mu - exp(lv);
  }
  return -0.5 * kl;
}
`;
}

/**
 * z = μ + exp(½ log σ²) ⊙ ε and KL(q || N(0, I)) (kl_row), one thread per row. z's rows are zLd apart (a cvae's
 * decoder input: z, then the condition beside it).
 */
export function reparameterizeKernel(o: SampleAt & { z: number; kl: number; zLd?: number }): string {
  return rowKernel('r', 'step.n', /* wgsl */ `for (var j = 0u; j < ${o.zDim}u; j++) {
    mem[${o.z}u + r * ${o.zLd ?? o.zDim}u + j] = ${sampleOf(o, `r * ${o.zDim}u + j`)};
  }
  mem[${o.kl}u + r] = kl_row(r);`, klRowFunction(o));
}

/**
 * The decoder's input as its first layer reads it (layers.ts's LayerInput), the sample made as it is read instead of
 * by a kernel of its own before: element (r, c) is z_rc = μ + exp(½ log σ²) ε for c < Z, else the value stored at z
 * (rows zLd apart: a cvae's condition beside z).
 */
export function sampleInput(o: SampleAt & { z: number; zLd: number }): { read: (row: string, col: string) => string } {
  return { read: (r, c) => `${o.zLd > o.zDim ? `if (${c} >= ${o.zDim}u) { return mem[${o.z}u + ${r} * ${o.zLd}u + ${c}]; }\n  ` : ''}return ${
    sampleOf(o, `${r} * ${o.zDim}u + ${c}`)};` };
}

/**
 * The gradients of μ and log σ² from the sample's gradient dz and β·KL / n:
 *   dμ = dz + β μ / n,   d log σ² = dz ⊙ ε ⊙ ½ exp(½ log σ²) + β ½ (exp(log σ²) − 1) / n
 * (per row, β / n is the row's weight where given: M2's). The WGSL body of store(i, j, v) for the decoder's input
 * gradient (layers.ts's GradientSink), v = dz of row i, column j (columns past Z: a cvae's condition, dropped), so
 * that the product that makes dz writes these instead.
 */
export function reparameterizeGradStore(o: { mu: number; logvar: number; eps: number; dmu: number; dlogvar: number; zDim: number;
  rowWeight?: number }): { store: string } {
  return { store: /* wgsl */ `if (j >= ${o.zDim}u) { return; }
  let e = i * ${o.zDim}u + j;
  let mu = mem[${o.mu}u + e];
  let lv = mem[${o.logvar}u + e];
  let kl = ${o.rowWeight === undefined ? 'step.beta * step.inv_norm' : `mem[${o.rowWeight}u + i]`};
  mem[${o.dmu}u + e] = v + kl * mu;
  mem[${o.dlogvar}u + e] = v * mem[${o.eps}u + e] * 0.5 * exp(0.5 * lv) + kl * 0.5 * (exp(lv) - 1.0);` };
}

/**
 * The importance-weighted objective (Vae.importanceWeightedLossTerms) samples K codes per example: decoder row
 * rk = r·K + k holds z = μ_r + σ_r ⊙ ε_rk (rows zLd apart), and lpq[rk] = log p(z) − log q(z|x) = Σ_j −½ z² +
 * ½ (ε² + log σ²) (the log 2π terms cancel). One thread per decoder row.
 */
export function iwReparameterizeKernel(o: { mu: number; logvar: number; eps: number; z: number; lpq: number; zDim: number; zLd: number;
  samples: number }): string {
  return rowKernel('rk', 'step.nk', /* wgsl */ `let r = rk / ${o.samples}u;
  var s = 0.0;
  for (var j = 0u; j < ${o.zDim}u; j++) {
    let lv = mem[${o.logvar}u + r * ${o.zDim}u + j];
    let e = mem[${o.eps}u + rk * ${o.zDim}u + j];
    let z = mem[${o.mu}u + r * ${o.zDim}u + j] + exp(0.5 * lv) * e;
    mem[${o.z}u + rk * ${o.zLd}u + j] = z;
    s += 0.5 * (e * e + lv) - 0.5 * z * z;
  }
  mem[${o.lpq}u + rk] = s;`);
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
  return rowKernel('i', `step.n * ${o.zDim}u`, /* wgsl */ `let r = i / ${o.zDim}u;
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
  mem[${o.dlogvar}u + i] = dl * 0.5 * exp(0.5 * mem[${o.logvar}u + i]) - 0.5 * step.beta * step.inv_norm;`);
}
