/**
 * A WebGPU device as the engine uses it, wherever it comes from: Dawn's Node bindings (gpu.ts, the only part that
 * is Node's) or a browser's navigator.gpu. Nothing here needs Node.
 */

export interface GpuInfo {
  /** "NVIDIA H200 (nvidia, Vulkan)", "llvmpipe: Mesa 25.0.7 (software)" */
  name: string;
  /** A software adapter (lavapipe, SwiftShader): it works, but is no faster than the CPU. */
  software: boolean;
  /** The device times kernels on the GPU (timestamp-query): asked for only under VAE_GPU_PROFILE=1. */
  timestamps: boolean;
  /** The GPU's fp32 peak, TFLOP/s, where the user gave it (VAE_GPU_PEAK_TFLOPS): the profile's yardstick. */
  peakTflops?: number;
  /** Training steps submitted together, where the user set it (VAE_GPU_STEPS_PER_SUBMISSION: the bench compares). */
  stepsPerSubmission?: number;
  /**
   * The step's products are timed in each of their forms before training and the fastest kept (engine/webgpu/tune.ts):
   * by default on a GPU and not on a software adapter; VAE_GPU_TUNE=1 or 0 says otherwise.
   */
  tune?: boolean;
  /** The most seconds the tuner spends before the first step, where the user set it (VAE_GPU_TUNE_SECONDS; default 4). */
  tuneSeconds?: number;
  /**
   * The tiled products multiply f16 copies of their operands (VAE_GPU_F16=1: engine/webgpu/half.ts), on the adapter's
   * subgroup matrices where it has f16 -> f32 ones (`matrix`).
   */
  half?: HalfProducts;
}

/** An f16 → f32 subgroup matrix configuration (M x N results over K), and the subgroup size its kernels run at. */
export interface MatrixShape {
  m: number;
  n: number;
  k: number;
  subgroup: number;
  /** The device's workgroup memory, bytes (the adapter's most: the deep form's tiles may need more than WebGPU's default 16 KiB). */
  workgroupBytes: number;
}

/** How products multiply in half precision (engine/webgpu/half.ts): f16 operands on the matrix units, or rounded to f16 and multiplied in f32. */
export interface HalfProducts {
  matrix?: MatrixShape;
}

export interface Gpu {
  device: GPUDevice;
  info: GpuInfo;
  /** Where the tuner's picks are kept between runs on this GPU (tune-cache.ts under Node, web/train/kept-forms.ts in a page). */
  kept?: KeptForms;
}

/** A product's form as an earlier run on this GPU picked it: its index in TILE_FORMS, and each distinct form's µs a dispatch. */
export interface KeptForm {
  form: number;
  /** In the order of the product's distinct forms (tune.ts: distinctForms); null where a form could not run. */
  us: (number | null)[];
}

/**
 * The forms the tuner picked on one GPU (its adapter and driver, and what compiles the kernels: Dawn's version and
 * toggles, or the browser's), each under a key that says what was timed (the product's forms' text and workgroups,
 * the rows), kept between runs.
 */
export interface KeptForms {
  /** The forms kept for these keys, undefined where none is. Never fails: an unreadable store keeps nothing. */
  load(keys: string[]): Promise<(KeptForm | undefined)[]>;
  /** Keeps these with the others (a failure rejects, with why). */
  keep(entries: [string, KeptForm][]): Promise<void>;
}

/**
 * A GPU's identity, under which the tuner's picks are kept: the adapter (its description names the driver) and what
 * compiles the kernels (`compiler`: Dawn's version and toggles, or the browser).
 */
export function adapterIdentity(info: GPUAdapterInfo, compiler: Record<string, unknown>): string {
  const { vendor, architecture, device, description } = info;
  return JSON.stringify({ vendor, architecture, device, description, ...compiler });
}

/**
 * Waits for a promise of Dawn's. Some of them (popErrorScope) do not keep Node's event loop alive, and Node
 * would exit while they are pending: a timer holds it until they settle (harmless in a browser).
 */
export async function dawnAwait<T>(promise: Promise<T>): Promise<T> {
  const hold = setInterval(() => undefined, 1000);
  try {
    return await promise;
  } finally {
    clearInterval(hold);
  }
}

/**
 * The device the engine trains on, from an adapter (Dawn's under Node, navigator.gpu's in a page): the adapter's
 * largest storage buffers (the engine keeps a model in one), and timestamp queries when asked for and there.
 */
export async function gpuOfAdapter(adapter: GPUAdapter, profile = false, half = false): Promise<Gpu> {
  const info = adapter.info;
  const software = /software|llvmpipe|lavapipe|swiftshader/i.test(`${info.architecture} ${info.description} ${info.device}`);
  const limits = adapter.limits;
  const timestamps = profile && adapter.features.has('timestamp-query');
  const matrix = half ? halfMatrices(adapter) : undefined;
  const device = await dawnAwait(adapter.requestDevice({
    requiredFeatures: [...(timestamps ? ['timestamp-query' as const] : []), ...(matrix ? MATRIX_FEATURES : [])] as GPUFeatureName[],
    requiredLimits: {
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      ...(matrix ? { maxComputeWorkgroupStorageSize: matrix.workgroupBytes } : {}),
    },
  }));
  const description = info.description || [info.vendor, info.device].filter(Boolean).join(' ') || 'unknown GPU';
  return { device, info: { name: `${description} (${software ? 'software' : info.vendor || 'GPU'})`, software, timestamps,
    ...(half ? { half: matrix ? { matrix } : {} } : {}) } };
}

/** What a device needs for f16 subgroup matrices (Dawn's, experimental: behind its allow_unsafe_apis toggle). */
const MATRIX_FEATURES = ['chromium-experimental-subgroup-matrix', 'subgroups', 'shader-f16'];

/**
 * The adapter's f16 -> f32 subgroup matrix configuration (16 x 16 x 16 where it has it: an NVIDIA GPU's tensor
 * cores), with the subgroup size its kernels run at; undefined where it has none, or not the features they need.
 */
function halfMatrices(adapter: GPUAdapter): MatrixShape | undefined {
  if (!MATRIX_FEATURES.every((f) => adapter.features.has(f))) return undefined;
  const info = adapter.info as GPUAdapterInfo & { subgroupMatrixConfigs?: { componentType: string; resultComponentType: string; M: number; N: number; K: number }[];
    subgroupMaxSize?: number };
  const configs = (info.subgroupMatrixConfigs ?? []).filter((c) => c.componentType === 'f16' && c.resultComponentType === 'f32');
  const c = configs.find((x) => x.M === 16 && x.N === 16 && x.K === 16) ?? configs[0];
  return c && info.subgroupMaxSize
    ? { m: c.M, n: c.N, k: c.K, subgroup: info.subgroupMaxSize, workgroupBytes: adapter.limits.maxComputeWorkgroupStorageSize } : undefined;
}
