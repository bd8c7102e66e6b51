/**
 * The WebGPU engine: a whole training step as a few fused WGSL kernels recorded into one command encoder (the
 * step skeleton of step.ts, with the objective the model's family declares: objectives/), the parameters,
 * gradients and Adam's moments resident on the GPU. It trains every family today: the VAE (MLP or --arch conv,
 * Bernoulli or Gaussian p(x|z), IWAE with --iw-train), the cvae, the ae, dae and sae, the VQ-VAE, M2 and M1+M2.
 * tfjs-webgpu pays ~0.4 ms for every tensor operation (a step is ~150 of them); a dispatch here costs Dawn 6–9 µs,
 * and a step is 21 dispatches for the default MLP, 44 for the conv VAE at batch 128 (`dispatches`; more where
 * products are split, products.ts's productPlan).
 *
 * Where a batch is the training images as they are, the training set stays on the GPU (bytes, binding 2) and a
 * step uploads its rows' indices (gather.ts); otherwise the objective lays the batch out and uploads it. The noise
 * is drawn on the GPU from the step's Philox key (noise.ts: the CPU engine's numbers), or, for a run made before
 * the Philox noise (train.normals absent), drawn on the CPU and uploaded every step; a step's statistics come back through
 * a small mapped buffer per batch slot. GPU_STEPS_IN_FLIGHT steps are queued at once, so the host's part of a step
 * (its upload, reading an earlier step's statistics) is done while the GPU runs the steps before it. The
 * arithmetic is the CPU engine's in float32 (sums in another order, exp and log of the GPU): a step agrees with it to
 * ~1e-5 relative (test/engine/webgpu.test.ts).
 *
 * Nothing here needs Node: the device comes from gpu.ts's Dawn loader under Node (engines.ts) or from a browser.
 * VAE_GPU_PROFILE=1 times each kernel on the GPU (profile.ts).
 */
import { VaeError, errorMessage } from '../../errors';
import { Gpu, dawnAwait } from '../../gpu-device';
import { Family, STEP_STATS, ShardTask } from '../../model/families/family';
import type { AdamState } from '../adam';
import { BATCH_SLOTS, BatchSlot, Engine, EngineSetup } from '../engine';
import { byteLevels } from './gather';
import { gpuModel } from './networks';
import { gpuObjective, webGpuUnsupported } from './objectives';
import { KernelProfiler } from './profile';
import { gpuProgram, recordKernels, uploadParams } from './runtime';
import { StepProgram, buildStep } from './step';
import { stepUniform } from './wgsl';

type Program = Awaited<ReturnType<typeof gpuProgram>>;

/**
 * Steps in flight: the loop queues this many, each with its batch, noise and statistics readback of its own, so the
 * GPU's queue always holds the next steps while the main thread prepares later ones and reads the
 * statistics of earlier ones (no step waits for the host). On the GPU the steps take turns in BATCH_SLOTS statistics
 * slots: the queue runs them in order, and each copies its slot out before the step after the next writes it.
 */
export const GPU_STEPS_IN_FLIGHT = 8;

class WebGpuEngine implements Engine {
  readonly threads = 1;
  readonly depth: number;
  private lost: string | null = null;
  /** The batch slots, in this process's memory: a step uploads its batch from them. */
  private readonly slots: BatchSlot[];
  private readonly statsBySlot: number[][];
  /** VAE_GPU_PROFILE=1 (and a device with timestamp-query): each kernel timed on the GPU. */
  private readonly profiler: KernelProfiler | null;

  constructor(private readonly gpu: Gpu, private readonly layout: StepProgram, private readonly program: Program,
    private readonly readbacks: GPUBuffer[], private readonly setup: EngineSetup, private readonly statCount: number) {
    const { rows, dim, labelDim, zDim, samples, noisy } = setup.sizes;
    this.depth = readbacks.length;
    // (A gathered batch is its images' indices: its x is never written; noise drawn on the GPU is not written either.)
    this.slots = Array.from({ length: this.depth }, () => ({ x: new Float32Array(layout.gathered ? 0 : rows * dim), y: new Float32Array(rows * labelDim),
      eps: new Float32Array(layout.drawsNoise ? 0 : rows * samples * zDim), noisy: new Float32Array(noisy ? rows * dim : 0),
      imageIndex: layout.gathered ? new Float32Array(rows) : undefined }));
    this.statsBySlot = Array.from({ length: this.depth }, () => []);
    this.profiler = gpu.info.timestamps ? new KernelProfiler(gpu.device, layout.kernels, BATCH_SLOTS, gpu.info.peakTflops) : null;
    void gpu.device.lost.then((info) => { this.lost = `the GPU device was lost (${info.reason}: ${info.message})`; });
    gpu.device.onuncapturederror = (e) => { this.lost ??= `GPU error: ${e.error.message.split('\n')[0]}`; };
  }

  get description(): string {
    return `webgpu (${this.gpu.info.name}), ${this.dispatches} dispatches per step${this.layout.gathered ? ', the training images on the GPU' : ''}`;
  }

  /** Compute dispatches a training step records. */
  get dispatches(): number {
    return this.program.pipelines.length;
  }

  slot(i: number): BatchSlot {
    return this.slots[i];
  }

