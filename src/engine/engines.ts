/**
 * Which engine trains: the WebGPU engine (webgpu.ts) under the webgpu backend for the models it has kernels
 * for, else the CPU engine (cpu.ts), which trains every model on every backend.
 */
import { familyOf } from '../model/families/registry';
import { createCpuEngine } from './cpu';
import { Engine, EngineSetup } from './engine';
import { createWebGpuEngine, webGpuUnsupported } from './webgpu';

export async function createEngine(setup: EngineSetup): Promise<Engine> {
  if (setup.backend.choice === 'webgpu') {
    const why = webGpuUnsupported(setup.vae, familyOf(setup.vae.config).gpuObjective);
    if (why === null) return createWebGpuEngine(setup);
    return createCpuEngine(setup, `the webgpu engine has no kernels for ${why} yet, so this trains on the CPU`);
  }
  return createCpuEngine(setup);
}
