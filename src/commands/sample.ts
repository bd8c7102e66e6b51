import { Command } from 'commander';
import { assertPngName } from '../io/files';
import { toTiles, writeImageGrid } from '../io/png';
import { sampleImages } from '../model/generate';
import { openModel, tileShape } from './common';
import { nonNegativeInt, positiveInt } from './options';

export function registerSample(program: Command, context: { quiet: () => boolean }): void {
  program.command('sample')
    .description('draw z ~ N(0, I) and decode each to its mean image: one PNG grid')
    .argument('[out]', 'output PNG', 'samples.png')
    .option('-n, --count <n>', 'number of samples', positiveInt, 64)
    .option('--checkpoint <dir>', 'run folder or checkpoint (default: newest run under checkpoints/)')
    .option('--seed <n>', 'seed for z', nonNegativeInt, 0)
    .option('--cols <n>', 'images per row (default: a square grid)', positiveInt)
    .option('--scale <n>', 'enlarge each pixel n times', positiveInt, 1)
    .action(async (out: string, flags: { count: number; checkpoint?: string; seed: number; cols?: number; scale: number }) => {
      assertPngName(out);
      const loaded = await openModel(flags.checkpoint, context.quiet());
      const images = sampleImages(loaded.vae, flags.count, flags.seed);
      const size = await writeImageGrid(out, toTiles(images, flags.count, loaded.vae.inputDim), tileShape(loaded),
        { cols: flags.cols, scale: flags.scale });
      process.stdout.write(`wrote ${out} (${flags.count} samples, ${size.width}x${size.height})\n`);
    });
}
