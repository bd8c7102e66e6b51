/**
 * The WebGPU engine: a whole training step as a few fused WGSL kernels recorded into one command encoder (the
 * step skeleton of step.ts, with the objective the model's family declares: objectives/), the parameters,
 * gradients and Adam's moments resident on the GPU. It trains every family today: the VAE (MLP or --arch conv,
 * Bernoulli or Gaussian p(x|z), IWAE with --iw-train), the cvae, the ae, dae and sae, the VQ-VAE, M2 and M1+M2.
 * tfjs-webgpu pays ~0.4 ms for every tensor operation (a step is ~150 of them); a dispatch here costs Dawn 6–9 µs,
 * and a step is 11 dispatches for the default MLP, 24 for the conv VAE at batch 128 (`dispatches`; more where
 * products are split, products.ts's productPlan).
 *
 * Where a batch is the training images as they are, the training set stays on the GPU (bytes, binding 2) and a
 * step uploads its rows' indices (gather.ts); where the set is not held (streamed from its cache) or past a binding,
 * a step uploads its images' bytes into binding 2 and gathers them the same way (a quarter of the floats, scaled
 * on the GPU as the CPU scales them); otherwise the objective lays the batch out and uploads it. The noise
 * is drawn on the GPU from the step's Philox key (noise.ts: the CPU engine's numbers), or, for a run made before
 * the Philox noise (train.normals absent), drawn on the CPU and uploaded every step. Steps are recorded
 * GPU_STEPS_PER_SUBMISSION to a command buffer (their uploads staged and copied into place by it), their statistics
 * read back with one mapping, and three such submissions are queued at once, so the host's part of a step (its
 * upload and recording, reading earlier steps' statistics) is done while the GPU runs the steps before it. The
 * arithmetic is the CPU engine's in float32 (sums in another order, exp and log of the GPU): a step agrees with it to
 * ~1e-5 relative (test/engine/webgpu.test.ts).
 *
 * Before the first step, on a GPU, the step's products are timed in each of the forms that give the same numbers
 * and the fastest of each kept (tune.ts).
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
import { PLAIN_TILES, SOFTWARE_TILES, TILE_FORMS, TileForm, withTileForm } from './plan';
import { gpuProgram, recordKernels, uploadParams } from './runtime';
import { StepProgram, buildStep } from './step';
import { PickForms, formName, tuneStep } from './tune';
import { halfLine, withHalfProducts } from './half';
import { stepUniform } from './wgsl';

type Program = Awaited<ReturnType<typeof gpuProgram>>;

/**
 * Steps recorded into one command buffer and submitted together (the loop hands them over in runs of this many:
 * Engine.group), their statistics read back with one mapping: a submit, a mapping and its promise per 4 steps.
 */
export const GPU_STEPS_PER_SUBMISSION = 4;

/**
 * Submissions in flight: the loop queues GPU_SUBMISSIONS_IN_FLIGHT · group steps, each with its batch slot, so the
 * GPU's queue always holds the next steps while the main thread prepares later ones and reads the statistics of
 * earlier ones (no step waits for the host). On the GPU the steps take turns in BATCH_SLOTS statistics slots; each
 * step's are copied out right after it, in the same command buffer.
 */
const GPU_SUBMISSIONS_IN_FLIGHT = 3;

/** A submission being recorded: its steps' commands, its statistics' readback, and the promise its steps share. */
interface Submission {
  encoder: GPUCommandEncoder;
  readback: GPUBuffer;
  steps: { slot: number; n: number; nk: number }[];
  /** Bytes of the staging buffer its steps' uploads take. */
  staged: number;
  /** Staging buffers outgrown by the time it was submitted: copied from by it or before it, destroyed once it is done. */
  outgrown: GPUBuffer[];
  done: Promise<void>;
  settle(outcome: Promise<void>): void;
}

class WebGpuEngine implements Engine {
  readonly threads = 1;
  readonly depth: number;
  readonly group: number;
  private lost: string | null = null;
  /** The batch slots, in this process's memory: a step uploads its batch from them. */
  private readonly slots: BatchSlot[];
  private readonly statsBySlot: number[][];
  /** VAE_GPU_PROFILE=1 (and a device with timestamp-query): each kernel timed on the GPU. */
  private readonly profiler: KernelProfiler | null;
  private recording: Submission | null = null;
  /**
   * Where a submission's uploads (each step's batch and uniform) wait until its command buffer copies them into
   * place before the step's kernels: steps recorded together cannot share mem's batch and the uniform. Grown as
   * needed; a buffer it outgrew is destroyed once the submissions that copy from it are done.
   */
  private staging: GPUBuffer | null = null;
  private readonly outgrown: GPUBuffer[] = [];
  /** The statistics readbacks (GPU_STEPS_PER_SUBMISSION steps' each): all made, and those free. */
  private readonly readbacks: GPUBuffer[] = [];
  private readonly freeReadbacks: GPUBuffer[] = [];

