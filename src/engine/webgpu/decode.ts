/**
 * log p(x|z) on the GPU for many codes at once: the decoder's forward kernels of the WebGPU engine (layers.ts,
 * networks.ts) and its loss kernel, on up to `capacity` rows a call. `vae evaluate --iw K` uses it under `--backend webgpu`
 * (engine/evaluate.ts): the importance samples are drawn on the CPU from the same streams as ever
 * (model/likelihood.ts), so the bound is the CPU's to float precision, and the decoder, the part that costs
 * K times the test set, runs on the GPU.
 */
import { VaeError, errorMessage } from '../../errors';
import { Gpu, dawnAwait } from '../../gpu-device';
import type { Vae } from '../../model/vae';
import { forwardStack } from './layers';
import { likelihoodKernel } from './likelihoods';
import { gpuModel, modelLayers, placeLayers } from './networks';
import { gpuProgram, recordKernels, uploadParams } from './runtime';
import { Arena, Kernel, joinKernels, stepUniform } from './wgsl';

/** Rows of one call at most (memory permitting). */
const MAX_ROWS = 20_000;

export class GpuLogLikelihood {
  private constructor(private readonly gpu: Gpu, private readonly program: Awaited<ReturnType<typeof gpuProgram>>,
    private readonly kernels: Kernel[], private readonly at: { z: number; target: number; rec: number },
    /** Rows of a call at most. */
    readonly capacity: number, private readonly widths: { z: number; out: number }, private readonly readback: GPUBuffer) {}

  /**
   * For a VAE or cvae that the WebGPU engine trains (objectives' webGpuUnsupported: null): its decoder on this
   * device, on up to `rows` rows a call, fewer where the GPU binds less.
   */
  static async create(gpu: Gpu, vae: Vae, rows = MAX_ROWS): Promise<GpuLogLikelihood> {
    const model = gpuModel(vae);
    const { P } = model;
    const { decoderExtra: C, outputDim: out } = vae.condition;
    // The layers' widths first (they do not depend on the rows), then the layers for as many rows as fit.
    const widths = modelLayers(model, 'n', { scratch: P, rows: 1, decRows: 1, own: new Arena() }).dec;
    const zWidth = vae.config.zDim + C;
    // Per row: the decoder's input, every layer's output, the loss's gradient (unused), the target, −log p(x|z).
    // (The targets are one per image, at most one image a row.)
    const perRow = zWidth + widths.reduce((a, l) => a + l.out, 0) + widths[widths.length - 1].out + out + 1;
    const limit = Math.floor(gpu.device.limits.maxStorageBufferBindingSize / 4);
    // The decoder's memory for `capacity` rows: the parameters (the layers' gradient offsets beyond them are not used
    // here), the layers' own memory, the split products' partial sums, then the rows'.
    const place = (capacity: number) => {
      const mem = new Arena();
      mem.take(P);
      const { dec } = placeLayers(mem, { rows: capacity, decRows: capacity }, (plan) => modelLayers(model, 'n', plan), true);
      const at = { z: mem.take(capacity * zWidth), hidden: dec.map((l) => mem.take(capacity * l.out)), dLogits: mem.take(capacity * dec[dec.length - 1].out),
        target: mem.take(capacity * out), rec: mem.take(capacity) };
      return { mem, dec, at, capacity };
    };
    // As many rows as fit beside the parameters; fewer where the split products' partial sums make it too large.
    const tooLittle = () => new VaeError('this GPU binds too little memory for the decoder');
    const most = Math.min(rows, Math.floor((limit - P) / perRow));
    if (most < 1) throw tooLittle();
    let placed = place(most);
    while (placed.mem.size > limit) {
      const fewer = Math.floor(placed.capacity * Math.min(0.95, limit / placed.mem.size));
      if (fewer < 1) throw tooLittle();
      placed = place(fewer);
    }
    const { mem, dec, capacity, at: { z, hidden, dLogits, target, rec } } = placed;
    const kernels = [...joinKernels(dec.flatMap((l) => l.prepare)), ...forwardStack(dec, z, hidden)];
    // Row r models image r / step.nk: each call's rows are its images' samples, image by image, step.nk each.
    kernels.push(likelihoodKernel(model.likelihood, { logits: hidden[dec.length - 1], x: target, dlogits: dLogits, rec, dim: out, samples: 'step' },
      'n'));
    const program = await gpuProgram(gpu, kernels, mem.size, `the decoder on ${capacity} rows`, 'this model is too large for it');
    uploadParams(gpu, model, program.mem);
    const readback = gpu.device.createBuffer({ size: 4 * capacity, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    return new GpuLogLikelihood(gpu, program, kernels, { z, target, rec }, capacity, { z: zWidth, out }, readback);
  }

  /**
   * log p(x|z) of `rows` rows, `perImage` samples of each image in turn: z [rows, zDim + C] (a cvae's condition
   * beside each code), and what the decoder models of each image, target [rows / perImage, out] (sent once for
   * its samples: K copies of the test set would be most of a call's upload).
   */
  async logLikelihood(z: Float32Array<ArrayBuffer>, target: Float32Array<ArrayBuffer>, rows: number, perImage: number): Promise<Float32Array> {
    if (rows > this.capacity) throw new Error(`at most ${this.capacity} rows a call`);
    if (!(perImage >= 1) || rows % perImage !== 0) throw new Error('a call has whole images\' samples');
    const { device } = this.gpu;
    const { mem, uniform, pipelines, bindGroup } = this.program;
    device.queue.writeBuffer(mem, 4 * this.at.z, z, 0, rows * this.widths.z);
    device.queue.writeBuffer(mem, 4 * this.at.target, target, 0, (rows / perImage) * this.widths.out);
    device.queue.writeBuffer(uniform, 0, stepUniform({ n: rows, beta: 1, stepSize: 0, invCorr2: 1, slot: 0, beta1: 0, beta2: 0, nk: perImage }));
    const encoder = device.createCommandEncoder();
    recordKernels(encoder, this.program, this.kernels, rows, rows);
    encoder.copyBufferToBuffer(mem, 4 * this.at.rec, this.readback, 0, 4 * rows);
    device.queue.submit([encoder.finish()]);
    try {
      await dawnAwait(this.readback.mapAsync(GPUMapMode.READ, 0, 4 * rows));
    } catch (e) {
      throw new VaeError(`the GPU decoder failed: ${errorMessage(e).split('\n')[0]}`);
    }
    const out = Float32Array.from(new Float32Array(this.readback.getMappedRange(0, 4 * rows)), (v) => -v);
    this.readback.unmap();
    return out;
  }

  close(): void {
    for (const b of [this.program.mem, this.program.uniform, this.program.data, this.readback]) b.destroy();
  }
}
