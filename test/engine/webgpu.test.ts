/**
 * The WebGPU engine on the machine's adapter (lavapipe here and in CI): each kernel against the formula it
 * computes, in double precision, for sizes that are not multiples of the workgroup size; and a whole step
 * against the CPU engine's step on the same weights, batch and noise.
 */
import * as path from 'path';
import { initBackend } from '../../src/backend';
import { adamStep, ADAM_DEFAULTS } from '../../src/engine/adam';
import { createCpuEngine } from '../../src/engine/cpu';
import { EngineSetup } from '../../src/engine/engine';
import type { ShardTask } from '../../src/model/families/family';
import { createWebGpuEngine, webGpuCannotTrain } from '../../src/engine/engines';
import { webGpuEngine } from '../../src/engine/webgpu/engine';
import { PickForms, tuneStep } from '../../src/engine/webgpu/tune';
import { gpuProgram } from '../../src/engine/webgpu/runtime';
import { ConvSpec, chunkedWeightGrad } from '../../src/engine/webgpu/conv';
import { byteLevels, gatherKernel } from '../../src/engine/webgpu/gather';
import { klRowFunction, reparameterizeGradStore, reparameterizeKernel, sampleInput } from '../../src/engine/webgpu/gaussian';
import { Layer, NARROW, StepPlan, convLayer, denseLayer, jointInputGrad } from '../../src/engine/webgpu/layers';
import { bernoulliKernel, gaussianKernel } from '../../src/engine/webgpu/likelihoods';
import { adamKernel } from '../../src/engine/webgpu/optimizer';
import { alongside, plannedKernels, productGroups, productKernel, ProductSpec, productTiled, scratchOf } from '../../src/engine/webgpu/products';
import { TILE_FORMS, TileForm, productPlan, withTileForm } from '../../src/engine/webgpu/plan';
import { statsKernel } from '../../src/engine/webgpu/stats';
import { Arena, Kernel, flatJobKernel, flatKernel, joinKernels, oneGroupKernel, stepUniform } from '../../src/engine/webgpu/wgsl';
import { gpuModel, placeLayers } from '../../src/engine/webgpu/networks';
import { buildStep } from '../../src/engine/webgpu/step';
import { gpuObjective } from '../../src/engine/webgpu/objectives';
import { Gpu } from '../../src/gpu-device';
import { keptFormsFile } from '../../src/tune-cache';
import { Rng, philoxKey, philoxNormals } from '../../src/rng';
import { noiseKernel } from '../../src/engine/webgpu/noise';
import { phaseWeightsOf, upPhased } from '../../src/engine/webgpu/upsampled';
import { startRun } from '../../src/train/run';
import type { TrainRun } from '../../src/train/train';
import { testGpu, runKernel, runKernels } from '../helpers/gpu';
import { expectClose, stepOnBoth } from '../helpers/gpu-step';
import { tmpDir } from '../helpers/tmp';
import { runVae } from '../helpers/cli';
import { familyOf } from '../../src/model/families/registry';
import { vaeImportanceWeighted } from '../../src/model/likelihood';
import { vaeImportanceWeightedGpu } from '../../src/engine/evaluate';
import { fillBatch } from '../../src/data/batches';
import type { ResidentSet } from '../../src/data/datasets';

let gpu: Gpu | null = null;
beforeAll(async () => {
  gpu = await testGpu();
  if (gpu) await initBackend('webgpu', { gpu: true });
});

/** Runs `check` when there is an adapter; without one (allowed only outside CI, see testGpu) asserts that. */
function withGpu(name: string, check: (gpu: Gpu) => Promise<void>, timeout?: number): void {
  test(name, async () => {
    if (!gpu) {
      expect(process.env.CI).toBeFalsy();
      return;
    }
    await check(gpu);
  }, timeout);
}

const uniform = (n: number, beta = 1, extra: Partial<Parameters<typeof stepUniform>[0]> = {}) =>
  stepUniform({ n, beta, stepSize: 0, invCorr2: 1, slot: 0, beta1: 0.9, beta2: 0.999, ...extra });

const random = (rng: Rng, count: number, scale = 1) => Float64Array.from({ length: count }, () => (2 * rng.uniform() - 1) * scale);

/**
 * Layers made by `make` with their own memory and the scratch placed after the test's buffers (which end at `end`),
 * as networks.ts's placeLayers lays out a step; `size`: the floats of mem in all.
 */
function layersAfter<T extends Layer[]>(end: number, rows: number, make: (plan: StepPlan) => T): { layers: T; size: number } {
  const arena = new Arena();
  arena.take(end);
  const { all } = placeLayers(arena, { rows, decRows: rows }, (plan) => ({ all: make(plan) }));
  return { layers: all, size: arena.size };
}

describe('the product kernel, against the loops of its definition (sizes 37 x 19 x 23, not multiples of its tiles)', () => {
  const n = 37, inDim = 19, outDim = 23;
  const rng = new Rng(5, 'gpu-products');
  const X = random(rng, n * inDim); // [n, in]
  const W = random(rng, inDim * outDim); // [in, out], bias [out] after it
  const bias = random(rng, outDim);
  const dY = random(rng, n * outDim); // [n, out]
  const mask = Float64Array.from(random(rng, n * inDim), (v) => (v > 0 ? v : 0)); // a ReLU's output [n, in]
  const prior = random(rng, n * inDim); // what an accumulating product adds to
  // mem: X | W | bias | dY | mask | prior/C (n·in) | C2 ((in + 1)·out) | C3 (n·out)
  const at = { X: 0, W: n * inDim, bias: n * inDim + inDim * outDim };
  const dYAt = at.bias + outDim, maskAt = dYAt + n * outDim, cAt = maskAt + n * inDim, c2At = cAt + n * inDim, c3At = c2At + (inDim + 1) * outDim;
  const mem = new Float32Array(c3At + n * outDim);
  mem.set(X, at.X); mem.set(W, at.W); mem.set(bias, at.bias); mem.set(dY, dYAt); mem.set(mask, maskAt); mem.set(prior, cAt);
  const run = (g: Gpu, p: ProductSpec) => runKernel(g, productKernel(p), productGroups(p, n), mem, uniform(n));

  withGpu('forward: Y = ReLU(X · W + b), n rows from the step', async (g) => {
    const out = await run(g, { M: 'n', N: outDim, K: inDim, a: { off: at.X, ld: inDim }, b: { off: at.W, ld: outDim },
      c: { off: c3At, ld: outDim }, bias: at.bias, relu: true });
    const want = Array.from({ length: n * outDim }, (_, e) => {
      const [r, j] = [Math.floor(e / outDim), e % outDim];
      let s = bias[j];
      for (let k = 0; k < inDim; k++) s += X[r * inDim + k] * W[k * outDim + j];
      return Math.max(0, s);
    });
    expectClose(out.subarray(c3At), want, 1e-5);
  });

  withGpu('weight and bias gradients at once: [Xᵀ; 1ᵀ] · dY, summed over the n rows', async (g) => {
    const out = await run(g, { M: inDim + 1, N: outDim, K: 'n', a: { off: at.X, ld: inDim, trans: true }, b: { off: dYAt, ld: outDim },
      c: { off: c2At, ld: outDim }, onesRow: true });
    const want = Array.from({ length: (inDim + 1) * outDim }, (_, e) => {
      const [i, j] = [Math.floor(e / outDim), e % outDim];
      let s = 0;
      for (let r = 0; r < n; r++) s += (i === inDim ? 1 : X[r * inDim + i]) * dY[r * outDim + j];
      return s;
    });
    expectClose(out.subarray(c2At, c2At + (inDim + 1) * outDim), want, 1e-5);
  });

  withGpu('input gradients: dX = dY · Wᵀ, masked by a ReLU output, and added to what is there', async (g) => {
    const spec: ProductSpec = { M: 'n', N: inDim, K: outDim, a: { off: dYAt, ld: outDim }, b: { off: at.W, ld: outDim, trans: true },
      c: { off: cAt, ld: inDim }, mask: { off: maskAt, ld: inDim }, accumulate: true };
    const out = await run(g, spec);
    const want = Array.from({ length: n * inDim }, (_, e) => {
      const [r, i] = [Math.floor(e / inDim), e % inDim];
      let s = prior[e];
      for (let j = 0; j < outDim; j++) s += dY[r * outDim + j] * W[i * outDim + j];
      return mask[e] > 0 ? s : 0;
    });
    expectClose(out.subarray(cAt, cAt + n * inDim), want, 1e-5);
  });
});

withGpu('a dense layer\'s weight and bias gradients, the sum over 537 rows split into chunks (built for 600 rows)', async (g) => {
  const n = 537, inDim = 19, out = 23;
  const rng = new Rng(16, 'gpu-dense-split');
  const X = random(rng, n * inDim), dY = random(rng, n * out);
  // mem: the kernel and bias (P floats) | their gradients | X | dY | the partial sums (the layer's own)
  const P = inDim * out + out;
  const xAt = 2 * P, dyAt = xAt + n * inDim;
  const { layers: [layer], size } = layersAfter(dyAt + n * out, 600, (plan) => [denseLayer('dense', { off: 0, shape: [inDim, out] }, 'relu', P, plan)]);
  const kernels = layer.weightGrad(xAt, dyAt);
  expect(kernels).toHaveLength(2); // the split product and its sum
  const mem = new Float32Array(size);
  mem.set(X, xAt); mem.set(dY, dyAt);
  const got = await runKernels(g, kernels.map((k) => ({ source: k.source, groups: k.groups(n, n) })), mem, uniform(n));
  const want = Array.from({ length: (inDim + 1) * out }, (_, e) => {
    const [i, j] = [Math.floor(e / out), e % out];
    let s = 0;
    for (let r = 0; r < n; r++) s += (i === inDim ? 1 : X[r * inDim + i]) * dY[r * out + j];
    return s;
  });
  expectClose(got.subarray(P, 2 * P), want, 1e-5, 10);
});

withGpu('dense products over a long K with few tiles, split: forward (bias, ReLU) and a masked, accumulated input gradient', async (g) => {
  const n = 5, long = 2100, short = 9;
  const rng = new Rng(17, 'gpu-dense-long');
  // Layer 1 [long -> short]: its forward sums 2,100 terms. Layer 2 [short -> long]: its input gradient does.
  const W1 = random(rng, long * short + short), W2 = random(rng, short * long + long);
  const X = random(rng, n * long), dY2 = random(rng, n * long);
  const mask = Float64Array.from(random(rng, n * short), (v) => (v > 0 ? v : 0)), prior = random(rng, n * short);
  const P = W1.length + W2.length;
  // mem: W1 | W2 | (their gradients) | X | Y1 | dY2 | mask | dX2 (holding prior) | the partial sums
  const xAt = 2 * P, y1At = xAt + n * long, dyAt = y1At + n * short, maskAt = dyAt + n * long, dxAt = maskAt + n * short, scratch = dxAt + n * short;
  const plan = { scratch, rows: n, decRows: n, own: new Arena() };
  const layer1 = denseLayer('one', { off: 0, shape: [long, short] }, 'relu', P, plan);
  const layer2 = denseLayer('two', { off: W1.length, shape: [short, long] }, 'relu', P, plan);
  const forward = layer1.forward(xAt, y1At), inputGrad = layer2.inputGrad(dyAt, dxAt, maskAt, true);
  expect([forward.length, inputGrad.length]).toEqual([2, 2]); // each a split product and its sum
  const mem = new Float32Array(scratch + Math.max(layer1.scratch, layer2.scratch));
  mem.set(W1, 0); mem.set(W2, W1.length); mem.set(X, xAt); mem.set(dY2, dyAt); mem.set(mask, maskAt); mem.set(prior, dxAt);
  const got = await runKernels(g, [...forward, ...inputGrad].map((k) => ({ source: k.source, groups: k.groups(n, n) })), mem, uniform(n));
  // Both keep their partial sums in the one scratch: they cannot run side by side (alongside leaves them as they are).
  expect(alongside(forward, inputGrad)).toEqual([...forward, ...inputGrad]);
  const y1 = Array.from({ length: n * short }, (_, e) => {
    const [r, j] = [Math.floor(e / short), e % short];
    let s = W1[long * short + j];
    for (let k = 0; k < long; k++) s += X[r * long + k] * W1[k * short + j];
    return Math.max(0, s);
  });
  const dx2 = Array.from({ length: n * short }, (_, e) => {
    const [r, i] = [Math.floor(e / short), e % short];
    let s = prior[e];
    for (let j = 0; j < long; j++) s += dY2[r * long + j] * W2[i * long + j];
    return mask[e] > 0 ? s : 0;
  });
  expectClose(got.subarray(y1At, y1At + n * short), y1, 1e-5, 10);
  expectClose(got.subarray(dxAt, dxAt + n * short), dx2, 1e-5, 10);
});

