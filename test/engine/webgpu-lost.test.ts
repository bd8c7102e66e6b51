/** A GPU that goes away mid-run (device lost, here by destroying it) stops training with one line naming it. */
import * as path from 'path';
import { initBackend } from '../../src/backend';
import { ADAM_DEFAULTS } from '../../src/engine/adam';
import { createWebGpuEngine } from '../../src/engine/engines';
import { VaeError } from '../../src/errors';
import { openGpu } from '../../src/gpu';
import { startRun } from '../../src/train/run';
import { testGpu } from '../helpers/gpu';
import { tmpDir } from '../helpers/tmp';

test('a step after the device is lost fails with a VaeError that says so', async () => {
  if (!(await testGpu())) return expect(process.env.CI).toBeFalsy();
  const backend = await initBackend('webgpu', { gpu: true });
  const run = await startRun({ data: 'mnist', binarize: 'none', hidden: [16], zDim: 3, beta: 1, epochs: 1, batchSize: 10, lr: 1e-3, seed: 1,
    klWarmup: 0, out: path.join(tmpDir(), 'run'), limitTrain: 20, limitTest: 10 });
  const engine = await createWebGpuEngine({ backend, vae: run.vae, adam: run.adam, adamConfig: { lr: 1e-3, ...ADAM_DEFAULTS },
    sizes: { rows: 10, dim: 784, labelDim: 0, zDim: 3, samples: 1, noisy: false } });
  // (Given alone, with no flush after it: the engine submits it once this turn of the event loop ends.)
  await engine.step({ slot: 0, n: 10, beta: 1, samples: 1 }, 1);
  expect(Number.isFinite(engine.stats(0)[0])).toBe(true);
  (await openGpu()).device.destroy();
  await new Promise((resolve) => setTimeout(resolve, 50));
  const failed = engine.step({ slot: 1, n: 10, beta: 1, samples: 1 }, 2);
  await expect(failed).rejects.toBeInstanceOf(VaeError);
  await expect(failed).rejects.toThrow(/GPU/);
  await expect(engine.state()).rejects.toThrow(/GPU/);
}, 60_000);
