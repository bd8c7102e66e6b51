/**
 * The layers of a network on the GPU: a dense layer and a convolution, each with its forward kernels, its weight
 * and bias gradients and its input's gradient (every one a planned product, products.ts, or a direct kernel of
 * conv.ts), and the stacks that run a network's layers forward and back.
 */
import { ConvSpec, WEIGHT_GRAD_CHUNK, chunkedWeightGrad, convForwardKernel, convGeometry, convWeightGradChunkKernel, convWeightGradKernel,
  convWeightGradSumKernel, rowsOf, storedInput } from './conv';
import { productPlan } from './plan';
import { ProductSpec, alongside, plannedKernels, productTiled, scratchOf } from './products';
import { upPhased, upsampledConv } from './upsampled';
import { Arena, Kernel, MAX_GROUPS, Rows, flatGroups, rowCount } from './wgsl';

/**
 * Where an input gradient goes: a place in mem ([rows, in]), or a WGSL body of store(i, j, v) that takes each element
 * (row i, column j) as the product makes it (a code's gradients made from the decoder's dz: no pass over dz after).
 */
export type GradientSink = number | { store: string };

/** What a layer reads: a place in mem ([rows, in]), or values made as they are read (a code's samples: Operand's `read`). */
export type LayerInput = number | { read: (row: string, col: string) => string };

/** A convolution reads its input and writes its input gradient in memory: their place there. */
function inMemory(at: LayerInput | GradientSink): number {
  if (typeof at !== 'number') throw new Error('a convolution reads its input and writes its input gradient in memory');
  return at;
}

/** A layer of the step: its output per row, and its kernels. */
export interface Layer {
  name: string;
  out: number;
  /**
   * Kernels that derive values from the parameters into the layer's own memory (taken from the plan's `own`: an
   * upsampled convolution's phase weights), run before a step's others; they have jobs (wgsl.ts's joinKernels).
   */
  prepare: Kernel[];
  /** Each: one kernel, or a split product and its sum. A dense layer's input may be made as it is read. */
  forward(input: LayerInput, out: number): Kernel[];
  /**
   * The kernel's and the bias's gradients: a product (or a direct kernel), then kernels that read only what it wrote
   * into the layer's own memory (its partial sums, an upsampled layer's phase gradients) and write the gradients (the
   * sum, an upsampled layer's spread to the 3x3 taps): they may run any time before Adam (backwardStack's `later`),
   * and have jobs. They touch no memory that the input gradient writes (the scratch is not theirs): the two may run
   * side by side (alongside).
   */
  weightGrad(input: LayerInput, dOut: number): Kernel[];
  /** Floats of scratch its forward and input gradient kernels use (at the plan's `scratch`), 0 for none. */
  scratch: number;
  /** The same for its forward kernels alone (a decoder that only runs forward: decode.ts). */
  forwardScratch: number;
  /** A dense layer's kernel in the parameters (at off, [inDim, out], its bias after it); none for a convolution. */
  weights?: { off: number; inDim: number; out: number };
  /** dX from dY (⊙ [mask > 0], the input being a ReLU's output), or added to dX; a dense layer's may go to a store. */
  inputGrad(dOut: number, dIn: GradientSink, mask?: number, accumulate?: boolean): Kernel[];
}

export function denseLayer(name: string, w: { off: number; shape: number[] }, activation: 'relu' | 'linear' | 'sigmoid', P: number,
  plan: StepPlan, rows: Rows = 'n'): Layer {
  const [inDim, out] = w.shape;
  const maxRows = rows === 'n' ? plan.rows : plan.decRows;
  const fwd = productPlan(maxRows, out, inDim, false);
  // dW and db at once: [Xᵀ; 1ᵀ] · dY, written over the kernel's and the bias's gradients (contiguous).
  const dW = productPlan(inDim + 1, out, maxRows, true);
  const dX = productPlan(maxRows, inDim, out, false);
  // The weight gradient's partial sums in the layer's own memory (its sum may run later), the others' in the scratch.
  const dWPartials = plan.own.take(scratchOf(dW, inDim + 1, out));
  const x = (input: LayerInput) => (typeof input === 'number' ? { off: input, ld: inDim } : input);
  const product = (label: string, p: ProductSpec, at: ProductPlan, partials = plan.scratch) => plannedProduct(`${name} ${label}`, p, at, partials);
  return {
    name, out, prepare: [], weights: { off: w.off, inDim, out },
    scratch: Math.max(scratchOf(fwd, maxRows, out), scratchOf(dX, maxRows, inDim)),
    forwardScratch: scratchOf(fwd, maxRows, out),
    forward: (input, o) => product('forward', { M: rows, N: out, K: inDim, a: x(input), b: { off: w.off, ld: out },
      c: { off: o, ld: out }, bias: w.off + inDim * out, relu: activation === 'relu', sigmoid: activation === 'sigmoid' }, fwd),
    weightGrad: (input, dOut) => product('dW', { M: inDim + 1, N: out, K: rows, a: { ...x(input), trans: true }, b: { off: dOut, ld: out },
      c: { off: P + w.off, ld: out }, onesRow: true }, dW, dWPartials),
    inputGrad: (dOut, dIn, mask, accumulate = false) => product('dX', { M: rows, N: inDim, K: out, a: { off: dOut, ld: out },
      b: { off: w.off, ld: out, trans: true }, c: typeof dIn === 'number' ? { off: dIn, ld: inDim } : dIn,
      mask: mask === undefined ? undefined : { off: mask, ld: inDim }, accumulate }, dX),
  };
}

