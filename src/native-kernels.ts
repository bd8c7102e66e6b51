/**
 * Native kernels for the wasm backend (native/gemm.cc, built by `npm install` with node-gyp): matrix products,
 * and the Bernoulli negative log-likelihood from logits with its gradient.
 *
 * The wasm backend's BatchMatMul runs XNNPACK compiled to 128-bit WebAssembly SIMD, and XNNPACK packs the
 * right-hand matrix again whenever it is a new tensor: during training, every step. The addon multiplies the
 * same float32 arrays where they lie, in the wasm heap, with AVX-512 or AVX2/FMA, so the wasm backend keeps
 * its tensors, its other kernels and its checkpoints, and only the products change. It is registered in place
 * of the wasm backend's BatchMatMul kernel, in every thread that initialises the wasm backend.
 *
 * The Bernoulli NLL is a dozen elementwise wasm kernels over [batch, pixels], two of them (Exp, Log1p) scalar
 * loops: a third of a training step of the default model. The addon does the value and the gradient in one
 * vectorised pass each, as kernels of their own (VaeBernoulliNll, VaeBernoulliNllGrad) that losses.ts uses when
 * the active backend has them.
 *
 * The convolutions of the conv models (conv.ts) are kernels of their own too (VaeConv2d, VaeConv2dGrad): im2col
 * products with the upsampling, bias and relu fused in (native/conv.cc).
 *
 * The addon is optional (see native.ts): without it the wasm backend keeps its own kernels.
 */
import * as tf from '@tensorflow/tfjs';
import { nativeAddon } from './native';

const BERNOULLI_NLL = 'VaeBernoulliNll';
const BERNOULLI_NLL_GRAD = 'VaeBernoulliNllGrad';
const CONV = 'VaeConv2d';
const CONV_GRAD = 'VaeConv2dGrad';

interface WasmBackend {
  wasm: { HEAPF32: Float32Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
}

let active = '';

/** The instruction set of the registered native kernels ('avx512' or 'avx2'), or '' when the wasm kernels run. */
export function nativeKernelsIsa(): string {
  return active;
}

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * Registers the native kernels for the wasm backend, when the addon loads. Products whose batch dimensions
 * need general broadcasting (neither equal nor a single matrix) still go to the wasm kernel.
 */
export function useNativeKernels(): boolean {
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
    // After makeOutput: allocating may have grown the heap, which replaces its ArrayBuffer.
    native.matmul(heapOf(backend), offset(backend, a), offset(backend, b), offset(backend, out), batchA, batchB,
      m, k, n, !!transposeA, !!transposeB);
    return out;
  };
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel({ ...original, kernelFunc });

  // inputs logits, x [rows, cols] (and dy [rows] for the gradient): sums [rows], or the gradient [rows, cols].
  const bce = (backward: boolean): tf.KernelFunc => ({ inputs, backend: b }) => {
    const backend = b as unknown as WasmBackend;
    const { logits, x, dy } = inputs as { logits: tf.TensorInfo; x: tf.TensorInfo; dy?: tf.TensorInfo };
    const [rows, cols] = logits.shape;
    const out = backend.makeOutput(backward ? [rows, cols] : [rows], 'float32');
    if (rows * cols === 0) return out;
    native.bce(heapOf(backend), offset(backend, logits), offset(backend, x), backward ? offset(backend, dy!) : -1,
      offset(backend, out), rows, cols);
    return out;
  };
  tf.registerKernel({ kernelName: BERNOULLI_NLL, backendName: 'wasm', kernelFunc: bce(false) });
  tf.registerKernel({ kernelName: BERNOULLI_NLL_GRAD, backendName: 'wasm', kernelFunc: bce(true) });

  // The convolutions of the conv models: inputs x [n, h, w, c], filter [k, k, c, out], bias [out] (and y, dy for
  // the gradient); attrs stride, up (2x upsampling first), relu, and inputGrad for the gradient.
  tf.registerKernel({
    kernelName: CONV, backendName: 'wasm', kernelFunc: ({ inputs, backend: b, attrs }) => {
      const backend = b as unknown as WasmBackend;
      const { x, filter, bias } = inputs as { x: tf.TensorInfo; filter: tf.TensorInfo; bias: tf.TensorInfo };
      const { stride, up, relu } = attrs as unknown as ConvAttrs;
      const g = convGeometry(x, filter, stride, up);
      const y = backend.makeOutput([g.n, g.oh, g.ow, g.out], 'float32');
      if (g.n === 0) return y;
      native.conv2d(heapOf(backend), offset(backend, x), offset(backend, filter), offset(backend, bias), offset(backend, y),
        ...g.args, relu ? 1 : 0);
      return y;
    },
  });
  tf.registerKernel({
    kernelName: CONV_GRAD, backendName: 'wasm', kernelFunc: ({ inputs, backend: b, attrs }) => {
      const backend = b as unknown as WasmBackend;
      const { x, filter, y, dy } = inputs as { x: tf.TensorInfo; filter: tf.TensorInfo; y: tf.TensorInfo; dy: tf.TensorInfo };
      const { stride, up, relu, inputGrad } = attrs as unknown as ConvAttrs;
      const g = convGeometry(x, filter, stride, up);
      const dx = inputGrad ? backend.makeOutput(x.shape, 'float32') : null;
      const dw = backend.makeOutput(filter.shape, 'float32');
      const db = backend.makeOutput([g.out], 'float32');
      native.conv2dGrad(heapOf(backend), offset(backend, x), offset(backend, filter), relu ? offset(backend, y) : -1,
        offset(backend, dy), dx ? offset(backend, dx) : -1, offset(backend, dw), offset(backend, db), ...g.args);
      return dx ? [dx, dw, db] : [dw, db];
    },
  });
  active = native.isa;
  return true;
}

