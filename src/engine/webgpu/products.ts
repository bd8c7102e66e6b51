/**
 * Products on the GPU: one register-tiled GEMM kernel (tiledKernel) that every dense layer and convolution runs on,
 * in the tile shape, split and form plan.ts gives it, and the sum of a split product's partials. A dense layer's
 * product is a ProductSpec (operands in `mem`, with what its store adds: bias, activation, mask, accumulation); a
 * convolution gives tiledKernel its gathered windows as WGSL (conv layers).
 */
import { chunkStep, depthOf, halfDirectives, halfFunctions, matrixLd, matrixOf, matrixResults, matrixTile, subgroupPassing, tileValue } from './half';
import { TK, prefetching, rowParts, tileDepth, tnFor, vectorBlocks } from './plan';
import { Dim, Groups, HEADER, Kernel, MAX_GROUPS, dim, flatGroups, flatJobKernel, flatKernel, rowCount } from './wgsl';

/** Floats of scratch a planned product of M x N (`batch` of them) needs for its partial sums. */
export const scratchOf = (p: { splits: number }, M: number, N: number, batch = 1) => (p.splits > 1 ? batch * p.splits * M * N : 0);

/**
 * A matrix: its element (i, j) stored at (i, j), or at (j, i) when `trans`; in `mem` at off + row·ld + column, or made as
 * it is read (`read`: WGSL statements that return the stored element (row, col), e.g. the code's sample from μ, log σ², ε).
 */
export type Operand = ({ off: number; ld: number } | { read: (row: string, col: string) => string }) & { trans?: boolean };

