/**
 * Half-precision products (VAE_GPU_F16=1, an experiment): every tiled product (products.ts) multiplies f16 copies of
 * its operands, summing in f32, as PyTorch's convolutions do by default in TF32 (operands rounded to 10 bits of
 * mantissa; f16 has as many, with a narrower range). Where the adapter has f16 → f32 subgroup matrices (Dawn's
 * `chromium-experimental-subgroup-matrix`, Vulkan's cooperative matrices: an NVIDIA GPU's tensor cores), the tiles
 * staged in workgroup memory are f16 and each subgroup multiplies matrices of them (`matrix`); elsewhere the tiles hold
 * the f32 values of the rounded operands and the threads multiply them as before (`rounded`: the same numbers but for
 * the order of the sums inside a matrix multiply, no faster; what the tests check on any adapter). Not the CPU's
 * numbers: a run trained so is compared with the CPU within the rounding's tolerance, not to the bit.
 *
 * Operands are clamped to f16's finite range (±65,504) before rounding: WGSL leaves the conversion of larger values
 * undefined.
 */

import type { HalfProducts, MatrixShape } from '../../gpu-device';
import { TK, deepTiles } from './plan';

export type { HalfProducts, MatrixShape };

/** Threads of a tiled product's workgroup (products.ts). */
const THREADS = 256;

let half: HalfProducts | null = null;

/** `build` (which makes kernels) with its tiled products in half precision (`h`), or in f32 (null). */
export function withHalfProducts<T>(h: HalfProducts | null, build: () => T): T {
  const was = half;
  half = h;
  try {
    return build();
  } finally {
    half = was;
  }
}

/**
 * The matrix units' shape for a tiled product (products.ts: tiles of 16·tm x 16·tn, tk deep), where the products
 * being built use them and its tile is made of whole matrices; undefined where the product is rounded and multiplied
 * in f32 (or not half at all).
 */
export function matrixOf(p: { tm: number; tn: number; tk?: number }): MatrixShape | undefined {
  const m = half?.matrix;
  return m && (16 * p.tm) % m.m === 0 && (16 * p.tn) % m.n === 0 && (p.tk ?? TK) % m.k === 0 && THREADS % m.subgroup === 0 ? m : undefined;
}

/**
 * In the matrix form, a split product's chunks of K are multiples of this whatever its tiles' depth (the same chunks,
 * hence the same sums, in every form), and the `deep` form's tiles are this deep.
 */
const MATRIX_DEPTH = 64;

/**
 * The depth of a planned product's tiles, plan.ts's `tk` but in the matrix form's `deep` form: MATRIX_DEPTH where
 * its tiles (A's and B's in f16, the results in f32) fit the device's workgroup memory. A quarter of the barriers and
 * loads in flight a step for the same sums: the same matrix multiplies in the same order along K (past K's end, on
 * zeros: adding 0 · 0 leaves a sum as it is).
 */
export function depthOf(p: { tm: number; tn: number }, tk: number): number {
  const m = matrixOf({ ...p, tk });
  if (!m || !deepTiles()) return tk;
  const bytes = 2 * MATRIX_DEPTH * (matrixLd(p.tm) + matrixLd(p.tn)) + 4 * resultFloats(m);
  return bytes <= m.workgroupBytes ? MATRIX_DEPTH : tk;
}

/** What a split product's chunks of K are multiples of: its tiles' depth, or in the matrix form MATRIX_DEPTH. */
export const chunkStep = (matrix: MatrixShape | undefined, tk: number) => (matrix ? MATRIX_DEPTH : tk);

/**
 * In the matrix form, the f16 elements between two steps of K of a tile 16·tile wide in workgroup memory: padded by
 * 8, so that each step starts 16 bytes after a multiple of 16 (aligned for the matrices' loads).
 */
export const matrixLd = (tile: number) => 16 * tile + 8;

/** The floats of the matrix form's results in workgroup memory: each subgroup's one matrix. */
const resultFloats = (m: MatrixShape) => (THREADS / m.subgroup) * m.m * m.n;

/** How the engine's line says the products multiply, where they are in half precision. */
export const halfLine = (h: HalfProducts | undefined) => (h === undefined ? '' : h.matrix
  ? `, products in f16 on ${h.matrix.m}x${h.matrix.n}x${h.matrix.k} subgroup matrices (VAE_GPU_F16)`
  : ', products on f16-rounded operands (VAE_GPU_F16; this adapter has no f16 subgroup matrices)');

/** The directives a kernel of the products being built opens with (the f16 type and subgroup matrices). */
export const halfDirectives = () => (half?.matrix ? 'enable f16;\nenable chromium_experimental_subgroup_matrix;\n' : '');

/** WGSL: x clamped to f16's finite range (its conversion to f16 is then defined). */
const clamped = (x: string) => `clamp(${x}, -65504.0, 65504.0)`;

/**
 * WGSL of the value a tile of the products being built holds for operand value x: an f16 in the matrix form (`matrix`,
 * the product's shape), else the f32 of x rounded to f16 in half precision, or x itself.
 */
export function tileValue(x: string, matrix: MatrixShape | undefined): string {
  if (matrix) return `f16(${clamped(x)})`;
  return half ? `half_of(${x})` : x;
}

