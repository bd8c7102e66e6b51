/**
 * A WebGPU device as the engine uses it, wherever it comes from: Dawn's Node bindings (gpu.ts, the only part that
 * is Node's) or a browser's navigator.gpu. Nothing here needs Node.
 */

export interface GpuInfo {
  /** "NVIDIA H200 (nvidia, Vulkan)", "llvmpipe: Mesa 25.0.7 (software)" */
  name: string;
  /** A software adapter (lavapipe, SwiftShader): it works, but is no faster than the CPU. */
  software: boolean;
  /** The device times kernels on the GPU (timestamp-query): asked for only under VAE_GPU_PROFILE=1. */
  timestamps: boolean;
}

export interface Gpu {
  device: GPUDevice;
  info: GpuInfo;
}

/**
 * Waits for a promise of Dawn's. Some of them (popErrorScope) do not keep Node's event loop alive, and Node
 * would exit while they are pending: a timer holds it until they settle (harmless in a browser).
 */
export async function dawnAwait<T>(promise: Promise<T>): Promise<T> {
  const hold = setInterval(() => undefined, 1000);
  try {
    return await promise;
  } finally {
    clearInterval(hold);
  }
}
