import { Command } from 'commander';
import { Tile, toTiles, writeImageGrid } from '../io/png';
import { oneHot } from '../model/condition';
import { decodeCodes, encodeMeans, repeatRows } from '../model/generate';
import { checkpointOption, informer, inputsAndOutput, invertOption, labelName, labelsFor, noInvertOption, openModel, pickTestImages,
  readInputImages, requireModel, scaleOption, tileShape } from './common';
import { invertMode, nonNegativeInt, positiveInt } from '../options';

interface AnalogyFlags {
  count: number;
  label?: string;
  checkpoint?: string;
  seed: number;
  invert?: boolean;
  scale: number;
}

export function registerAnalogy(program: Command, context: { quiet: () => boolean }): void {
  program.command('analogy')
    .description('cvae: encode the style of each image with its label, then decode that z with every label ' +
      '(one row per image: the same handwriting in every class, as in Kingma et al. 2014, Fig. 1)')
    .argument('[files...]', 'input images (PNG, JPEG, WebP, any size), then the output PNG (default analogy.png)')
    .option('--label <y>', "the inputs' label (name or index); default: the label whose conditional ELBO is best")
    .option('-n, --count <n>', 'number of test images (with their true labels) when no images are given', positiveInt, 8)
    .addOption(checkpointOption())
    .option('--seed <n>', 'which test images (when none are given)', nonNegativeInt, 0)
    .addOption(invertOption('images'))
    .addOption(noInvertOption('images'))
    .addOption(scaleOption(2))
    .action(async (files: string[], flags: AnalogyFlags) => {
      const { inputs, out } = inputsAndOutput(files, 'analogy.png');
      const loaded = await openModel(flags.checkpoint, context.quiet());
      requireModel(loaded, 'analogy', { label: true, unconditional: false });
      const { vae } = loaded;
      const classes = vae.labelDim;
      const dim = vae.inputDim;
      const picked = inputs.length > 0
        ? { x: await readInputImages(inputs, loaded, invertMode(flags.invert)), labels: null }
        : await pickTestImages(loaded, flags.count, flags.seed);
      const n = inputs.length > 0 ? inputs.length : flags.count;
      const given = labelsFor(loaded, picked.x, n, flags.label, picked.labels,
        informer(context.quiet()));
      // Style z = μ(x, y); then the same z with every label.
      const z = encodeMeans(vae, picked.x, n, given.oneHot);
      const all = Array.from({ length: classes }, (_, y) => y);
      const everyLabel = oneHot(Array.from({ length: n * classes }, (_, r) => r % classes), classes);
      const decoded = toTiles(decodeCodes(vae, repeatRows(z, n, vae.config.zDim, classes), n * classes, everyLabel), n * classes, dim);
      const originals = toTiles(picked.x, n, dim);
      const tiles: Tile[] = [];
      for (let i = 0; i < n; i++) tiles.push(originals[i], ...decoded.slice(i * classes, (i + 1) * classes));
      const size = await writeImageGrid(out, tiles, tileShape(loaded), {
        cols: classes + 1, scale: flags.scale,
        rowLabels: given.labels!.map((y) => labelName(loaded, y)),
        colLabels: ['', ...all.map((y) => labelName(loaded, y))],
      });
      process.stdout.write(`wrote ${out} (${n} image${n > 1 ? 's' : ''}, each decoded with all ${classes} labels, ${size.width}x${size.height})\n`);
    });
}
