import { Command } from 'commander';
import { testMatrix } from '../data/batches';
import { datasetSpec, loadDataset } from '../data/datasets';
import { evaluateElbo } from '../model/evaluate';
import { openModel } from './common';
import { positiveInt } from './options';

export function registerEvaluate(program: Command, context: { quiet: () => boolean }): void {
  program.command('evaluate')
    .description('test-set negative ELBO, reconstruction and KL, in nats per example')
    .option('--checkpoint <dir>', 'run folder or checkpoint (default: newest run under checkpoints/)')
    .option('--limit-test <n>', 'use only the first n test images', positiveInt)
    .option('--json', 'print one JSON object instead of text', false)
    .action(async (flags: { checkpoint?: string; limitTest?: number; json: boolean }) => {
      const loaded = await openModel(flags.checkpoint, context.quiet());
      const { data } = loaded.config;
      const test = loadDataset(datasetSpec(data), { limitTest: flags.limitTest }).test;
      const terms = await evaluateElbo(loaded.vae, testMatrix(test, loaded.vae.inputDim, data.binarize), test.count);
      const dims = loaded.vae.inputDim;
      const result = { checkpoint: loaded.checkpointDir, images: test.count, binarize: data.binarize, ...terms,
        bitsPerDim: terms.negElbo / (dims * Math.LN2) };
      if (flags.json) {
        process.stdout.write(JSON.stringify(result) + '\n');
      } else {
        process.stdout.write(`${loaded.checkpointDir}: ${test.count} test images (binarize ${data.binarize})\n` +
          `test -ELBO ${terms.negElbo.toFixed(2)} nats (${result.bitsPerDim.toFixed(4)} bits/dim)  ` +
          `reconstruction ${terms.rec.toFixed(2)}  KL ${terms.kl.toFixed(2)}\n`);
      }
    });
}