  /**
   * @param byteBatches each batch comes as its images' bytes (BatchSlot.bytes), written into binding 2 before its
   * step and gathered there as rows 0..n−1 (the slots' imageIndex): the engine does not hold the training set.
   */
  constructor(private readonly gpu: Gpu, private readonly layout: StepProgram, private readonly program: Program,
    private readonly setup: EngineSetup, private readonly statCount: number, private readonly byteBatches: boolean,
    private readonly tuned = { line: '', table: '' }) {
    const { rows, dim, labelDim, zDim, samples, noisy } = setup.sizes;
    // Profiling times each kernel in one of BATCH_SLOTS query sets: then a step a submission, BATCH_SLOTS in flight.
    this.profiler = gpu.info.timestamps ? new KernelProfiler(gpu.device, layout.kernels, BATCH_SLOTS, gpu.info.peakTflops) : null;
    this.group = this.profiler ? 1 : gpu.info.stepsPerSubmission ?? GPU_STEPS_PER_SUBMISSION;
    this.depth = this.profiler ? BATCH_SLOTS : GPU_SUBMISSIONS_IN_FLIGHT * this.group;
    // (A gathered batch is its images' indices: its x is never written; noise drawn on the GPU is not written either.)
    this.slots = Array.from({ length: this.depth }, () => ({ x: new Float32Array(layout.gathered ? 0 : rows * dim), y: new Float32Array(rows * labelDim),
      eps: new Float32Array(layout.drawsNoise ? 0 : rows * samples * zDim), noisy: new Float32Array(noisy ? rows * dim : 0),
      imageIndex: layout.gathered ? (this.byteBatches ? Float32Array.from({ length: rows }, (_, i) => i) : new Float32Array(rows)) : undefined,
      bytes: this.byteBatches ? new Uint8Array(4 * Math.ceil((rows * dim) / 4)) : undefined }));
    this.statsBySlot = Array.from({ length: this.depth }, () => []);
    void gpu.device.lost.then((info) => { this.lost = `the GPU device was lost (${info.reason}: ${info.message})`; });
    gpu.device.onuncapturederror = (e) => { this.lost ??= `GPU error: ${e.error.message.split('\n')[0]}`; };
  }

  get description(): string {
    const batches = this.byteBatches ? ', each batch uploaded as bytes' : this.layout.gathered ? ', the training images on the GPU' : '';
    return `webgpu (${this.gpu.info.name}), ${this.dispatches} dispatches per step${batches}${halfLine(this.gpu.info.half)}${this.tuned.line}`;
  }

  /** Compute dispatches a training step records. */
  get dispatches(): number {
    return this.program.pipelines.length;
  }

  slot(i: number): BatchSlot {
    return this.slots[i];
  }

