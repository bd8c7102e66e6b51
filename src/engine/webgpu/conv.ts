/**
 * Convolutions with TensorFlow's 'same' padding (as model/conv.ts), input [n, H, W, Cin] (with `up`, stored at half
 * the size and upsampled 2x, nearest, on the fly), kernel [k, k, Cin, Cout] with its bias after it, output
 * [n, Ho, Wo, Cout] with Ho = ceil(H / s): their geometry, the WGSL that gathers a window, and the direct kernels
 * (one thread per output, per weight or per input element) that layers.ts uses where a tiled product would idle.
 */
import { HEADER, Kernel, MAX_GROUPS, REDUCE, Rows, WORKGROUP_SUM, dim, flatJobKernel, flatKernel } from './wgsl';

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

export function convGeometry(c: ConvSpec) {
  const Ho = Math.ceil(c.H / c.s);
  const Wo = Math.ceil(c.W / c.s);
  const pt = Math.floor(Math.max((Ho - 1) * c.s + c.k - c.H, 0) / 2);
  const pl = Math.floor(Math.max((Wo - 1) * c.s + c.k - c.W, 0) / 2);
  const Hs = c.up ? c.H / 2 : c.H; // as stored
  const Ws = c.up ? c.W / 2 : c.W;
  return { Ho, Wo, pt, pl, Hs, Ws };
}

/** The rows × `dims` elements of a conv layer's tensors, in WGSL. */
export const rowsOf = (c: ConvSpec, dims: string) => `${dim(c.rows ?? 'n')} * ${dims}u`;

/** WGSL that splits the flat index `idx` of a [n, H, W, C] tensor into b, and y, x (as i32), and c named as given. */
function nhwc(names: [string, string, string, string], H: number, W: number, C: number): string {
  const [b, y, x, c] = names;
  return `let ${c} = idx % ${C}u;
  let ${x} = i32((idx / ${C}u) % ${W}u);
  let ${y} = i32((idx / ${C * W}u) % ${H}u);
  let ${b} = idx / ${H * W * C}u;`;
}

/** WGSL: the offset in a conv's stored input [n, Hs, Ws, cin] of channel 0 at (iy, ix) of its (upsampled) grid, for batch row b. */
export function storedInput(c: ConvSpec): string {
  const { Hs, Ws } = convGeometry(c);
  const half = c.up ? ' / 2' : '';
  return `((b * ${Hs}u + u32(iy${half})) * ${Ws}u + u32(ix${half})) * ${c.cin}u`;
}

/** WGSL: `body` for every tap (ky, kx) of output position (oy, ox) whose input (iy, ix) is inside the input. */
function eachTap(c: ConvSpec, body: string): string {
  const { pt, pl } = convGeometry(c);
  return `for (var ky = 0; ky < ${c.k}; ky++) {
    let iy = oy * ${c.s} + ky - ${pt};
    if (iy < 0 || iy >= ${c.H}) { continue; }
    for (var kx = 0; kx < ${c.k}; kx++) {
      let ix = ox * ${c.s} + kx - ${pl};
      if (ix < 0 || ix >= ${c.W}) { continue; }
      ${body}
    }
  }`;
}

