import { BackendChoice, initBackend } from '../../src/backend';

/** Tests run on what `auto` picks (wasm on machines without libtensorflow), or on VAE_TEST_BACKEND. */
export async function useTestBackend(): Promise<void> {
  await initBackend((process.env.VAE_TEST_BACKEND as BackendChoice | undefined) ?? 'auto');
}
