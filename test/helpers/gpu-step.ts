/**
 * Comparisons the WebGPU tests make: relative agreement element by element, and one training step on the CPU engine
 * and on the WebGPU engine from the same state.
 */
import { initBackend } from '../../src/backend';
import { ADAM_DEFAULTS } from '../../src/engine/adam';
import { createCpuEngine } from '../../src/engine/cpu';
import { EngineSetup } from '../../src/engine/engine';
import { createWebGpuEngine } from '../../src/engine/engines';
import type { ResidentSet } from '../../src/data/datasets';
import type { ShardTask } from '../../src/model/families/family';
import { familyOf } from '../../src/model/families/registry';
import { philoxNormals } from '../../src/rng';
import type { TrainRun } from '../../src/train/train';

/** The largest |got − want| / (|want| + floor) over the elements. */
export function worstRelative(got: ArrayLike<number>, want: ArrayLike<number>, floor = 1): number {
  expect(got.length).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / (Math.abs(want[i]) + floor));
  return worst;
}

/** Relative agreement: |got − want| ≤ tol · (|want| + floor) for every element. */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, floor = 1): void {
  expect(worstRelative(got, want, floor)).toBeLessThanOrEqual(tol);
}

/**
 * One step of `task` on the CPU engine and on the WebGPU engine, both from the run's model and Adam state and the
 * same batch x and noise eps (written into the task's slot): each engine's statistics, parameters and moments. With
 * task.noiseKey, the run's noise is Philox's: the GPU engine draws it itself (its slots have no room for it) and the
 * CPU engine is given philoxNormals of the key (eps is not used).
 */
export async function stepOnBoth(run: TrainRun, rows: number, x: Float32Array, eps: Float32Array, task: ShardTask,
  inputs: { noisy?: Float32Array; y?: Float32Array; samples?: number; gather?: Uint32Array } = {}, tol = 1e-4) {
  const { noisy, y, gather } = inputs;
  const key = task.noiseKey;
  const backend = await initBackend('webgpu', { gpu: true });
  const setup = (): EngineSetup => ({ backend, vae: run.vae, adam: run.adam, adamConfig: { lr: 1e-3, ...ADAM_DEFAULTS },
    sizes: { rows, dim: run.vae.inputDim, labelDim: run.vae.labelDim, zDim: run.vae.config.zDim, samples: inputs.samples ?? task.samples,
      noisy: noisy !== undefined },
    threads: 1, images: gather ? run.dataset.train as ResidentSet : undefined, normals: key ? 'philox' : 'sfc32' });
  const results = [];
  for (const engine of [await createCpuEngine(setup()), await createWebGpuEngine(setup())]) {
    // With `gather`, the GPU engine holds the training set and is given the rows' indices; the CPU their images (x).
    const index = engine.slot(task.slot).imageIndex;
    expect(index !== undefined).toBe(gather !== undefined && engine.description.startsWith('webgpu'));
    if (index && gather) index.set(gather);
    else engine.slot(task.slot).x.set(x); // (a gathered slot's x is never written: the engine holds no room for it)
    const slotEps = engine.slot(task.slot).eps;
    if (key && engine.description.startsWith('webgpu')) expect(slotEps.length).toBe(0);
    else slotEps.set(key ? philoxNormals(key, new Float32Array(eps.length)) : eps);
    if (noisy) engine.slot(task.slot).noisy.set(noisy);
    if (y) engine.slot(task.slot).y.set(y);
    const done = engine.step(task, 1);
    engine.flush?.();
    await done;
    results.push({ stats: engine.stats(task.slot).slice(0, 1 + familyOf(run.vae.config).stats.length), ...(await engine.state()) });
    await engine.close();
  }
  const [cpu, gpuStep] = results;
  expectClose(gpuStep.stats, cpu.stats, tol);
  // After step 1, m = (1 − β1) g: the gradients agree, element by element, to `tol` (1e-4) of the largest one.
  const scale = cpu.adam.m.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
  expectClose(gpuStep.adam.m, cpu.adam.m, tol, scale);
  return { cpu, gpuStep, scale };
}
