/**
 * A convolution of a 2x nearest-upsampled input (the decoder's), by phase, as native/conv.cc does on the CPU. Output
 * position (2a + py, 2c + px) reads, through tap (ky, kx), the stored input at (a + dy, c + dx) with
 * dy = ⌊(py + ky − pt) / 2⌋: a 3x3 kernel's three taps along an axis fall on two stored rows for each parity. So each
 * of the four parities (py, px) is a 2x2 convolution of the stored input with the summed weights of the taps that
 * share a stored position ("phase weights", [4 phases][2x2][cin][cout], summed once a step by a small kernel into
 * memory of the layer's own, the step's first dispatch: Layer.prepare):
 * 4 multiplications for every 9, forward, for the filter gradient (the phase taps' gradients, then spread back to the
 * 3x3 taps) and for the input gradient (one product over the 4 phases' 4 taps instead of 4 copies of 9). Forward and
 * the filter gradient run the four phases side by side in one dispatch (products.ts's batch, z = 2·py + px).
 */
import type { ConvSpec } from './conv';
import { convGeometry, rowsOf } from './conv';
import { productPlan } from './plan';
import { plannedKernels, scratchOf } from './products';
import { Arena, Kernel, flatGroups, flatJobKernel, flatKernel, rowCount } from './wgsl';

/**
 * Along one axis, for each parity p: the stored offset of its first tap (d0), and each tap's index among the
 * parity's (tap[p][k] = dy − d0); kp: taps of a parity (the most of either).
 */
function upTaps(k: number, pad: number) {
  const d = (p: number, t: number) => Math.floor((p + t - pad) / 2);
  const d0 = [d(0, 0), d(1, 0)];
  const tap = [0, 1].map((p) => Array.from({ length: k }, (_, t) => d(p, t) - d0[p]));
  return { d0, tap, kp: Math.max(...tap.flat()) + 1 };
}

/** Whether a convolution goes by phase here: a 2x upsampled input, stride 1, 'same' padding equal on both axes. */
export function upPhased(c: ConvSpec): boolean {
  const { pt, pl } = convGeometry(c);
  return c.up && c.s === 1 && pt === pl && c.H === c.W;
}

/** Floats of an upsampled convolution's phase weights (taken from upsampledConv's `own`). */
export function phaseWeightsOf(c: ConvSpec): number {
  const { kp } = upTaps(c.k, convGeometry(c).pt);
  return 4 * kp * kp * c.cin * c.cout;
}

/**
 * The layer's kernels by phase (upPhased(c)). `P`: where the gradients start; `own`: where the layer takes memory of
 * its own, kept across the step: its phase weights (summed by `prepare` before the step's other kernels, read by
 * forward and by the input gradient) and, with `filterGrad`, its phases' filter gradients and their split product's
 * partial sums (the sum and the spread to the 3x3 taps may run later); `scratch`: the step's scratch, where forward's
 * and the input gradient's partial sums go.
 */
