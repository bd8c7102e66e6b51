/**
 * The point code's kernels: the VQ-VAE's quantisation to the nearest codebook entries and its codebook and
 * commitment gradients (model/families/vqvae.ts), and a sparse autoencoder's penalty on its code's mean activations
 * (model/losses.ts's sparsityPenalty).
 */
import { FLAT_INDEX, HEADER, REDUCE, WORKGROUP_SUM, rowKernel } from './wgsl';

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
  return rowKernel('r', 'step.n', /* wgsl */ `var vq = 0.0;
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
  mem[${o.vq}u + r] = ${(1 + o.book.commitment).toExponential()} * vq;`);
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
