/**
 * Choosing the backend. `auto` prefers CUDA (tfjs-node-gpu), then WebGPU on a hardware adapter, then the
 * native TensorFlow library (tfjs-node), then WebAssembly, then plain JavaScript. The native packages are
 * optional dependencies: where their install script could not download libtensorflow they are simply absent.
 *
 * `webgpu` trains on the GPU with vae's own engine (engine/webgpu/, WGSL kernels through Dawn: gpu.ts);
 * everything else (evaluation, sampling, files) runs on the wasm backend with its native kernels, whose
 * per-operation cost is far below tfjs-webgpu's (~0.4 ms an op).
 */
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { VaeError, errorMessage } from './errors';
import { GpuUnavailable, openGpu } from './gpu';
import type { GpuInfo } from './gpu-device';
import { nativeProblem } from './native';
import { nativeKernelsIsa, useNativeKernels } from './native-kernels';

export const BACKEND_CHOICES = ['auto', 'tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export interface BackendInfo {
  /** The choice that was made (never 'auto'). */
  choice: Exclude<BackendChoice, 'auto'>;
  /** tf.getBackend(): 'tensorflow', 'wasm' or 'cpu'. */
  tfName: string;
  /** One line for people: which backend and what it runs on. */
  description: string;
  /** What worker threads start for their TensorFlow.js work ('wasm' under webgpu). */
  threadChoice: Exclude<BackendChoice, 'auto'>;
}

const INSTALL_HINT: Record<string, string> = {
  'tensorflow-gpu': 'npm install @tensorflow/tfjs-node-gpu (needs CUDA and cuDNN, and network access to download libtensorflow)',
  tensorflow: 'npm install @tensorflow/tfjs-node (needs network access to download libtensorflow)',
  wasm: 'npm install @tensorflow/tfjs-backend-wasm',
  webgpu: 'npm install webgpu, and a Vulkan (Linux), Metal (macOS) or D3D12 (Windows) driver for the GPU',
};

let current: BackendInfo | null = null;

async function tryNative(pkg: string): Promise<string | null> {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(pkg);
  } catch (e) {
    return errorMessage(e).split('\n')[0];
  }
  if (!(await tf.setBackend('tensorflow'))) return 'the tensorflow backend did not initialise';
  return null;
}

let gpuInfo: GpuInfo | undefined;

/**
 * Whether this Linux machine has a GPU device node (NVIDIA's /dev/nvidia*, or a DRM render node of AMD, Intel
 * and others): without one, `auto` does not load Dawn, which would take 150 ms to find at most a software adapter.
 */
function gpuDeviceNode(): boolean {
  if (process.platform !== 'linux') return true;
  const list = (dir: string) => { try { return fs.readdirSync(dir); } catch { return []; } };
  return list('/dev').some((f) => /^nvidia\d+$/.test(f)) || list('/dev/dri').some((f) => f.startsWith('renderD'));
}

/** The GPU for training and importance sampling, and wasm for everything else; under `auto`, a software adapter does not count. */
async function initWebGpu(auto: boolean): Promise<string | null> {
  if (auto && !gpuDeviceNode()) return 'no GPU device';
  try {
    gpuInfo = (await openGpu()).info;
  } catch (e) {
    return e instanceof GpuUnavailable ? e.message : errorMessage(e).split('\n')[0];
  }
  if (auto && gpuInfo.software) return `only a software adapter (${gpuInfo.name})`;
  return init('wasm', auto);
}

async function init(choice: Exclude<BackendChoice, 'auto'>, auto = false): Promise<string | null> {
  switch (choice) {
    case 'webgpu':
      return initWebGpu(auto);
    case 'tensorflow-gpu':
      return tryNative('@tensorflow/tfjs-node-gpu');
    case 'tensorflow':
      return tryNative('@tensorflow/tfjs-node');
    case 'wasm':
      try {
        require('@tensorflow/tfjs-backend-wasm');
      } catch (e) {
        return errorMessage(e).split('\n')[0];
      }
      if (!(await tf.setBackend('wasm'))) return 'the wasm backend did not initialise';
      useNativeKernels();
      return null;
    case 'cpu':
      return (await tf.setBackend('cpu')) ? null : 'the cpu backend did not initialise';
  }
}

function describe(choice: Exclude<BackendChoice, 'auto'>): string {
  switch (choice) {
    case 'tensorflow-gpu':
      return 'tensorflow-gpu (@tensorflow/tfjs-node-gpu, CUDA)';
    case 'tensorflow':
      return 'tensorflow (@tensorflow/tfjs-node, native CPU)';
    case 'wasm': {
      const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT') ? 'SIMD' : 'no SIMD';
      const threads = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT') ? 'threads' : '1 thread';
      const products = nativeKernelsIsa() ? `native ${nativeKernelsIsa()} kernels`
        : `native kernels ${nativeProblem()}`;
      return `wasm (@tensorflow/tfjs-backend-wasm, ${simd}, ${threads}; ${products})`;
    }
    case 'cpu':
      return 'cpu (plain JavaScript, slow: install @tensorflow/tfjs-node or use --backend wasm)';
    case 'webgpu':
      return `webgpu (${gpuInfo!.name}) for training and importance sampling, ${describe('wasm')} for the rest`;
  }
}

/**
 * Initialises the backend once per process; later calls return the first result. Only work with GPU kernels (`gpu`:
 * training, and `evaluate --iw`'s decoder) uses the GPU of `webgpu`: for other work webgpu is wasm, and `auto`
 * does not look for a GPU.
 */
export function initBackend(requested: BackendChoice = 'auto', options: { gpu?: boolean } = {}): Promise<BackendInfo> {
  // A second call while the first is still starting (a prestarted training thread given its work) waits for it.
  if (current) return Promise.resolve(current);
  starting ??= startBackend(requested, options).finally(() => { starting = null; });
  return starting;
}

let starting: Promise<BackendInfo> | null = null;

async function startBackend(requested: BackendChoice, options: { gpu?: boolean }): Promise<BackendInfo> {
  // Production mode: no debug checks, and no "install tfjs-node" banner from the cpu backend.
  tf.enableProdMode();
  if (requested === 'webgpu' && !options.gpu) requested = 'wasm';
  const order: Exclude<BackendChoice, 'auto'>[] =
    requested === 'auto' ? ['tensorflow-gpu', ...(options.gpu ? ['webgpu' as const] : []), 'tensorflow', 'wasm', 'cpu'] : [requested];
  for (const choice of order) {
    const problem = await init(choice, requested === 'auto');
    if (problem === null) {
      await tf.ready();
      current = { choice, tfName: tf.getBackend(), description: describe(choice), threadChoice: choice === 'webgpu' ? 'wasm' : choice };
      return current;
    }
    if (requested !== 'auto') {
      throw new VaeError(`backend '${choice}' is not available (${problem}); to install it: ${INSTALL_HINT[choice] ?? 'it ships with tfjs'}`);
    }
  }
  throw new VaeError('no TensorFlow.js backend could be initialised');
}

/** The backend initBackend chose (training threads start the same one). */
export function currentBackend(): BackendInfo {
  if (!current) throw new Error('initBackend() has not been called');
  return current;
}