export function upsampledConv(name: string, c: ConvSpec, o: { relu: boolean; P: number; scratch: number; own: Arena; maxRows: number;
  filterGrad: boolean }) {
  const { Ho, Wo, pt, Hs, Ws } = convGeometry(c);
  const { d0, tap, kp } = upTaps(c.k, pt);
  const kp2 = kp * kp;
  const rows = c.rows ?? 'n';
  const at = Hs * Ws; // positions of a phase per row (the stored input's)
  const weights = c.k * c.k * c.cin * c.cout;
  const phaseWeights = phaseWeightsOf(c);
  const phaseGrads = 4 * (kp2 * c.cin + 1) * c.cout; // each phase's taps' and its bias row
  const m = (n: number, nk: number) => rowCount(rows, n, nk) * at;
  // (The forward and the filter gradient run the four phases as one batched product: their tiles count four times.)
  const fwd = productPlan(4 * o.maxRows * at, c.cout, kp2 * c.cin, false);
  const dW = productPlan(4 * (kp2 * c.cin + 1), c.cout, o.maxRows * at, true);
  const dX = productPlan(o.maxRows * at, c.cin, 4 * kp2 * c.cout, false);
  // The layer's own: its phase weights; its phases' filter gradients, then their partial sums.
  const weightsAt = o.own.take(phaseWeights);
  const gradsAt = o.filterGrad ? o.own.take(phaseGrads + scratchOf(dW, kp2 * c.cin + 1, c.cout, 4)) : -1;
  const tapTable = `array<i32, ${2 * c.k}>(${tap.flat().join(', ')})`;
  /** WGSL: b and the phase position (ay, ax) of row `pos` of a phase's product. */
  const position = (pos: string) => `let b = ${pos} / ${at}u;
  let ay = i32((${pos} % ${at}u) / ${Ws}u);
  let ax = i32(${pos} % ${Ws}u);`;
  /** WGSL: the offset of the output at phase (py, px), position (ay, ax) of row b, channel 0. */
  const output = (py: string, px: string) => `((b * ${Ho}u + 2u * u32(ay) + ${py}) * ${Wo}u + 2u * u32(ax) + ${px}) * ${c.cout}u`;
  /** WGSL: the first stored row (column) a parity p (u32) reads, relative to its phase position. */
  const first = (p: string) => `select(${d0[0]}, ${d0[1]}, ${p} == 1u)`;
  /**
   * WGSL: x[b, ay + d0 + ty, ax + d0 + tx, ci] for tap t = ty·kp + tx of the batched product's phase z = 2·py + px,
   * 0 outside the input.
   */
  const inputAt = (input: number, t: string, ci: string) => `let sy = ay + ${first('z / 2u')} + i32(${t} / ${kp}u);
  let sx = ax + ${first('z % 2u')} + i32(${t} % ${kp}u);
  if (sy < 0 || sy >= ${Hs} || sx < 0 || sx >= ${Ws}) { return 0.0; }
  return mem[${input}u + ((b * ${Hs}u + u32(sy)) * ${Ws}u + u32(sx)) * ${c.cin}u + ${ci}];`;
  /** The phase weights, summed from the 3x3 kernel: [phase][ty][tx][ci][co]. */
  const sumWeights = flatJobKernel(`${name} phase weights`, `${phaseWeights}u`, () => phaseWeights, /* wgsl */ `let co = idx % ${c.cout}u;
  let ci = (idx / ${c.cout}u) % ${c.cin}u;
  let t = i32((idx / ${c.cin * c.cout}u) % ${kp2}u);
  let phase = idx / ${kp2 * c.cin * c.cout}u;
  let py = i32(phase / 2u);
  let px = i32(phase % 2u);
  var taps = ${tapTable};
  var w = 0.0;
  for (var ky = 0; ky < ${c.k}; ky++) {
    if (taps[py * ${c.k} + ky] != t / ${kp}) { continue; }
    for (var kx = 0; kx < ${c.k}; kx++) {
      if (taps[px * ${c.k} + kx] != t % ${kp}) { continue; }
      w += mem[${c.off}u + (u32(ky * ${c.k} + kx) * ${c.cin}u + ci) * ${c.cout}u + co];
    }
  }
  mem[${weightsAt}u + idx] = w;`);
  return {
    prepare: [sumWeights],
    scratch: Math.max(scratchOf(fwd, o.maxRows * at, c.cout, 4), scratchOf(dX, o.maxRows * at, c.cin)),
    forwardScratch: scratchOf(fwd, o.maxRows * at, c.cout, 4),
    /** The input gradient's scratch alone (a narrow layer takes only it and narrowForward from here). */
    inputGradScratch: scratchOf(dX, o.maxRows * at, c.cin),
    /**
     * Forward for a layer of few output channels (a decoder's logits): one thread per output, over its phase's kp x kp
     * taps of the stored input and their phase weights.
     */
    narrowForward: (input: number, out: number): Kernel[] => [{
      name: `${name} forward`,
      source: flatKernel(rowsOf(c, String(Ho * Wo * c.cout)), /* wgsl */ `let co = idx % ${c.cout}u;
  let ox = (idx / ${c.cout}u) % ${Wo}u;
  let oy = (idx / ${Wo * c.cout}u) % ${Ho}u;
  let b = idx / ${Ho * Wo * c.cout}u;
  let py = oy % 2u;
  let px = ox % 2u;
  let wbase = ${weightsAt}u + (py * 2u + px) * ${kp2 * c.cin * c.cout}u + co;
  var acc = mem[${c.off + weights}u + co];
  for (var t = 0u; t < ${kp2}u; t++) {
    let sy = i32(oy / 2u) + ${first('py')} + i32(t / ${kp}u);
    let sx = i32(ox / 2u) + ${first('px')} + i32(t % ${kp}u);
    if (sy < 0 || sy >= ${Hs} || sx < 0 || sx >= ${Ws}) { continue; }
    let xbase = ${input}u + ((b * ${Hs}u + u32(sy)) * ${Ws}u + u32(sx)) * ${c.cin}u;
    for (var ci = 0u; ci < ${c.cin}u; ci++) { acc = fma(mem[xbase + ci], mem[wbase + (t * ${c.cin}u + ci) * ${c.cout}u], acc); }
  }
  ${o.relu ? 'acc = max(acc, 0.0);' : ''}
  mem[${out}u + idx] = acc;`),
      groups: (n, nk) => flatGroups(rowCount(rows, n, nk) * Ho * Wo * c.cout),
      flops: (n, nk) => 2 * rowCount(rows, n, nk) * Ho * Wo * c.cout * kp2 * c.cin,
    }],
    // The four phases as one batched product each (z = 2·py + px): forward, and the phase taps' filter gradients.
    forward: (input: number, out: number): Kernel[] => plannedKernels(`${name} forward`, { M: rowsOf(c, String(at)), N: c.cout, K: `${kp2 * c.cin}u`, aFast: 'k', bFast: 'j', batch: 4,
        aAt: `${position('i')}
  ${inputAt(input, `(k / ${c.cin}u)`, `k % ${c.cin}u`)}`,
        bAt: `return mem[${weightsAt}u + z * ${kp2 * c.cin * c.cout}u + k * ${c.cout}u + j];`,
        store: `${position('i')}
  var y = v + mem[${c.off + weights}u + j];
  ${o.relu ? 'y = max(y, 0.0);' : ''}
  mem[${out}u + ${output('z / 2u', 'z % 2u')} + j] = y;` }, fwd, o.scratch, m, () => kp2 * c.cin),
    weightGrad: (input: number, dOut: number): Kernel[] => {
      if (!o.filterGrad) throw new Error(`${name}: made without its filter gradient`);
      return [...plannedKernels(`${name} dW`, { M: `${kp2 * c.cin + 1}u`, N: c.cout, K: rowsOf(c, String(at)), aFast: 'i', bFast: 'j', batch: 4,
        aAt: `if (i == ${kp2 * c.cin}u) { return 1.0; }
  ${position('k')}
  ${inputAt(input, `(i / ${c.cin}u)`, `i % ${c.cin}u`)}`,
        bAt: `${position('k')}
  return mem[${dOut}u + ${output('z / 2u', 'z % 2u')} + j];`,
        store: `mem[${gradsAt}u + z * ${(kp2 * c.cin + 1) * c.cout}u + i * ${c.cout}u + j] = v;` }, dW, gradsAt + phaseGrads, () => kp2 * c.cin + 1, m),
      // Each 3x3 tap's gradient: the sum of the phase taps it is part of, one in each phase; the bias's, of the phases'.
      flatJobKernel(`${name} dW spread`, `${weights + c.cout}u`, () => weights + c.cout, /* wgsl */ `let co = idx % ${c.cout}u;
  var taps = ${tapTable};
  var g = 0.0;
  for (var phase = 0; phase < 4; phase++) {
    let base = ${gradsAt}u + u32(phase) * ${(kp2 * c.cin + 1) * c.cout}u;
    if (idx >= ${weights}u) {
      g += mem[base + ${kp2 * c.cin * c.cout}u + co];
    } else {
      let ci = (idx / ${c.cout}u) % ${c.cin}u;
      let k = i32(idx / ${c.cin * c.cout}u);
      let t = taps[(phase / 2) * ${c.k} + k / ${c.k}] * ${kp} + taps[(phase % 2) * ${c.k} + k % ${c.k}];
      g += mem[base + (u32(t) * ${c.cin}u + ci) * ${c.cout}u + co];
    }
  }
  mem[${o.P + c.off}u + idx] = g;`)];
    },
    // dx at a stored position (b, sy, sx), channel ci: over k = (phase, tap t, co), the output gradient at the phase's
    // position (sy − d0 − ty, sx − d0 − tx), times the phase weight.
    inputGrad: (dOut: number, dIn: number, mask?: number): Kernel[] => plannedKernels(`${name} dX`, { M: rowsOf(c, String(at)), N: c.cin, K: `${4 * kp2 * c.cout}u`, aFast: 'k', bFast: 'k',
        aAt: /* wgsl */ `let co = k % ${c.cout}u;
  let q = k / ${c.cout}u;
  let phase = q / ${kp2}u;
  let t = q % ${kp2}u;
  let py = phase / 2u;
  let px = phase % 2u;
  let b = i / ${at}u;
  let ay = i32((i % ${at}u) / ${Ws}u) - ${first('py')} - i32(t / ${kp}u);
  let ax = i32(i % ${Ws}u) - ${first('px')} - i32(t % ${kp}u);
  if (ay < 0 || ay >= ${Hs} || ax < 0 || ax >= ${Ws}) { return 0.0; }
  return mem[${dOut}u + ${output('py', 'px')} + co];`,
        bAt: `return mem[${weightsAt}u + ((k / ${c.cout}u) * ${c.cin}u + j) * ${c.cout}u + k % ${c.cout}u];`,
        store: `${mask !== undefined ? `if (mem[${mask}u + i * ${c.cin}u + j] <= 0.0) { mem[${dIn}u + i * ${c.cin}u + j] = 0.0; return; }` : ''}
  mem[${dIn}u + i * ${c.cin}u + j] = v;` }, dX, o.scratch, m, () => 4 * kp2 * c.cout),
  };
}
