/**
 * Choosing the TensorFlow.js backend. `auto` prefers CUDA (tfjs-node-gpu), then the native TensorFlow
 * library (tfjs-node), then WebAssembly, then plain JavaScript. The native packages are optional
 * dependencies: where their install script could not download libtensorflow they are simply absent.
 */
import * as tf from '@tensorflow/tfjs';
import { VaeError, errorMessage } from './errors';
import { nativeProblem } from './native';
import { nativeKernelsIsa, useNativeKernels } from './native-kernels';

export const BACKEND_CHOICES = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export interface BackendInfo {
  /** The choice that was made (never 'auto'). */
  choice: Exclude<BackendChoice, 'auto'>;
  /** tf.getBackend(): 'tensorflow', 'wasm' or 'cpu'. */
  tfName: string;
  /** One line for people: which backend and what it runs on. */
  description: string;
}

const INSTALL_HINT: Record<string, string> = {
  'tensorflow-gpu': 'npm install @tensorflow/tfjs-node-gpu (needs CUDA and cuDNN, and network access to download libtensorflow)',
  tensorflow: 'npm install @tensorflow/tfjs-node (needs network access to download libtensorflow)',
  wasm: 'npm install @tensorflow/tfjs-backend-wasm',
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

async function init(choice: Exclude<BackendChoice, 'auto'>): Promise<string | null> {
  switch (choice) {
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
  }
}

/** Initialises the backend once per process; later calls return the first result. */
export async function initBackend(requested: BackendChoice = 'auto'): Promise<BackendInfo> {
  if (current) return current;
  // Production mode: no debug checks, and no "install tfjs-node" banner from the cpu backend.
  tf.enableProdMode();
  const order: Exclude<BackendChoice, 'auto'>[] =
    requested === 'auto' ? ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] : [requested];
  for (const choice of order) {
    const problem = await init(choice);
    if (problem === null) {
      await tf.ready();
      current = { choice, tfName: tf.getBackend(), description: describe(choice) };
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