/** y = conv(x) + b (ReLU), one thread per output element. */
export function convForwardKernel(c: ConvSpec, o: { input: number; out: number; relu: boolean }): string {
  const { Ho, Wo } = convGeometry(c);
  const per = Ho * Wo * c.cout;
  return flatKernel(rowsOf(c, String(per)), /* wgsl */ `${nhwc(['b', 'oy', 'ox', 'co'], Ho, Wo, c.cout)}
  var acc = mem[${c.off + c.k * c.k * c.cin * c.cout}u + co];
  ${eachTap(c, `let base = ${storedInput(c)};
      let wbase = u32(ky * ${c.k} + kx) * ${c.cin * c.cout}u + co;
      for (var ci = 0u; ci < ${c.cin}u; ci++) { acc = fma(mem[${o.input}u + base + ci], mem[${c.off}u + wbase + ci * ${c.cout}u], acc); }`)}
  ${o.relu ? 'acc = max(acc, 0.0);' : ''}
  mem[${o.out}u + idx] = acc;`);
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

/** Threads of a workgroup of the chunked filter gradient, and the output positions each of them takes. */
const CHUNK_THREADS = 64;
const CHUNK_PER_THREAD = 32;
/** Output positions of the batch a workgroup of the chunked filter gradient sums over. */
export const WEIGHT_GRAD_CHUNK = CHUNK_THREADS * CHUNK_PER_THREAD;
/** The most sums a thread of it keeps (taps x output channels): its workgroup holds 64 of each, in 16 KiB. */
export const WEIGHT_GRAD_SUMS = 64;

/** Whether a layer's filter gradient can be chunked (its taps x output channels fit WEIGHT_GRAD_SUMS). */
export const chunkedWeightGrad = (c: ConvSpec) => c.k * c.k * c.cout <= WEIGHT_GRAD_SUMS;

/**
 * The filter gradient of a layer with few output channels, in two kernels. First, over chunks of WEIGHT_GRAD_CHUNK
 * output positions of the batch, one workgroup per (input channel ci, chunk) (and per chunk for the bias), each
 * thread keeping the sums of every tap and output channel of ci over its positions (an input value read once feeds
 * all output channels; a chunk's output gradients are read by its workgroups in turn), the workgroup's sums added in
 * a fixed order into the chunk's partial sums at `scratch` [chunk][ci + 1][tap·cout + co]. Then
 * convWeightGradSumKernel adds the chunks, in order. The same sums as convWeightGradKernel, in another order.
 */
export function convWeightGradChunkKernel(c: ConvSpec, o: { input: number; dOut: number; scratch: number }): string {
  const { Ho, Wo } = convGeometry(c);
  const sums = c.k * c.k * c.cout;
  return HEADER + /* wgsl */ `
var<workgroup> part: array<f32, ${CHUNK_THREADS * sums}>;
@compute @workgroup_size(${CHUNK_THREADS})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let ci = wg.x; // ${c.cin}: the bias
  let chunk = wg.y;
  let positions = ${rowsOf(c, String(Ho * Wo))};
  var acc: array<f32, ${sums}>;
  for (var j = 0u; j < ${CHUNK_PER_THREAD}u; j++) {
    let p = chunk * ${WEIGHT_GRAD_CHUNK}u + j * ${CHUNK_THREADS}u + l.x;
    if (p >= positions) { break; }
    var d: array<f32, ${c.cout}>;
    for (var co = 0u; co < ${c.cout}u; co++) { d[co] = mem[${o.dOut}u + p * ${c.cout}u + co]; }
    if (ci == ${c.cin}u) {
      for (var co = 0u; co < ${c.cout}u; co++) { acc[co] += d[co]; }
      continue;
    }
    let ox = i32(p % ${Wo}u);
    let oy = i32((p / ${Wo}u) % ${Ho}u);
    let b = p / ${Ho * Wo}u;
    ${eachTap(c, `let xv = mem[${o.input}u + ${storedInput(c)} + ci];
      let at = u32(ky * ${c.k} + kx) * ${c.cout}u;
      for (var co = 0u; co < ${c.cout}u; co++) { acc[at + co] = fma(xv, d[co], acc[at + co]); }`)}
  }
  for (var a = 0u; a < ${sums}u; a++) { part[a * ${CHUNK_THREADS}u + l.x] = acc[a]; }
  workgroupBarrier();
  for (var a = l.x; a < ${sums}u; a += ${CHUNK_THREADS}u) {
    var total = 0.0;
    for (var t = 0u; t < ${CHUNK_THREADS}u; t++) { total += part[a * ${CHUNK_THREADS}u + t]; }
    mem[${o.scratch}u + (chunk * ${c.cin + 1}u + ci) * ${sums}u + a] = total;
  }
}`;
}

/** The chunks of convWeightGradChunkKernel added, in order, into the kernel's and the bias's gradients: one thread each. */
export function convWeightGradSumKernel(name: string, c: ConvSpec, o: { scratch: number; P: number }): Kernel {
  const { Ho, Wo } = convGeometry(c);
  const weights = c.k * c.k * c.cin * c.cout;
  const sums = c.k * c.k * c.cout;
  return flatJobKernel(name, `${weights + c.cout}u`, () => weights + c.cout, /* wgsl */ `let chunks = (${rowsOf(c, String(Ho * Wo))} + ${WEIGHT_GRAD_CHUNK - 1}u) / ${WEIGHT_GRAD_CHUNK}u;
  var ci = ${c.cin}u;
  var a = idx - ${weights}u;
  if (idx < ${weights}u) {
    ci = (idx / ${c.cout}u) % ${c.cin}u;
    a = (idx / ${c.cout * c.cin}u) * ${c.cout}u + idx % ${c.cout}u;
  }
  var total = 0.0;
  for (var chunk = 0u; chunk < chunks; chunk++) { total += mem[${o.scratch}u + (chunk * ${c.cin + 1}u + ci) * ${sums}u + a]; }
  mem[${o.P + c.off}u + idx] = total;`);
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
  return flatKernel(rowsOf(c, String(per)), /* wgsl */ `${nhwc(['b', 'sy', 'sx', 'ci'], Hs, Ws, c.cin)}
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
  mem[${o.dIn}u + idx] = acc;`);
}