describe('the input gradient of μ\'s and log σ²\'s layers as one product over both outputs (jointInputGrad), masked', () => {
  // Z = 1,100: the joint product (K = 2,200) would be split, and each layer's own products run instead.
  for (const { n, inDim, Z } of [{ n: 37, inDim: 19, Z: 7 }, { n: 5, inDim: 9, Z: 1100 }]) {
    withGpu(`${n} rows, ${inDim} inputs, Z = ${Z}${Z > 1000 ? ' (each layer\'s own)' : ''}`, async (g) => {
      const rng = new Rng(19, `gpu-joint-${Z}`);
      const Wmu = random(rng, inDim * Z + Z), Wlv = random(rng, inDim * Z + Z);
      const P = Wmu.length + Wlv.length;
      // mem: Wmu | Wlv | gradients | dmu | dlv | mask | dX | the partial sums
      const dmuAt = 2 * P, dlvAt = dmuAt + n * Z, maskAt = dlvAt + n * Z, dxAt = maskAt + n * inDim;
      const { layers: [mu, lv], size } = layersAfter(dxAt + n * inDim, n, (plan) => [denseLayer('mu', { off: 0, shape: [inDim, Z] }, 'linear', P, plan),
        denseLayer('logvar', { off: Wmu.length, shape: [inDim, Z] }, 'linear', P, plan)]);
      const plan = { rows: n, decRows: n, scratch: dxAt + n * inDim, own: new Arena() };
      const kernels = jointInputGrad([{ layer: mu, dOut: dmuAt }, { layer: lv, dOut: dlvAt }], dxAt, maskAt, plan);
      expect(kernels.map((k) => k.name)).toEqual(Z > 1000 ? ['mu dX', 'logvar dX'] : ['mu + logvar dX']);
      const mem = new Float32Array(size);
      const dmu = random(rng, n * Z), dlv = random(rng, n * Z), mask = Float64Array.from(random(rng, n * inDim), (v) => Math.max(v, 0));
      mem.set(Wmu); mem.set(Wlv, Wmu.length); mem.set(dmu, dmuAt); mem.set(dlv, dlvAt); mem.set(mask, maskAt);
      const got = await runKernels(g, kernels.map((k) => ({ source: k.source, groups: k.groups(n, n) })), mem, uniform(n));
      const f = (i: number, a: Float64Array) => Math.fround(a[i]);
      expectClose(got.subarray(dxAt, dxAt + n * inDim), Array.from({ length: n * inDim }, (_, e) => {
        const [r, i] = [Math.floor(e / inDim), e % inDim];
        let s = 0;
        for (let j = 0; j < Z; j++) s += f(r * Z + j, dmu) * f(i * Z + j, Wmu) + f(r * Z + j, dlv) * f(i * Z + j, Wlv);
        return mask[e] > 0 ? s : 0;
      }), 1e-5, 1);
    });
  }
});

describe('products side by side in one dispatch (alongside), against the same products one dispatch each', () => {
  const run = (g: Gpu, kernels: Kernel[], mem: Float32Array, n: number) =>
    runKernels(g, kernels.map((k) => ({ source: k.source, groups: k.groups(n, n) })), mem, uniform(n));

  withGpu('a dense layer\'s split weight gradient, its masked input gradient and another layer\'s forward: the same bits', async (g) => {
    const n = 537, inDim = 19, out = 23, next = 7;
    const rng = new Rng(21, 'gpu-alongside');
    const P = inDim * out + out + out * next + next;
    // mem: both layers' weights (P) | their gradients | X | Y | dY | mask | dX | Z (the second layer's output) | scratch
    const xAt = 2 * P, yAt = xAt + n * inDim, dyAt = yAt + n * out, maskAt = dyAt + n * out, dxAt = maskAt + n * inDim;
    const zAt = dxAt + n * inDim;
    const { layers: [one, two], size } = layersAfter(zAt + n * next, 600, (plan) => [denseLayer('one', { off: 0, shape: [inDim, out] }, 'relu', P, plan),
      denseLayer('two', { off: inDim * out + out, shape: [out, next] }, 'relu', P, plan)]);
    const mem = new Float32Array(size);
    mem.set(random(rng, inDim * out + out + out * next + next));
    mem.set(random(rng, n * inDim), xAt); mem.set(random(rng, n * out), yAt); mem.set(random(rng, n * out), dyAt);
    mem.set(Float64Array.from(random(rng, n * inDim), (v) => Math.max(v, 0)), maskAt);
    const dW = one.weightGrad(xAt, dyAt), dX = one.inputGrad(dyAt, dxAt, maskAt), forward = two.forward(yAt, zAt);
    expect(dW).toHaveLength(2); // split: the partial sums, then their sum
    const together = alongside(dW, dX, forward);
    expect(together.map((k) => k.name)).toEqual(['one dW + one dX + two forward', 'one dW sum']);
    const want = await run(g, [...dW, ...dX, ...forward], mem, n);
    expect(want.subarray(P, 2 * P).some((v) => v !== 0)).toBe(true);
    expect(await run(g, together, mem, n)).toEqual(want);
  });

  withGpu('a strided convolution\'s split filter gradient, its four phases\' input gradient (a batched product) and another split filter gradient', async (g) => {
    const n = 3;
    const c: ConvSpec = { H: 8, W: 8, cin: 5, cout: 16, k: 4, s: 2, up: false, off: 0 };
    const rng = new Rng(22, 'gpu-alongside-conv');
    const weights = c.k * c.k * c.cin * c.cout + c.cout;
    const dense = { off: 2 * weights, shape: [11, 9] }; // a second layer whose weight gradient is split too (its partial sums its own)
    const P = 2 * weights + 11 * 9 + 9;
    const xAt = 2 * P, dyAt = xAt + n * 64 * c.cin, dxAt = dyAt + n * 16 * c.cout, hAt = dxAt + n * 64 * c.cin, dhAt = hAt + n * 11;
    const { layers: [conv, other], size } = layersAfter(dhAt + n * 9, 64, (plan) => [convLayer('conv', c, true, P, plan),
      denseLayer('other', dense, 'relu', P, { ...plan, rows: 600, decRows: 600 })]);
    const mem = new Float32Array(size);
    mem.set(random(rng, P));
    mem.set(random(rng, dhAt + n * 9 - xAt), xAt);
    const dW = conv.weightGrad(xAt, dyAt), dX = conv.inputGrad(dyAt, dxAt, xAt), otherDW = other.weightGrad(hAt, dhAt);
    expect([dW.length, dX.length, otherDW.length]).toEqual([2, 1, 2]); // split, one batched product of the 4 phases, split
    const together = alongside(dW, dX, otherDW);
    expect(together.map((k) => k.name)).toEqual(['conv dW + conv dX 00 01 10 11 + other dW', 'conv dW sum', 'other dW sum']);
    const want = await run(g, [...dW, ...dX, ...otherDW], mem, n);
    expect(await run(g, together, mem, n)).toEqual(want);
  });

  withGpu('more workgroups than a dispatch has along x (65,535): the rest along y', async (g) => {
    const rows = 16 * 65535 + 40; // 65,538 tiles of 16 rows for a one-column product
    const a = 0, b = rows, c1 = rows + 1, c2 = 2 * rows + 1;
    const mem = new Float32Array(3 * rows + 1);
    mem.set(Float32Array.from({ length: rows }, (_, i) => (i % 1000) - 500), a);
    mem[b] = 3;
    const spec = (c: number): ProductSpec => ({ M: rows, N: 1, K: 1, a: { off: a, ld: 1 }, b: { off: b, ld: 1 }, c: { off: c, ld: 1 } });
    const plan = { tm: 1, tn: 1, splits: 1 };
    const job = (name: string, c: number) => plannedKernels(name, productTiled(spec(c)), plan, 0, () => rows, () => 1);
    const together = alongside(job('first', c1), job('second', c2));
    expect(together).toHaveLength(1);
    expect(together[0].groups(1, 1)).toEqual([65535, 3]);
    const got = await run(g, together, mem, 1);
    for (const at of [c1, c2]) expect(got.subarray(at, at + rows)).toEqual(Float32Array.from({ length: rows }, (_, i) => 3 * ((i % 1000) - 500)));
  }, 60000);

  describe.each([
    ['unsplit (built for the 3 rows it runs)', 3, [2, 1]],
    ['the filter gradient split (built for 64 rows)', 64, [3, 1]],
  ] as const)('an upsampled convolution\'s filter gradient and input gradient (its phase weights its own): %s', (_, builtFor, lengths) => {
    withGpu('the same bits', async (g) => {
      const n = 3;
      const c: ConvSpec = { H: 8, W: 8, cin: 64, cout: 32, k: 3, s: 1, up: true, off: 0 };
      const rng = new Rng(24, 'gpu-alongside-up');
      const P = 9 * c.cin * c.cout + c.cout;
      // mem: weights | gradients | x (4x4x64) | dy (8x8x32) | dx | the phase weights | scratch
      const xAt = 2 * P, dyAt = xAt + n * 16 * c.cin, dxAt = dyAt + n * 64 * c.cout;
      const arena = new Arena();
      arena.take(dxAt + n * 16 * c.cin);
      const { all: [conv] } = placeLayers(arena, { rows: builtFor, decRows: builtFor }, (plan) => ({ all: [convLayer('up', c, true, P, plan)] }));
      const mem = new Float32Array(arena.size);
      mem.set(random(rng, P));
      mem.set(random(rng, dxAt - xAt), xAt);
      const dW = conv.weightGrad(xAt, dyAt), dX = conv.inputGrad(dyAt, dxAt, xAt);
      expect([dW.length, dX.length]).toEqual(lengths); // the phases' product (and its sum), their spread back to the 3x3 taps; dX
      const together = alongside(dW, dX);
      expect(together[0].name).toBe('up dW + up dX');
      expect(together).toHaveLength(dW.length);
      const want = await run(g, [...conv.prepare, ...dW, ...dX], mem, n);
      expect(want.subarray(P, 2 * P).some((v) => v !== 0) && want.subarray(dxAt, dxAt + n * 16 * c.cin).some((v) => v !== 0)).toBe(true);
      expect(await run(g, [...conv.prepare, ...together], mem, n)).toEqual(want);
    });
  });
});