interface ConvAttrs { stride: number; up: boolean; relu: boolean; inputGrad?: boolean }

/** A convolution's output size (TensorFlow's 'same': ceil(grid / stride)) and the addon's geometry arguments. */
function convGeometry(x: tf.TensorInfo, filter: tf.TensorInfo, stride: number, up: boolean) {
  const [n, h, w, c] = x.shape;
  const [k, , , out] = filter.shape;
  const grid = (size: number) => (up ? 2 * size : size);
  const args: [number, number, number, number, number, number, number, number] = [n, h, w, c, k, stride, up ? 1 : 0, out];
  return { n, out, oh: Math.ceil(grid(h) / stride), ow: Math.ceil(grid(w) / stride), args };
}

const offset = (backend: WasmBackend, t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
const heapOf = (backend: WasmBackend) => backend.wasm.HEAPF32.buffer as ArrayBuffer;

const hasKernel = (name: string) => tf.getKernel(name, tf.getBackend()) !== undefined;
const sameShape = (a: tf.Tensor, b: tf.Tensor) =>
  a.rank === 2 && b.rank === 2 && a.shape[0] === b.shape[0] && a.shape[1] === b.shape[1];

/**
 * True when the active backend's products are the native ones, which take transposed operands at full speed
 * (the wasm backend's own kernel runs 12x slower with matMul's transpose flags).
 */
export function nativeProducts(): boolean {
  return active !== '' && tf.getBackend() === 'wasm';
}

/**
 * Σ_j [max(l, 0) − l·x + log1p(exp(−|l|))] per row, by the native kernel; null when the active backend has none.
 * Not differentiable by itself: losses.ts wraps it with its gradient.
 */
export function nativeBernoulliNll(logits: tf.Tensor2D, x: tf.Tensor2D): tf.Tensor1D | null {
  if (!hasKernel(BERNOULLI_NLL) || !sameShape(logits, x)) return null; // the kernel does not broadcast
  return tf.engine().runKernel(BERNOULLI_NLL, { logits, x }) as tf.Tensor1D;
}

/**
 * True when every kernel that reads a weight is a native one, which reads it from the wasm heap at every call: a
 * weight may then be written in place (flat.ts's writeVariables). The wasm backend's own matMul and conv2d (XNNPACK)
 * pack a weight once and keep the packed copy under its tensor's id until it is disposed: written in place there, a
 * weight stays as it was first multiplied (without the addon, 2026-12-02 to 2026-12-06, training did not learn).
 */
export function nativeReadsWeights(): boolean {
  return nativeProducts() && nativeConvs();
}

/** True when the active backend has the native convolutions (nativeConv2d, nativeConv2dGrad). */
export function nativeConvs(): boolean {
  return hasKernel(CONV) && hasKernel(CONV_GRAD);
}

/**
 * act(conv2d(x, or x upsampled 2x by nearest neighbours when `up`, filter, stride, 'same') + bias), act = relu
 * or identity, by the native kernel (nativeConvs() must hold). Not differentiable by itself: conv.ts wraps it.
 */
export function nativeConv2d(x: tf.Tensor4D, filter: tf.Tensor, bias: tf.Tensor, stride: number, up: boolean, relu: boolean): tf.Tensor4D {
  return tf.engine().runKernel(CONV, { x, filter, bias }, { stride, up, relu } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

/** The gradients of nativeConv2d from dy and its output y: [dx, dW, db], or [dW, db] without inputGrad. */
export function nativeConv2dGrad(x: tf.Tensor4D, filter: tf.Tensor, y: tf.Tensor4D, dy: tf.Tensor4D, stride: number, up: boolean,
  relu: boolean, inputGrad: boolean): tf.Tensor[] {
  return tf.engine().runKernel(CONV_GRAD, { x, filter, y, dy }, { stride, up, relu, inputGrad } as unknown as tf.NamedAttrMap) as unknown as tf.Tensor[];
}

/** (σ(l) − x) · dy[row], by the native kernel; null when the active backend has none. */
export function nativeBernoulliNllGrad(logits: tf.Tensor, x: tf.Tensor, dy: tf.Tensor): tf.Tensor2D | null {
  if (!hasKernel(BERNOULLI_NLL_GRAD) || !sameShape(logits, x) || dy.size !== logits.shape[0]) return null;
  return tf.engine().runKernel(BERNOULLI_NLL_GRAD, { logits, x, dy }) as tf.Tensor2D;
}
