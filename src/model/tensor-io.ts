/**
 * Moving numbers between tensors and (shared) Float32Arrays without a garbage copy per call. Training
 * threads move the whole parameter vector in and its gradient out on every step; with dataSync() and
 * slice() that was ~5 MB of short-lived ArrayBuffers per step and thread, and the garbage collector's
 * background marking then competed with the other training thread for the cores.
 *
 * On the wasm backend tensor data lives in the WebAssembly heap: write() copies the values in (it keeps no
 * reference), and the heap can be read through a view. Other backends may keep a reference to the array
 * they are given or hand out copies, so there the plain API is used.
 */
import * as tf from '@tensorflow/tfjs';

interface WasmBackendInternals {
  wasm: { HEAPF32: Float32Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  refCount(dataId: object): number;
}

function wasmInternals(): WasmBackendInternals | null {
  if (tf.getBackend() !== 'wasm') return null;
  const backend = tf.backend() as unknown as Partial<WasmBackendInternals>;
  return backend.wasm?.HEAPF32 && backend.dataIdMap ? (backend as WasmBackendInternals) : null;
}

/** A float32 tensor of `shape` holding source[offset, offset + size). */
export function tensorFrom(source: Float32Array, offset: number, shape: number[]): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const values = wasmInternals() ? source.subarray(offset, offset + size) : source.slice(offset, offset + size);
  return tf.tensor(values, shape, 'float32');
}

/** The values of float32 tensor t where they lie in the wasm heap (a view, valid until the next tensor is made), or null. */
function heapValues(t: tf.Tensor): Float32Array | null {
  const wasm = wasmInternals();
  const entry = wasm?.dataIdMap.get(t.dataId);
  return wasm && entry ? wasm.wasm.HEAPF32.subarray(entry.memoryOffset / 4, entry.memoryOffset / 4 + t.size) : null;
}

/**
 * Writes source[offset, offset + v.size) into variable v where its values lie (the wasm heap), when no other tensor
 * shares them; false when it cannot (then assign). Only where what reads v reads the heap at every call (the native
 * kernels: native-kernels.ts's nativeReadsWeights); the caller knows (flat.ts's writeVariables).
 */
export function writeInPlace(v: tf.Variable, source: Float32Array, offset: number): boolean {
  const values = heapValues(v);
  if (!values || v.dtype !== 'float32' || wasmInternals()!.refCount(v.dataId) !== 1) return false;
  values.set(source.subarray(offset, offset + v.size));
  return true;
}

/** The bytes of float32 tensor t: a view where its values lie (the wasm heap; valid until the next tensor is made), else a copy. */
export function bytesOf(t: tf.Tensor): Uint8Array {
  const values = heapValues(t) ?? (t.dataSync() as Float32Array);
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/** Copies the values of float32 tensor t into out[offset...]. */
export function readInto(t: tf.Tensor, out: Float32Array, offset: number): void {
  out.set(heapValues(t) ?? (t.dataSync() as Float32Array), offset);
}