  async step(task: ShardTask, t: number): Promise<void> {
    if (this.lost) throw new VaeError(this.lost);
    const { device } = this.gpu;
    const { slot } = task;
    const { beta1, beta2, lr } = this.setup.adamConfig;
    const { mem, uniform } = this.program;
    // The kernels' rows n and nk, as the objective laid the batch out (e.g. a batch's images and their K samples each).
    // (writeBuffer takes its bytes now, and the queue orders them after the steps submitted before.)
    const { n, nk } = this.layout.upload((at, data, count) => device.queue.writeBuffer(mem, 4 * at, data as Float32Array<ArrayBuffer>, 0, count),
      this.slots[slot], task);
    const gpuSlot = slot % BATCH_SLOTS;
    if (this.layout.drawsNoise && !task.noiseKey) throw new Error('the webgpu engine draws the noise of a step from its Philox key, and this one has none');
    device.queue.writeBuffer(uniform, 0, stepUniform({ n, beta: task.beta, stepSize: lr / (1 - Math.pow(beta1, t)),
      invCorr2: 1 / (1 - Math.pow(beta2, t)), slot: gpuSlot, beta1, beta2, nk, semi: task.semi, noiseKey: task.noiseKey }));
    const encoder = device.createCommandEncoder();
    const kernels = this.layout.kernels;
    if (this.profiler) this.profiler.record(encoder, this.program, kernels.map((k) => k.groups(n, nk)), gpuSlot);
    else recordKernels(encoder, this.program, kernels, n, nk);
    const readback = this.readbacks[slot];
    encoder.copyBufferToBuffer(mem, 4 * (this.layout.stats + STEP_STATS * gpuSlot), readback, 0, 4 * STEP_STATS);
    device.queue.submit([encoder.finish()]);
    try {
      await dawnAwait(readback.mapAsync(GPUMapMode.READ));
    } catch (e) {
      throw new VaeError(this.lost ?? `the GPU step failed: ${errorMessage(e).split('\n')[0]}`);
    }
    this.statsBySlot[slot] = Array.from(new Float32Array(readback.getMappedRange(), 0, this.statCount));
    readback.unmap();
    if (this.profiler) await this.profiler.collect(gpuSlot, n, nk);
    if (this.lost) throw new VaeError(this.lost);
  }

  stats(slot: number): number[] {
    return this.statsBySlot[slot];
  }

  async state(): Promise<{ params: Float32Array; adam: AdamState }> {
    if (this.lost) throw new VaeError(this.lost);
    const { device } = this.gpu;
    const P = this.layout.P;
    const out = device.createBuffer({ size: 12 * P, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const encoder = device.createCommandEncoder();
    encoder.copyBufferToBuffer(this.program.mem, 0, out, 0, 4 * P);
    encoder.copyBufferToBuffer(this.program.mem, 8 * P, out, 4 * P, 8 * P);
    device.queue.submit([encoder.finish()]);
    try {
      await dawnAwait(out.mapAsync(GPUMapMode.READ));
    } catch (e) {
      throw new VaeError(this.lost ?? `reading the parameters back from the GPU failed: ${errorMessage(e).split('\n')[0]}`);
    }
    const all = new Float32Array(out.getMappedRange().slice(0));
    out.unmap();
    out.destroy();
    if (this.lost) throw new VaeError(this.lost);
    return { params: all.slice(0, P), adam: { m: all.slice(P, 2 * P), v: all.slice(2 * P) } };
  }

  async close(): Promise<void> {
    if (this.profiler) {
      console.error(this.profiler.report());
      this.profiler.destroy();
    }
    for (const b of [this.program.mem, this.program.uniform, this.program.data, ...this.readbacks]) b.destroy();
  }
}

/**
 * The engine on this device for the setup's model, trained with the objective its family declares (family.gpu);
 * `family.stats` are the sums a step reports after its loss.
 */
export async function webGpuEngine(setup: EngineSetup, gpu: Gpu, family: Pick<Family, 'gpu' | 'stats'>): Promise<Engine> {
  const { device } = gpu;
  const { vae } = setup;
  const spec = family.gpu?.(vae.config);
  const why = webGpuUnsupported(vae, spec);
  if (why !== null || !spec) throw new Error(`the webgpu engine has no kernels for ${why}`);
  const objective = gpuObjective(spec, { rows: setup.sizes.rows, samples: setup.sizes.samples });
  // The training set stays on the GPU where the batches are its images as they are and it fits in one binding.
  const images = setup.images;
  const bytes = images ? 4 * Math.ceil(images.images.length / 4) : 0;
  const gather = images !== undefined && bytes <= Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  const model = gpuModel(vae);
  const step = buildStep(model, objective, { epsilon: setup.adamConfig.epsilon, gather, noise: setup.normals === 'philox' });
  const program = await gpuProgram(gpu, step.kernels, step.size, `this model and a batch of ${setup.sizes.rows}`, 'use a smaller --batch-size',
    step.gathered ? images!.images : undefined);
  if (step.gathered) device.queue.writeBuffer(program.mem, 4 * step.gathered.lut, byteLevels());
  // Profiling times each kernel in one of BATCH_SLOTS query sets: then as many steps in flight, no more.
  const depth = gpu.info.timestamps ? BATCH_SLOTS : GPU_STEPS_IN_FLIGHT;
  const readbacks = Array.from({ length: depth }, () =>
    device.createBuffer({ size: 4 * STEP_STATS, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }));
  // Parameters and Adam's moments as training left them.
  uploadParams(gpu, model, program.mem);
  device.queue.writeBuffer(program.mem, 8 * model.P, new Float32Array(setup.adam.m)); // copies: the moments may be views of shared memory
  device.queue.writeBuffer(program.mem, 12 * model.P, new Float32Array(setup.adam.v));
  return new WebGpuEngine(gpu, step, program, readbacks, setup, 1 + family.stats.length);
}
