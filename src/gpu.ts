/**
 * The WebGPU device, from the `webgpu` package (Dawn's Node bindings; its prebuilt dawn.node is inside the
 * npm package, an optional dependency). Dawn reaches the GPU through Vulkan on Linux (Metal on macOS, D3D12 on
 * Windows), so a Linux machine needs the Vulkan loader (libvulkan1) and its GPU driver's Vulkan driver; Mesa's
 * lavapipe is a software one, found on machines without a GPU (slow, but the same results).
 */
import * as path from 'path';
import { errorMessage } from './errors';
import { Gpu, adapterIdentity, dawnAwait, gpuOfAdapter } from './gpu-device';
import { readJson } from './files';
import { keptFormsFile, keptFormsFolder } from './tune-cache';

let opened: Promise<Gpu> | null = null;
/**
 * Dawn's instance and adapter, held for the life of the process: if the garbage collector took them, Dawn
 * would tear down the device under us (a crash, the first time a large allocation triggered a collection).
 */
const held: unknown[] = [];

/** Loads dawn.node directly: the package's own entry point is an ES module, which jest's require cannot load. */
function loadDawn(): { create(flags: string[]): GPU; globals: Record<string, unknown> } {
  const root = path.dirname(require.resolve('webgpu/package.json'));
  const arch = process.platform === 'darwin' ? 'universal' : process.arch;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(path.join(root, 'dist', `${process.platform}-${arch}`, 'dawn.node'));
}

/** The webgpu package's version (its dawn.node): a new one may compile the kernels otherwise. */
function webgpuVersion(): string {
  return (readJson<{ version: string }>(require.resolve('webgpu/package.json'))).version;
}

/** Why there is no GPU here, in one line that says what is missing. */
export class GpuUnavailable extends Error {}

async function open(): Promise<Gpu> {
  let dawn: ReturnType<typeof loadDawn>;
  try {
    dawn = loadDawn();
  } catch (e) {
    throw new GpuUnavailable(`the webgpu package could not be loaded (${errorMessage(e).split('\n')[0]}); npm install webgpu`);
  }
  // Dawn's constants (GPUBufferUsage, ...) are globals in a browser.
  for (const [name, value] of Object.entries(dawn.globals)) if (!(name in globalThis)) Object.assign(globalThis, { [name]: value });
  // VAE_GPU_PROFILE=1 times each kernel (engine/webgpu/profile.ts): Dawn would round the timestamps to 100 µs.
  const profile = process.env.VAE_GPU_PROFILE === '1';
  // VAE_GPU_UNCHECKED=1 (an experiment the GPU check times): Dawn's robustness off, so that the compiled kernels do
  // not clamp every index into workgroup memory (a min per load in a product's inner loop). Our kernels keep their
  // indices in bounds themselves: the WebGPU tests pass with it.
  // VAE_GPU_F16=1 (an experiment, engine/webgpu/half.ts): the products multiply f16 copies of their operands, on
  // Dawn's subgroup matrices where the adapter has them; those are behind its unsafe APIs, and on NVIDIA f16 is withheld
  // without vulkan_enable_f16_on_nvidia (crbug.com/42251215).
  const half = process.env.VAE_GPU_F16 === '1';
  // The toggles that change the compiled kernels (the tuner's picks are kept per set of them), then the profile's.
  const enabled = [...(process.env.VAE_GPU_UNCHECKED === '1' ? ['disable_robustness'] : []), ...(half ? ['allow_unsafe_apis', 'vulkan_enable_f16_on_nvidia'] : [])];
  const codeFlags = enabled.length > 0 ? [`enable-dawn-features=${enabled.join(',')}`] : [];
  const gpu = dawn.create(profile ? ['disable-dawn-features=timestamp_quantization', ...codeFlags] : codeFlags);
  held.push(gpu);
  const adapter = await dawnAwait(gpu.requestAdapter({ powerPreference: 'high-performance' }));
  if (!adapter) {
    throw new GpuUnavailable(process.platform === 'linux'
      ? 'no WebGPU adapter: Dawn found no Vulkan device (install the Vulkan loader, libvulkan1, and your GPU driver\'s Vulkan driver: ' +
        "NVIDIA's driver includes it, AMD and Intel use mesa-vulkan-drivers)"
      : 'no WebGPU adapter: Dawn found no Metal or D3D12 device (update the GPU driver)');
  }
  held.push(adapter);
  const opened = await gpuOfAdapter(adapter, profile, half);
  const peak = Number(process.env.VAE_GPU_PEAK_TFLOPS);
  if (peak > 0) opened.info.peakTflops = peak;
  const perSubmission = Number(process.env.VAE_GPU_STEPS_PER_SUBMISSION);
  if (Number.isInteger(perSubmission) && perSubmission > 0) opened.info.stepsPerSubmission = perSubmission;
  const tune = process.env.VAE_GPU_TUNE;
  if (tune === '0' || tune === '1') opened.info.tune = tune === '1';
  const tuneSeconds = Number(process.env.VAE_GPU_TUNE_SECONDS);
  if (process.env.VAE_GPU_TUNE_SECONDS && tuneSeconds >= 0) opened.info.tuneSeconds = tuneSeconds;
  // The tuner's picks, kept for this GPU as it is now: its adapter, Dawn's version and the toggles that change the
  // compiled kernels (robustness off; not the profile's timestamps).
  const folder = keptFormsFolder();
  if (folder !== null) opened.kept = keptFormsFile(folder, adapterIdentity(adapter.info, { webgpu: webgpuVersion(), flags: codeFlags }));
  return opened;
}

/** The process's WebGPU device (opened once). Rejects with GpuUnavailable when there is none. */
export function openGpu(): Promise<Gpu> {
  opened ??= open();
  return opened;
}
