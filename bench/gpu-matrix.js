#!/usr/bin/env node
'use strict';
// Whether WGSL reaches this GPU's matrix units (an NVIDIA GPU's tensor cores), and what they give. Dawn offers them as
// subgroup matrices (`chromium-experimental-subgroup-matrix`, Vulkan's cooperative matrices) behind its unsafe APIs;
// on NVIDIA their f16 configurations also need `shader-f16`, which Dawn withholds there unless the adapter toggle
// `vulkan_enable_f16_on_nvidia` is set (crbug.com/42251215). For the GPU machine's check (bench/gpu-check.sh); runs
// wherever Dawn finds an adapter with subgroup matrices (Mesa 26's lavapipe has them: 8x8x8, f16 -> f32).
//
// For the adapter's f16 -> f32 configuration (m x n x k), a GEMM C = A·B (A rows x inner, B inner x cols, row-major,
// C in f32) in three kernels:
// - `staged`: A and B held in f32, as the engine holds its activations and weights; a workgroup of 2 x 2 subgroups
//   converts its tiles to f16 while staging them in workgroup memory, each subgroup multiplying 2 x 2 matrices of C
//   from there (what an engine form would do);
// - `staged-large`: the same with 4 x 4 matrices a subgroup (128 x 128 tiles of 16 x 16 matrices);
// - `direct`: A and B held in f16, each subgroup loading its matrices straight from storage (no staging, no barriers).
// Each kernel is checked on values exact in f16 whose products and sums are exact in f32 (C must equal the sums to
// the bit), its rounding measured on random normal values (the error of C against the sums in double precision, over
// the sum of the products' magnitudes: f16's 2^-11 per operand, as TF32's, which PyTorch's convolutions use by
// default), then timed on the VAE's kind of products and a large square (TFLOP/s against the 67 of fp32 without
// matrix units, H100/H200 SXM). Flags: --quick (small sizes and tiles, for a software adapter), --sizes RxCxK,... ('': none),
// --kernels staged,staged-large,direct (the default: all). Mesa 26's lavapipe (Debian sid's; bookworm's Mesa 25.0 has
// no cooperative matrices) corrupts its memory when a process runs two of these kernels, or one kernel's pipeline on
// grids of two shapes: there, one kernel a process (`--quick --kernels staged`, then `--kernels direct`).
const path = require('path');

const root = path.dirname(require.resolve('webgpu/package.json'));
const dawn = require(path.join(root, 'dist', `${process.platform}-${process.platform === 'darwin' ? 'universal' : process.arch}`, 'dawn.node'));
for (const [name, value] of Object.entries(dawn.globals)) if (!(name in globalThis)) globalThis[name] = value;

const TOGGLES = ['enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia'];
const FP32_PEAK_TFLOPS = 67;
// rows x cols x inner: a large square; a convolution's forward at batch 512 (the 64x64x3 VAE's second layer: 16x16
// outputs an image, 64 channels, 4x4 taps of 32); a dense layer at batch 8,192.
const SIZES = [[4096, 4096, 4096], [131072, 64, 512], [8192, 256, 2048]];
const QUICK_SIZES = [[256, 256, 256], [4096, 64, 512]];

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const sizesFlag = argv.indexOf('--sizes');
const kernelsFlag = argv.indexOf('--kernels');
const only = kernelsFlag >= 0 ? argv[kernelsFlag + 1].split(',') : null;
const sizes = sizesFlag >= 0 ? (argv[sizesFlag + 1] ?? '').split(',').filter(Boolean).map((s) => s.split('x').map(Number)) : quick ? QUICK_SIZES : SIZES;

const say = (line) => console.log(typeof line === 'string' ? line : JSON.stringify(line));

/**
 * A GEMM kernel's WGSL for configuration (m, n, k): 2 x 2 subgroups a workgroup, each `per` x `per` matrices of C
 * (tiles of 2·per·m x 2·per·n, 32 deep); `staged`: A and B in f32, converted to f16 in workgroup memory; else in f16,
 * loaded from storage.
 */