/**
 * WGSL: fn half_of(x: f32) -> f32, x rounded to the nearest f16 (ties to even), in f32: below f16's smallest normal
 * (2^-14) to a multiple of 2^-24, above it to 11 significant bits (adding 0xfff and the kept part's last bit, then
 * dropping 13 bits: a carry moves into the exponent). Not unpack2x16float(pack2x16float(x)), which lavapipe's
 * compiler folds into x. In every kernel of half products: with subgroup matrices too, for a product whose tile is not
 * made of whole matrices.
 */
export const halfFunctions = () => (half ? /* wgsl */ `
fn half_of(x: f32) -> f32 {
  let c = ${clamped('x')};
  if (abs(c) < 6.103515625e-5) { return round(c * 16777216.0) / 16777216.0; }
  let b = bitcast<u32>(c);
  return bitcast<f32>((b + 0xfffu + ((b >> 13u) & 1u)) & 0xffffe000u);
}
` : '');

/**
 * In a kernel of the products being built with subgroup matrices: the subgroup as a parameter of each product's
 * function (`param`), its argument there (`arg`, main's builtin) and main's builtin (`builtin`). A parameter, not a
 * module variable: matrix loads and stores need offsets that WGSL's analysis can see are uniform in the subgroup.
 */
export const subgroupPassing = () => (half?.matrix
  ? { param: ', sg_h: u32', arg: ', sg', builtin: ', @builtin(subgroup_id) sg: u32' } : { param: '', arg: '', builtin: '' });

/** Workgroup memory of the matrix form's results: each subgroup's one matrix, stored there to be written out. */
export const matrixResults = (m: MatrixShape) => `var<workgroup> tc_h: array<f32, ${resultFloats(m)}>;`;

/**
 * WGSL of a tile's product in the matrix form, in three parts: `setup` (each subgroup's matrices of the tile and their
 * accumulators), `multiply` (a step of tk along K, the tiles of A and B in workgroup memory: A's as [kk·lda + i], B's
 * as [kk·ldb + j]) and `store` (each accumulator written out through workgroup memory, `out` run on each element (i, j)
 * of C with its value v where i < M and j < N). A tile of bm x bn holds (bm/m)·(bn/n) matrices, shared among the
 * workgroup's subgroups, `per` each (consecutive ones: a subgroup's share of a row of matrices reads its left matrix
 * once); where the subgroups outnumber them, the extra ones repeat the last matrix and write nothing. No control flow
 * depends on the subgroup: matrix loads and multiplies stay in uniform control flow.
 */
export function matrixTile(m: MatrixShape, { bm, bn, tk, lda, ldb, N, out }: { bm: number; bn: number; tk: number; lda: number; ldb: number;
  N: number; out: string }) {
  const groups = THREADS / m.subgroup, across = bn / m.n, count = (bm / m.m) * across;
  const per = Math.ceil(count / groups);
  const each = (line: (s: number) => string) => Array.from({ length: per }, (_, s) => line(s)).join('\n    ');
  const left = `subgroup_matrix_left<f16, ${m.k}, ${m.m}>`, right = `subgroup_matrix_right<f16, ${m.n}, ${m.k}>`;
  const size = m.m * m.n;
  // A's matrix for C's matrix q; one load a step for all of a subgroup's, where they lie in one row of the tile.
  const leftAt = (q: string) => `subgroupMatrixLoad<${left}, col_major>(&ta_h, kk * ${lda}u + (${q} / ${across}u) * ${m.m}u, ${lda}u)`;
  const oneRow = per > 1 && across % per === 0 && count % per === 0;
  return {
    setup: `var acc: array<subgroup_matrix_result<f32, ${m.n}, ${m.m}>, ${per}>;
  ${each((s) => `let q${s} = min(sg_h * ${per}u + ${s}u, ${count - 1}u);`)}`,
    multiply: `for (var kk = 0u; kk < ${tk}u; kk += ${m.k}u) {
    ${oneRow ? `let l = ${leftAt('q0')};` : ''}
    ${each((s) => `acc[${s}] = subgroupMatrixMultiplyAccumulate(${oneRow ? 'l' : leftAt(`q${s}`)},
      subgroupMatrixLoad<${right}, row_major>(&tb_h, kk * ${ldb}u + (q${s} % ${across}u) * ${m.n}u, ${ldb}u), acc[${s}]);`)}
  }`,
    // Subgroup g's matrix s at tc_h[g·size]; then every thread writes elements of them (t + 256·r), whichever subgroup's.
    store: each((s) => `subgroupMatrixStore<row_major>(&tc_h, sg_h * ${size}u, acc[${s}], ${m.n}u);
  workgroupBarrier();
  for (var e = t; e < ${groups * size}u; e += ${THREADS}u) {
    let g = e / ${size}u;
    let q = g * ${per}u + ${s}u;
    let i = i0 + (q / ${across}u) * ${m.m}u + (e % ${size}u) / ${m.n}u;
    let j = j0 + (q % ${across}u) * ${m.n}u + e % ${m.n}u;
    let v = tc_h[e];
    if (q < ${count}u && i < M && j < ${N}u) { ${out} }
  }
  workgroupBarrier();`),
  };
}
