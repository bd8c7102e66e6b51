/**
 * The program on the device: the one storage buffer `mem` and the step uniform, the pipelines of a step's kernels
 * bound to them (and to the training images, binding 2), their recording into a command encoder, and the upload of
 * the parameters. Errors the user can act on (a buffer larger than the GPU binds, out of memory) are one line.
 */
import { VaeError } from '../../errors';
import { Gpu, dawnAwait } from '../../gpu-device';
import { readVariables } from '../../model/flat';
import type { GpuModel } from './networks';
import { Kernel, STEP_BYTES } from './wgsl';

/** What makes a kernel's pipeline on a program's layout (gpuProgram's, and the tuner's other forms). */
export function kernelPipeline(device: GPUDevice, layout: GPUPipelineLayout, k: Pick<Kernel, 'name' | 'source'>): GPUComputePipelineDescriptor {
  return { label: k.name, layout, compute: { module: device.createShaderModule({ label: k.name, code: k.source }), entryPoint: 'main' } };
}

/**
 * One storage buffer of `floats` values, the step uniform, and the pipelines of `kernels` bound to them. A buffer
 * larger than the GPU binds is a one-line error ending with `hint`. Binding 2 holds `images` (the training set's
 * bytes), or is a buffer of that many bytes that each step writes (its batch's images).
 */
export async function gpuProgram(gpu: Gpu, kernels: Kernel[], floats: number, what: string, hint: string, images?: Uint8Array | number) {
  const { device } = gpu;
  const bytes = 4 * floats;
  const mib = (b: number) => `${Math.ceil(b / 2 ** 20)} MiB`;
  if (bytes > device.limits.maxStorageBufferBindingSize) {
    throw new VaeError(`the webgpu engine keeps ${what} in one ${mib(bytes)} buffer, and this GPU binds ` +
      `at most ${mib(device.limits.maxStorageBufferBindingSize)}: ${hint}`);
  }
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  const mem = device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  const uniform = device.createBuffer({ size: STEP_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  // Binding 2: the training images (gatherKernel), bytes packed four to a u32; 4 bytes where there are none.
  const imageBytes = typeof images === 'number' ? images : images?.length ?? 0;
  const data = device.createBuffer({ size: Math.max(4, 4 * Math.ceil(imageBytes / 4)), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  if (images instanceof Uint8Array) {
    const padded = images.length % 4 === 0 ? images : Uint8Array.from({ length: 4 * Math.ceil(images.length / 4) }, (_, i) => images[i] ?? 0);
    device.queue.writeBuffer(data, 0, padded as Uint8Array<ArrayBuffer>);
  }
  const bindGroupLayout = device.createBindGroupLayout({ entries: [
    { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
    { binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } },
    { binding: 2, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
  ] });
  const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [bindGroupLayout] });
  const pipelines = kernels.map((k) => device.createComputePipeline(kernelPipeline(device, pipelineLayout, k)));
  const bindGroup = device.createBindGroup({ layout: bindGroupLayout, entries: [
    { binding: 0, resource: { buffer: mem } }, { binding: 1, resource: { buffer: uniform } }, { binding: 2, resource: { buffer: data } }] });
  const invalid = await dawnAwait(device.popErrorScope());
  const memory = await dawnAwait(device.popErrorScope());
  if (memory) throw new VaeError(`the GPU has not enough memory for ${what} (${mib(bytes)}): ${memory.message}`);
  if (invalid) throw new Error(`the webgpu engine's kernels: ${invalid.message}`);
  return { mem, uniform, pipelines, bindGroup, data, layout: pipelineLayout };
}

/** Records `kernels` (a gpuProgram's) into one compute pass of `encoder`, for n rows (nk decoder rows). */
export function recordKernels(encoder: GPUCommandEncoder, program: { pipelines: GPUComputePipeline[]; bindGroup: GPUBindGroup },
  kernels: Kernel[], n: number, nk: number): void {
  const pass = encoder.beginComputePass();
  pass.setBindGroup(0, program.bindGroup);
  kernels.forEach((k, i) => {
    pass.setPipeline(program.pipelines[i]);
    pass.dispatchWorkgroups(...k.groups(n, nk));
  });
  pass.end();
}

/** The model's parameters (flat, in the order of its trainable variables), written at the start of `mem`. */
export function uploadParams(gpu: Gpu, model: GpuModel, mem: GPUBuffer): void {
  const params = new Float32Array(model.P);
  readVariables(model.vae.trainableVariables(), model.layout, params);
  gpu.device.queue.writeBuffer(mem, 0, params);
}
