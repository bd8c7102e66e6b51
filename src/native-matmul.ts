/**
 * Native matrix products for the wasm backend (native/gemm.cc, built by `npm install` with node-gyp).
 *
 * The wasm backend's BatchMatMul runs XNNPACK compiled to 128-bit WebAssembly SIMD, and XNNPACK packs the
 * right-hand matrix again whenever it is a new tensor: during training, every step. The addon multiplies the
 * same float32 arrays where they lie, in the wasm heap, with AVX-512 or AVX2/FMA, so the wasm backend keeps
 * its tensors, its other kernels and its checkpoints, and only the products change. It is registered in place
 * of the wasm backend's BatchMatMul kernel, in every thread that initialises the wasm backend.
 *
 * The addon is optional (see native.ts): without it the wasm backend keeps its own kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { nativeAddon } from './native';

interface WasmBackend {
  wasm: { HEAPF32: Float32Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
}

let active = '';

/** The instruction set of the registered native products ('avx512' or 'avx2'), or '' when the wasm kernel runs. */
export function nativeMatmulIsa(): string {
  return active;
}

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * Registers the native BatchMatMul for the wasm backend, when the addon loads. Products whose batch dimensions
 * need general broadcasting (neither equal nor a single matrix) still go to the wasm kernel.
 */
export function useNativeMatmul(): boolean {
  if (active) return true;
  const native = nativeAddon();
  const original = tf.getKernel('BatchMatMul', 'wasm');
  if (!native || !original) return false;
  const kernelFunc: tf.KernelFunc = (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    const backend = args.backend as unknown as WasmBackend;
    const ra = a.shape.length;
    const rb = b.shape.length;
    const outerA = a.shape.slice(0, -2);
    const outerB = b.shape.slice(0, -2);
    const batchA = sizeOf(outerA);
    const batchB = sizeOf(outerB);
    const sameOuter = outerA.length === outerB.length && outerA.every((d, i) => d === outerB[i]);
    if (a.dtype !== 'float32' || b.dtype !== 'float32' || ra < 2 || rb < 2 || (!sameOuter && batchA !== 1 && batchB !== 1)) {
      return original.kernelFunc(args);
    }
    const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
    const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
    const kB = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
    const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
    if (k !== kB) {
      throw new Error(`Error in matMul: inner shapes (${k}) and (${kB}) of Tensors with shapes ${a.shape} and ${b.shape} `
        + `and transposeA=${transposeA} and transposeB=${transposeB} must match.`);
    }
    const outer = tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
    const out = backend.makeOutput([...outer, m, n], 'float32');
    if (m * n * Math.max(batchA, batchB) === 0) return out;
    const offset = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
    // After makeOutput: allocating may have grown the heap, which replaces its ArrayBuffer.
    native.matmul(backend.wasm.HEAPF32.buffer as ArrayBuffer, offset(a), offset(b), offset(out), batchA, batchB,
      m, k, n, !!transposeA, !!transposeB);
    return out;
  };
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel({ ...original, kernelFunc });
  active = native.isa;
  return true;
}