  /**
   * Records the step into the submission being recorded (its batch and uniform staged, copied into place in the
   * command buffer before its kernels, its statistics copied out after them); submits it once it has `group` steps.
   */
  step(task: ShardTask, t: number): Promise<void> {
    if (this.lost) return Promise.reject(new VaeError(this.lost));
    if (this.layout.drawsNoise && !task.noiseKey) return Promise.reject(new Error('the webgpu engine draws the noise of a step from its Philox key, and this one has none'));
    const { beta1, beta2, lr } = this.setup.adamConfig;
    const { mem, uniform } = this.program;
    const submission = this.recording ??= this.begin();
    const { encoder } = submission;
    // The kernels' rows n and nk, as the objective laid the batch out (e.g. a batch's images and their K samples each).
    let rows: { n: number; nk: number };
    try {
      rows = this.layout.upload((at, data, count) => this.stage(submission, data, count, mem, 4 * at), this.slots[task.slot], task);
    } catch (e) {
      // A task the step was not made for: the submission half recorded is dropped, its steps failed with it.
      this.recording = null;
      submission.settle(Promise.reject(e));
      return submission.done;
    }
    const { n, nk } = rows;
    if (this.byteBatches) {
      // The batch's images into binding 2, where the gather reads rows 0..n−1 (packed four bytes to a float's place).
      const words = Math.ceil((n * this.setup.sizes.dim) / 4);
      const bytes = this.slots[task.slot].bytes!;
      this.stage(submission, new Float32Array(bytes.buffer, bytes.byteOffset, words), words, this.program.data, 0);
    }
    const gpuSlot = task.slot % BATCH_SLOTS;
    const step = stepUniform({ n, beta: task.beta, stepSize: lr / (1 - Math.pow(beta1, t)),
      invCorr2: 1 / (1 - Math.pow(beta2, t)), slot: gpuSlot, beta1, beta2, nk, semi: task.semi, noiseKey: task.noiseKey });
    this.stage(submission, new Float32Array(step), step.byteLength / 4, uniform, 0);
    const kernels = this.layout.kernels;
    if (this.profiler) this.profiler.record(encoder, this.program, kernels.map((k) => k.groups(n, nk)), gpuSlot);
    else recordKernels(encoder, this.program, kernels, n, nk);
    encoder.copyBufferToBuffer(mem, 4 * (this.layout.stats + STEP_STATS * gpuSlot), submission.readback, 4 * STEP_STATS * submission.steps.length,
      4 * STEP_STATS);
    submission.steps.push({ slot: task.slot, n, nk });
    if (submission.steps.length === this.group) this.flush();
    return submission.done;
  }

  /** Submits the steps recorded and not yet submitted. */
  flush(): void {
    const submission = this.recording;
    if (!submission) return;
    this.recording = null;
    submission.outgrown = this.outgrown.splice(0);
    this.gpu.device.queue.submit([submission.encoder.finish()]);
    submission.settle(this.collect(submission));
  }

  private begin(): Submission {
    let settle!: Submission['settle'];
    const done = new Promise<void>((resolve, reject) => { settle = (outcome) => outcome.then(resolve, reject); });
    const readback = this.freeReadbacks.pop() ?? this.newReadback();
    const submission: Submission = { encoder: this.gpu.device.createCommandEncoder(), readback, steps: [], staged: 0, outgrown: [], done, settle };
    // Steps given without a flush after them (a caller other than the loop) are submitted once this turn of the event loop ends.
    setTimeout(() => { if (this.recording === submission) this.flush(); }, 0);
    return submission;
  }

