import { Command } from 'commander';
import { Tile, toTiles, writeImageGrid } from '../io/png';
import { maskImages } from '../model/condition';
import { sampleCompletions } from '../model/generate';
import { checkpointOption, inputsAndOutput, invertOption, noInvertOption, openModel, pickTestImages, readInputImages, requireModel,
  scaleOption, tileShape } from './common';
import { invertMode, nonNegativeInt, positiveInt } from '../options';

interface CompleteFlags {
  count: number;
  testImages: number;
  checkpoint?: string;
  seed: number;
  invert?: boolean;
  fit?: boolean;
  scale: number;
}

export function registerComplete(program: Command, context: { quiet: () => boolean }): void {
  program.command('complete')
    .description('cvae trained with --condition left-half|top-half|centre: draw completions of partly seen images ' +
      '(one row per image: the input, the part the model is given, then the completions)')
    .argument('[files...]', 'input images (only the observed part is used), then the output PNG (default completions.png)')
    .option('-n, --count <n>', 'completions per image, each from its own z ~ N(0, I)', positiveInt, 8)
    .option('--test-images <n>', 'number of test images when no images are given', positiveInt, 4)
    .addOption(checkpointOption())
    .option('--seed <n>', 'seed for z (and which test images)', nonNegativeInt, 0)
    .addOption(invertOption('images'))
    .addOption(noInvertOption('images'))
    .option('--fit', "fit each drawing into the frame the way MNIST was prepared (default for images not of the model's size)")
    .option('--no-fit', "take each image as framed like the data, only resized (default for images of the model's size, e.g. 28 x 28)")
    .addOption(scaleOption(2))
    .action(async (files: string[], flags: CompleteFlags) => {
      const { inputs, out } = inputsAndOutput(files, 'completions.png');
      const loaded = await openModel(flags.checkpoint, context.quiet());
      requireModel(loaded, 'complete', { region: true, unconditional: false });
      const { vae } = loaded;
      const dim = vae.inputDim;
      const n = inputs.length > 0 ? inputs.length : flags.testImages;
      const x = inputs.length > 0 ? await readInputImages(inputs, loaded, invertMode(flags.invert), flags.fit ?? 'auto')
        : (await pickTestImages(loaded, n, flags.seed)).x;
      const completions = toTiles(sampleCompletions(vae, x, n, flags.count, flags.seed), n * flags.count, dim);
      const originals = toTiles(x, n, dim);
      const given = toTiles(maskImages(x, n, dim, vae.condition.missing!), n, dim);
      const tiles: Tile[] = [];
      for (let i = 0; i < n; i++) tiles.push(originals[i], given[i], ...completions.slice(i * flags.count, (i + 1) * flags.count));
      const size = await writeImageGrid(out, tiles, tileShape(loaded), {
        cols: flags.count + 2, scale: flags.scale,
        colLabels: [inputs.length > 0 ? 'input' : 'true', 'given', ...Array.from({ length: flags.count }, (_, i) => String(i + 1))],
      });
      process.stdout.write(`wrote ${out} (${n} image${n > 1 ? 's' : ''}: input, the observed part, ${flags.count} completions; ` +
        `${size.width}x${size.height})\n`);
    });
}
