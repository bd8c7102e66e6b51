/**
 * Half-precision products (VAE_GPU_F16=1, engine/webgpu/half.ts) on the machine's adapter: each tiled product
 * against its definition on f16-rounded operands in double precision (and not the unrounded one's: the rounding is
 * there), the same bits in every tile form, and a whole training step against the CPU engine's within the rounding's
 * tolerance. On lavapipe (bookworm's Mesa 25: no subgroup matrices) the products are rounded and multiplied in f32;
 * on an adapter with f16 subgroup matrices (Mesa 26's lavapipe, an NVIDIA GPU) the same tests run the matrix form.
 */
import * as path from 'path';
import { HalfProducts, depthOf, halfFunctions, matrixOf, withHalfProducts } from '../../src/engine/webgpu/half';
import { TILE_FORMS, productPlan, withTileForm } from '../../src/engine/webgpu/plan';
import { ProductSpec, plannedKernels, productGroups, productKernel, productTiled, scratchOf } from '../../src/engine/webgpu/products';
import { HEADER, Kernel, stepUniform } from '../../src/engine/webgpu/wgsl';
import { Gpu } from '../../src/gpu-device';
import { Rng } from '../../src/rng';
import { startRun } from '../../src/train/run';
import { runKernels, testGpu } from '../helpers/gpu';
import { expectClose, stepOnBoth, worstRelative } from '../helpers/gpu-step';
import { tmpDir } from '../helpers/tmp';

// Read when the GPU is opened (gpu.ts), in beforeAll: the device then has what the matrix form needs, where it can.
process.env.VAE_GPU_F16 = '1';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { halfBits, halfValue } = require(path.join(__dirname, '..', '..', 'bench', 'gpu-matrix.js')) as {
  halfBits: (x: number) => number;
  halfValue: (h: number) => number;
};
/** x as an f16 (round to nearest, ties to even; tested against binary16's definition in bench-matrix.test.ts). */
const f16 = (x: number) => halfValue(halfBits(Math.fround(x)));

let gpu: Gpu | null = null;
beforeAll(async () => {
  gpu = await testGpu();
});

function withGpu(name: string, check: (gpu: Gpu, half: HalfProducts) => Promise<void>, timeout?: number): void {
  test(name, async () => {
    if (!gpu) {
      expect(process.env.CI).toBeFalsy();
      return;
    }
    expect(gpu.info.half).toBeDefined(); // VAE_GPU_F16 reached the device
    await check(gpu, gpu.info.half!);
  }, timeout);
}

/**
 * How far a step in half precision may be from the CPU's: its loss and each gradient to 5e-3 of the largest (measured
 * on lavapipe: the MLP's 1.5e-4, the conv VAE's 1.6e-3; in f32 1.1e-7 and 1.3e-6).
 */
const HALF_STEP = 5e-3;

const uniform = (n: number) => stepUniform({ n, beta: 1, stepSize: 0, invCorr2: 1, slot: 0, beta1: 0.9, beta2: 0.999 });
const random = (rng: Rng, count: number, scale = 1) => Float32Array.from({ length: count }, () => (2 * rng.uniform() - 1) * scale);
const run = (g: Gpu, kernels: Kernel[], mem: Float32Array, n: number) =>
  runKernels(g, kernels.map((k) => ({ source: k.source, groups: k.groups(n, n) })), mem, uniform(n));

/** C = A·B (+ bias) in double precision, A [M, K] and B [K, N] given as functions, each operand through `round`. */
function reference(M: number, N: number, K: number, a: (i: number, k: number) => number, b: (k: number, j: number) => number,
  round: (x: number) => number, bias?: Float32Array): Float64Array {
  const c = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = bias ? bias[j] : 0;
      for (let k = 0; k < K; k++) s += round(a(i, k)) * round(b(k, j));
      c[i * N + j] = s;
    }
  }
  return c;
}

test('f16 of the reference: nearest, ties to even, and the values f16 holds exactly', () => {
  expect(f16(1 + 2 ** -11)).toBe(1); // a tie: to even
  expect(f16(1 + 3 * 2 ** -11)).toBe(1 + 2 ** -9);
  expect(f16(0.1)).toBeCloseTo(0.0999755859375, 12);
  expect(f16(65504)).toBe(65504);
});