export interface ProductSpec {
  /** C [M, N] = A [M, K] · B [K, N] (+ bias) (ReLU) (⊙ [mask > 0]) (+ C when accumulating). */
  M: Dim;
  N: number;
  K: Dim;
  a: Operand;
  b: Operand;
  /** C at off, rows ld apart; or a WGSL body of store(i, j, v) that takes each element (no bias, activation, mask, accumulation). */
  c: { off: number; ld: number } | { store: string };
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
export function productTiled(p: ProductSpec) {
  const stored = (o: Operand, r: string, c: string) => ('read' in o ? o.read(r, c) : `return mem[${o.off}u + ${r} * ${o.ld}u + ${c}];`);
  const at = (o: Operand, r: string, c: string) => (o.trans ? stored(o, c, r) : stored(o, r, c));
  const lastRow = typeof p.M === 'number' ? `${p.M - 1}u` : `${dim(p.M)} - 1u`;
  return {
    M: dim(p.M), N: p.N, K: dim(p.K),
    aAt: `${p.onesRow ? `if (i == ${lastRow}) { return 1.0; }` : ''}
  ${at(p.a, 'i', 'k')}`,
    bAt: at(p.b, 'k', 'j'),
    aFast: p.a.trans ? 'i' as const : 'k' as const,
    bFast: p.b.trans ? 'k' as const : 'j' as const,
    store: 'store' in p.c ? p.c.store : `let o = ${p.c.off}u + i * ${p.c.ld}u + j;
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
export function productGroups(p: ProductSpec, n: number, nk = n): Groups {
  return tiledGroups({ N: p.N, ...wholeProduct(p.N) }, rowCount(p.M, n, nk));
}

/**
 * A register-tiled product for the GPU's heavy layers: C [M, N] = A [M, K] · B [K, N], where A and B are WGSL
 * functions of their indices (a convolution's gathered windows, its transposed filter: an implicit GEMM). Each
 * workgroup of 256 threads computes a tile of (16·tm) x (16·tn) of C through tiles 16 deep of A and B in workgroup
 * memory, each thread a tm x tn block of accumulators (rows ty + 16r, columns tx + 16c: no bank conflicts; in the
 * vector form rows ty·tm + r, columns tx·tn + c, read as vectors: plan.ts's TileForm).
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
  /**
   * Products side by side in one dispatch (workgroups along z; default 1), each M x N over K: the WGSL of a_at, b_at
   * and store reads which one as `z` (the phases of a convolution: their operands differ, their sizes do not).
   */
  batch?: number;
  /** The depth of its tiles along K (default TK; a multiple of it). */
  tk?: number;
  /** Each thread's block of C is consecutive rows and columns, its values of A and B read as vectors (plan.ts). */
  vector?: boolean;
  /** The rows of C it computes, [first, end) (default all M: plannedKernels may cut a product in two, plan.ts's rowParts). */
  rows?: [number, number];
  /** The vector widths of its tiles of A and B in workgroup memory (default: the form's; rows left over take the whole tiles'). */
  widths?: [number, number];
}

/**
 * A kernel that is one tiled product (plannedKernels), with its parts (the whole, or its whole tiles and the rows left
 * over) and their rows in a step: alongside can run it with others.
 */
interface ProductKernel extends Kernel {
  product: { spec: TiledSpec; m: (n: number, nk: number) => number }[];
}

/** The tiled product a kernel is (its parts), if it is one. */
const productOf = (k: Kernel | undefined) => (k as ProductKernel | undefined)?.product;

export function tiledKernel(p: TiledSpec): string {
  return halfDirectives() + HEADER + tiledWorkgroupMemory([p]) + tiledProduct(p, '') + productMain(`product(wg, t${subgroupPassing().arg});`);
}

/** A kernel of products' entry point: `body` run by thread t of workgroup wg (and its subgroup sg, for the matrix form). */
const productMain = (body: string) => /* wgsl */ `
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32${subgroupPassing().builtin}) {
  ${body}
}`;

/**
 * How a product's tile of A (of B) lies in workgroup memory: as vectors of w floats (f32 where w is 1), each of its
 * tk steps of K ld floats apart (padded by w: the loads along k then write a column without bank conflicts, and a
 * thread's vector stays aligned), in the variable `name` of WGSL type array<`type`> (in the matrix form, f16s).
 */
function tileLayout(p: TiledSpec, side: 'a' | 'b') {
  const tile = side === 'a' ? p.tm : p.tn;
  if (matrixOf(p)) return { w: 1, ld: matrixLd(tile), name: `t${side}_h`, type: 'f16' }; // the matrix form's (half.ts)
  const w = p.widths?.[side === 'a' ? 0 : 1] ?? (p.vector ? Math.min(tile, 4) : 1);
  return { w, ld: 16 * tile + w, name: w === 1 ? `t${side}` : `t${side}${w}`, type: w === 1 ? 'f32' : `vec${w}<f32>` };
}

/** A tile's element (kk, q) in workgroup memory: a float, or a vector's component. */
const tileSlot = ({ name, ld, w }: { name: string; ld: number; w: number }, kk: string, q: string) =>
  (w === 1 ? `${name}[${kk} * ${ld}u + ${q}]` : `${name}[${kk} * ${ld / w}u + (${q}) / ${w}u][(${q}) % ${w}u]`);

/** The tiles in workgroup memory, each as large as the largest of these products needs, and the product's `z`. */
function tiledWorkgroupMemory(ps: TiledSpec[]): string {
  const tiles = (side: 'a' | 'b') => {
    const sizes = new Map<string, { w: number; type: string; size: number }>();
    for (const p of ps) {
      const { w, ld, name, type } = tileLayout(p, side);
      sizes.set(name, { w, type, size: Math.max(sizes.get(name)?.size ?? 0, ((p.tk ?? TK) * ld) / w) });
    }
    return [...sizes].sort(([, a], [, b]) => a.w - b.w)
      .map(([name, { type, size }]) => `var<workgroup> ${name}: array<${type}, ${size}>;`).join('\n');
  };
  const matrix = ps.map(matrixOf).find((m) => m);
  return /* wgsl */ `
${tiles('a')}
var<private> z: u32;
${tiles('b')}${matrix ? `\n${matrixResults(matrix)}` : ''}${halfFunctions()}
`;
}

/**
 * WGSL: tiledKernel's product as fn product<id>(wg: vec3u, t: u32), the workgroup wg's tile of it by its thread t (of
 * 256), with its a_at<id>, b_at<id> and store<id>.
 */
function tiledProduct(p: TiledSpec, id: string): string {
  const BM = 16 * p.tm, BN = 16 * p.tn, tk = p.tk ?? TK;
  const A = tileLayout(p, 'a'), B = tileLayout(p, 'b'), matrix = matrixOf(p), step = chunkStep(matrix, tk);
  const nt = Math.ceil(p.N / BN);
  const acc = (r: number, c: number) => `c${r}_${c}`;
  const rs = Array.from({ length: p.tm }, (_, r) => r), cs = Array.from({ length: p.tn }, (_, c) => c);
  /**
   * A thread's accumulator r of `count`: its row (column) in the tile, tx or ty being `at`: 16 apart, or in the
   * vector form consecutive; and how it reads, a step kk of K, the tile's values for its block (`reads`), each value
   * then being `value(r)`.
   */
  const block = (t: { w: number; ld: number; name: string }, count: number, at: string, v: string) => (p.vector ? {
    offset: (r: number) => `${at} * ${count}u + ${r}u`,
    reads: Array.from({ length: count / t.w }, (_, g) => `let ${v}${g} = ${t.name}[kk * ${t.ld / t.w}u + ${at} * ${count / t.w}u + ${g}u];`).join(' '),
    value: (r: number) => (t.w === 1 ? `${v}${r}` : `${v}${Math.floor(r / t.w)}.${'xyzw'[r % t.w]}`),
  } : {
    offset: (r: number) => `${at} + ${16 * r}u`,
    reads: Array.from({ length: count }, (_, r) => `let ${v}${r} = ${tileSlot(t, 'kk', `${at} + ${16 * r}u`)};`).join(' '),
    value: (r: number) => `${v}${r}`,
  });
  const rowsOf = block(A, p.tm, 'ty', 'a'), colsOf = block(B, p.tn, 'tx', 'b');
  /**
   * A tile's loads (the tile's 16·count x tk elements over 256 threads, count·tk/16 a thread): element e = t + 256·r
   * is at (k index kk, other index q) of the tile, the same for every tile of K; each read and written into
   * workgroup memory (load), or in the prefetch form read into a register (fetch) while the tile before is
   * multiplied, then written (put).
   */
  const tileLoads = (name: string, { name: tile, ld, w }: { name: string; ld: number; w: number }, count: number, fastIsRow: boolean,
    at: (q: string, k: string) => string, inRange: (q: string, k: string) => string) => {
    const rows = 16 * count; // the tile's extent along its non-k index
    const slot = (kk: string, q: string) => tileSlot({ name: tile, ld, w }, kk, q);
    /** Element e's (k index, other index) in the tile. */
    const place = (e: string) => (fastIsRow ? { kk: `${e} / ${rows}u`, q: `${e} % ${rows}u` } : { kk: `${e} % ${tk}u`, q: `${e} / ${tk}u` });
    const each = Array.from({ length: (count * tk) / 16 }, (_, r) => ({ ...place(`(t + ${256 * r}u)`), reg: `${name}${r}` }));
    return {
      declare: each.map(({ reg }) => `var ${reg} = 0.0;`).join(' '),
      fetch: (k0: string) => each.map(({ kk, q, reg }) => `${reg} = 0.0;
    if (${inRange(q, `${k0} + ${kk}`)}) { ${reg} = ${at(q, `${k0} + ${kk}`)}; }`).join('\n    '),
      put: each.map(({ kk, q, reg }) => `${slot(kk, q)} = ${tileValue(reg, matrix)};`).join('\n    '),
      // The tile in a loop over its elements, each read and written (lavapipe runs this form 1.3x as fast as either
      // of the above, unrolled).
      load: (k0: string) => `for (var e = t; e < ${rows * tk}u; e += 256u) {
      let kk = ${place('e').kk};
      let q = ${place('e').q};
      var v = 0.0;
      if (${inRange('q', `${k0} + kk`)}) { v = ${at('q', `${k0} + kk`)}; }
      ${slot('kk', 'q')} = ${tileValue('v', matrix)};
    }`,
    };
  };
  const aLoads = tileLoads('pa', A, p.tm, p.aFast === 'i', (q, k) => `a_at${id}(i0 + ${q}, ${k})`, (q, k) => `i0 + ${q} < M && ${k} < k_end`);
  const bLoads = tileLoads('pb', B, p.tn, p.bFast === 'j', (q, k) => `b_at${id}(${k}, j0 + ${q})`, (q, k) => `j0 + ${q} < ${p.N}u && ${k} < k_end`);
  if (p.splits > 1 && p.scratch === undefined) throw new Error('a split product needs its scratch');
  if (p.splits === 1 && p.store === undefined) throw new Error('a product needs its store');
  const out = p.splits > 1 ? `mem[${p.scratch}u + ((z * ${p.splits}u + split) * M + i) * ${p.N}u + j] = v;` : `store${id}(i, j, v);`;
  const mx = matrix && matrixTile(matrix, { bm: BM, bn: BN, tk, lda: A.ld, ldb: B.ld, N: p.N, out }); // in place of the threads' blocks
  return /* wgsl */ `
fn a_at${id}(i: u32, k: u32) -> f32 {
  ${p.aAt}
}
fn b_at${id}(k: u32, j: u32) -> f32 {
  ${p.bAt}
}
${p.store !== undefined ? `fn store${id}(i: u32, j: u32, v: f32) {
  ${p.store}
}` : ''}
fn product${id}(wg: vec3u, t: u32${subgroupPassing().param}) {
  z = wg.z;
  let M = ${p.M};
  let K = ${p.K};
  let split = wg.x / ${nt}u;
  let j0 = (wg.x % ${nt}u) * ${BN}u;
  let i0 = ${p.rows?.[0] ? `${p.rows[0]}u + ` : ''}wg.y * ${BM}u;
  let chunk = ((K + ${p.splits * step - 1}u) / ${p.splits * step}u) * ${step}u;
  let k_begin = min(K, split * chunk);
  let k_end = min(K, k_begin + chunk);
  let tx = t % 16u;
  let ty = t / 16u;
  ${mx ? mx.setup : rs.flatMap((r) => cs.map((c) => `var ${acc(r, c)} = 0.0;`)).join(' ')}
  ${prefetching() ? `${aLoads.declare} ${bLoads.declare}
  ${aLoads.fetch('k_begin')}
  ${bLoads.fetch('k_begin')}` : ''}
  for (var k0 = k_begin; k0 < k_end; k0 += ${tk}u) {
    ${prefetching() ? `${aLoads.put}
    ${bLoads.put}` : `${aLoads.load('k0')}
    ${bLoads.load('k0')}`}
    workgroupBarrier();
    ${prefetching() ? `// The next tile's loads, in flight while this one is multiplied (none after the last).
    ${aLoads.fetch(`k0 + ${tk}u`)}
    ${bLoads.fetch(`k0 + ${tk}u`)}` : ''}
    ${mx ? mx.multiply : `for (var kk = 0u; kk < ${tk}u; kk++) {
      ${rowsOf.reads}
      ${colsOf.reads}
      ${rs.flatMap((r) => cs.map((c) => `${acc(r, c)} = fma(${rowsOf.value(r)}, ${colsOf.value(c)}, ${acc(r, c)});`)).join('\n      ')}
    }`}
    workgroupBarrier();
  }
  ${mx ? mx.store : rs.flatMap((r) => cs.map((c) => `{
    let i = i0 + ${rowsOf.offset(r)};
    let j = j0 + ${colsOf.offset(c)};
    let v = ${acc(r, c)};
    if (i < M && j < ${p.N}u) { ${out} }
  }`)).join('\n  ')}
}
`;
}

/** Workgroups of a tiled product with m rows (or its `rows`), times its batch along z. */
export function tiledGroups(p: Pick<TiledSpec, 'N' | 'tm' | 'tn' | 'splits' | 'batch' | 'rows'>, m: number): Groups {
  const rows = p.rows ? p.rows[1] - p.rows[0] : m;
  const groups: [number, number] = [Math.ceil(p.N / (16 * p.tn)) * p.splits, Math.ceil(rows / (16 * p.tm))];
  return (p.batch ?? 1) > 1 ? [...groups, p.batch!] : groups;
}

/**
 * C = the sum of a split product's partials [batch, splits, M, N] at scratch, in split order: one thread per element
 * of each C (`rows(n, nk)`: M in a step), `store` run on it (a flat kernel with its job: sums may run side by side).
 */
export function tiledSumKernel(name: string, p: { M: string; N: number; splits: number; scratch: number; store: string; batch?: number },
  rows: (n: number, nk: number) => number): Kernel {
  const batch = p.batch ?? 1;
  return flatJobKernel(name, `${batch}u * ${p.M} * ${p.N}u`, (n, nk) => batch * rows(n, nk) * p.N, /* wgsl */ `let size = ${p.M} * ${p.N}u;
  let z = idx / size;
  let at = idx % size;
  var v = 0.0;
  for (var s = 0u; s < ${p.splits}u; s++) { v += mem[${p.scratch}u + (z * ${p.splits}u + s) * size + at]; }
  let i = at / ${p.N}u;
  let j = at % ${p.N}u;
  {
  ${p.store}
  }`);
}

/**
 * A product as planned (productPlan): one tiled kernel, or the split kernel and the sum of its partials, which
 * applies `store` (bias, activation, mask or accumulation); where its M is fixed and a last tile would be mostly
 * empty, the kernel computes its whole tiles and the rows left over side by side (rowParts). `m(n, nk)`, `k(n, nk)`:
 * its rows and depth in a step.
 */
export function plannedKernels(name: string, t: Omit<TiledSpec, 'tm' | 'tn' | 'splits' | 'scratch' | 'store'> & { store: string },
  p: { tm: number; tn: number; splits: number }, scratch: number, m: (n: number, nk: number) => number,
  k: (n: number, nk: number) => number): [ProductKernel, ...Kernel[]] {
  const inForm = (tm: number): TiledSpec => ({ ...t, tm, tn: p.tn, splits: p.splits, tk: depthOf({ tm, tn: p.tn }, tileDepth(p)),
    ...(vectorBlocks() && tm * p.tn > 1 ? { vector: true } : {}), ...(p.splits > 1 ? { scratch, store: undefined } : {}) });
  const batch = t.batch ?? 1;
  const flops = (n: number, nk: number) => 2 * batch * m(n, nk) * t.N * k(n, nk);
  const [whole, ...left] = rowParts(t.M, p.tm).map(({ tm, rows }) => ({ ...inForm(tm), ...(rows ? { rows } : {}) }));
  // The rows left over in the whole tiles' arrays of workgroup memory, read a float at a time.
  const widths: [number, number] = [tileLayout(whole, 'a').w, tileLayout(whole, 'b').w];
  const specs = [whole, ...left.map((spec) => ({ ...spec, vector: undefined, widths }))];
  const parts = specs.map((spec) => ({ spec, m }));
  const head: ProductKernel = parts.length === 1
    ? { name, source: tiledKernel(specs[0]), groups: (n, nk) => tiledGroups(specs[0], m(n, nk)), flops, product: parts }
    : { name, source: sideBySideKernel(specs), groups: (n, nk) => sideBySideGroups(specs, specs.map(() => m(n, nk))), flops, product: parts };
  if (p.splits === 1) return [head];
  return [head, tiledSumKernel(`${name} sum`, { M: t.M, N: t.N, splits: p.splits, scratch, store: t.store, batch }, m)];
}

/**
 * Products that do not depend on each other (none reads what another writes) in one kernel: the workgroups of each,
 * one product after the other along a flat index, each workgroup computing the tile of the product its index falls
 * in. Each product is computed as tiledKernel computes it alone (its tiles, its chunks of K, its order of sums): the
 * same bits, in one dispatch instead of several. A dispatch costs ~6 µs in a pass on the H200 (../shared/gpu): at
 * batch 128, where a step's products are small, that is more than most of them take.
 */
export function sideBySideKernel(ps: TiledSpec[]): string {
  const place = (p: TiledSpec, q: number) => {
    const [gx, gy, gz = 1] = tiledGroups(p, 0); // its workgroups along x and z (along y: its rows', below, or `rows`')
    return /* wgsl */ `
  let gy${q} = ${p.rows ? `${gy}u` : `((${p.M}) + ${16 * p.tm - 1}u) / ${16 * p.tm}u`};
  if (id < ${gx}u * gy${q} * ${gz}u) {
    product_${q}(vec3u(id % ${gx}u, (id / ${gx}u) % gy${q}, id / (${gx}u * gy${q})), t${subgroupPassing().arg});
    return;
  }
  id -= ${gx}u * gy${q} * ${gz}u;`;
  };
  return halfDirectives() + HEADER + tiledWorkgroupMemory(ps) + ps.map((p, q) => tiledProduct(p, `_${q}`)).join('') +
    productMain(`var id = wg.y * ${MAX_GROUPS}u + wg.x;${ps.map(place).join('')}`);
}

/** Workgroups of sideBySideKernel's products, the q-th with rows[q] rows: all of theirs, along a flat index. */
export function sideBySideGroups(ps: TiledSpec[], rows: number[]): Groups {
  const total = ps.reduce((sum, p, q) => {
    const [x, y, z = 1] = tiledGroups(p, rows[q]);
    return sum + x * y * z;
  }, 0);
  return [Math.min(total, MAX_GROUPS), Math.ceil(total / MAX_GROUPS)];
}

/**
 * The kernels of jobs that do not depend on each other (each a list of kernels run in its order): the first kernel
 * of each, where it is a tiled product (plannedKernels), in one dispatch (sideBySideKernel), then the rest of each
 * list (a split product's sum), then the jobs that could not join. Split products whose partial sums start at the
 * same place (the step's shared scratch) cannot: the second runs after, on its own (a layer's filter gradient keeps
 * its partial sums in memory of its own: layers.ts). Only for jobs that touch no memory in common but what they all
 * only read: the caller knows; nothing here checks.
 */
export function alongside(...jobs: Kernel[][]): Kernel[] {
  const partials = new Set<number | undefined>();
  const joined = jobs.filter((job) => {
    const p = productOf(job[0])?.[0];
    if (!p) return false;
    if (p.spec.splits === 1) return true;
    if (partials.has(p.spec.scratch)) return false;
    partials.add(p.spec.scratch);
    return true;
  });
  if (joined.length < 2) return jobs.flat();
  const heads = joined.map((job) => job[0]);
  const parts = heads.flatMap((k) => productOf(k)!);
  const specs = parts.map((p) => p.spec);
  const together: Kernel = {
    name: heads.map((k) => k.name).join(' + '),
    source: sideBySideKernel(specs),
    groups: (n, nk) => sideBySideGroups(specs, parts.map((p) => p.m(n, nk))),
    flops: (n, nk) => heads.reduce((sum, k) => sum + (k.flops?.(n, nk) ?? 0), 0),
  };
  return [together, ...joined.flatMap((job) => job.slice(1)), ...jobs.filter((job) => !joined.includes(job)).flat()];
}