describe('kernels that do not depend on each other in one dispatch (joinKernels), against each alone', () => {
  const runAll = (g: Gpu, kernels: Kernel[], mem: Float32Array, n: number, u: ArrayBuffer, images?: Uint8Array) =>
    runKernels(g, kernels.map((k) => ({ source: k.source, groups: k.groups(n, n) })), mem, u, images);

  withGpu('a step\'s first: the noise, the gather and two upsampled layers\' phase weights (one of them 3 channels out): the same bits', async (g) => {
    const n = 37, D = 50, Z = 9;
    const rng = new Rng(25, 'gpu-join-first');
    const up: ConvSpec = { H: 10, W: 10, cin: 16, cout: 24, k: 3, s: 1, up: true, off: 0 };
    const logits: ConvSpec = { H: 20, W: 20, cin: 24, cout: 3, k: 3, s: 1, up: true, off: 9 * 16 * 24 + 24 };
    const P = logits.off + 9 * 24 * 3 + 3;
    const images = Uint8Array.from({ length: 60 * D }, () => Math.floor(256 * rng.uniform()));
    // mem: weights | gradients | the rows' indices | byte levels | x | ε | the phase weights | scratch
    const indexAt = 2 * P, lutAt = indexAt + n, xAt = lutAt + 256, epsAt = xAt + n * D;
    const arena = new Arena();
    arena.take(epsAt + n * Z);
    const { all } = placeLayers(arena, { rows: n, decRows: n }, (plan) => ({ all: [convLayer('up', up, true, P, plan), convLayer('logits', logits, false, P, plan)] }));
    const kernels = [noiseKernel({ at: epsAt, rows: 'n', Z }), gatherKernel({ index: indexAt, lut: lutAt, x: xAt, D }), ...all.flatMap((l) => l.prepare)];
    expect(kernels).toHaveLength(4);
    const joined = joinKernels(kernels);
    expect(joined.map((k) => k.name)).toEqual(['noise ε (Philox) + gather images + up phase weights + logits phase weights']);
    const mem = new Float32Array(arena.size);
    mem.set(random(rng, P));
    mem.set(Array.from({ length: n }, () => Math.floor(60 * rng.uniform())), indexAt);
    mem.set(byteLevels(), lutAt);
    const u = uniform(n, 1, { noiseKey: philoxKey(3, 'eps', 1, 2) });
    const want = await runAll(g, kernels, mem, n, u, images);
    // After ε: the layers' own memory (the phase weights, the filter gradients' room), then the scratch: every phase weight written, nothing else.
    expect(want.subarray(epsAt + n * Z).filter((v) => v !== 0)).toHaveLength(phaseWeightsOf(up) + phaseWeightsOf(logits));
    expect(await runAll(g, joined, mem, n, u, images)).toEqual(want);
  });

  withGpu('a step\'s last: Adam and the statistics (a one-workgroup reduction): the same bits', async (g) => {
    const P = 3000, n = 300;
    const rng = new Rng(26, 'gpu-join-last');
    // mem: params | gradients | m | v | rec | KL | statistics (8 a slot, slot 1)
    const mem = Float32Array.from(random(rng, 4 * P + 2 * n + 16), (v, i) => (i >= 3 * P && i < 4 * P ? Math.abs(v) : v));
    const kernels = [adamKernel(P, 1e-8), statsKernel({ rec: 4 * P, kl: 4 * P + n, stats: 4 * P + 2 * n })];
    const joined = joinKernels(kernels);
    expect(joined).toHaveLength(1);
    expect(joined[0].groups(n, n)).toEqual([Math.ceil(P / 256) + 1, 1]);
    const u = uniform(n, 0.5, { slot: 1, stepSize: 0.01, invCorr2: 2 });
    const want = await runAll(g, kernels, mem, n, u);
    expect(want.subarray(4 * P + 2 * n + 8, 4 * P + 2 * n + 11).every((v) => v !== 0)).toBe(true);
    expect(await runAll(g, joined, mem, n, u)).toEqual(want);
  });

  withGpu('more workgroups than a dispatch has along x (65,535): the rest along y; kernels without jobs run after', async (g) => {
    const count = 256 * 65535 + 300; // 65,537 workgroups
    const first = flatJobKernel('first', `${count}u`, () => count, 'mem[idx] = f32(idx % 1000u);');
    const second = oneGroupKernel('second', `  mem[${count}u + l.x] = f32(l.x + step.n);`);
    const plain: Kernel = { name: 'plain', source: flatKernel('1u', `mem[${count + 256}u] = 7.0;`), groups: () => [1, 1] };
    const joined = joinKernels([plain, first, second]);
    expect(joined.map((k) => k.name)).toEqual(['first + second', 'plain']);
    expect(joined[0].groups(1, 1)).toEqual([65535, 2]);
    const got = await runAll(g, joined, new Float32Array(count + 257), 5, uniform(5));
    let wrong = 0; // (16.8 million values: counted here, not compared by jest, which enumerates a typed array's keys)
    for (let i = 0; i < count; i++) if (got[i] !== i % 1000) wrong++;
    expect(wrong).toBe(0);
    expect(got.subarray(count, count + 257)).toEqual(Float32Array.from({ length: 257 }, (_, i) => (i === 256 ? 7 : i + 5)));
  }, 60000);
});

withGpu('products in every form the tuner may pick (prefetching, deep, both, larger or smaller tiles, vector blocks, larger, prefetching larger) give the plain form\'s bits: dense, strided, upsampled', async (g) => {
  const n = 5;
  const rng = new Rng(23, 'gpu-prefetch');
  const strided: ConvSpec = { H: 8, W: 8, cin: 5, cout: 16, k: 4, s: 2, up: false, off: 0 };
  const up: ConvSpec = { H: 8, W: 8, cin: 16, cout: 24, k: 3, s: 1, up: true, off: 16 * 5 * 16 + 16 };
  const dense = { off: up.off + 9 * 16 * 24 + 24, shape: [37, 70] };
  const P = dense.off + 37 * 70 + 70;
  // mem: weights | gradients | x (the convolutions' input) | y | dy | dx | the dense layer's output, input, output's
  // gradient | scratch
  const xAt = 2 * P, yAt = xAt + n * 64 * 16, dyAt = yAt + n * 256 * 24, dxAt = dyAt + n * 256 * 24, hAt = dxAt + n * 64 * 16;
  const end = hAt + n * (70 + 37 + 70);
  const kernels = (form: TileForm) => withTileForm(form, () => {
    const arena = new Arena();
    arena.take(end);
    const { all: [a, b, d] } = placeLayers(arena, { rows: 64, decRows: 64 }, (plan) => ({ all: [convLayer('strided', strided, true, P, plan),
      convLayer('up', up, true, P, plan), denseLayer('dense', dense, 'relu', P, plan)] }));
    return { size: arena.size, kernels: [...b.prepare, ...a.forward(xAt, yAt), ...a.weightGrad(xAt, yAt), ...a.inputGrad(yAt, dxAt, xAt),
      ...b.forward(xAt, yAt), ...b.weightGrad(xAt, dyAt), ...b.inputGrad(dyAt, dxAt, xAt),
      ...d.forward(hAt + n * 70, hAt), ...d.weightGrad(hAt + n * 70, hAt + n * 107), ...d.inputGrad(hAt + n * 107, hAt + n * 70, hAt + n * 70, true)] };
  });
  const [plain, ...others] = TILE_FORMS.map(kernels);
  const mem = new Float32Array(plain.size);
  mem.set(random(rng, end));
  const run = (ks: Kernel[]) => runKernels(g, ks.map((k) => ({ source: k.source, groups: k.groups(n, n) })), mem, uniform(n));
  const want = await run(plain.kernels);
  for (const other of others) {
    expect(other.size).toBe(plain.size);
    // Three or more of these products take the form (the deep one: those not split, in small tiles; the larger or
    // smaller tiles: those not planned in the largest or smallest).
    const changed = other.kernels.filter((k, i) => k.source !== plain.kernels[i].source).length;
    expect(changed).toBeGreaterThanOrEqual(3);
    expect(await run(other.kernels)).toEqual(want);
  }
}, 60000);

withGpu('the vector forms (a thread\'s block read as vectors; 128 x 64 tiles; those prefetching) against the loops of the definition, and the plain form\'s bits', async (g) => {
  // A dense layer of 45 → 70 on 12,900 rows: its forward planned in 64 x 64 tiles (the larger vector form: 128 x 64),
  // its weight gradient too, its sum over the rows split in 50 chunks, and its input gradient in 64 x 32 tiles; the
  // last two in one dispatch (alongside): tiles of vec4, vec2 and f32 side by side in workgroup memory.
  const n = 12900, inDim = 45, out = 70;
  const rng = new Rng(29, 'gpu-vector');
  const W = random(rng, inDim * out + out), X = random(rng, n * inDim), dY = random(rng, n * out);
  const P = W.length;
  const xAt = 2 * P, yAt = xAt + n * inDim, dyAt = yAt + n * out, dxAt = dyAt + n * out;
  const build = (form: TileForm) => withTileForm(form, () => {
    const { layers: [layer], size } = layersAfter(dxAt + n * inDim, n, (plan) => [denseLayer('dense', { off: 0, shape: [inDim, out] }, 'linear', P, plan)]);
    return { size, kernels: [...layer.forward(xAt, yAt), ...alongside(layer.weightGrad(xAt, dyAt), layer.inputGrad(dyAt, dxAt))] };
  });
  const [plain, vector, larger, prefetching] = [TILE_FORMS[0], ...TILE_FORMS.filter((f) => f.vector)].map(build);
  const shapes = (s: typeof plain) => s.kernels.map((k) => [...k.source.matchAll(/var<workgroup> (\w+): array<(\w+(?:<f32>)?), \d+>/g)].map((m) => `${m[1]} ${m[2]}`).join(' '));
  // The forward; the weight and input gradients side by side; the sum of the weight gradient's chunks.
  expect(shapes(plain)).toEqual(['ta f32 tb f32', 'ta f32 tb f32', '']);
  expect(shapes(vector)).toEqual(['ta4 vec4<f32> tb4 vec4<f32>', 'ta4 vec4<f32> tb2 vec2<f32> tb4 vec4<f32>', '']);
  expect(larger.kernels[0].groups(n, n)).toEqual([2, Math.ceil(n / 128)]); // 128 x 64 tiles
  expect(prefetching.kernels[0].groups(n, n)).toEqual([2, Math.ceil(n / 128)]);
  expect(vector.kernels[0].groups(n, n)).toEqual([2, Math.ceil(n / 64)]);
  const mem = new Float32Array(plain.size);
  mem.set(W, 0); mem.set(X, xAt); mem.set(dY, dyAt);
  const run = (s: typeof plain) => runKernels(g, s.kernels.map((k) => ({ source: k.source, groups: k.groups(n, n) })), mem, uniform(n));
  const want = await run(plain);
  const y = new Float64Array(n * out), dW = new Float64Array(P), dX = new Float64Array(n * inDim);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < out; j++) {
      let s = W[inDim * out + j];
      for (let k = 0; k < inDim; k++) s += X[r * inDim + k] * W[k * out + j];
      y[r * out + j] = s;
      const d = dY[r * out + j];
      for (let k = 0; k < inDim; k++) { dW[k * out + j] += X[r * inDim + k] * d; dX[r * inDim + k] += d * W[k * out + j]; }
      dW[inDim * out + j] += d;
    }
  }
  for (const s of [vector, larger, prefetching]) {
    const got = await run(s);
    expectClose(got.subarray(yAt, yAt + n * out), y, 1e-5);
    expectClose(got.subarray(P, 2 * P), dW, 1e-5, 10);
    expectClose(got.subarray(dxAt, dxAt + n * inDim), dX, 1e-5);
    let differ = 0; // (1.5 million values: counted here, not compared by jest, which enumerates a typed array's keys)
    for (let i = 0; i < want.length; i++) if (!Object.is(got[i], want[i])) differ++;
    expect(differ).toBe(0);
  }
}, 120000);

