/**
 * Which engine trains: today the CPU engine (cpu.ts) on every backend. A GPU engine is a file beside it and a
 * line here that picks it for its backend.
 */
import { createCpuEngine } from './cpu';
import { Engine, EngineSetup } from './engine';

export function createEngine(setup: EngineSetup): Promise<Engine> {
  return createCpuEngine(setup);
}
