/**
 * The WebGPU adapter for the GPU tests: lavapipe on our machines and in CI (.ci/run installs it). Without an
 * adapter the tests pass only outside CI: with CI set, a missing adapter fails them.
 */
import { openGpu } from '../../src/gpu';
import { Gpu, dawnAwait } from '../../src/gpu-device';
import type { Groups } from '../../src/engine/webgpu/wgsl';

let warned = false;

export async function testGpu(): Promise<Gpu | null> {
  try {
    return await openGpu();
  } catch (e) {
    if (process.env.CI) throw new Error(`CI runs the WebGPU tests, and there is no adapter: ${(e as Error).message}`);
    if (!warned) console.warn(`WebGPU tests not run: ${(e as Error).message}`);
    warned = true;
    return null;
  }
}

/** Runs one kernel (HEADER's bindings: mem and step) over `mem`, and returns mem afterwards. */
export function runKernel(gpu: Gpu, source: string, groups: Groups, mem: Float32Array, uniform: ArrayBuffer): Promise<Float32Array> {
  return runKernels(gpu, [{ source, groups }], mem, uniform);
}

/**
 * Runs kernels one after the other (in one pass, as a step does) over `mem`, and returns mem afterwards; `images`:
 * the bytes at binding 2 (gatherKernel's training set).
 */
export async function runKernels(gpu: Gpu, kernels: { source: string; groups: Groups }[], mem: Float32Array,
  uniform: ArrayBuffer, images?: Uint8Array): Promise<Float32Array> {
  const { device } = gpu;
  device.pushErrorScope('validation');
  const buffer = device.createBuffer({ size: mem.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  const step = device.createBuffer({ size: uniform.byteLength, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  const out = device.createBuffer({ size: mem.byteLength, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(buffer, 0, new Float32Array(mem));
  device.queue.writeBuffer(step, 0, uniform);
  const data = device.createBuffer({ size: Math.max(4, 4 * Math.ceil((images?.length ?? 0) / 4)), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  if (images) {
    const padded = new Uint8Array(4 * Math.ceil(images.length / 4));
    padded.set(images);
    device.queue.writeBuffer(data, 0, padded);
  }
  const used = [buffer, step, data];
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  for (const { source, groups } of kernels) {
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code: source }), entryPoint: 'main' } });
    const entries = [0, 1, 2].filter((b) => source.includes(['mem[', 'step.', 'images['][b])).map((binding) => ({ binding, resource: { buffer: used[binding] } }));
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }));
    pass.dispatchWorkgroups(...groups);
  }
  pass.end();
  encoder.copyBufferToBuffer(buffer, 0, out, 0, mem.byteLength);
  device.queue.submit([encoder.finish()]);
  const error = await dawnAwait(device.popErrorScope());
  if (error) throw new Error(error.message);
  await dawnAwait(out.mapAsync(GPUMapMode.READ));
  const result = new Float32Array(out.getMappedRange().slice(0));
  out.unmap();
  for (const b of [buffer, step, data, out]) b.destroy();
  return result;
}