withGpu('a weight gradient a row past its whole tiles: those tiles and the row left over in a small tile side by side, the same bits as whole tiles', async (g) => {
  // A dense layer of 128 → 70 on 3,000 rows: its weight and bias gradient is 129 x 70 (the bias's row of ones last),
  // summed over the rows in 11 chunks; planned in tiles of 64 rows (128 in the larger vector form), so that a last
  // tile would hold one row. The plain, vector and larger vector forms, each against the same product in whole tiles
  // (its M an expression the planner does not read as fixed) and the loops of the definition.
  const n = 3000, inDim = 128, out = 70, M = inDim + 1;
  const rng = new Rng(31, 'gpu-rows-left');
  const X = random(rng, n * inDim), dY = random(rng, n * out);
  const xAt = 0, dyAt = n * inDim, cAt = dyAt + n * out, scratch = cAt + M * out;
  const spec: ProductSpec = { M, N: out, K: 'n', a: { off: xAt, ld: inDim, trans: true }, b: { off: dyAt, ld: out }, c: { off: cAt, ld: out }, onesRow: true };
  const want = new Float64Array(M * out);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < out; j++) {
      const d = dY[r * out + j];
      for (let i = 0; i < inDim; i++) want[i * out + j] += X[r * inDim + i] * d;
      want[inDim * out + j] += d;
    }
  }
  const declared = (k: Kernel) => [...k.source.matchAll(/var<workgroup> (\w+): array<(\w+(?:<f32>)?), \d+>/g)].map((m) => `${m[1]} ${m[2]}`).join(' ');
  for (const form of [TILE_FORMS[0], ...TILE_FORMS.filter((f) => f.vector && !f.prefetch)]) {
    const plan = withTileForm(form, () => productPlan(M, out, n, true));
    expect(plan.splits).toBe(11);
    const build = (m: string) => withTileForm(form, () => plannedKernels('dW', { ...productTiled(spec), M: m }, plan, scratch, () => M, (rows) => rows));
    const [cut, whole] = [build(`${M}u`), build(`(${M}u)`)];
    const groups = (ks: Kernel[]) => ks[0].groups(n, n).reduce<number>((a, b) => a * (b ?? 1), 1);
    const tile = 16 * plan.tm, across = Math.ceil(out / (16 * plan.tn)) * plan.splits;
    expect(groups(whole)).toBe(across * Math.ceil(M / tile));
    expect(groups(cut)).toBe(across * (Math.floor(M / tile) + 1)); // the row left over: one tile of 16 rows
    expect(cut[0].source).toContain(`let i0 = ${Math.floor(M / tile) * tile}u + wg.y * 16u;`);
    expect(declared(cut[0])).toBe(declared(whole[0])); // no more workgroup memory than whole tiles
    const mem = new Float32Array(scratch + scratchOf(plan, M, out));
    mem.set(X, xAt); mem.set(dY, dyAt);
    const run = (ks: Kernel[]) => runKernels(g, ks.map((k) => ({ source: k.source, groups: k.groups(n, n) })), mem, uniform(n));
    const [got, same] = [await run(cut), await run(whole)];
    expectClose(got.subarray(cAt, cAt + M * out), want, 1e-5, 10);
    expect(Array.from(got.subarray(cAt, cAt + M * out))).toEqual(Array.from(same.subarray(cAt, cAt + M * out)));
  }
}, 120000);

/**
 * A step of three kernels in four forms, for tuneStep: kernel 0 adds to mem (as a product that accumulates does) in two
 * texts; kernel 1 has one form; kernel 2 three (`scaleBy` changes the text of its last form). Its memory random.
 */
async function fabricatedStep(g: Gpu, scaleBy = 'mem[128u + idx] + mem[128u + idx]') {
  const k = (name: string, body: string): Kernel => ({ name, source: flatKernel('64u', body), groups: () => [1, 1] });
  const plain = [k('add', 'mem[idx] = mem[idx] + 1.0;'), k('set', 'mem[64u + idx] = 5.0;'), k('scale', 'mem[128u + idx] = 2.0 * mem[128u + idx];')];
  const forms = [plain, [k('add', 'mem[idx] = 1.0 + mem[idx];'), plain[1], plain[2]], [plain[0], plain[1], k('scale', 'mem[128u + idx] = mem[128u + idx] * 2.0;')],
    [plain[0], plain[1], k('scale', `mem[128u + idx] = ${scaleBy};`)]];
  const steps = forms.map((kernels) => ({ kernels: [...kernels], size: 192, P: 0, stats: 0, gathered: null, upload: () => ({ n: 1, nk: 1 }), drawsNoise: false }));
  const program = await gpuProgram(g, steps[0].kernels, 192, 'a test', '');
  const before = Float32Array.from(random(new Rng(5, 'tune'), 192));
  g.device.queue.writeBuffer(program.mem, 0, before);
  return { forms, steps, program, before, pipelines: [...program.pipelines], destroy: () => [program.mem, program.uniform, program.data].forEach((b) => b.destroy()) };
}

/** A pick that times every form of each kernel with other forms (saying which in `timed`) and takes [1, 0, 3]. */
const pickTiming = (timed: string[]): PickForms => async (fs, time) => {
  for (const [kernel, f] of fs.entries()) for (const form of f.length > 1 ? f : []) timed.push(`${kernel} ${form} ${(await time(kernel, form))! > 0}`);
  return [1, 0, 3];
};

