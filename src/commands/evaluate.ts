import * as fs from 'fs';
import { Command, Option } from 'commander';
import { currentBackend } from '../backend';
import { evaluateTestSet, importanceOnGpu } from '../engine/evaluate';
import { VaeError } from '../errors';
import { DEFAULT_CHECKPOINT_ROOT, checkRun, newestRun } from '../io/checkpoint';
import { bitsPerDim } from '../model/evaluate';
import { familyOf } from '../model/families/registry';
import { TaskProgress } from '../train/progress';
import { parallelThreads } from '../engine/threads';
import { checkpointOption, loadSplitInputs, modelInputs, openModel } from './common';
import { inputsOf } from '../data/batches';
import { nonNegativeInt, positiveInt } from '../options';

export const DEFAULT_IMPORTANCE_SAMPLES = 1000;

export function registerEvaluate(program: Command, context: { quiet: () => boolean }): void {
  program.command('evaluate')
    .description('test-set negative ELBO, reconstruction, KL and active units (m2: and the test error of its classifier); ' +
      'with --iw the importance-sampled NLL')
    .addOption(checkpointOption())
    .addOption(new Option('--iw [k]', `also estimate the test NLL by importance sampling with K samples per image ` +
      `(Burda et al. 2015; K = ${DEFAULT_IMPORTANCE_SAMPLES} when given without a value)`).argParser(positiveInt))
    .option('--seed <n>', 'seed for the importance samples', nonNegativeInt, 0)
    .option('--threads <n>', 'threads for importance sampling (default: one per core on the wasm and cpu backends)', positiveInt)
    .option('--limit-test <n>', 'use only the first n test images', positiveInt)
    .option('--json', 'print one JSON object instead of text', false)
    .addOption(new Option('--check [run]', 'instead: verify every checkpoint of a run folder (default: the newest run) against the sizes and ' +
      'SHA-256 hashes recorded when it was written; exits 1 if one is damaged'))
    .action(async (flags: { checkpoint?: string; iw?: number | true; seed: number; threads?: number; limitTest?: number; json: boolean;
      check?: string | true }) => {
      if (flags.check !== undefined) return checkRunFolder(flags.check === true ? flags.checkpoint : flags.check);
      const loaded = await openModel(flags.checkpoint, context.quiet(), { codes: true });
      const { data } = loaded.config;
      const test = await loadSplitInputs(loaded, 'test', flags.limitTest);
      const k = flags.iw === true ? DEFAULT_IMPORTANCE_SAMPLES : flags.iw;
      const progress = k ? new TaskProgress(`importance sampling (K=${k})`, test.count, context.quiet()) : null;
      const inputs = loaded.m1 ? inputsOf(modelInputs(loaded, test.x.rows(0, test.count), test.count), loaded.vae.inputDim) : test.x;
      const report = await evaluateTestSet(loaded.vae, inputs, test.labels,
        { importanceSamples: k, seed: flags.seed, threads: flags.threads ?? parallelThreads(currentBackend(), 8),
          onProgress: (done) => progress?.update(done) });
      progress?.stop();
      if (flags.json) {
        process.stdout.write(JSON.stringify({ checkpoint: loaded.checkpointDir, binarize: data.binarize, ...report }) + '\n');
        return;
      }
      const given = (loaded.vae.labelDim > 0 ? ' given the label' : loaded.vae.condition.missing ? ' of the missing part given the rest' : '') +
        (loaded.m1 ? " (of M1's codes, Gaussian)" : '');
      const model = loaded.config.model;
      const lines = [`${loaded.checkpointDir}: ${report.images} test images (binarize ${data.binarize}, ${model.likelihood} p(x|z))`];
      const family = familyOf(model);
      if (!family.traits.kl) {
        // An autoencoder's number is its reconstruction loss; it bounds nothing.
        lines.push(`test reconstruction -log p(x|code) ${report.rec.toFixed(2)} nats (${bitsPerDim(loaded.vae, report.rec).toFixed(4)} bits/dim)` +
          (report.kl !== 0 ? `  ${family.penalty ?? 'sparsity'} penalty ${report.kl.toFixed(4)}` : ''));
      } else {
        lines.push(`test -ELBO${given} ${report.negElbo.toFixed(2)} nats (${report.bitsPerDim.toFixed(4)} bits/dim)  ` +
          `reconstruction ${report.rec.toFixed(2)}  KL ${report.kl.toFixed(2)}`);
      }
      if (report.semi) {
        lines.push(`test -ELBO with the label summed out, U(x): ${report.semi.negElbo.toFixed(2)} nats (${report.semi.bitsPerDim.toFixed(4)} bits/dim)`,
          `classifier q(y|x): test error ${(100 * report.semi.error).toFixed(2)}% (${Math.round(report.semi.error * report.images)} of ${report.images} wrong)`);
      }
      if (report.importance) {
        lines.push(`test NLL${given} ${report.importance.nll.toFixed(2)} nats (${report.importance.bitsPerDim.toFixed(4)} bits/dim), ` +
          `importance sampling with K=${report.importance.k}${importanceOnGpu(loaded.vae) ? ' (the samples decoded on the GPU)' : ''}`);
      }
      if (report.labelAccuracy !== undefined) {
        lines.push(`label with the best conditional ELBO is the true label for ${(100 * report.labelAccuracy).toFixed(2)}% ` +
          `of the images (test error ${(100 * (1 - report.labelAccuracy)).toFixed(2)}%)`);
      }
      if (report.codebook) {
        const { used, size } = report.codebook;
        lines.push(`codebook: ${used} of ${size} entries in use on the test images (${(100 * used / size).toFixed(1)}%)`);
      }
      lines.push(`active units ${report.activeUnits} of ${report.zDim} (Cov over the test set of E[z_u|x] > 0.01)`);
      process.stdout.write(lines.join('\n') + '\n');
    });
}

/** `vae evaluate --check RUN`: a line per checkpoint (newest first), intact or what is damaged; a damaged one fails. */
function checkRunFolder(arg: string | undefined): void {
  const runDir = arg ?? newestRun();
  if (!runDir) throw new VaeError(`no run found under ${DEFAULT_CHECKPOINT_ROOT}/: pass the run folder, vae evaluate --check RUN`);
  if (!fs.existsSync(runDir)) throw new VaeError(`run folder not found: ${runDir}`);
  const checked = checkRun(runDir);
  const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
  process.stdout.write(checked.map((c) => `${c.name}${c.roles.length ? ` (${c.roles.join(', ')})` : ''}: ` +
    (c.damage ? `DAMAGED: ${c.damage}` : c.verified ? `intact, ${c.files} files, ${mb(c.bytes)}` : `${c.files} files, ${mb(c.bytes)}, no checksums (written by an older vae)`))
    .join('\n') + '\n');
  const damaged = checked.filter((c) => c.damage);
  if (damaged.length > 0) {
    throw new VaeError(`${damaged.length} of the ${checked.length} checkpoints of ${runDir} ${damaged.length === 1 ? 'is' : 'are'} damaged` +
      `${damaged.length < checked.length ? '; sample, evaluate, explore and train --resume use the newest intact one' : ''}`);
  }
}
