#!/usr/bin/env node
'use strict';
// What the machine's WebGPU adapter offers the engine, under Dawn's default toggles, with unsafe APIs allowed, and
// with those and `vulkan_enable_f16_on_nvidia` (Dawn withholds shader-f16 on NVIDIA without it, and with it the f16
// configurations of subgroup matrices): its features (shader-f16? subgroups? subgroup matrices?), a few limits, the
// subgroup matrix configurations, and whether a device with shader-f16 can be had and compiles f16 storage with f32
// sums. For the GPU machine's check (bench/gpu-check.sh; bench/gpu-matrix.js times the matrices); runs anywhere Dawn
// finds an adapter.
const path = require('path');

const root = path.dirname(require.resolve('webgpu/package.json'));
const dawn = require(path.join(root, 'dist', `${process.platform}-${process.platform === 'darwin' ? 'universal' : process.arch}`, 'dawn.node'));
for (const [name, value] of Object.entries(dawn.globals)) if (!(name in globalThis)) globalThis[name] = value;

const F16_PROBE = `enable f16;
@group(0) @binding(0) var<storage, read_write> halves: array<f16>;
@group(0) @binding(1) var<storage, read_write> sums: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
  sums[g.x] = f32(halves[2u * g.x]) * f32(halves[2u * g.x + 1u]) + sums[g.x];
}`;

async function probe(toggles) {
  const gpu = dawn.create(toggles);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return { toggles, adapter: null };
  const features = [...adapter.features].sort();
  const info = adapter.info;
  const report = { toggles, adapter: `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.trim(), features,
    limits: { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize,
      subgroupMinSize: adapter.info.subgroupMinSize, subgroupMaxSize: adapter.info.subgroupMaxSize } };
  const matrices = [...(info.subgroupMatrixConfigs ?? [])];
  if (matrices.length) report.subgroupMatrixConfigs = matrices.map((c) => `${c.componentType}->${c.resultComponentType} ${c.M}x${c.N}x${c.K}`);
  if (features.includes('shader-f16')) {
    try {
      const device = await adapter.requestDevice({ requiredFeatures: ['shader-f16'] });
      device.pushErrorScope('validation');
      device.createShaderModule({ code: F16_PROBE });
      const error = await device.popErrorScope();
      report.f16 = error ? `device, but the shader fails: ${error.message.split('\n')[0]}` : 'device and shader: yes';
      device.destroy();
    } catch (e) {
      report.f16 = `no device: ${String(e.message ?? e).split('\n')[0]}`;
    }
  } else {
    report.f16 = 'not offered';
  }
  return report;
}

(async () => {
  for (const toggles of [[], ['enable-dawn-features=allow_unsafe_apis'], ['enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia']]) console.log(JSON.stringify(await probe(toggles)));
  process.exit(0);
})().catch((e) => {
  console.error(`gpu-features: ${e.message ?? e}`);
  process.exit(1);
});