withGpu('tuneStep: each kernel with other forms timed, the form picked put in its place, the step\'s memory as it was before', async (g) => {
  const { forms, steps, program, before, pipelines, destroy } = await fabricatedStep(g);
  const timed: string[] = [];
  const { line, table } = await tuneStep(g, program, steps, { n: 1, nk: 1 }, pickTiming(timed));
  expect(timed).toEqual(['0 0 true', '0 1 true', '2 0 true', '2 2 true', '2 3 true']);
  expect(line).toBe(', 2 products timed: 1 prefetching, 1 deep and prefetching');
  // Each form's time (µs a dispatch), the one kept starred, for VAE_GPU_PROFILE's report.
  expect(table.split('\n').slice(1).map((row) => row.replace(/\d[\d.e+]*/g, 'T'))).toEqual(
    ['  add: plain T, prefetching T*', '  scale: plain T, deep T, deep and prefetching T*']);
  expect(steps[0].kernels.map((kernel) => kernel.source)).toEqual([forms[1][0].source, forms[0][1].source, forms[3][2].source]);
  expect(steps[0].kernels.map((kernel) => kernel.name)).toEqual(['add (prefetching)', 'set', 'scale (deep and prefetching)']);
  expect(program.pipelines.map((p, i) => p === pipelines[i])).toEqual([false, true, false]);
  // Timing ran kernel 0 many times, each adding 1: the memory was saved and put back.
  const out = g.device.createBuffer({ size: 4 * 192, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const encoder = g.device.createCommandEncoder();
  encoder.copyBufferToBuffer(program.mem, 0, out, 0, 4 * 192);
  g.device.queue.submit([encoder.finish()]);
  await out.mapAsync(GPUMapMode.READ);
  expect(new Float32Array(out.getMappedRange().slice(0))).toEqual(before);
  out.unmap();
  out.destroy();
  destroy();
}, 60000);

withGpu('tuneStep with picks kept (gpu.kept): the next run takes them untimed, and times again only a product whose text changed', async (g) => {
  const kept: Gpu = { ...g, kept: keptFormsFile(tmpDir(), 'this adapter') };
  const runs = [];
  for (const scaleBy of [undefined, undefined, '2.0 * mem[128u + idx] + 0.0']) {
    const step = await fabricatedStep(g, scaleBy);
    const timed: string[] = [];
    const { line, table } = await tuneStep(kept, step.program, step.steps, { n: 1, nk: 1 }, pickTiming(timed));
    runs.push({ timed, line, rows: table.split('\n').slice(1).map((row) => row.replace(/\d[\d.e+]*/g, 'T')) });
    // The same forms in place in every run (kernel 2's picked form is the one whose text changed).
    expect(step.steps[0].kernels.map((kernel) => kernel.source)).toEqual([step.forms[1][0].source, step.forms[0][1].source, step.forms[3][2].source]);
    expect(step.program.pipelines.map((p, i) => p === step.pipelines[i])).toEqual([false, true, false]);
    step.destroy();
  }
  expect(runs[0].timed).toHaveLength(5);
  expect(runs[1]).toEqual({ timed: [], line: ', 2 products tuned (all as timed before on this GPU): 1 prefetching, 1 deep and prefetching',
    rows: ['  add: plain T, prefetching T* (timed before)', '  scale: plain T, deep T, deep and prefetching T* (timed before)'] });
  expect(runs[2].timed).toEqual(['2 0 true', '2 2 true', '2 3 true']);
  expect(runs[2].line).toBe(', 2 products tuned (1 timed now, 1 as timed before on this GPU): 1 prefetching, 1 deep and prefetching');
  expect(runs[2].rows).toEqual(['  add: plain T, prefetching T* (timed before)', '  scale: plain T, deep T, deep and prefetching T*']);
}, 60000);

withGpu('tuneStep out of time (VAE_GPU_TUNE_SECONDS=0): the first product is timed to the end, the rest plain; the next run goes on from there', async (g) => {
  const hurried: Gpu = { ...g, info: { ...g.info, tuneSeconds: 0 }, kept: keptFormsFile(tmpDir(), 'this adapter') };
  const lines = [];
  for (let run = 0; run < 3; run++) {
    const step = await fabricatedStep(g);
    lines.push((await tuneStep(hurried, step.program, step.steps, { n: 1, nk: 1 })).line);
    step.destroy();
  }
  expect(lines[0]).toMatch(/^, 1 of 2 products timed \(out of time: the rest plain\): 1 (plain|prefetching)$/);
  expect(lines[1]).toMatch(/^, 2 products tuned \(1 timed now, 1 as timed before on this GPU\): /);
  expect(lines[2]).toMatch(/^, 2 products tuned \(all as timed before on this GPU\): /);
}, 60000);

describe.each([
  // Few output channels: forward one thread per output; the filter gradient over chunks of the output positions, then
  // summed (one workgroup per weight where taps x channels are more than a chunk's thread keeps); the input gradient tiled.
  ['4x4, stride 2, on a 7x7 input of 3 channels (odd: uneven padding; 80 sums: a workgroup per weight)', { H: 7, W: 7, cin: 3, cout: 5, k: 4, s: 2, up: false }, 3],
  ['3x3, stride 1, on a 2x upsampled 3x3 input', { H: 6, W: 6, cin: 4, cout: 2, k: 3, s: 1, up: true }, 3],
  ['3x3, stride 1, on a 2x upsampled 20x20x8 input -> 3 channels (4,800 positions: 3 chunks, the last part-full)',
    { H: 40, W: 40, cin: 8, cout: 3, k: 3, s: 1, up: true }, 3],
  // Tiled (implicit GEMMs), 1, 2 and 4 accumulator columns a thread, sizes not multiples of the tiles; the filter
  // gradient unsplit (built for these 3 rows) and split into chunks (built for 64 rows: some chunks are empty).
  ['tiled: 4x4, stride 2, 7x7x3 -> 9 channels', { H: 7, W: 7, cin: 3, cout: 9, k: 4, s: 2, up: false }, 3],
  ['tiled: 3x3 on a 2x upsampled 3x3x33 input -> 40 channels', { H: 6, W: 6, cin: 33, cout: 40, k: 3, s: 1, up: true }, 3],
  ['tiled, split filter gradient: 4x4, stride 2, 5x5x17 -> 64 channels', { H: 5, W: 5, cin: 17, cout: 64, k: 4, s: 2, up: false }, 64],
  ['tiled, split filter gradient: 3x3 on a 2x upsampled 4x4x64 input -> 32 channels', { H: 8, W: 8, cin: 64, cout: 32, k: 3, s: 1, up: true }, 64],
] as const)('the convolution kernels against the loops of the definition: %s', (_, shape, builtFor) => {
  const n = 3;
  const c: ConvSpec = { ...shape, off: 0 };
  const Ho = Math.ceil(c.H / c.s), Wo = Math.ceil(c.W / c.s);
  const pt = Math.floor(Math.max((Ho - 1) * c.s + c.k - c.H, 0) / 2), pl = Math.floor(Math.max((Wo - 1) * c.s + c.k - c.W, 0) / 2);
  const Hs = c.up ? c.H / 2 : c.H, Ws = c.up ? c.W / 2 : c.W;
  const rng = new Rng(11, 'gpu-conv');
  const nW = c.k * c.k * c.cin * c.cout;
  const W = random(rng, nW + c.cout); // kernel then bias
  const x = Float64Array.from(random(rng, n * Hs * Ws * c.cin), (v) => (v > -0.3 ? v : 0)); // a ReLU output, some zeros
  const dy = random(rng, n * Ho * Wo * c.cout);
  // mem: W | dW | x | y | dy | dx | the split filter gradient's partial sums
  const at = { dW: nW + c.cout, x: 2 * (nW + c.cout) }, yAt = at.x + x.length, dyAt = yAt + dy.length, dxAt = dyAt + dy.length;
  const arena = new Arena();
  arena.take(dxAt + x.length);
  const { all: [layer] } = placeLayers(arena, { rows: builtFor, decRows: builtFor }, (plan) => ({ all: [convLayer('conv', c, true, at.dW, plan)] }));
  const mem = new Float32Array(arena.size);
  mem.set(W, 0); mem.set(x, at.x); mem.set(dy, dyAt);
  const run = (g: Gpu, kernels: Kernel[]) => runKernels(g, kernels.map((k) => ({ source: k.source, groups: k.groups(n, n) })), mem, uniform(n));
  const xAt = (b: number, iy: number, ix: number, ci: number) =>
    (b * Hs + (c.up ? Math.floor(iy / 2) : iy)) * Ws * c.cin + (c.up ? Math.floor(ix / 2) : ix) * c.cin + ci;
  /** Every (output, input, weight) triple the convolution multiplies. */
  const taps = (visit: (o: number, i: number, w: number) => void) => {
    for (let b = 0; b < n; b++) for (let oy = 0; oy < Ho; oy++) for (let ox = 0; ox < Wo; ox++) for (let co = 0; co < c.cout; co++) {
      for (let ky = 0; ky < c.k; ky++) for (let kx = 0; kx < c.k; kx++) {
        const iy = oy * c.s + ky - pt, ix = ox * c.s + kx - pl;
        if (iy < 0 || iy >= c.H || ix < 0 || ix >= c.W) continue;
        for (let ci = 0; ci < c.cin; ci++) visit(((b * Ho + oy) * Wo + ox) * c.cout + co, xAt(b, iy, ix, ci), ((ky * c.k + kx) * c.cin + ci) * c.cout + co);
      }
    }
  };

  test('the filter gradient is split where the layer was built for more rows, or chunked where it is narrow', () => {
    const chunked = c.cout < NARROW && chunkedWeightGrad(c);
    const kernels = chunked || builtFor > n ? 2 : 1;
    // An upsampled input, tiled: the four phases' products side by side (split or not), their sums spread back to the 3x3 taps.
    expect(layer.weightGrad(at.x, dyAt).length).toBe(c.cout >= NARROW && upPhased(c) ? kernels + 1 : kernels);
  });

  /**
   * Each element within float32's rounding of its sum: 1e-6 of the sum of its terms' magnitudes (a sum of a thousand
   * terms, each a product of values in [-1, 1], differs at 1e-5 of its size in float32 by the order alone; one term
   * missing or extra is 0.25 on average).
   */
  const expectSums = (got: ArrayLike<number>, want: number[], magnitude: number[]) => {
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / (1e-6 * magnitude[i] + 1e-7));
    expect(worst).toBeLessThanOrEqual(1);
  };

  withGpu('forward: y = ReLU(conv(x) + b)', async (g) => {
    const want = Array.from({ length: n * Ho * Wo * c.cout }, (_, o) => W[nW + (o % c.cout)]);
    const size = want.map(Math.abs);
    taps((o, i, w) => { want[o] += x[i] * W[w]; size[o] += Math.abs(x[i] * W[w]); });
    const out = await run(g, [...layer.prepare, ...layer.forward(at.x, yAt)]);
    expectSums(out.subarray(yAt, yAt + want.length), want.map((v) => Math.max(0, v)), size);
  });

  withGpu('the kernel\'s and the bias\'s gradients', async (g) => {
    const want = new Array<number>(nW + c.cout).fill(0);
    const size = new Array<number>(nW + c.cout).fill(0);
    taps((o, i, w) => { want[w] += x[i] * dy[o]; size[w] += Math.abs(x[i] * dy[o]); });
    for (let o = 0; o < dy.length; o++) { want[nW + (o % c.cout)] += dy[o]; size[nW + (o % c.cout)] += Math.abs(dy[o]); }
    const out = await run(g, layer.weightGrad(at.x, dyAt));
    expectSums(out.subarray(at.dW, at.dW + nW + c.cout), want, size);
  });

  withGpu('the input\'s gradient, masked by the ReLU output it came from (summed over the copies of an upsampled input)', async (g) => {
    const want = new Array<number>(x.length).fill(0);
    const size = new Array<number>(x.length).fill(0);
    taps((o, i, w) => { want[i] += dy[o] * W[w]; size[i] += Math.abs(dy[o] * W[w]); });
    const out = await run(g, [...layer.prepare, ...layer.inputGrad(dyAt, dxAt, at.x)]);
    expectSums(out.subarray(dxAt, dxAt + x.length), want.map((v, i) => (x[i] > 0 ? v : 0)), size);
  });
});

test('a product\'s FLOP count (the profile\'s TFLOP/s) is 2·M·N·K; an upsampled convolution by phase does 4/9 of the direct one\'s', () => {
  const plan = { scratch: 0, rows: 64, decRows: 64, own: new Arena() };
  const dense = denseLayer('d', { off: 0, shape: [30, 20] }, 'relu', 1000, plan);
  const flops = (kernels: Kernel[]) => kernels.reduce((a, k) => a + (k.flops?.(50, 50) ?? 0), 0);
  expect(flops(dense.forward(0, 0))).toBe(2 * 50 * 30 * 20);
  expect(flops(dense.weightGrad(0, 0))).toBe(2 * 31 * 20 * 50);
  expect(flops(dense.inputGrad(0, 0))).toBe(2 * 50 * 20 * 30);
  // A 3x3 convolution of an 8x8x16 map upsampled to 16x16, 24 channels out: every output position reads 9 taps.
  const up = convLayer('c', { H: 16, W: 16, cin: 16, cout: 24, k: 3, s: 1, up: true, off: 0 }, true, 1000, plan);
  const direct = 2 * 50 * 16 * 16 * 24 * 9 * 16;
  expect(flops(up.forward(0, 0))).toBe((direct * 4) / 9);
  expect(flops(up.inputGrad(0, 0))).toBe((direct * 4) / 9);
  // The filter gradient: the phases' taps and their bias rows.
  expect(flops(up.weightGrad(0, 0))).toBe(4 * 2 * (4 * 16 + 1) * 24 * 50 * 8 * 8);
  // A strided one: 4x4 taps, stride 2, 16x16x3 → 8x8x32; its input gradient by phase, a quarter of the taps each.
  const down = convLayer('e', { H: 16, W: 16, cin: 3, cout: 32, k: 4, s: 2, up: false, off: 0 }, true, 1000, plan);
  expect(flops(down.forward(0, 0))).toBe(2 * 50 * 8 * 8 * 32 * 16 * 3);
  expect(flops(down.inputGrad(0, 0))).toBe(2 * 50 * 16 * 16 * 3 * 4 * 32);
});

withGpu('Bernoulli NLL per row and its gradient (σ(l) − x) / n, for logits far into both tails', async (g) => {
  const n = 5, D = 300;
  const rng = new Rng(6, 'gpu-bce');
  const logits = Float64Array.from(random(rng, n * D, 8), (v, i) => (i % 97 === 0 ? 100 : i % 89 === 0 ? -100 : i % 83 === 0 ? 0 : v));
  const x = Float64Array.from({ length: n * D }, () => (rng.uniform() < 0.3 ? 1 : rng.uniform()));
  const mem = new Float32Array(3 * n * D + n);
  mem.set(logits, 0); mem.set(x, n * D);
  const out = await runKernel(g, bernoulliKernel({ logits: 0, x: n * D, dlogits: 2 * n * D, rec: 3 * n * D, dim: D }), [n, 1], mem, uniform(n));
  const l = (i: number) => mem[i]; // the float32 logits the kernel saw
  const rec = Array.from({ length: n }, (_, r) => {
    let s = 0;
    for (let j = 0; j < D; j++) { const v = l(r * D + j); s += Math.max(v, 0) - x[r * D + j] * v + Math.log1p(Math.exp(-Math.abs(v))); }
    return s;
  });
  expectClose(out.subarray(3 * n * D), rec, 1e-5);
  const grad = Array.from({ length: n * D }, (_, i) => (1 / (1 + Math.exp(-l(i))) - x[i]) / n);
  expectClose(out.subarray(2 * n * D, 3 * n * D), grad, 1e-5, 1e-2);
});

withGpu('Gaussian NLL with a fixed σ and μ = sigmoid(l), per row, and its gradient (μ − x) μ (1 − μ) / (σ² n)', async (g) => {
  const n = 4, D = 300, sigma = 0.1;
  const rng = new Rng(13, 'gpu-gaussian');
  const logits = random(rng, n * D, 6), x = Float64Array.from({ length: n * D }, () => rng.uniform());
  const mem = new Float32Array(3 * n * D + n);
  mem.set(logits, 0); mem.set(x, n * D);
  const out = await runKernel(g, gaussianKernel({ logits: 0, x: n * D, dlogits: 2 * n * D, rec: 3 * n * D, dim: D, sigma }), [n, 1], mem, uniform(n));
  const mu = (i: number) => 1 / (1 + Math.exp(-mem[i]));
  const xs = (i: number) => mem[n * D + i];
  expectClose(out.subarray(3 * n * D), Array.from({ length: n }, (_, r) => {
    let s = 0;
    for (let j = 0; j < D; j++) s += (xs(r * D + j) - mu(r * D + j)) ** 2 / (2 * sigma * sigma) + 0.5 * (Math.log(2 * Math.PI) + 2 * Math.log(sigma));
    return s;
  }), 1e-5);
  // μ − x cancels where μ ≈ x, and 1/σ² = 100 magnifies the float32 sigmoid's last bits: errors are judged against
  // the gradients' scale (~1), not against each tiny value.
  expectClose(out.subarray(2 * n * D, 3 * n * D), Array.from({ length: n * D }, (_, i) =>
    ((mu(i) - xs(i)) / (sigma * sigma)) * mu(i) * (1 - mu(i)) / n), 1e-5, 1);
});

withGpu('the reparameterised sample and its KL (β = 0.7)', async (g) => {
  const n = 9, Z = 7, beta = 0.7;
  const rng = new Rng(7, 'gpu-reparam');
  const mu = random(rng, n * Z, 2), lv = random(rng, n * Z, 3), eps = random(rng, n * Z, 2);
  // mem: mu | lv | eps | z | kl (n)
  const o = { mu: 0, logvar: n * Z, eps: 2 * n * Z, z: 3 * n * Z, kl: 4 * n * Z };
  const mem = new Float32Array(4 * n * Z + n);
  mem.set(mu, o.mu); mem.set(lv, o.logvar); mem.set(eps, o.eps);
  const fwd = await runKernel(g, reparameterizeKernel({ ...o, zDim: Z }), [1, 1], mem, uniform(n, beta));
  const f = (i: number, a: Float64Array) => Math.fround(a[i]);
  expectClose(fwd.subarray(o.z, o.z + n * Z), Array.from({ length: n * Z }, (_, i) => f(i, mu) + Math.exp(0.5 * f(i, lv)) * f(i, eps)), 1e-5);
  expectClose(fwd.subarray(o.kl, o.kl + n), Array.from({ length: n }, (_, r) => {
    let s = 0;
    for (let j = 0; j < Z; j++) { const i = r * Z + j; s += 1 + f(i, lv) - f(i, mu) ** 2 - Math.exp(f(i, lv)); }
    return -0.5 * s;
  }), 1e-5);
});

describe('the gradients of μ and log σ², made by the decoder\'s first layer as its input gradient dz comes out (a store)', () => {
  // The decoder's first layer [Z + 2 -> out] (2 columns of condition beside z, as a cvae's: their gradient dropped);
  // out = 2,100 makes its input gradient a split product, whose sum kernel runs the store.
  const cases = [{ out: 30, rowWeights: false }, { out: 2100, rowWeights: false }, { out: 30, rowWeights: true }];
  for (const { out, rowWeights } of cases) {
    withGpu(`over ${out} outputs${out > 1000 ? ' (split)' : ''}, ${rowWeights ? 'a weight per row (M2\'s)' : 'β / n (β = 0.7)'}`, async (g) => {
      const n = 9, Z = 7, zLd = Z + 2, beta = 0.7;
      const rng = new Rng(7, `gpu-reparam-grad-${out}-${rowWeights}`);
      const W = random(rng, zLd * out + out), dY = random(rng, n * out);
      const mu = random(rng, n * Z, 2), lv = random(rng, n * Z, 3), eps = random(rng, n * Z, 2);
      const rw = Float64Array.from(random(rng, n), (v) => Math.abs(v));
      const P = W.length;
      // mem: W | its gradient | dY | mu | lv | eps | rw | dmu | dlogvar | the partial sums
      const o = { mu: 2 * P + n * out, logvar: 2 * P + n * out + n * Z, eps: 2 * P + n * out + 2 * n * Z, dmu: 0, dlogvar: 0, rowWeight: 0 };
      o.rowWeight = o.eps + n * Z; o.dmu = o.rowWeight + n; o.dlogvar = o.dmu + n * Z;
      const { layers: [layer], size } = layersAfter(o.dlogvar + n * Z, n, (plan) => [denseLayer('first', { off: 0, shape: [zLd, out] }, 'relu', P, plan)]);
      const sink = reparameterizeGradStore({ ...o, zDim: Z, ...(rowWeights ? {} : { rowWeight: undefined }) });
      const kernels = layer.inputGrad(2 * P, sink);
      expect(kernels).toHaveLength(out > 1000 ? 2 : 1);
      const mem = new Float32Array(size);
      mem.set(W); mem.set(dY, 2 * P); mem.set(mu, o.mu); mem.set(lv, o.logvar); mem.set(eps, o.eps); mem.set(rw, o.rowWeight);
      const got = await runKernels(g, kernels.map((k) => ({ source: k.source, groups: k.groups(n, n) })), mem, uniform(n, beta));
      const f = (i: number, a: Float64Array) => Math.fround(a[i]);
      const dz = (i: number) => {
        const [r, j] = [Math.floor(i / Z), i % Z];
        let s = 0;
        for (let k = 0; k < out; k++) s += f(r * out + k, dY) * f(j * out + k, W);
        return s;
      };
      const kl = (i: number) => (rowWeights ? f(Math.floor(i / Z), rw) : beta / n);
      expectClose(got.subarray(o.dmu, o.dmu + n * Z), Array.from({ length: n * Z }, (_, i) => dz(i) + kl(i) * f(i, mu)), 1e-5, 1);
      expectClose(got.subarray(o.dlogvar, o.dlogvar + n * Z), Array.from({ length: n * Z }, (_, i) =>
        dz(i) * f(i, eps) * 0.5 * Math.exp(0.5 * f(i, lv)) + kl(i) * 0.5 * (Math.exp(f(i, lv)) - 1)), 1e-5, 1);
      // Nothing else written: the inputs as they were (the condition's columns' gradient goes nowhere).
      expect(got.subarray(0, o.dmu)).toEqual(mem.subarray(0, o.dmu));
    });
  }
});

withGpu('Adam over 1,000 parameters (not a multiple of 256) equals engine/adam.ts at step 3', async (g) => {
  const P = 1000, t = 3, lr = 0.01;
  const rng = new Rng(8, 'gpu-adam');
  const params = Float32Array.from(random(rng, P)), grads = Float32Array.from(random(rng, P, 5));
  const m = Float32Array.from(random(rng, P, 0.1)), v = Float32Array.from(random(rng, P), (x) => Math.abs(x) * 0.01);
  const mem = new Float32Array(4 * P);
  mem.set(params, 0); mem.set(grads, P); mem.set(m, 2 * P); mem.set(v, 3 * P);
  const stepSize = lr / (1 - Math.pow(ADAM_DEFAULTS.beta1, t)), invCorr2 = 1 / (1 - Math.pow(ADAM_DEFAULTS.beta2, t));
  const adam = adamKernel(P, ADAM_DEFAULTS.epsilon);
  const out = await runKernel(g, adam.source, adam.groups(1, 1), mem,
    uniform(1, 1, { stepSize, invCorr2, beta1: ADAM_DEFAULTS.beta1, beta2: ADAM_DEFAULTS.beta2 }));
  const state = { m: Float32Array.from(m), v: Float32Array.from(v) };
  const want = Float32Array.from(params);
  adamStep({ lr, ...ADAM_DEFAULTS }, t, want, state, [Float32Array.from(grads)], 0, P, false);
  // float32 arithmetic against JavaScript's doubles: agreement to 1e-6 of each array's scale.
  expectClose(out.subarray(0, P), want, 1e-6);
  expectClose(out.subarray(2 * P, 3 * P), state.m, 1e-6, 0.1);
  expectClose(out.subarray(3 * P, 4 * P), state.v, 1e-6, 1e-3);
});

withGpu('gathering a batch from the training set on the GPU gives the CPU batch exactly (bytes / 255 in float32)', async (g) => {
  const D = 7, count = 13, n = 5; // 91 bytes: the last u32 of the packed set is partly padding
  const rng = new Rng(14, 'gpu-gather');
  const images = Uint8Array.from({ length: count * D }, (_, i) => (i < 4 ? [0, 255, 1, 128][i] : Math.floor(rng.uniform() * 256)));
  const order = Uint32Array.from([12, 0, 7, 7, 3, 9]); // a batch of 5 from position 1 of this order; 12 is the last image
  const want = new Float32Array(n * D);
  fillBatch({ images, labels: null, count }, D, order, 1, 1 + n, want);
  // mem: the rows' indices | the byte levels | x
  const mem = new Float32Array(n + 256 + n * D);
  mem.set(Array.from(order.subarray(1, 1 + n)), 0);
  mem.set(byteLevels(), n);
  const gather = gatherKernel({ index: 0, lut: n, x: n + 256, D });
  const out = await runKernels(g, [{ source: gather.source, groups: gather.groups(n, n) }], mem, uniform(n), images);
  expect(Array.from(out.subarray(n + 256))).toEqual(Array.from(want));
});

withGpu("the step's sums: loss (Σ rec + β Σ KL) / n, Σ rec, Σ KL, into the batch slot's place", async (g) => {
  const n = 300, beta = 0.5;
  const rng = new Rng(9, 'gpu-stats');
  const rec = random(rng, n, 100), kl = random(rng, n, 10);
  const mem = new Float32Array(2 * n + 16); // 8 numbers per batch slot
  mem.set(rec, 0); mem.set(kl, n);
  const out = await runKernel(g, statsKernel({ rec: 0, kl: n, stats: 2 * n }).source, [1, 1], mem, uniform(n, beta, { slot: 1 }));
  const sum = (a: Float64Array) => a.reduce((s, v) => s + Math.fround(v), 0);
  expectClose(out.subarray(2 * n + 8, 2 * n + 11), [(sum(rec) + beta * sum(kl)) / n, sum(rec), sum(kl)], 1e-5);
  expect(Array.from(out.subarray(2 * n, 2 * n + 8))).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
});

withGpu("the step's sums with each row's KL made from μ and log σ² (an ELBO's step stores none)", async (g) => {
  const n = 300, Z = 7, beta = 0.5;
  const rng = new Rng(9, 'gpu-stats-kl');
  const rec = random(rng, n, 100), mu = random(rng, n * Z, 2), lv = random(rng, n * Z, 3);
  const mem = new Float32Array(n + 2 * n * Z + 16);
  mem.set(rec, 0); mem.set(mu, n); mem.set(lv, n + n * Z);
  const stats = n + 2 * n * Z;
  const kernel = statsKernel({ rec: 0, kl: { row: klRowFunction({ mu: n, logvar: n + n * Z, zDim: Z }) }, stats });
  const out = await runKernel(g, kernel.source, [1, 1], mem, uniform(n, beta));
  const f = (i: number, a: Float64Array) => Math.fround(a[i]);
  let kl = 0;
  for (let i = 0; i < n * Z; i++) kl += -0.5 * (1 + f(i, lv) - f(i, mu) ** 2 - Math.exp(f(i, lv)));
  const recSum = rec.reduce((s, v) => s + Math.fround(v), 0);
  expectClose(out.subarray(stats, stats + 3), [(recSum + beta * kl) / n, recSum, kl], 1e-5);
});

withGpu('the decoder\'s first layer reading the sample as it goes (μ + exp(½ log σ²) ε, a condition beside): forward and weight gradient', async (g) => {
  const n = 37, Z = 5, zLd = Z + 3, out = 23;
  const rng = new Rng(13, 'gpu-sample-input');
  const W = random(rng, zLd * out + out), dY = random(rng, n * out);
  const mu = random(rng, n * Z, 2), lv = random(rng, n * Z, 2), eps = random(rng, n * Z, 2), cond = random(rng, n * zLd);
  const P = W.length;
  // mem: W | its gradient | mu | lv | eps | z (only its condition columns read) | dY | Y | the partial sums
  const o = { mu: 2 * P, logvar: 2 * P + n * Z, eps: 2 * P + 2 * n * Z, z: 2 * P + 3 * n * Z, zDim: Z, zLd };
  const dyAt = o.z + n * zLd, yAt = dyAt + n * out;
  const { layers: [layer], size } = layersAfter(yAt + n * out, n, (plan) => [denseLayer('first', { off: 0, shape: [zLd, out] }, 'relu', P, plan)]);
  const mem = new Float32Array(size);
  mem.set(W); mem.set(mu, o.mu); mem.set(lv, o.logvar); mem.set(eps, o.eps); mem.set(cond, o.z); mem.set(dY, dyAt);
  const input = sampleInput(o);
  const kernels = [...layer.forward(input, yAt), ...layer.weightGrad(input, dyAt)];
  const got = await runKernels(g, kernels.map((k) => ({ source: k.source, groups: k.groups(n, n) })), mem, uniform(n));
  const f = (i: number, a: Float64Array) => Math.fround(a[i]);
  const z = (r: number, c: number) => (c < Z ? f(r * Z + c, mu) + Math.exp(0.5 * f(r * Z + c, lv)) * f(r * Z + c, eps) : f(r * zLd + c, cond));
  expectClose(got.subarray(yAt, yAt + n * out), Array.from({ length: n * out }, (_, e) => {
    const [r, j] = [Math.floor(e / out), e % out];
    let s = f(zLd * out + j, W);
    for (let c = 0; c < zLd; c++) s += z(r, c) * f(c * out + j, W);
    return Math.max(0, s);
  }), 1e-5, 1);
  // dW = [zᵀ; 1ᵀ] · dY: the kernel's gradient, then the bias's.
  expectClose(got.subarray(P, 2 * P), Array.from({ length: P }, (_, e) => {
    const [c, j] = [Math.floor(e / out), e % out];
    let s = 0;
    for (let r = 0; r < n; r++) s += (c < zLd ? z(r, c) : 1) * f(r * out + j, dY);
    return s;
  }), 1e-5, 1);
  expect(Array.from(got.subarray(o.z, o.z + n * zLd))).toEqual(Array.from(Float32Array.from(cond))); // z itself not written
});

withGpu('the noise kernel draws the CPU\'s Philox normals: 1e-6 of each (1,003 rows of 7, n·K rows of the step)', async (g) => {
  const rows = 1003, Z = 7, at = 5;
  const key = philoxKey(11, 'eps', 3, 250);
  const kernel = noiseKernel({ at, rows: 'nk', Z });
  const mem = new Float32Array(at + rows * Z + 3).fill(-99); // 3 past the end: not written
  const out = await runKernel(g, kernel.source, kernel.groups(1, rows), mem, uniform(1, 1, { nk: rows, noiseKey: key }));
  const want = philoxNormals(key, new Float32Array(rows * Z));
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(out[at + i] - want[i]));
  expect(worst).toBeLessThanOrEqual(1e-6);
  expect(Array.from(out.subarray(0, at))).toEqual([-99, -99, -99, -99, -99]);
  expect(Array.from(out.subarray(at + rows * Z))).toEqual([-99, -99, -99]);
  // Another key, other numbers.
  const other = await runKernel(g, kernel.source, kernel.groups(1, rows), mem, uniform(1, 1, { nk: rows, noiseKey: [key[0], key[1] + 1] }));
  expect(Math.abs(other[at] - out[at]) + Math.abs(other[at + 1] - out[at + 1])).toBeGreaterThan(1e-3);
});

