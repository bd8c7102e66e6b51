/**
 * Which engine trains: the WebGPU engine (webgpu/engine.ts) under the webgpu backend for the models whose family
 * declares a GPU objective it has, else the CPU engine (cpu.ts), which trains every model on every backend. This
 * is the Node side of the WebGPU engine: the device comes from Dawn (gpu.ts), the family from the registry.
 */
import { openGpu } from '../gpu';
import { familyOf } from '../model/families/registry';
import type { Vae } from '../model/vae';
import { createCpuEngine } from './cpu';
import { Engine, EngineSetup } from './engine';
import { webGpuEngine } from './webgpu/engine';
import { webGpuUnsupported } from './webgpu/objectives';

/** Why the WebGPU engine cannot train this model (by the objective its family declares), or null when it can. */
export function webGpuCannotTrain(vae: Vae): string | null {
  return webGpuUnsupported(vae, familyOf(vae.config).gpu?.(vae.config));
}

/** The WebGPU engine on this process's GPU (gpu.ts), for the setup's model. */
export async function createWebGpuEngine(setup: EngineSetup): Promise<Engine> {
  return webGpuEngine(setup, await openGpu(), familyOf(setup.vae.config));
}

export async function createEngine(setup: EngineSetup): Promise<Engine> {
  if (setup.backend.choice === 'webgpu') {
    const why = webGpuCannotTrain(setup.vae);
    if (why === null) return createWebGpuEngine(setup);
    return createCpuEngine(setup, `the webgpu engine has no kernels for ${why} yet, so this trains on the CPU`);
  }
  return createCpuEngine(setup);
}