function gemmKernel({ m, n, k }, subgroupSize, { staged, per }) {
  const wr = 2, wc = 2, tr = per, tc = per, ks = Math.max(1, 32 / k);
  const BM = wr * tr * m, BN = wc * tc * n, BK = staged ? ks * k : k, threads = wr * wc * subgroupSize;
  const left = `subgroup_matrix_left<f16, ${k}, ${m}>`, right = `subgroup_matrix_right<f16, ${n}, ${k}>`;
  const result = `subgroup_matrix_result<f32, ${n}, ${m}>`;
  const each = (count, line) => Array.from({ length: count }, (_, i) => line(i)).join('\n');
  const blocks = (line) => each(tr, (r) => each(tc, (c) => line(r, c)));
  // A subgroup's block: rows (sr·tr + r)·m of the tile, columns (sc·tc + c)·n.
  const multiply = (indent) => blocks((r, c) => `${indent}acc[${r * tc + c}] = subgroupMatrixMultiplyAccumulate(l${r}, r${c}, acc[${r * tc + c}]);`);
  const head = `enable f16;
enable chromium_experimental_subgroup_matrix;
struct Dims { rows: u32, cols: u32, inner: u32 }
@group(0) @binding(0) var<uniform> d: Dims;
@group(0) @binding(1) var<storage, read> a: array<${staged ? 'f32' : 'f16'}>;
@group(0) @binding(2) var<storage, read> b: array<${staged ? 'f32' : 'f16'}>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
${staged ? `var<workgroup> ta: array<f16, ${BM * BK}>;
var<workgroup> tb: array<f16, ${BK * BN}>;` : ''}
@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) g: vec3u, @builtin(local_invocation_index) t: u32, @builtin(subgroup_id) sg: u32) {
  let row0 = g.y * ${BM}u;
  let col0 = g.x * ${BN}u;
  let sr = sg / ${wc}u;
  let sc = sg % ${wc}u;
  var acc: array<${result}, ${tr * tc}>;`;
  const loop = staged ? `  for (var k0 = 0u; k0 < d.inner; k0 += ${BK}u) {
    for (var i = t; i < ${BM * BK}u; i += ${threads}u) {
      ta[i] = f16(a[(row0 + i / ${BK}u) * d.inner + k0 + i % ${BK}u]);
    }
    for (var i = t; i < ${BK * BN}u; i += ${threads}u) {
      tb[i] = f16(b[(k0 + i / ${BN}u) * d.cols + col0 + i % ${BN}u]);
    }
    workgroupBarrier();
    for (var s = 0u; s < ${ks}u; s++) {
${each(tr, (r) => `      let l${r} = subgroupMatrixLoad<${left}, row_major>(&ta, (sr * ${tr}u + ${r}u) * ${m * BK}u + s * ${k}u, ${BK}u);`)}
${each(tc, (c) => `      let r${c} = subgroupMatrixLoad<${right}, row_major>(&tb, s * ${k * BN}u + (sc * ${tc}u + ${c}u) * ${n}u, ${BN}u);`)}
${multiply('      ')}
    }
    workgroupBarrier();
  }` : `  for (var k0 = 0u; k0 < d.inner; k0 += ${k}u) {
${each(tr, (r) => `    let l${r} = subgroupMatrixLoad<${left}, row_major>(&a, (row0 + (sr * ${tr}u + ${r}u) * ${m}u) * d.inner + k0, d.inner);`)}
${each(tc, (c) => `    let r${c} = subgroupMatrixLoad<${right}, row_major>(&b, k0 * d.cols + col0 + (sc * ${tc}u + ${c}u) * ${n}u, d.cols);`)}
${multiply('    ')}
  }`;
  const store = blocks((r, c) => `  subgroupMatrixStore<row_major>(&out, (row0 + (sr * ${tr}u + ${r}u) * ${m}u) * d.cols + col0 + (sc * ${tc}u + ${c}u) * ${n}u, acc[${r * tc + c}], d.cols);`);
  return { code: `${head}\n${loop}\n${store}\n}`, tile: { BM, BN, BK, threads }, holds: staged ? 'f32' : 'f16' };
}