withGpu('one training step on the GPU equals the CPU step on the same weights, batch and noise (1e-4 relative)', async () => {
  const run = await startRun({ data: 'mnist', binarize: 'dynamic', hidden: [64, 32], zDim: 5, beta: 0.8, epochs: 1, batchSize: 50,
    lr: 1e-3, seed: 4, klWarmup: 0, out: path.join(tmpDir(), 'run'), limitTrain: 200, limitTest: 50 });
  const rng = new Rng(10, 'gpu-step');
  const x = Float32Array.from({ length: 47 * 784 }, () => (rng.uniform() < 0.2 ? 1 : 0)); // a short batch: 47 of 50 rows
  const eps = Float32Array.from({ length: 47 * 5 }, () => rng.normal());
  const { cpu, gpuStep } = await stepOnBoth(run, 50, x, eps, { slot: 1, n: 47, beta: 0.8, samples: 1 });
  expectClose(gpuStep.params, cpu.params, 1e-4);
}, 60_000);

withGpu('a step that gathers its images from the training set and draws its noise on the GPU equals the CPU step on those images and that noise', async () => {
  const run = await startRun({ data: 'mnist', binarize: 'none', hidden: [64], zDim: 4, beta: 1, epochs: 1, batchSize: 20,
    lr: 1e-3, seed: 5, klWarmup: 0, out: path.join(tmpDir(), 'gather'), limitTrain: 100, limitTest: 20 });
  const rng = new Rng(15, 'gpu-gather-step');
  const indices = Uint32Array.from({ length: 17 }, () => Math.floor(rng.uniform() * 100));
  const x = new Float32Array(17 * 784);
  fillBatch(run.dataset.train, 784, indices, 0, 17, x);
  const eps = Float32Array.from({ length: 17 * 4 }, () => rng.normal());
  const { cpu, gpuStep } = await stepOnBoth(run, 20, x, eps, { slot: 0, n: 17, beta: 1, samples: 1, noiseKey: philoxKey(5, 'eps', 1, 0) }, { gather: indices });
  expectClose(gpuStep.params, cpu.params, 1e-4);
}, 60_000);

