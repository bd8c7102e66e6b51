/**
 * M2's objective on the GPU (model/m2.ts, Kingma et al. 2014): a step's rows are every unlabelled image with every
 * label (row i·C + k: image i with label k), then the labelled images with theirs, laid out on the CPU as the
 * encoder ([x, y]) and the decoder ([0, y], z written beside) read them; the classifier q(y|x) runs on the images
 * (the step's nk). Each row's loss and KL gradient are weighted as m2WeightsKernel says; M1+M2 is the same on an
 * M1's codes, with a Gaussian of learned variance.
 */
import type { SemiTask } from '../../../model/families/family';
import { STEP_STATS } from '../../../model/families/family';
import { BATCH_SLOTS } from '../../engine';
import { reparameterizeGradStore, reparameterizeKernel } from '../gaussian';
import { Layer, backwardStack, forwardStack } from '../layers';
import { likelihoodKernel } from '../likelihoods';
import { denseNetwork } from '../networks';
import { rowScaleKernel } from '../stats';
import { Kernel, REDUCE, WORKGROUP_SUM, flatGroups, oneGroupKernel, rowKernel } from '../wgsl';
import { gaussianCode } from './code';
import { GpuObjective, StepOptions, Upload, checkTask, perRow, writeNoise } from './objective';

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
  return rowKernel('i', 'step.nk', /* wgsl */ `var top = -3.0e38;
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
  }`);
}

/**
 * M2's statistics into stats[slot], as its shardTerms reports them: the loss w_u Σ U + w_l Σ L + w_c Σ CE, then
 * Σ q·rec, Σ q·KL, Σ U (unlabelled), Σ L, Σ CE and the count of labelled images.
 */
export function m2StatsKernel(o: { sums: number; images: number; stats: number }): Kernel {
  return oneGroupKernel('stats', /* wgsl */ `  var part = array<f32, 5>(0.0, 0.0, 0.0, 0.0, 0.0);
  for (var i = l.x; i < step.nk; i += ${REDUCE}u) {
    for (var k = 0u; k < 5u; k++) { part[k] += mem[${o.sums}u + k * ${o.images}u + i]; }
  }
  let u = workgroup_sum(part[0], l.x);
  let rec = workgroup_sum(part[1], l.x);
  let kl = workgroup_sum(part[2], l.x);
  let big_l = workgroup_sum(part[3], l.x);
  let ce = workgroup_sum(part[4], l.x);
  if (l.x == 0u) {
    let at = ${o.stats}u + step.slot * ${STEP_STATS}u;
    mem[at] = step.w_u * u + step.w_l * big_l + step.w_c * ce;
    mem[at + 1u] = rec;
    mem[at + 2u] = kl;
    mem[at + 3u] = u;
    mem[at + 4u] = big_l;
    mem[at + 5u] = ce;
    mem[at + 6u] = f32(step.nk - step.unlabelled);
  }`, WORKGROUP_SUM);
}

