/**
 * The optional native addon (native/gemm.cc), built by `npm install` with node-gyp: kernels for the wasm
 * backend (native-kernels.ts) and the Adam update of the training threads (engine/adam.ts).
 *
 * When it was not built (no C++ compiler at install time), the CPU has neither AVX-512 nor AVX2 with FMA, or
 * VAE_NATIVE=0 is set, everything runs as before without it: the wasm backend's own kernels and Adam in
 * JavaScript. `nativeProblem()` says why it is not used.
 */
import * as path from 'path';

export interface NativeAddon {
  /** C = op(A) · op(B) for each of max(batchA, batchB) float32 matrices at byte offsets into heap (a batch of 1 is broadcast). */
  matmul(heap: ArrayBuffer, a: number, b: number, c: number, batchA: number, batchB: number,
    m: number, k: number, n: number, transposeA: boolean, transposeB: boolean): void;
  /** Bernoulli NLL from logits at byte offsets into heap: row sums (dy = -1) or the gradient (σ(l) − x)·dy[row]. */
  bce(heap: ArrayBuffer, logits: number, x: number, dy: number, out: number, rows: number, cols: number): void;
  /**
   * y [n, oh, ow, out] = act(conv2d(x or its 2x nearest upsampling, W [k, k, c, out], stride, 'same') + b) for x
   * [n, h, w, c] at byte offsets into heap; act is relu when relu is 1.
   */
  conv2d(heap: ArrayBuffer, x: number, w: number, b: number, y: number, n: number, h: number, wd: number, c: number,
    k: number, stride: number, up: number, out: number, relu: number): void;
  /**
   * The gradients of conv2d from dy: dW, db, and dx unless its offset is −1; y is conv2d's output for the relu's
   * mask, or −1 without relu.
   */
  conv2dGrad(heap: ArrayBuffer, x: number, w: number, y: number, dy: number, dx: number, dw: number, db: number,
    n: number, h: number, wd: number, c: number, k: number, stride: number, up: number, out: number): void;
  /** adam.ts's adamStep over [start, end), bit for bit. */
  adam(params: Float32Array, m: Float32Array, v: Float32Array, grads: Float32Array[], start: number, end: number,
    stepSize: number, invCorrection2: number, beta1: number, beta2: number, epsilon: number): void;
  /** The best instruction set of this CPU, used unless useIsa chose another: 'avx512', 'avx2' or 'none'. */
  isa: string;
  /** Use 'avx512' or 'avx2' from now on (the CPU must have it; tests run the kernels of both); returns it. */
  useIsa(isa: 'avx512' | 'avx2'): string;
}

export const ADDON_PATH = path.join(__dirname, '..', 'native', 'build', 'Release', 'vae_gemm.node');

let addon: NativeAddon | null | undefined;
let problem = '';

/** The addon, or null (then nativeProblem() says why). Loaded once per thread. */
export function nativeAddon(): NativeAddon | null {
  if (addon !== undefined) return addon;
  addon = null;
  if (process.env.VAE_NATIVE === '0') {
    problem = 'turned off by VAE_NATIVE=0';
    return null;
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const loaded = require(ADDON_PATH) as NativeAddon;
    if (loaded.isa === 'none') problem = 'not used: this CPU has neither AVX-512 nor AVX2 with FMA';
    else addon = loaded;
  } catch {
    problem = 'not built: `npm run build:native` needs make, a C++ compiler and Node\'s headers';
  }
  return addon;
}

export function nativeProblem(): string {
  nativeAddon();
  return problem;
}

/** The picture decoder of the first run (native/decode/decode.cc): libjpeg-turbo and libpng on libuv's threads. */
export interface DecodeAddon {
  /**
   * Decodes the files (JPEG and PNG) into `out`, the i-th at i x size x size x 3, centre-cropped and scaled as
   * data/images.ts's decodeSquare does (the same bytes); a picture larger than maxSide on its shorter side, or one it
   * leaves to sharp (EXIF rotation, an ICC profile, alpha, 16 bits, CMYK, a warning, not JPEG or PNG), is status 1.
   */
  decodeFiles(paths: string[], size: number, maxSide: number, out: Uint8Array): Promise<Uint8Array>;
  /** Width and height of each JPEG or PNG from its header (sharp's metadata() sizes); 0 and 0 for any other file. */
  probeFiles(paths: string[]): Promise<Int32Array>;
  /** Size, mtime seconds and mtime nanoseconds of each file (fs.statSync's numbers); -1, 0, 0 where it cannot be read. */
  statFiles(paths: string[]): Promise<Float64Array>;
  /** A zeroed ArrayBuffer of `bytes` in memory marked for 2 MB pages (unmapped when it is collected). */
  largeBuffer(bytes: number): ArrayBuffer;
  /** At most n malloc arenas from now on (glibc's M_ARENA_MAX); false where the C library is not glibc. */
  mallocArenas(n: number): boolean;
}

export const DECODE_ADDON_PATH = path.join(__dirname, '..', 'native', 'decode', 'build', 'Release', 'vae_decode.node');

let decoder: DecodeAddon | null | undefined;

/** The decoder, or null: not built (no libjpeg or libpng headers at install time), or VAE_NATIVE=0. */
export function decodeAddon(): DecodeAddon | null {
  if (decoder !== undefined) return decoder;
  decoder = null;
  if (process.env.VAE_NATIVE === '0') return null;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    decoder = require(DECODE_ADDON_PATH) as DecodeAddon;
  } catch {
    // sharp decodes every picture
  }
  return decoder;
}

/**
 * A zeroed Uint8Array of `bytes`, for a large buffer that is filled at once (a streamed set's window, a shard of the
 * first run, a set held in memory): in 2 MB pages where the picture decoder is built (its largeBuffer: a fault per
 * 2 MB instead of per 4 KB, 0.5 s less per 200 MB on these machines), else an ordinary one.
 */
export function largeBytes(bytes: number): Uint8Array {
  const native = bytes >= LARGE_BUFFER ? decodeAddon() : null;
  if (native) {
    try {
      return new Uint8Array(native.largeBuffer(bytes));
    } catch {
      // an ordinary one, then
    }
  }
  return new Uint8Array(bytes);
}

/**
 * Threads started from now on share the malloc arenas that exist instead of each taking its own (glibc), where the
 * picture decoder is built: an arena keeps what its thread freed resident, 42 MiB for a training worker (see
 * decode.cc's mallocArenas). The threads' hot paths do not malloc (tensors live in the wasm heap, batches in shared
 * memory), so sharing costs no speed. Called once, before the first worker starts.
 */
export function shareMallocArenas(): void {
  decodeAddon()?.mallocArenas(1);
}

/** Buffers from this size on come from largeBytes' mapping (a 2 MB page at least). */
const LARGE_BUFFER = 4 * 2 ** 20;