test('a step\'s split weight gradients are finished in one dispatch after the backward pass, the code layers\' too (MLP, batch 1,024)', async () => {
  const run = await startRun({ data: 'mnist', binarize: 'none', beta: 1, epochs: 1, batchSize: 1024, lr: 1e-3, seed: 1, klWarmup: 0,
    out: path.join(tmpDir(), 'later'), limitTrain: 1024, limitTest: 16 });
  const spec = familyOf(run.vae.config).gpu!(run.vae.config)!;
  const names = buildStep(gpuModel(run.vae), gpuObjective(spec, { rows: 1024, samples: 1 }), { epsilon: 1e-8, gather: true, noise: true })
    .kernels.map((k) => k.name);
  const sums = names.filter((name) => name.includes('dW sum'));
  expect(sums).toHaveLength(1);
  expect(sums[0].split(' + ').sort()).toEqual(['dec_hidden_1 dW sum', 'enc_hidden_1 dW sum', 'logits dW sum', 'logvar dW sum', 'mu dW sum']);
  expect(names.slice(names.indexOf(sums[0]) + 1)).toEqual(['adam + stats']);
});

withGpu('one training step of the conv VAE on the GPU equals the CPU step (1e-4 relative)', async () => {
  const run = await startRun({ data: 'mnist', arch: 'conv', binarize: 'none', beta: 1, epochs: 1, batchSize: 4, lr: 1e-3, seed: 6,
    klWarmup: 0, out: path.join(tmpDir(), 'conv'), limitTrain: 8, limitTest: 4 });
  const rng = new Rng(12, 'gpu-conv-step');
  const x = Float32Array.from({ length: 3 * 784 }, () => rng.uniform());
  const eps = Float32Array.from({ length: 3 * run.vae.config.zDim }, () => rng.normal());
  const { cpu, gpuStep, scale } = await stepOnBoth(run, 4, x, eps, { slot: 0, n: 3, beta: 1, samples: 1 });
  // Adam's first step moves each parameter by lr · g / (|g| + ε): where a gradient is within float error of 0
  // (here ~2e-5 of the largest), the size of that move is arbitrary on both sides: compared where |g| > 1e-4 of it.
  const meaningful = Array.from(cpu.adam.m.keys()).filter((i) => Math.abs(cpu.adam.m[i]) > 1e-4 * scale);
  expect(meaningful.length).toBeGreaterThan(cpu.params.length / 4);
  expectClose(meaningful.map((i) => gpuStep.params[i]), meaningful.map((i) => cpu.params[i]), 1e-4);
}, 120_000);

withGpu('one training step with a Gaussian p(x|z) of fixed σ on the GPU equals the CPU step (1e-4 relative)', async () => {
  const run = await startRun({ data: 'mnist', likelihood: 'gaussian', sigma: 0.2, binarize: 'none', hidden: [32], zDim: 4, beta: 1, epochs: 1,
    batchSize: 20, lr: 1e-3, seed: 7, klWarmup: 0, out: path.join(tmpDir(), 'gaussian'), limitTrain: 40, limitTest: 10 });
  const rng = new Rng(14, 'gpu-gaussian-step');
  const x = Float32Array.from({ length: 20 * 784 }, () => rng.uniform());
  const eps = Float32Array.from({ length: 20 * 4 }, () => rng.normal());
  const { cpu, gpuStep } = await stepOnBoth(run, 20, x, eps, { slot: 0, n: 20, beta: 1, samples: 1 });
  expectClose(gpuStep.params, cpu.params, 1e-4);
}, 60_000);

describe.each([
  ['a plain autoencoder (its point code decoded as it is)', { model: 'ae' }],
  ['a denoising autoencoder (noisy images in, clean ones scored)', { model: 'dae', noise: 'salt-pepper' }],
  ['a sparse autoencoder (a sigmoid code, the penalty per shard)', { model: 'sae', sparsity: 0.1, sparsityWeight: 0.5 }],
  ['a VQ-VAE (the nearest codebook entries, straight through; codebook and commitment terms)', { model: 'vqvae', codebookSize: 16, commitment: 0.3 }],
] as const)('one training step of %s on the GPU equals the CPU step (1e-4 relative)', (_, kind) => {
  withGpu('stats, gradients and parameters', async () => {
    const run = await startRun({ data: 'mnist', binarize: 'none', hidden: [32], zDim: 6, beta: 1, epochs: 1, batchSize: 20, lr: 1e-3, seed: 8,
      klWarmup: 0, out: path.join(tmpDir(), kind.model), limitTrain: 40, limitTest: 10, ...kind });
    const rng = new Rng(15, 'gpu-autoencoder-step');
    const x = Float32Array.from({ length: 17 * 784 }, () => rng.uniform());
    const noisy = kind.model === 'dae' ? Float32Array.from(x, (v) => (rng.uniform() < 0.2 ? Math.round(rng.uniform()) : v)) : undefined;
    const { cpu, gpuStep } = await stepOnBoth(run, 20, x, new Float32Array(17 * 6), { slot: 1, n: 17, beta: 1, samples: 1 }, { noisy });
    if (kind.model === 'sae' || kind.model === 'vqvae') expect(cpu.stats[2]).toBeGreaterThan(0); // the penalty, the VQ terms
    else expect(cpu.stats[2]).toBe(0); // no KL, no penalty
    expectClose(gpuStep.params, cpu.params, 1e-4);
  }, 60_000);
});

describe.each([
  ['on the label (the encoder reads [x, y], the decoder [z, y])', { condition: 'label' }],
  ['completing the left half (the decoder reads [z, observed pixels] and models the missing ones)', { condition: 'left-half' }],
] as const)('one training step of a cvae %s on the GPU equals the CPU step (1e-4 relative)', (_, kind) => {
  withGpu('stats, gradients and parameters', async () => {
    const run = await startRun({ data: 'mnist', model: 'cvae', binarize: 'none', hidden: [32], zDim: 3, beta: 0.9, epochs: 1, batchSize: 20,
      lr: 1e-3, seed: 9, klWarmup: 0, out: path.join(tmpDir(), kind.condition), limitTrain: 40, limitTest: 10, ...kind });
    expect(webGpuCannotTrain(run.vae)).toBeNull();
    const rng = new Rng(16, 'gpu-cvae-step', kind.condition);
    const n = 17;
    const x = Float32Array.from({ length: n * 784 }, () => rng.uniform());
    const y = new Float32Array(n * run.vae.labelDim);
    for (let r = 0; r < n && run.vae.labelDim > 0; r++) y[r * 10 + Math.floor(rng.uniform() * 10)] = 1;
    const eps = Float32Array.from({ length: n * 3 }, () => rng.normal());
    const { cpu, gpuStep } = await stepOnBoth(run, 20, x, eps, { slot: 0, n, beta: 0.9, samples: 1 }, { y });
    expect(cpu.stats[2]).toBeGreaterThan(0);
    expectClose(gpuStep.params, cpu.params, 1e-4);
  }, 60_000);
});

describe.each([
  ['the MLP VAE, K = 4, β 0.7', { hidden: [32] as number[] }, 4, 0.7, 17],
  ['a cvae on the label, K = 3 (its condition beside every sample)', { model: 'cvae', hidden: [32] as number[] }, 3, 1, 9],
  ['the conv VAE, K = 2', { arch: 'conv' }, 2, 1, 3],
] as const)('one importance-weighted step (--iw-train) of %s, its n·K noise rows drawn on the GPU, equals the CPU step (1e-4 relative)', (_, kind, K, beta, n) => {
  withGpu('stats, gradients and parameters', async () => {
    const run = await startRun({ data: 'mnist', binarize: 'none', zDim: 3, beta, epochs: 1, batchSize: 20, lr: 1e-3, seed: 10, klWarmup: 0,
      iwTrain: K, out: path.join(tmpDir(), 'iw'), limitTrain: 40, limitTest: 10, ...kind });
    const rng = new Rng(17, 'gpu-iw-step', K);
    const x = Float32Array.from({ length: n * 784 }, () => rng.uniform());
    const y = new Float32Array(n * run.vae.labelDim);
    for (let r = 0; r < n && run.vae.labelDim > 0; r++) y[r * 10 + Math.floor(rng.uniform() * 10)] = 1;
    const eps = Float32Array.from({ length: n * K * 3 }, () => rng.normal());
    const { cpu, gpuStep, scale } = await stepOnBoth(run, 20, x, eps, { slot: 1, n, beta, samples: K, noiseKey: philoxKey(10, 'eps', 2, K) }, { y });
    // As for the conv step above: parameters compared where the gradient is well above float error.
    const meaningful = Array.from(cpu.adam.m.keys()).filter((i) => Math.abs(cpu.adam.m[i]) > 1e-4 * scale);
    expect(meaningful.length).toBeGreaterThan(cpu.params.length / 10);
    expectClose(meaningful.map((i) => gpuStep.params[i]), meaningful.map((i) => cpu.params[i]), 1e-4);
  }, 120_000);
});

