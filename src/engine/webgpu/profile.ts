/**
 * VAE_GPU_PROFILE=1: where a WebGPU training step spends its time. Each kernel of a step is recorded in a pass of
 * its own with GPU timestamps at its start and end (timestamp-query), and the wall time between step completions
 * is measured; at the end of training a table on stderr gives the GPU time of each kernel per step with its GFLOP/s
 * (the products and convolutions: Kernel.flops), their sum, the wall time per step (the difference is the host's
 * part: preparing and uploading the batch, the submit, the wait for the result; an evaluation between epochs counts
 * in it too: profile one epoch), the dispatches per step, and the five largest products' TFLOP/s together, against
 * VAE_GPU_PEAK_TFLOPS where it is given (the GPU's fp32 peak: WGSL has no tensor cores).
 * A pass per kernel costs a few µs a dispatch more than the engine's one pass: the profile is for finding the slow
 * kernels, the bench is for the speed.
 */
import { dawnAwait } from '../../gpu-device';
import type { Groups, Kernel } from './wgsl';

/** Steps not counted at the start: the first ones compile and allocate. */
const WARMUP_STEPS = 10;

export class KernelProfiler {
  /** Per batch slot (two steps may be in flight): the timestamps, resolved, and a copy to read. */
  private readonly slots: { querySet: GPUQuerySet; resolved: GPUBuffer; read: GPUBuffer }[];
  private readonly gpuNs: Float64Array;
  private readonly flops: Float64Array;
  private readonly names: string[];
  private steps = 0;
  private counted = 0;
  private rows = 0;
  /** performance.now() (ms) when counting began, and at the last step's completion. */
  private countFromMs = 0;
  private lastMs = 0;

  constructor(device: GPUDevice, private readonly kernels: Pick<Kernel, 'name' | 'flops'>[], slots: number,
    private readonly peakTflops = 0) {
    this.names = kernels.map((k) => k.name);
    const count = 2 * kernels.length;
    this.slots = Array.from({ length: slots }, () => ({
      querySet: device.createQuerySet({ type: 'timestamp', count }),
      resolved: device.createBuffer({ size: 8 * count, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC }),
      read: device.createBuffer({ size: 8 * count, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }),
    }));
    this.gpuNs = new Float64Array(kernels.length);
    this.flops = new Float64Array(kernels.length);
  }

  /** Records the kernels, a pass each with its timestamps, then the copy of the timestamps to be read. */
  record(encoder: GPUCommandEncoder, program: { pipelines: GPUComputePipeline[]; bindGroup: GPUBindGroup },
    groups: Groups[], slot: number): void {
    const { querySet, resolved, read } = this.slots[slot];
    groups.forEach((g, i) => {
      const pass = encoder.beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
      pass.setBindGroup(0, program.bindGroup);
      pass.setPipeline(program.pipelines[i]);
      pass.dispatchWorkgroups(...g);
      pass.end();
    });
    encoder.resolveQuerySet(querySet, 0, 2 * groups.length, resolved, 0);
    encoder.copyBufferToBuffer(resolved, 0, read, 0, 16 * groups.length);
  }

  /** After the step's submit (n rows, nk decoder rows): adds its kernels' GPU times and work, and notes when it completed. */
  async collect(slot: number, n: number, nk: number): Promise<void> {
    const { read } = this.slots[slot];
    await dawnAwait(read.mapAsync(GPUMapMode.READ));
    const t = new BigUint64Array(read.getMappedRange().slice(0));
    read.unmap();
    this.lastMs = performance.now();
    if (++this.steps <= WARMUP_STEPS) {
      this.countFromMs = this.lastMs;
      return;
    }
    this.kernels.forEach((k, i) => {
      this.gpuNs[i] += Number(t[2 * i + 1] - t[2 * i]);
      this.flops[i] += k.flops?.(n, nk) ?? 0;
    });
    this.rows += n;
    this.counted++;
  }

  /** The table, or a line saying there was nothing to count. */
  report(): string {
    if (this.counted === 0) return `GPU profile: no step counted (the first ${WARMUP_STEPS} are not)`;
    const us = (ns: number) => (ns / this.counted / 1000).toFixed(1).padStart(9);
    const tflops = (flops: number, ns: number) => (ns > 0 ? flops / ns / 1000 : 0);
    const total = this.gpuNs.reduce((a, b) => a + b, 0);
    const wallNs = 1e6 * (this.lastMs - this.countFromMs);
    const order = this.names.map((_, i) => i).sort((a, b) => this.gpuNs[b] - this.gpuNs[a]);
    const gflops = (i: number) => 1000 * tflops(this.flops[i], this.gpuNs[i]);
    const rate = (i: number) => (this.flops[i] > 0 ? (gflops(i) >= 100 ? gflops(i).toFixed(0) : gflops(i).toPrecision(3)) : '').padStart(9);
    // The five products (kernels with a FLOP count) that take the most time, together.
    const top = order.filter((i) => this.flops[i] > 0).slice(0, 5);
    const topRate = tflops(top.reduce((a, i) => a + this.flops[i], 0), top.reduce((a, i) => a + this.gpuNs[i], 0));
    return [
      `GPU profile over ${this.counted} steps of ${Math.round(this.rows / this.counted)} images: µs per step, share, GFLOP/s`,
      ...order.map((i) => `${us(this.gpuNs[i])}  ${(100 * this.gpuNs[i] / total).toFixed(1).padStart(5)}%  ${rate(i)}  ${this.names[i]}`),
      `${us(total)}  kernels on the GPU, together (a pass each)`,
      `${us(wallNs)}  wall time per step, between step completions (kernels ${(100 * total / wallNs).toFixed(0)}% of it)`,
      `${String(this.names.length).padStart(9)}  dispatches per step`,
      `${topRate.toPrecision(3).padStart(9)}  TFLOP/s of the five largest products together` +
        (this.peakTflops > 0 ? `: ${(100 * topRate / this.peakTflops).toPrecision(3)}% of the ${this.peakTflops} TFLOP/s of VAE_GPU_PEAK_TFLOPS` : ''),
    ].join('\n');
  }

  destroy(): void {
    for (const s of this.slots) {
      s.querySet.destroy();
      s.resolved.destroy();
      s.read.destroy();
    }
  }
}