type ProductPlan = ReturnType<typeof productPlan>;

/** A dense product as planned (products.ts's plannedKernels), its split's partial sums at `partials`. */
const plannedProduct = (name: string, p: ProductSpec, at: ProductPlan, partials: number) =>
  plannedKernels(name, productTiled(p), at, partials, (n, nk) => rowCount(p.M, n, nk), (n, nk) => rowCount(p.K, n, nk));

/**
 * The input gradient of dense layers that read the same input (a Gaussian code's μ and log σ²) as one product over
 * their outputs side by side, dX = [dY₁ … dYₘ] · [W₁ … Wₘ]ᵀ (⊙ [mask > 0]): one dispatch, where each layer's own
 * (the later ones added to the first's) took one each. Those where the joint product would be split: the step's
 * scratch is sized by the layers' own products.
 */
export function jointInputGrad(parts: { layer: Layer; dOut: number }[], dIn: number, mask: number | undefined, plan: StepPlan): Kernel[] {
  const ws = parts.map(({ layer }) => {
    if (!layer.weights || layer.weights.inDim !== parts[0].layer.weights?.inDim) {
      throw new Error('a joint input gradient is of dense layers on one input');
    }
    return layer.weights;
  });
  const inDim = ws[0].inDim;
  const starts = ws.map((_, q) => ws.slice(0, q).reduce((sum, w) => sum + w.out, 0));
  const K = starts[ws.length - 1] + ws[ws.length - 1].out;
  const at = productPlan(plan.rows, inDim, K, false);
  if (at.splits > 1) return parts.flatMap(({ layer, dOut }, q) => layer.inputGrad(dOut, dIn, q === parts.length - 1 ? mask : undefined, q > 0));
  /** WGSL: the statements that return element (row, col) of part q's matrix at off (rows `out` long) for the joint column `col`. */
  const pick = (col: string, element: (q: number, local: string) => string) => parts.map((_, q) => {
    const local = starts[q] === 0 ? col : `${col} - ${starts[q]}u`;
    return q === parts.length - 1 ? `return ${element(q, local)};` : `if (${col} < ${starts[q] + ws[q].out}u) { return ${element(q, local)}; }`;
  }).join('\n  ');
  return plannedProduct(`${parts.map(({ layer }) => layer.name).join(' + ')} dX`, { M: 'n', N: inDim, K,
    a: { read: (r, c) => pick(c, (q, local) => `mem[${parts[q].dOut}u + ${r} * ${ws[q].out}u + ${local}]`) },
    b: { trans: true, read: (j, k) => pick(k, (q, local) => `mem[${ws[q].off}u + ${j} * ${ws[q].out}u + ${local}]`) },
    c: { off: dIn, ld: inDim }, mask: mask === undefined ? undefined : { off: mask, ld: inDim } }, at, plan.scratch);
}

/**
 * Where the step's split products keep their partial sums (after the parameters, their gradients and Adam's moments,
 * 4·P, and the layers' own memory), the most rows a step has (the batch's, and the decoder's), which size them, and
 * where a layer takes memory of its own, kept across the step (its phase weights, its filter gradient's partial
 * sums): networks.ts's placeLayers lays these out.
 */
export interface StepPlan { scratch: number; rows: number; decRows: number; own: Arena }

/** A convolution's output channels below this take the one-thread-per-output kernels: a 16-wide tile would idle. */
export const NARROW = 8;

