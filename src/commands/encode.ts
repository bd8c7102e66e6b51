import * as fs from 'fs';
import { Command } from 'commander';
import type { Labels } from '../data/folder';
import { VaeError, errorMessage } from '../errors';
import { assertWritableFile } from '../files';
import { codebookIndices } from '../model/generate';
import { encodeAll } from '../model/likelihood';
import { choice, invertMode, positiveInt } from '../options';
import { checkpointOption, informer, invertOption, labelsFor, loadSplit, noInvertOption, openModel, readInputImages } from './common';

export function registerEncode(program: Command, context: { quiet: () => boolean }): void {
  program.command('encode')
    .description('μ and log σ² of q(z|x) per image (an autoencoder: its code; a VQ-VAE: its codebook entries), as CSV: for the given ' +
      'images, or for a split of the data set')
    .argument('[images...]', 'images to encode (PNG, JPEG, WebP, any size)')
    .option('--split <name>', "'test' or 'train': encode that split instead of images", choice(['test', 'train'] as const))
    .option('--limit <n>', 'only the first n images of the split', positiveInt)
    .option('-o, --output <file>', 'CSV file to write (default: standard output)')
    .addOption(checkpointOption())
    .addOption(invertOption('images'))
    .addOption(noInvertOption('images'))
    .action(async (images: string[], flags: { split?: 'test' | 'train'; limit?: number; output?: string; checkpoint?: string;
      invert?: boolean }) => {
      if ((images.length > 0) === (flags.split !== undefined)) throw new VaeError('give either images to encode or --split test|train');
      if (flags.output) assertWritableFile(flags.output);
      const loaded = await openModel(flags.checkpoint, context.quiet());
      const d = loaded.vae.config.zDim;
      const names = loaded.config.data.labelNames ?? [];
      let x: Float32Array;
      let count: number;
      let source: (i: number) => string;
      let label: (i: number) => string = () => '';
      let known: Labels | null = null;
      if (flags.split) {
        const split = await loadSplit(loaded, flags.split, flags.limit);
        ({ x, count } = split);
        source = (i) => `${flags.split}:${i}`;
        if (split.labels) label = (i) => names[split.labels![i]] ?? String(split.labels![i]);
        known = split.labels;
      } else {
        x = await readInputImages(images, loaded, invertMode(flags.invert));
        count = images.length;
        source = (i) => images[i];
      }
      // A cvae encodes q(z|x, y): with the split's labels, or each image's best label (which goes in the label column).
      const given = labelsFor(loaded, x, count, undefined, known, informer(context.quiet()));
      if (!known && given.labels) label = (i) => names[given.labels![i]] ?? String(given.labels![i]);
      const quote = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
      const rows: string[] = [];
      const quantizer = loaded.vae.quantizer;
      if (quantizer) {
        // A quantised code is the codebook entries of its slots.
        const indices = codebookIndices(loaded.vae, x, count);
        const m = quantizer.slots;
        rows.push(['source', 'label', ...Array.from({ length: m }, (_, j) => `index_${j}`)].join(','));
        for (let i = 0; i < count; i++) rows.push([quote(source(i)), quote(label(i)), ...indices.subarray(i * m, (i + 1) * m)].join(','));
      } else {
        const { mu, logvar } = encodeAll(loaded.vae, x, count, given.oneHot);
        // An autoencoder's code is a point: one column per dimension, no variance.
        const point = loaded.vae.pointCode;
        rows.push(['source', 'label', ...Array.from({ length: d }, (_, j) => (point ? `code_${j}` : `mu_${j}`)),
          ...(point ? [] : Array.from({ length: d }, (_, j) => `logvar_${j}`))].join(','));
        for (let i = 0; i < count; i++) {
          rows.push([quote(source(i)), quote(label(i)), ...Array.from(mu.subarray(i * d, (i + 1) * d), (v) => v.toPrecision(6)),
            ...(point ? [] : Array.from(logvar.subarray(i * d, (i + 1) * d), (v) => v.toPrecision(6)))].join(','));
        }
      }
      const csv = rows.join('\n') + '\n';
      if (!flags.output) {
        process.stdout.write(csv);
        return;
      }
      try {
        fs.writeFileSync(flags.output, csv);
      } catch (e) {
        throw new VaeError(`cannot write ${flags.output}: ${errorMessage(e)}`);
      }
      const what = quantizer ? `${quantizer.slots} codebook entries` : `${d} dimensions`;
      if (!context.quiet()) process.stderr.write(`wrote ${flags.output} (${count} codes of ${what})\n`);
    });
}