test('the matrix form (built, no GPU needed): which tiles it takes, how deep the deep form goes, and chunks of K the same in every form', () => {
  const m = { m: 16, n: 16, k: 16, subgroup: 32, workgroupBytes: 48 * 1024 }; // an H200's, as Dawn reports it
  const deep = TILE_FORMS.find((f) => f.deep && !f.prefetch)!;
  withHalfProducts({ matrix: m }, () => {
    expect(matrixOf({ tm: 1, tn: 1 })).toBe(m);
    expect(matrixOf({ tm: 4, tn: 4, tk: 8 })).toBeUndefined(); // not a whole step of K
    expect(withTileForm(TILE_FORMS[0], () => depthOf({ tm: 4, tn: 4 }, 16))).toBe(16);
    // 64 deep: A's and B's f16 tiles 2 · 64 · (72 + 72) bytes, the results 8 subgroups' 16 x 16 floats: 26,624 bytes.
    expect(withTileForm(deep, () => depthOf({ tm: 4, tn: 4 }, 16))).toBe(64);
    expect(withTileForm(deep, () => depthOf({ tm: 8, tn: 4 }, 16))).toBe(64); // 34,816
  });
  withHalfProducts({ matrix: { ...m, workgroupBytes: 16384 } }, () => expect(withTileForm(deep, () => depthOf({ tm: 4, tn: 4 }, 16))).toBe(16));
  withHalfProducts({ matrix: { ...m, m: 32, n: 32 } }, () => expect(matrixOf({ tm: 1, tn: 4 })).toBeUndefined()); // 16 rows: no whole matrix
  withHalfProducts({}, () => expect(withTileForm(deep, () => depthOf({ tm: 4, tn: 4 }, 16))).toBe(16)); // rounded: as in fp32
  // A split product: in every form its chunks of K are multiples of 64 (whatever its tiles' depth), and it multiplies on matrices.
  const spec: ProductSpec = { M: 41, N: 70, K: 'n', a: { off: 0, ld: 40, trans: true }, b: { off: 30000, ld: 70 }, c: { off: 70000, ld: 70 }, onesRow: true };
  for (const form of TILE_FORMS) {
    const [kernel] = withHalfProducts({ matrix: m }, () => withTileForm(form, () => plannedKernels('dW', productTiled(spec), { tm: 4, tn: 4, splits: 3 },
      80000, () => 41, (rows) => rows)));
    expect(kernel.source.startsWith('enable f16;\nenable chromium_experimental_subgroup_matrix;')).toBe(true);
    expect(kernel.source).toContain('let chunk = ((K + 191u) / 192u) * 64u;');
    expect(kernel.source).toContain('subgroupMatrixMultiplyAccumulate');
    expect(kernel.source).not.toContain('fma(');
  }
});

withGpu('half_of (the rounded form) is f16\'s rounding: every 7th half, the ties between halves (to even), either side of them, subnormals, clamped past 65,504', async (g) => {
  const values: number[] = [];
  for (let h = 0; h < 0x7bff; h += 7) {
    const [lo, hi] = [halfValue(h), halfValue(h + 1)];
    const tie = (lo + hi) / 2;
    values.push(lo, -lo, tie, -tie, Math.fround(tie * (1 + 2 ** -20)), Math.fround(tie * (1 - 2 ** -20)));
  }
  values.push(65504, 65519, 70000, -1e30, 2 ** -25, 3 * 2 ** -26);
  const source = withHalfProducts({}, () => `${HEADER}${halfFunctions()}
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x < ${values.length}u) { mem[${values.length}u + g.x] = half_of(mem[g.x]); }
}`);
  const mem = new Float32Array(2 * values.length);
  mem.set(values);
  const got = await runKernels(g, [{ source, groups: [Math.ceil(values.length / 256), 1] }], mem, uniform(1));
  const want = values.map((v) => f16(Math.max(-65504, Math.min(65504, v))));
  const wrong = values.map((v, i) => [v, got[values.length + i], want[i]]).filter(([, a, b]) => a !== b);
  expect(wrong.slice(0, 5)).toEqual([]);
});

describe.each([
  ['37 x 23 over 19 (a thread block of 4 x 1: tiles of 64 x 16)', 37, 23, 19],
  ['70 x 70 over 45 (4 x 4: tiles of 64 x 64, three steps of K)', 70, 70, 45],
])('a dense product of %s, in half precision', (_, n, out, inDim) => {
  const rng = new Rng(31, `gpu-half-${n}`);
  const X = random(rng, n * inDim, 3), W = random(rng, inDim * out), bias = random(rng, out);
  const at = { X: 0, W: n * inDim, bias: n * inDim + inDim * out, C: n * inDim + inDim * out + out };
  const mem = new Float32Array(at.C + n * out);
  mem.set(X, at.X); mem.set(W, at.W); mem.set(bias, at.bias);
  const spec: ProductSpec = { M: 'n', N: out, K: inDim, a: { off: at.X, ld: inDim }, b: { off: at.W, ld: out }, c: { off: at.C, ld: out }, bias: at.bias };

  withGpu('equals the sums of the f16-rounded operands\' products in double precision (1e-5), not the unrounded ones\'', async (g, half) => {
    const kernel = withHalfProducts(half, () => productKernel(spec));
    expect(kernel.includes('subgroupMatrixMultiplyAccumulate')).toBe(half.matrix !== undefined);
    const got = (await run(g, [{ name: 'p', source: kernel, groups: () => productGroups(spec, n) }], mem, n)).subarray(at.C);
    const [a, b] = [(i: number, k: number) => X[i * inDim + k], (k: number, j: number) => W[k * out + j]];
    expectClose(got, reference(n, out, inDim, a, b, f16, bias), 1e-5);
    // Unrounded, the sums differ by ~1e-3 of their scale: the operands were rounded.
    expect(worstRelative(got, reference(n, out, inDim, a, b, (x) => x, bias))).toBeGreaterThan(1e-4);
    // The same product in f32 is the unrounded one.
    const f32 = (await run(g, [{ name: 'p', source: productKernel(spec), groups: () => productGroups(spec, n) }], mem, n)).subarray(at.C);
    expectClose(f32, reference(n, out, inDim, a, b, (x) => x, bias), 1e-5);
  }, 60_000);
});