/**
 * A convolution layer. Forward, the filter gradient and the input gradient are implicit GEMMs on tiledKernel
 * (the windows gathered as they are read), except forward and the filter gradient of a layer with few output
 * channels (a decoder's logits): one thread per output element; the filter gradient over chunks of the batch's
 * output positions, then summed (one workgroup per weight where its taps x channels are too many to chunk).
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
  // The decoder's convolutions of an upsampled input, by phase (4 of every 9 multiplications): upsampled.ts; a narrow
  // one's forward and input gradient (its filter gradient is chunked, below).
  const byPhase = upPhased(c) ? upsampledConv(name, c, { relu, P, scratch: plan.scratch, own: plan.own, maxRows, filterGrad: !narrow }) : null;
  if (byPhase && !narrow) {
    const { prepare, scratch, forwardScratch, forward, weightGrad, inputGrad } = byPhase;
    // Apart: the filter gradient writes the layer's own memory (the phases' gradients and their partial sums), the
    // input gradient reads the phase weights (its own too) and writes the scratch.
    return { name, out, prepare, scratch, forwardScratch, forward: (input, o) => forward(inMemory(input), o),
      weightGrad: (input, dOut) => weightGrad(inMemory(input), dOut), inputGrad: (dOut, dIn, mask, accumulate = false) => {
      if (accumulate) throw new Error('a convolution\'s input gradient is not accumulated');
      return inputGrad(dOut, inMemory(dIn), mask);
    } };
  }
  // A narrow layer's filter gradient: chunks of the batch's output positions (in the layer's own memory), then their sum.
  const chunked = narrow && chunkedWeightGrad(c);
  const chunks = (positions: number) => Math.ceil(positions / WEIGHT_GRAD_CHUNK);
  const chunksAt = chunked ? plan.own.take(chunks(maxRows * Ho * Wo) * (c.cin + 1) * taps * c.cout) : -1;
  // The filter gradient [taps·cin + 1, cout] (its last row the bias's: a row of ones in A) sums over every output
  // position of the batch: split.
  const fwd = productPlan(maxRows * Ho * Wo, c.cout, taps * c.cin, false);
  const dW = productPlan(taps * c.cin + 1, c.cout, maxRows * Ho * Wo, true);
  const dX = productPlan(maxRows * Hs * Ws, c.cin, copies * copies * taps * c.cout, false);
  const dWPartials = narrow ? -1 : plan.own.take(scratchOf(dW, taps * c.cin + 1, c.cout));
  const m = (positions: number) => (n: number, nk: number) => rowCount(rows, n, nk) * positions;
  /** A direct kernel's multiply-adds: every tap of every output (the padding's too). */
  const directFlops = (n: number, nk: number) => 2 * m(Ho * Wo)(n, nk) * weights;
  // A strided layer's input gradient by phase (as native/conv.cc): the input positions of each parity (py, px) are
  // reached by the taps of that parity alone, (k / s)² of the k² (a quarter at stride 2), so each phase is a product
  // over those taps only, instead of one over every tap of which three quarters gather zeros.
  const phased = c.s > 1 && !c.up && c.k % c.s === 0;
  const phaseTaps = (c.k / c.s) ** 2;
  const phases = phased ? Array.from({ length: c.s * c.s }, (_, i) => {
    const [py, px] = [Math.floor(i / c.s), i % c.s];
    // The first input row (column) of the phase: (iy + pt) ≡ py (mod s); then every s-th.
    const [y0, x0] = [(((py - pt) % c.s) + c.s) % c.s, (((px - pl) % c.s) + c.s) % c.s];
    const [hp, wp] = [Math.max(0, Math.ceil((c.H - y0) / c.s)), Math.max(0, Math.ceil((c.W - x0) / c.s))];
    return { py, px, y0, x0, hp, wp };
  }).filter((ph) => ph.hp > 0 && ph.wp > 0) : [];
  /**
   * The phases grouped by size (one group of four where the input's sides are even, as in every model here), each
   * group one batched product (phaseInputGrad), planned for all of its phases.
   */
  const phaseGroups = [...new Set(phases.map((ph) => `${ph.hp}x${ph.wp}`))].map((size) => {
    const group = phases.filter((ph) => `${ph.hp}x${ph.wp}` === size);
    const { hp, wp } = group[0];
    return { phases: group, hp, wp, plan: productPlan(group.length * maxRows * hp * wp, c.cin, phaseTaps * c.cout, false) };
  });
  /**
   * The input gradient of phases of one size (hp x wp): their positions (b, iy, ix) by their taps (ky, kx) =
   * (py + s·ay, px + s·ax) and co, the phases side by side (z) in one batched product.
   */
  const phaseInputGrad = ({ phases: group, hp, wp, plan: groupPlan }: (typeof phaseGroups)[number], dOut: number, dIn: number,
    mask?: number): Kernel[] => {
    const kw = c.k / c.s;
    /** WGSL: the value of `key` for the batch's phase z (u32 or i32 literals). */
    const pick = (key: 'py' | 'px' | 'y0' | 'x0' | 'dy' | 'dx', type: 'u' | 'i') => group.map((ph) => {
      const v = key === 'dy' ? ph.y0 + pt - ph.py : key === 'dx' ? ph.x0 + pl - ph.px : ph[key];
      return type === 'u' ? `${v}u` : `${v}`;
    }).reduce((acc, v, z) => (z === 0 ? v : `select(${acc}, ${v}, z == ${z}u)`));
    return plannedKernels(`${name} dX ${group.map((ph) => `${ph.py}${ph.px}`).join(' ')}`, { M: rowsOf(c, String(hp * wp)), N: c.cin,
      K: `${phaseTaps * c.cout}u`, aFast: 'k', bFast: 'k', batch: group.length,
      aAt: /* wgsl */ `let b = i / ${hp * wp}u;
  let p = i % ${hp * wp}u;
  let co = k % ${c.cout}u;
  let t = k / ${c.cout}u;
  let oy = (i32(p / ${wp}u) * ${c.s} + ${pick('dy', 'i')}) / ${c.s} - i32(t / ${kw}u);
  let ox = (i32(p % ${wp}u) * ${c.s} + ${pick('dx', 'i')}) / ${c.s} - i32(t % ${kw}u);
  if (oy < 0 || ox < 0 || oy >= ${Ho} || ox >= ${Wo}) { return 0.0; }
  return mem[${dOut}u + ((b * ${Ho}u + u32(oy)) * ${Wo}u + u32(ox)) * ${c.cout}u + co];`,
      bAt: `let t = k / ${c.cout}u;
  let tap = (${pick('py', 'u')} + ${c.s}u * (t / ${kw}u)) * ${c.k}u + ${pick('px', 'u')} + ${c.s}u * (t % ${kw}u);
  return mem[${c.off}u + (tap * ${c.cin}u + j) * ${c.cout}u + k % ${c.cout}u];`,
      store: `let b = i / ${hp * wp}u;
  let p = i % ${hp * wp}u;
  let at = ((b * ${Hs}u + ${pick('y0', 'u')} + ${c.s}u * (p / ${wp}u)) * ${Ws}u + ${pick('x0', 'u')} + ${c.s}u * (p % ${wp}u)) * ${c.cin}u + j;
  ${mask !== undefined ? `if (mem[${mask}u + at] <= 0.0) { mem[${dIn}u + at] = 0.0; return; }` : ''}
  mem[${dIn}u + at] = v;` }, groupPlan, plan.scratch, m(hp * wp), () => phaseTaps * c.cout);
  };
  const window = (pos: string, tapCi: string) => /* wgsl */ `
  let b = ${pos} / ${Ho * Wo}u;
  let p = ${pos} % ${Ho * Wo}u;
  let ci = ${tapCi} % ${c.cin}u;
  let tap = ${tapCi} / ${c.cin}u;
  let iy = i32(p / ${Wo}u) * ${c.s} + i32(tap / ${c.k}u) - ${pt};
  let ix = i32(p % ${Wo}u) * ${c.s} + i32(tap % ${c.k}u) - ${pl};
  if (iy < 0 || iy >= ${c.H} || ix < 0 || ix >= ${c.W}) { return 0.0; }`;
  return {
    name, out, prepare: byPhase?.prepare ?? [],
    scratch: Math.max(narrow ? 0 : scratchOf(fwd, maxRows * Ho * Wo, c.cout),
      byPhase ? byPhase.inputGradScratch : phased ? Math.max(...phaseGroups.map((g) => scratchOf(g.plan, maxRows * g.hp * g.wp, c.cin, g.phases.length)))
        : scratchOf(dX, maxRows * Hs * Ws, c.cin)),
    forwardScratch: narrow ? 0 : scratchOf(fwd, maxRows * Ho * Wo, c.cout),
    forward: (at, o) => {
      const input = inMemory(at);
      if (byPhase) return byPhase.narrowForward(input, o);
      if (narrow) {
        return [{ name: `${name} forward`, source: convForwardKernel(c, { input, out: o, relu }),
          groups: (n, nk) => flatGroups(rowCount(rows, n, nk) * out), flops: directFlops }];
      }
      return plannedKernels(`${name} forward`, { M: rowsOf(c, String(Ho * Wo)), N: c.cout, K: `${taps * c.cin}u`, aFast: 'k', bFast: 'j',
        aAt: `${window('i', 'k')}
  return mem[${input}u + ${storedInput(c)} + ci];`,
        bAt: `return mem[${c.off}u + k * ${c.cout}u + j];`,
        store: `var y = v + mem[${c.off + weights}u + j];
  ${relu ? 'y = max(y, 0.0);' : ''}
  mem[${o}u + i * ${c.cout}u + j] = y;` }, fwd, plan.scratch, m(Ho * Wo), () => taps * c.cin);
    },
    weightGrad: (at, dOut) => {
      const input = inMemory(at);
      if (chunked) {
        return [{ name: `${name} dW`, source: convWeightGradChunkKernel(c, { input, dOut, scratch: chunksAt }),
          groups: (n, nk) => [c.cin + 1, chunks(rowCount(rows, n, nk) * Ho * Wo)], flops: directFlops },
        convWeightGradSumKernel(`${name} dW sum`, c, { scratch: chunksAt, P })];
      }
      if (narrow) {
        const count = weights + c.cout; // one workgroup each
        return [{ name: `${name} dW`, source: convWeightGradKernel(c, { input, dOut, P }),
          groups: () => [Math.min(count, MAX_GROUPS), Math.ceil(count / MAX_GROUPS)], flops: directFlops }];
      }
      return plannedKernels(`${name} dW`, { M: `${taps * c.cin + 1}u`, N: c.cout, K: rowsOf(c, String(Ho * Wo)), aFast: 'i', bFast: 'j',
        store: `mem[${P + c.off}u + i * ${c.cout}u + j] = v;`,
        aAt: `if (i == ${taps * c.cin}u) { return 1.0; }
  ${window('k', 'i')}
  return mem[${input}u + ${storedInput(c)} + ci];`,
        bAt: `return mem[${dOut}u + k * ${c.cout}u + j];` }, dW, dWPartials, () => taps * c.cin + 1, m(Ho * Wo));
    },
    inputGrad: (dOut, sink, mask, accumulate = false) => {
      if (accumulate) throw new Error('a convolution\'s input gradient is not accumulated');
      const dIn = inMemory(sink);
      if (byPhase) return byPhase.inputGrad(dOut, dIn, mask);
      if (phased) return phaseGroups.flatMap((group) => phaseInputGrad(group, dOut, dIn, mask));
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
  mem[${dIn}u + i * ${c.cin}u + j] = v;` }, dX, plan.scratch, m(Hs * Ws), () => copies * copies * taps * c.cout);
    },
  };
}

/** The kernels that run `layers` forward, the first on `input`, each into its own output (`outs`). */
export function forwardStack(layers: Layer[], input: LayerInput, outs: number[]): Kernel[] {
  return layers.flatMap((l, i) => l.forward(i === 0 ? input : outs[i - 1], outs[i]));
}

/**
 * A weight gradient's (Layer.weightGrad's) first kernel, its product; what finishes it (the kernels after the first: a
 * split product's sum) goes into `later` instead, its i-th kernels into later[i − 1], for the step to run before Adam,
 * each stage in one dispatch (joinKernels).
 */
export function deferFinish(dW: Kernel[], later: Kernel[][]): Kernel[] {
  dW.slice(1).forEach((k, stage) => (later[stage] ??= []).push(k));
  return dW.slice(0, 1);
}

/**
 * The kernels back through `layers` (run forward by forwardStack from `input` into `outs`) from the gradient of the
 * last output: each layer's weight gradients, and the gradient of its input into the layer before's (masked by that
 * ReLU output); the first layer's input gradient goes to `dInput` (unmasked) when given, else nowhere. A layer's two
 * products in one dispatch (alongside). With `later`, what finishes each weight gradient goes there (deferFinish).
 */
export function backwardStack(layers: Layer[], input: LayerInput, outs: number[], dOuts: number[], dInput?: GradientSink,
  later?: Kernel[][]): Kernel[] {
  const kernels: Kernel[] = [];
  for (let i = layers.length - 1; i >= 0; i--) {
    const layer = layers[i];
    const dW = layer.weightGrad(i === 0 ? input : outs[i - 1], dOuts[i]);
    const dX = i > 0 ? layer.inputGrad(dOuts[i], dOuts[i - 1], outs[i - 1]) : dInput !== undefined ? layer.inputGrad(dOuts[i], dInput) : [];
    kernels.push(...alongside(later ? deferFinish(dW, later) : dW, dX));
  }
  return kernels;
}
