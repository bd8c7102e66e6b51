/**
 * The loss kernels of p(x|z), −log p(x|z) per row and its gradient in the decoder's outputs: Bernoulli from logits,
 * a Gaussian with a fixed σ, a Gaussian whose log σ² the decoder gives beside μ (as model/losses.ts).
 */
import { HEADER, Kernel, REDUCE, Rows, WORKGROUP_SUM, rowCount } from './wgsl';

/**
 * The loss kernels' rows: one per example, or K per example (importance-weighted: row r models x[r / K], and
 * its gradient is left unscaled for iwWeightsKernel to weight); 'step': step.nk per example, set for each call
 * (evaluate --iw's decoder, decode.ts).
 */
const lossRows = (samples: number | 'step' = 1, unscaled = false) => samples === 'step' ? { x: '(r / step.nk)', scale: '1.0' }
  : { x: samples > 1 ? `(r / ${samples}u)` : 'r', scale: samples > 1 || unscaled ? '1.0' : 'step.inv_norm' };

/** What every loss kernel is given: logits [rows, dim] (or [rows, 2·dim]), targets, and where d logits and −log p go. */
export interface LossSpec { logits: number; x: number; dlogits: number; rec: number; dim: number; samples?: number | 'step'; unscaled?: boolean }

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
 * The loss kernel of a model's p(x|z) (its config's likelihood and sigma): Bernoulli, a Gaussian with a fixed σ, or
 * a Gaussian whose log σ² the decoder gives beside μ. One workgroup per row: `rows` picks n or nk.
 */
export function likelihoodKernel(p: { likelihood: 'bernoulli' | 'gaussian'; sigma?: number }, o: LossSpec, rows: Rows): Kernel {
  const groups = (n: number, nk: number): [number, number] => [rowCount(rows, n, nk), 1];
  if (p.likelihood !== 'gaussian') return { name: 'bernoulli', source: bernoulliKernel(o), groups };
  if (p.sigma === undefined) return { name: 'gaussian (learned variance)', source: gaussianLearnedKernel(o), groups };
  return { name: 'gaussian', source: gaussianKernel({ ...o, sigma: p.sigma }), groups };
}
