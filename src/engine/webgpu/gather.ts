/**
 * A batch gathered on the GPU: where a batch is the training images as they are, the engine keeps the training
 * set on the GPU (bytes, binding 2) and a step sends only its rows' indices.
 */
import { Kernel, flatJobKernel } from './wgsl';

/**
 * x [n, D] = the training set's images (bytes, at binding 2, packed four to a u32) of the step's rows (their
 * indices in mem at `index`), each byte b read as lut[b]: the CPU's b · (1/255) in float32, exactly.
 */
export function gatherKernel(o: { index: number; lut: number; x: number; D: number }): Kernel {
  return flatJobKernel('gather images', `step.n * ${o.D}u`, (n) => n * o.D, /* wgsl */ `let at = u32(mem[${o.index}u + idx / ${o.D}u]) * ${o.D}u + idx % ${o.D}u;
  let byte = (images[at / 4u] >> ((at % 4u) * 8u)) & 255u;
  mem[${o.x}u + idx] = mem[${o.lut}u + byte];`, `@group(0) @binding(2) var<storage, read> images: array<u32>;
`);
}

/** The grey levels of bytes as the CPU's batches hold them (data/batches.ts's fillBatch): b · (1/255) in float32. */
export function byteLevels(): Float32Array<ArrayBuffer> {
  const scale = 1 / 255;
  return Float32Array.from({ length: 256 }, (_, b) => b * scale);
}
