/** A thread of vaeImportanceWeightedParallel: the model from the given parameters, L_K for its images. */
import { parentPort } from 'worker_threads';
import { initBackend } from '../backend';
import { flatLayout, writeVariables } from '../train/flat';
import { ImportanceJob, vaeImportanceWeighted } from './likelihood';
import { Vae } from './vae';

parentPort!.once('message', (job: ImportanceJob) => {
  (async () => {
    await initBackend(job.backend);
    const vae = Vae.create(job.model, 0);
    const variables = vae.trainableVariables();
    writeVariables(variables, flatLayout(variables), job.params);
    const bounds = vaeImportanceWeighted(vae, job.x, job.n, job.labels, { k: job.k, seed: job.seed, indexOffset: job.indexOffset,
      onProgress: (done) => parentPort!.postMessage({ progress: done }) });
    parentPort!.postMessage({ bounds });
  })().catch((e: unknown) => parentPort!.postMessage({ error: e instanceof Error ? e.message : String(e) }));
});