/** x rounded to an integer, ties to even. */
const roundEven = (x) => {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

/** IEEE half-precision bits of x (round to nearest even; |x| under f16's largest value). */
function halfBits(x) {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a < 2 ** -14) return sign | roundEven(a * 2 ** 24); // subnormal (1024: the smallest normal, as it should)
  let e = Math.floor(Math.log2(a));
  if (a / 2 ** e >= 2) e++;
  if (a / 2 ** e < 1) e--;
  const mant = roundEven(a / 2 ** (e - 10)); // in [1024, 2048]
  return sign | (((e + 15) << 10) + mant - 1024); // 2048 carries into the exponent
}

/** The value of half-precision bits h. */
const halfValue = (h) => {
  const e = (h >> 10) & 31, mant = h & 1023;
  return (h & 0x8000 ? -1 : 1) * (e === 0 ? mant * 2 ** -24 : (1 + mant / 1024) * 2 ** (e - 15));
};
const roundHalf = (x) => halfValue(halfBits(x));
/** The f16 bits of q/16 for q from -16 to 16 (index q + 16): the timed operands' values. */
const SIXTEENTHS_BITS = Array.from({ length: 33 }, (_, q) => halfBits((q - 16) / 16));

async function run() {
  const gpu = dawn.create(TOGGLES);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return say('gpu-matrix: no adapter');
  const info = adapter.info;
  const configs = [...(info.subgroupMatrixConfigs ?? [])].map((c) => ({ component: c.componentType, result: c.resultComponentType, M: c.M, N: c.N, K: c.K }));
  const features = [...adapter.features];
  say({ adapter: `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.trim(), toggles: TOGGLES,
    subgroupMatrix: features.includes('chromium-experimental-subgroup-matrix'), shaderF16: features.includes('shader-f16'),
    subgroupSize: [info.subgroupMinSize, info.subgroupMaxSize], configs });
  const config = configs.find((c) => c.component === 'f16' && c.result === 'f32');
  if (!config || !features.includes('shader-f16')) return say('gpu-matrix: no f16 -> f32 subgroup matrices on this adapter: nothing to time');
  const device = await adapter.requestDevice({
    requiredFeatures: ['chromium-experimental-subgroup-matrix', 'subgroups', 'shader-f16'],
    requiredLimits: { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize, maxBufferSize: adapter.limits.maxBufferSize,
      maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize },
  });
  // 4 accumulators a subgroup (2 x 2 matrices), and 16 (4 x 4, 128 x 128 tiles of 16 x 16 matrices: the shape of
  // the fast tensor-core GEMMs), except with --quick: Mesa 26's lavapipe crashes with 16 of its 8 x 8 matrices a
  // subgroup.
  const unit = { m: config.M, n: config.N, k: config.K };
  const kernels = { staged: gemmKernel(unit, info.subgroupMaxSize, { staged: true, per: 2 }),
    ...(quick ? {} : { 'staged-large': gemmKernel(unit, info.subgroupMaxSize, { staged: true, per: 4 }) }),
    direct: gemmKernel(unit, info.subgroupMaxSize, { staged: false, per: 2 }) };
  // Each kernel's module, checked by compiling a pipeline of it. A pipeline of its own for each set of operands: Mesa
  // 26's lavapipe corrupts its memory when one subgroup-matrix pipeline is dispatched on grids of another shape
  // (crashing a few hundred dispatches later); a GPU driver compiles a copy in milliseconds.
  const modules = {}, pipelines = new Map();
  const pipeline = (name, key) => {
    if (!pipelines.has(`${name} ${key}`)) {
      pipelines.set(`${name} ${key}`, device.createComputePipeline({ layout: 'auto', compute: { module: modules[name], entryPoint: 'main' } }));
    }
    return pipelines.get(`${name} ${key}`);
  };
  for (const [name, { code, tile }] of Object.entries(kernels)) {
    if (only && !only.includes(name)) continue;
    device.pushErrorScope('validation');
    modules[name] = device.createShaderModule({ code });
    pipeline(name, 'check');
    const error = await device.popErrorScope();
    say({ kernel: name, config, tile, ...(error ? { error: error.message.split('\n').slice(0, 6).join(' | ') } : {}) });
    if (error) delete modules[name];
  }

  const buffer = (bytes, usage) => device.createBuffer({ size: Math.max(16, Math.ceil(bytes / 16) * 16), usage });
  const upload = (data, usage = GPUBufferUsage.STORAGE) => {
    const b = buffer(data.byteLength, usage | GPUBufferUsage.COPY_DST);
    device.queue.writeBuffer(b, 0, data.buffer, data.byteOffset, data.byteLength);
    return b;
  };
  /** `bytes` of `src` from `offset` (a multiple of 4). */
  const read = async (src, bytes, offset = 0) => {
    const staging = buffer(bytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    const encoder = device.createCommandEncoder();
    encoder.copyBufferToBuffer(src, offset, staging, 0, bytes);
    device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const copy = new Float32Array(staging.getMappedRange().slice(0));
    staging.destroy();
    return copy;
  };
  /**
   * A and B on the GPU (their f32 values, and their f16 bits), and C's buffer. `draw` gives a value: a number of
   * sixteenths from -16 to 16 (exact in f16: their bits from a table, fast enough for a 131,072 x 512 operand), or a
   * normal value when `normal`.
   */
  const operands = (name, [rows, cols, inner], draw, normal = false) => {
    const pair = (length) => {
      const values = new Float32Array(length), bits = new Uint16Array(length);
      for (let i = 0; i < length; i++) {
        const v = draw();
        values[i] = normal ? v : v / 16;
        bits[i] = normal ? halfBits(values[i]) : SIXTEENTHS_BITS[v + 16];
      }
      return [values, bits];
    };
    const [a, a16] = pair(rows * inner), [b, b16] = pair(inner * cols);
    return { name, size: [rows, cols, inner], a, b, gpu: { f32: [upload(a), upload(b)], f16: [upload(a16), upload(b16)] },
      out: buffer(rows * cols * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC),
      dims: upload(new Uint32Array([rows, cols, inner, 0]), GPUBufferUsage.UNIFORM) };
  };
  const release = (ops) => [ops.out, ops.dims, ...ops.gpu.f32, ...ops.gpu.f16].forEach((b) => b.destroy());
  const fits = ({ tile }, [rows, cols, inner]) => rows % tile.BM === 0 && cols % tile.BN === 0 && inner % tile.BK === 0;
  const dispatch = (name, ops, times) => {
    const [rows, cols] = ops.size, { tile, holds } = kernels[name];
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    const kernel = pipeline(name, `${ops.name} ${rows}x${cols}`);
    pass.setPipeline(kernel);
    pass.setBindGroup(0, device.createBindGroup({ layout: kernel.getBindGroupLayout(0), entries: [ops.dims, ...ops.gpu[holds], ops.out]
      .map((b, binding) => ({ binding, resource: { buffer: b } })) }));
    for (let i = 0; i < times; i++) pass.dispatchWorkgroups(cols / tile.BN, rows / tile.BM);
    pass.end();
    device.queue.submit([encoder.finish()]);
    return device.queue.onSubmittedWorkDone();
  };
  // C[i][j] in double precision over the operands as `round` gives them, and the sum of the products' magnitudes.
  const sums = (ops, i, j, round) => {
    const [, cols, inner] = ops.size;
    let s = 0, mag = 0;
    for (let q = 0; q < inner; q++) {
      const p = round(ops.a[i * inner + q]) * round(ops.b[q * cols + j]);
      s += p;
      mag += Math.abs(p);
    }
    return [s, mag];
  };
  const entries = ([rows, cols], count) => Array.from({ length: count }, (_, e) => [(e * 7919) % rows, (e * 104729 + 13) % cols]);

  let seed = 12345;
  const uniform = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const sixteenths = () => Math.round(uniform() * 32 - 16);
  const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  const check = [256, 256, 512];
  // 1. Exactness: multiples of 1/16 in [-1, 1] (exact in f16; their products multiples of 1/256, their sums exact in
  //    f32): C must be the sums to the bit. 2. Rounding: normal values; C against the sums of the operands as they are
  //    and as f16 rounds them.
  const exact = operands('exact', check, sixteenths), noisy = operands('normal', check, normal, true);
  for (const name of Object.keys(modules)) {
    if (!fits(kernels[name], check)) continue;
    await dispatch(name, exact, 1);
    let c = await read(exact.out, check[0] * check[1] * 4);
    let wrong = 0, worst = 0;
    for (let i = 0; i < check[0]; i++) {
      for (let j = 0; j < check[1]; j++) {
        const [s] = sums(exact, i, j, (x) => x);
        if (c[i * check[1] + j] !== s) wrong++;
        worst = Math.max(worst, Math.abs(c[i * check[1] + j] - s));
      }
    }
    await dispatch(name, noisy, 1);
    c = await read(noisy.out, check[0] * check[1] * 4);
    let vsExact = 0, vsRounded = 0;
    for (const [i, j] of entries(check, 2048)) {
      const [s, mag] = sums(noisy, i, j, (x) => x);
      const [r] = sums(noisy, i, j, roundHalf);
      vsExact = Math.max(vsExact, Math.abs(c[i * check[1] + j] - s) / mag);
      vsRounded = Math.max(vsRounded, Math.abs(c[i * check[1] + j] - r) / mag);
    }
    say({ kernel: name, check: check.join('x'), exactValues: { outputs: check[0] * check[1], wrong, maxAbsError: worst },
      normalValues: { outputs: 2048, errorOverMagnitude: vsExact, againstF16Operands: vsRounded } });
  }
  release(exact);
  release(noisy);

  // 3. Speed: each size, each kernel dispatched in one pass enough times for ~0.2 s, the fastest of three.
  for (const size of sizes) {
    const ops = operands('timed', size, sixteenths);
    const flop = 2 * size[0] * size[1] * size[2];
    for (const name of Object.keys(modules)) {
      if (!fits(kernels[name], size)) {
        say({ kernel: name, size: size.join('x'), skipped: 'not a multiple of its tile' });
        continue;
      }
      await dispatch(name, ops, 1); // its pipeline compiled
      let start = performance.now();
      await dispatch(name, ops, 1);
      const once = performance.now() - start;
      const times = Math.max(1, Math.min(200, Math.round(200 / Math.max(once, 0.01))));
      let best = Infinity;
      for (let round = 0; round < 3; round++) {
        start = performance.now();
        await dispatch(name, ops, times);
        best = Math.min(best, (performance.now() - start) / times);
      }
      const [[i, j]] = entries(size, 1);
      const [c] = await read(ops.out, 4, 4 * (i * size[1] + j)); // the one output checked, not all of C
      const tflops = flop / best / 1e9;
      say({ kernel: name, size: size.join('x'), ms: +best.toFixed(4), tflops: +tflops.toPrecision(3),
        ofFp32Peak: +(tflops / FP32_PEAK_TFLOPS).toFixed(3), dispatches: times,
        spotCheck: c === sums(ops, i, j, (x) => x)[0] ? 'exact' : 'WRONG' });
    }
    release(ops);
  }
  device.destroy();
}

module.exports = { halfBits, halfValue, gemmKernel };

if (require.main === module) {
  run().then(() => process.exit(0), (e) => {
    console.error(`gpu-matrix: ${e.message ?? e}`);
    process.exit(1);
  });
}