export function m2Objective(spec: { classifier: string; classes: number }, o: StepOptions): GpuObjective {
  const C = spec.classes;
  const images = o.rows;
  const rows = images * C; // at most: every image unlabelled
  let cls: Layer[] = [];
  return {
    rows: { rows, decRows: rows, decoder: 'n' }, networks: [spec.classifier], gathers: false,
    // q(y|x) runs on the step's images (step.nk of them), not on its rows.
    layers: (model, plan) => (cls = denseNetwork(model, spec.classifier, 'nk', plan)),
    build(ctx) {
      if (cls.length === 0) throw new Error('an M2 model has a classifier');
      const { D, Z } = ctx.model;
      const take = (floats: number) => ctx.mem.take(floats);
      const x = take(images * D);
      const y = take(images * C);
      const xy = take(rows * (D + C));
      const target = take(rows * D);
      const code = gaussianCode(ctx, xy);
      const eps = take(rows * Z);
      const zLd = Z + C;
      const z = take(rows * zLd);
      const clsH = cls.map((l) => take(images * l.out));
      const dClsH = cls.map((l) => take(images * l.out));
      const rec = take(rows);
      const kl = take(rows);
      const rw = take(rows);
      const sums = take(5 * images);
      const stats = take(STEP_STATS * BATCH_SLOTS);
      const last = ctx.dec.length - 1;
      const [logits, dLogits] = [ctx.decH[last], ctx.dDecH[last]];
      const outputs = ctx.dec[last].out; // D, or 2D for μ and log σ²
      const top = cls.length - 1;
      const sample = { mu: code.mu, logvar: code.logvar, eps, zDim: Z, zLd };
      const layout = semiLayout({ D, Z, C, rows }, { x, y, xy, target, z, eps });
      return {
        encoderInput: xy, decoderInput: z, inputs: [],
        dDecoderInput: reparameterizeGradStore({ ...sample, dmu: code.dmu, dlogvar: code.dlogvar, rowWeight: rw }),
        latent: [...code.forward, perRow('reparameterize', reparameterizeKernel({ ...sample, z, kl }))],
        likelihood: [likelihoodKernel(ctx.model.likelihood, { logits, x: target, dlogits: dLogits, rec, dim: D, unscaled: true }, 'n'),
          ...forwardStack(cls, x, clsH),
          perRow('M2 weights', m2WeightsKernel({ logits: clsH[top], y, rec, kl, rw, dlogits: dClsH[top], sums, images, classes: C }), 'nk'),
          { name: 'weight d logits', source: rowScaleKernel({ values: dLogits, weights: rw, width: outputs }), groups: (n) => flatGroups(n * outputs) }],
        latentBackward: code.backward,
        networksBackward: backwardStack(cls, x, clsH, dClsH, undefined, ctx.later),
        statistics: [m2StatsKernel({ sums, images, stats })],
        stats, gathered: null, noise: { at: eps, rows: 'n' },
        upload(write, slot, task) {
          checkTask(task, 1, true);
          return { n: layout(write, slot, task.semi!, task.n), nk: task.n };
        },
      };
    },
  };
}

/**
 * Writes an M2 batch as its kernels read it: `unlabelled` images each with every label, then the labelled ones with
 * theirs (the slot's x and y hold the unlabelled images first; its noise has the rows in this order already).
 * Returns the step's rows.
 */
function semiLayout(size: { D: number; Z: number; C: number; rows: number }, at: { x: number; y: number; xy: number; target: number; z: number;
  eps: number }) {
  const { D, Z, C } = size;
  const staging = { xy: new Float32Array(size.rows * (D + C)), target: new Float32Array(size.rows * D), z: new Float32Array(size.rows * (Z + C)) };
  return (write: Upload, slot: { x: Float32Array; y: Float32Array; eps: Float32Array }, semi: SemiTask, images: number): number => {
    const { unlabelled } = semi;
    const rows = unlabelled * C + (images - unlabelled);
    for (let r = 0; r < rows; r++) {
      const image = r < unlabelled * C ? Math.floor(r / C) : r - unlabelled * C + unlabelled;
      const pixels = slot.x.subarray(image * D, (image + 1) * D);
      const label = staging.xy.subarray(r * (D + C) + D, (r + 1) * (D + C));
      if (r < unlabelled * C) {
        label.fill(0);
        label[r % C] = 1;
      } else {
        label.set(slot.y.subarray(image * C, (image + 1) * C));
      }
      staging.xy.set(pixels, r * (D + C));
      staging.target.set(pixels, r * D);
      staging.z.set(label, r * (Z + C) + Z);
    }
    write(at.x, slot.x, images * D);
    write(at.y, slot.y, images * C);
    write(at.xy, staging.xy, rows * (D + C));
    write(at.target, staging.target, rows * D);
    write(at.z, staging.z, rows * (Z + C));
    writeNoise(write, at.eps, slot.eps, rows * Z);
    return rows;
  };
}