describe.each([
  ['the MLP VAE', {}, [30, 2500]],
  ['a cvae on the label', { model: 'cvae' }, [30, 2500]],
  ['a cvae completing the top half', { model: 'cvae', condition: 'top-half' }, [30, 2500]],
  // Its decoder's upsampled convolutions sum their phase weights first (Layer.prepare).
  ['the conv VAE', { arch: 'conv' }, [30]],
] as const)('the importance-sampled bound L_K of %s with the decoder on the GPU (evaluate --iw under webgpu)', (_, kind, ks) => {
  withGpu('equals the CPU\'s, image by image, with the same samples (K 30: many images a call; K 2,500: two calls an image)', async () => {
    const run = await startRun({ data: 'mnist', binarize: 'none', hidden: [32], zDim: 4, beta: 1, epochs: 1, batchSize: 20, lr: 1e-3, seed: 11,
      klWarmup: 0, out: path.join(tmpDir(), 'iw-eval'), limitTrain: 40, limitTest: 10, ...kind });
    const vae = run.vae;
    const rng = new Rng(18, 'gpu-iw-eval');
    const n = 7;
    const x = Float32Array.from({ length: n * 784 }, () => (rng.uniform() < 0.3 ? 1 : 0));
    const labels = vae.labelDim > 0 ? Float32Array.from({ length: n * 10 }, (_, i) => (i % 10 === (Math.floor(i / 10) * 3) % 10 ? 1 : 0)) : null;
    for (const k of ks) {
      const cpu = vaeImportanceWeighted(vae, x, n, labels, { k, seed: 4 });
      const gpuBounds = await vaeImportanceWeightedGpu(vae, x, n, labels, { k, seed: 4 });
      expect(gpuBounds).toHaveLength(n);
      gpuBounds.forEach((v, i) => expect(Math.abs(v - cpu[i])).toBeLessThan(1e-5 * Math.abs(cpu[i])));
    }
  }, 120_000);
});

withGpu('one training step of M2 on the GPU equals the CPU step: every label of the unlabelled images, the classifier, the noise drawn on the GPU (1e-4 relative)', async () => {
  const run = await startRun({ data: 'mnist', model: 'm2', binarize: 'none', hidden: [32], zDim: 3, beta: 1, epochs: 1, batchSize: 20, lr: 1e-3,
    seed: 12, klWarmup: 0, out: path.join(tmpDir(), 'm2'), limitTrain: 200, limitTest: 20, labeled: 20, alpha: 5 });
  const C = 10, nu = 13, nl = 5;
  const rng = new Rng(19, 'gpu-m2-step');
  const x = Float32Array.from({ length: (nu + nl) * 784 }, () => rng.uniform());
  const y = new Float32Array((nu + nl) * C);
  for (let j = 0; j < nl; j++) y[(nu + j) * C + ((3 * j + 1) % C)] = 1;
  const eps = Float32Array.from({ length: (nu * C + nl) * 3 }, () => rng.normal());
  const semi = { unlabelled: nu, labelled: nl, weights: { unlabelled: 0.3, labelled: 0.05, classification: 2 } };
  const { cpu, gpuStep } = await stepOnBoth(run, 25, x, eps, { slot: 1, n: nu + nl, beta: 1, samples: 1, semi, noiseKey: philoxKey(12, 'eps', 1, 7) }, { y, samples: C });
  expect(cpu.stats).toHaveLength(7);
  expect(cpu.stats[6]).toBe(nl);
  expectClose(gpuStep.params, cpu.params, 1e-4);
}, 120_000);

withGpu('one training step of M1+M2 on the GPU equals the CPU step: M2 on M1\'s codes, a Gaussian of learned variance (1e-4 relative)', async () => {
  const dir = tmpDir();
  const m1 = runVae(['-q', 'train', '--epochs', '1', '--limit-train', '300', '--limit-test', '50', '--out', path.join(dir, 'm1')], dir);
  expect(m1.status).toBe(0);
  const run = await startRun({ data: 'mnist', model: 'm1m2', m1: path.join(dir, 'm1'), binarize: 'none', hidden: [32], zDim: 3, beta: 1, epochs: 1,
    batchSize: 20, lr: 1e-3, seed: 13, klWarmup: 0, out: path.join(dir, 'm1m2'), limitTrain: 200, limitTest: 20, labeled: 20, alpha: 5 });
  expect(run.vae.config.sigma).toBeUndefined(); // the decoder gives μ and log σ² of M1's codes
  const C = 10, nu = 9, nl = 4;
  const D = run.vae.inputDim; // M1's dimensions that vary
  const rng = new Rng(20, 'gpu-m1m2-step');
  const x = Float32Array.from({ length: (nu + nl) * D }, () => rng.normal());
  const y = new Float32Array((nu + nl) * C);
  for (let j = 0; j < nl; j++) y[(nu + j) * C + ((7 * j + 2) % C)] = 1;
  const eps = Float32Array.from({ length: (nu * C + nl) * 3 }, () => rng.normal());
  const semi = { unlabelled: nu, labelled: nl, weights: { unlabelled: 0.3, labelled: 0.05, classification: 2 } };
  const { cpu, gpuStep } = await stepOnBoth(run, 20, x, eps, { slot: 0, n: nu + nl, beta: 1, samples: 1, semi }, { y, samples: C });
  expect(cpu.stats[6]).toBe(nl);
  expectClose(gpuStep.params, cpu.params, 1e-4);
}, 120_000);

/**
 * Steps handed over before any is done, as the loop does, are recorded 4 to a command buffer (the last 2 submitted
 * at flush), each with its own batch and noise in its own slot: their uploads are staged apart and copied into place
 * in turn, and each step's statistics, and the state after them, equal to the bit those of steps submitted one by one.
 * Where the batches are gathered, also with the set not held by the engine (a streamed one): each batch's images
 * uploaded as bytes into the binding the gather reads, four steps' in one command buffer.
 */
describe.each([
  ['the MLP VAE, its batches gathered on the GPU and its noise drawn there', { hidden: [32] }, true],
  ['a cvae on the label, its batches, conditions and noise uploaded', { model: 'cvae', hidden: [32] }, false],
] as const)('six steps of %s submitted 4 at a time', (_, kind, gathers) => {
  withGpu('train exactly as six submitted one at a time: each step\'s statistics, the parameters and moments', async (g) => {
    const run = await startRun({ data: 'mnist', binarize: 'none', zDim: 3, beta: 1, epochs: 1, batchSize: 20, lr: 1e-3, seed: 21, klWarmup: 0,
      out: path.join(tmpDir(), 'grouped'), limitTrain: 100, limitTest: 10, ...kind, hidden: [...kind.hidden] });
    const backend = await initBackend('webgpu', { gpu: true });
    const setup: EngineSetup = { backend, vae: run.vae, adam: run.adam, adamConfig: { lr: 1e-3, ...ADAM_DEFAULTS },
      sizes: { rows: 20, dim: 784, labelDim: run.vae.labelDim, zDim: 3, samples: 1, noisy: false },
      images: gathers ? run.dataset.train as ResidentSet : undefined, normals: gathers ? 'philox' : 'sfc32' };
    const rng = new Rng(22, 'gpu-grouped', kind.hidden[0]);
    // Six batches of 20 down to 15 rows, each its own images, labels and noise.
    const batches = Array.from({ length: 6 }, (_, s) => {
      const n = 20 - s;
      const index = Uint32Array.from({ length: n }, () => Math.floor(rng.uniform() * 100));
      const x = new Float32Array(n * 784);
      fillBatch(run.dataset.train, 784, index, 0, n, x);
      const y = new Float32Array(n * run.vae.labelDim);
      for (let r = 0; r < n && run.vae.labelDim > 0; r++) y[r * 10 + Math.floor(rng.uniform() * 10)] = 1;
      const eps = Float32Array.from({ length: n * 3 }, () => rng.normal());
      return { n, index, x, y, eps };
    });
    const results = [];
    // Also tuned (tune.ts), each product in its last form (not timed to pick it: lavapipe's fastest is the plain one).
    const lastForms: PickForms = async (forms, time) => {
      const first = forms.findIndex((fs) => fs.length > 1);
      expect(await time(first, forms[first][1])).toBeGreaterThan(0);
      return forms.map((fs) => fs[fs.length - 1]);
    };
    const ways = [{ perSubmission: 1, bytes: false }, { perSubmission: 4, bytes: false }, ...(gathers ? [{ perSubmission: 4, bytes: true }] : []),
      { perSubmission: 4, bytes: false, tuned: true }];
    for (const { perSubmission, bytes, tuned } of ways) {
      const engine = await webGpuEngine(bytes ? { ...setup, images: undefined, imageBytes: true } : setup,
        { ...g, info: { ...g.info, stepsPerSubmission: perSubmission, tune: tuned === true } }, familyOf(run.vae.config), tuned ? lastForms : undefined);
      expect([engine.group, engine.depth]).toEqual([perSubmission, 3 * perSubmission]);
      expect(engine.description.includes(', each batch uploaded as bytes')).toBe(bytes);
      // Each product in its last form: none plain (those with deep ones, deep and prefetching; the others prefetching).
      const timed = /, (\d+) products timed: (.*)$/.exec(engine.description);
      expect(timed !== null).toBe(tuned === true);
      if (timed) {
        const forms = timed[2].split(', ').map((part) => /^(\d+) (.*)$/.exec(part)!);
        expect(forms.map((f) => f[2])).not.toContain('plain');
        expect(forms.reduce((sum, f) => sum + Number(f[1]), 0)).toBe(Number(timed[1]));
        expect(Number(timed[1])).toBeGreaterThanOrEqual(4);
      }
      const queue = g.device.queue;
      const submit = queue.submit.bind(queue);
      let submissions = 0;
      queue.submit = (buffers) => { submissions++; submit(buffers); };
      const give = (s: number) => {
        const b = batches[s];
        const slot = engine.slot(s % engine.depth!);
        if (bytes) {
          expect(slot.x.length).toBe(0);
          b.index.forEach((i, k) => slot.bytes!.set(run.dataset.train.images!.subarray(i * 784, (i + 1) * 784), k * 784));
        } else if (gathers) slot.imageIndex!.set(b.index);
        else slot.x.set(b.x);
        slot.y.set(b.y);
        if (!gathers) slot.eps.set(b.eps);
        return engine.step({ slot: s % engine.depth!, n: b.n, beta: 1, samples: 1, noiseKey: gathers ? philoxKey(21, 'eps', 1, s) : undefined }, s + 1);
      };
      const stats: number[][] = [];
      try {
        if (perSubmission === 1) {
          // One at a time: each step awaited (and its statistics read) before the next is given.
          for (let s = 0; s < 6; s++) {
            await give(s);
            stats.push(engine.stats(s % engine.depth!));
          }
        } else {
          const done = batches.map((_b, s) => give(s));
          engine.flush?.();
          await Promise.all(done);
          stats.push(...batches.map((_b, s) => engine.stats(s)));
        }
      } finally {
        queue.submit = submit;
      }
      expect(submissions).toBe(perSubmission === 1 ? 6 : 2);
      results.push({ stats, ...(await engine.state()) });
      await engine.close();
    }
    const [one, ...others] = results;
    expect(new Set(one.stats.map((s) => s[0])).size).toBe(6); // six batches, six losses
    for (const other of others) {
      expect(other.stats).toEqual(one.stats);
      for (const [a, b] of [[other.params, one.params], [other.adam.m, one.adam.m], [other.adam.v, one.adam.v]]) {
        expect(Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))).toBe(true);
      }
    }
    run.vae.dispose();
    run.lock?.release();
  }, 120_000);
});