  private newReadback(): GPUBuffer {
    const buffer = this.gpu.device.createBuffer({ size: 4 * STEP_STATS * this.group, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.readbacks.push(buffer);
    return buffer;
  }

  /**
   * `count` floats of `data` into `target` at byte `offset`, in the submission's order: written into the staging
   * buffer now (the queue orders it after the submissions before, which read the same bytes), copied in its command buffer.
   */
  private stage(submission: Submission, data: Float32Array, count: number, target: GPUBuffer, offset: number): void {
    const { device } = this.gpu;
    const at = submission.staged;
    const end = at + 4 * count;
    if (!this.staging || end > this.staging.size) {
      if (this.staging) this.outgrown.push(this.staging);
      this.staging = device.createBuffer({ size: Math.max(end, 2 * (this.staging?.size ?? 0)), usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    }
    device.queue.writeBuffer(this.staging, at, data as Float32Array<ArrayBuffer>, 0, count);
    submission.encoder.copyBufferToBuffer(this.staging, at, target, offset, 4 * count);
    submission.staged = end;
  }

  /** Waits for a submission's statistics (and its kernels' times, when profiling). */
  private async collect(submission: Submission): Promise<void> {
    const { readback, steps } = submission;
    try {
      await dawnAwait(readback.mapAsync(GPUMapMode.READ));
    } catch (e) {
      throw new VaeError(this.lost ?? `the GPU step failed: ${errorMessage(e).split('\n')[0]}`);
    }
    const numbers = new Float32Array(readback.getMappedRange(), 0, STEP_STATS * steps.length);
    steps.forEach(({ slot }, i) => { this.statsBySlot[slot] = Array.from(numbers.subarray(STEP_STATS * i, STEP_STATS * i + this.statCount)); });
    readback.unmap();
    this.freeReadbacks.push(readback);
    for (const buffer of submission.outgrown) buffer.destroy();
    if (this.profiler) for (const { slot, n, nk } of steps) await this.profiler.collect(slot % BATCH_SLOTS, n, nk);
    if (this.lost) throw new VaeError(this.lost);
  }

  stats(slot: number): number[] {
    return this.statsBySlot[slot];
  }

  async state(): Promise<{ params: Float32Array; adam: AdamState }> {
    if (this.lost) throw new VaeError(this.lost);
    this.flush();
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
    // Steps recorded and never handed over (a failure before the loop's flush): not run.
    this.recording?.settle(Promise.reject(new VaeError('the engine was closed before these steps were submitted')));
    this.recording = null;
    if (this.profiler) {
      console.error(this.profiler.report());
      if (this.tuned.table) console.error(this.tuned.table);
      this.profiler.destroy();
    }
    const staging = this.staging ? [this.staging] : [];
    for (const b of [this.program.mem, this.program.uniform, this.program.data, ...this.readbacks, ...staging, ...this.outgrown]) b.destroy();
  }
}

/**
 * The engine on this device for the setup's model, trained with the objective its family declares (family.gpu);
 * `family.stats` are the sums a step reports after its loss. Its products tuned to this GPU (tune.ts) where
 * gpu.info.tune says so (by default on a GPU, not on a software adapter), `pickForms` choosing their forms; untuned,
 * in the plain form on a GPU and in plan.ts's SOFTWARE_TILES on a software adapter.
 */
export async function webGpuEngine(setup: EngineSetup, gpu: Gpu, family: Pick<Family, 'gpu' | 'stats'>, pickForms?: PickForms): Promise<Engine> {
  const { device } = gpu;
  const { vae } = setup;
  const spec = family.gpu?.(vae.config);
  const why = webGpuUnsupported(vae, spec);
  if (why !== null || !spec) throw new Error(`the webgpu engine has no kernels for ${why}`);
  const objective = gpuObjective(spec, { rows: setup.sizes.rows, samples: setup.sizes.samples });
  // The training set stays on the GPU where the batches are its images as they are and it fits in one binding;
  // where it does not (a streamed set, or one past a binding), such batches come as their bytes, gathered the same way.
  const images = setup.images;
  const binds = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  const gather = images !== undefined && 4 * Math.ceil(images.images.length / 4) <= binds;
  const batchBytes = 4 * Math.ceil((setup.sizes.rows * setup.sizes.dim) / 4);
  const byteBatches = !gather && setup.imageBytes === true && batchBytes <= binds;
  const model = gpuModel(vae);
  const build = (form: TileForm) => withHalfProducts(gpu.info.half ?? null, () => withTileForm(form,
    () => buildStep(model, objective, { epsilon: setup.adamConfig.epsilon, gather: gather || byteBatches, noise: setup.normals === 'philox' })));
  const tune = gpu.info.tune ?? !gpu.info.software;
  // Untuned on a software adapter, the products in the form its tuner picks for nearly all of them (plan.ts).
  const untuned = !tune && gpu.info.software ? SOFTWARE_TILES : PLAIN_TILES;
  const step = build(untuned);
  // Gathered from a set the engine does not hold: each batch's bytes, written into binding 2 (the objective may not gather).
  const uploadsBytes = step.gathered !== null && !gather;
  const program = await gpuProgram(gpu, step.kernels, step.size, `this model and a batch of ${setup.sizes.rows}`, 'use a smaller --batch-size',
    step.gathered === null ? undefined : uploadsBytes ? batchBytes : images!.images);
  if (step.gathered) device.queue.writeBuffer(program.mem, 4 * step.gathered.lut, byteLevels());
  // Parameters and Adam's moments as training left them.
  uploadParams(gpu, model, program.mem);
  device.queue.writeBuffer(program.mem, 8 * model.P, new Float32Array(setup.adam.m)); // copies: the moments may be views of shared memory
  device.queue.writeBuffer(program.mem, 12 * model.P, new Float32Array(setup.adam.v));
  // The products in the form that runs fastest on this GPU (the same numbers in every form).
  let tuned = { line: untuned === PLAIN_TILES ? '' : `, its products in ${formName(untuned)} (untuned: a software adapter)`, table: '' };
  if (tune) {
    try {
      tuned = await tuneStep(gpu, program, [step, ...TILE_FORMS.slice(1).map(build)], { n: objective.rows.rows, nk: objective.rows.decRows },
        pickForms);
    } catch (e) {
      tuned = { line: `, its products not tuned (${errorMessage(e).split('\n')[0]})`, table: '' };
    }
  }
  return new WebGpuEngine(gpu, step, program, setup, 1 + family.stats.length, uploadsBytes, tuned);
}