withGpu('a weight gradient summed over 537 rows in chunks (split, the bias row of ones): the same bits in every tile form', async (g, half) => {
  const n = 537, inDim = 40, out = 70, M = inDim + 1;
  const rng = new Rng(32, 'gpu-half-split');
  const X = random(rng, n * inDim), dY = random(rng, n * out, 0.01);
  const xAt = 0, dyAt = n * inDim, cAt = dyAt + n * out, scratch = cAt + M * out;
  const spec: ProductSpec = { M, N: out, K: 'n', a: { off: xAt, ld: inDim, trans: true }, b: { off: dyAt, ld: out }, c: { off: cAt, ld: out }, onesRow: true };
  const want = reference(M, out, n, (i, r) => (i === inDim ? 1 : X[r * inDim + i]), (r, j) => dY[r * out + j], f16);
  let first: number[] | null = null;
  // Every form the tuner may pick (the plain one, the larger and smaller tiles, vectors, prefetching, deeper tiles).
  for (const form of TILE_FORMS) {
    const plan = withTileForm(form, () => productPlan(M, out, n, true));
    expect(plan.splits).toBeGreaterThan(1);
    const kernels = withHalfProducts(half, () => withTileForm(form, () => plannedKernels('dW', productTiled(spec), plan, scratch, () => M, (rows) => rows)));
    const mem = new Float32Array(scratch + scratchOf(plan, M, out));
    mem.set(X, xAt); mem.set(dY, dyAt);
    const got = Array.from((await run(g, kernels, mem, n)).subarray(cAt, cAt + M * out));
    expectClose(got, want, 1e-5, 0.1);
    first ??= got;
    expect(got).toEqual(first);
  }
}, 300_000);

withGpu('one training step of the MLP VAE equals the CPU step within the rounding\'s tolerance (5e-3 of the largest gradient), and is rounded', async () => {
  const run = await startRun({ data: 'mnist', binarize: 'dynamic', hidden: [64, 32], zDim: 5, beta: 1, epochs: 1, batchSize: 50,
    lr: 1e-3, seed: 4, klWarmup: 0, out: path.join(tmpDir(), 'run'), limitTrain: 200, limitTest: 50 });
  const rng = new Rng(33, 'gpu-half-step');
  const x = Float32Array.from({ length: 47 * 784 }, () => (rng.uniform() < 0.2 ? 1 : 0));
  const eps = Float32Array.from({ length: 47 * 5 }, () => rng.normal());
  const { cpu, gpuStep, scale } = await stepOnBoth(run, 50, x, eps, { slot: 1, n: 47, beta: 1, samples: 1 }, {}, HALF_STEP);
  // In f32 the gradients agree to ~1e-6 of the largest; here the rounding shows.
  expect(worstRelative(gpuStep.adam.m, cpu.adam.m, scale)).toBeGreaterThan(1e-5);
}, 120_000);

withGpu('one training step of the conv VAE equals the CPU step within the rounding\'s tolerance (5e-3 of the largest gradient)', async () => {
  const run = await startRun({ data: 'mnist', arch: 'conv', binarize: 'none', beta: 1, epochs: 1, batchSize: 4, lr: 1e-3, seed: 6,
    klWarmup: 0, out: path.join(tmpDir(), 'conv'), limitTrain: 8, limitTest: 4 });
  const rng = new Rng(34, 'gpu-half-conv-step');
  const x = Float32Array.from({ length: 3 * 784 }, () => rng.uniform());
  const eps = Float32Array.from({ length: 3 * run.vae.config.zDim }, () => rng.normal());
  const { cpu, gpuStep, scale } = await stepOnBoth(run, 4, x, eps, { slot: 0, n: 3, beta: 1, samples: 1 }, {}, HALF_STEP);
  expect(worstRelative(gpuStep.adam.m, cpu.adam.m, scale)).toBeGreaterThan(1e-5);
}, 180_000);
