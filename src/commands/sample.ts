import { Command } from 'commander';
import { VaeError } from '../errors';
import { assertPngName } from '../files';
import { toTiles, writeImageGrid } from '../io/png';
import { decodeWithEveryLabel, repeatedOneHot, sampleImages } from '../model/generate';
import { Rng } from '../rng';
import { checkpointOption, labelIndex, labelName, openModel, requireModel, requirePrior, scaleOption, tileShape } from './common';
import { nonNegativeInt, positiveInt } from '../options';

interface SampleFlags {
  count: number;
  checkpoint?: string;
  seed: number;
  cols?: number;
  scale: number;
  label?: string;
  perClass?: number;
}

export function registerSample(program: Command, context: { quiet: () => boolean }): void {
  program.command('sample')
    .description('draw z ~ N(0, I) and decode each to its mean image: one PNG grid (a cvae: of a given label, or one row per label)')
    .argument('[out]', 'output PNG', 'samples.png')
    .option('-n, --count <n>', 'number of samples', positiveInt, 64)
    .option('--label <y>', 'cvae: draw images of this label (a name such as 7 or Sneaker, or its index)')
    .option('--per-class <n>', 'cvae: n images of every label, one row per label, named on the left (the same z down each column)',
      positiveInt)
    .addOption(checkpointOption())
    .option('--seed <n>', 'seed for z', nonNegativeInt, 0)
    .option('--cols <n>', 'images per row (default: a square grid)', positiveInt)
    .addOption(scaleOption(1))
    .action(async (out: string, flags: SampleFlags) => {
      assertPngName(out);
      const loaded = await openModel(flags.checkpoint, context.quiet(), { codes: true });
      requireModel(loaded, 'sample', { label: true });
      requirePrior(loaded, 'sample');
      const { vae } = loaded;
      const classes = vae.labelDim;
      if (flags.label !== undefined && flags.perClass !== undefined) throw new VaeError('give either --label or --per-class, not both');
      if (classes === 0 && (flags.label !== undefined || flags.perClass !== undefined)) {
        throw new VaeError('--label and --per-class are for a cvae conditioned on the label; this model takes none');
      }
      let images: Float32Array;
      let count: number;
      let cols = flags.cols;
      let rowLabels: string[] | undefined;
      let what: string;
      if (flags.perClass !== undefined) {
        const per = flags.perClass;
        count = classes * per;
        images = decodeWithEveryLabel(vae, new Rng(flags.seed, 'sample').normals(per * vae.config.zDim), per);
        cols = per;
        rowLabels = Array.from({ length: classes }, (_, y) => labelName(loaded, y));
        what = `${per} per label for ${classes} labels`;
      } else {
        count = flags.count;
        if (classes > 0) {
          const y = flags.label !== undefined ? labelIndex(loaded, flags.label) : undefined;
          if (y === undefined) throw new VaeError(`this cvae draws images of a label: pass --label (${loaded.config.data.labelNames?.join(', ')}) or --per-class N`);
          images = sampleImages(vae, count, flags.seed, repeatedOneHot([y], count, classes));
          what = `${count} samples of label ${labelName(loaded, y)}`;
        } else {
          images = sampleImages(vae, count, flags.seed);
          what = `${count} samples`;
        }
      }
      // An M1+M2 model samples M1's codes; M1's decoder draws them.
      if (loaded.m1) images = loaded.m1.decode(images, count);
      const shape = tileShape(loaded);
      const size = await writeImageGrid(out, toTiles(images, count, shape.height * shape.width * shape.channels), shape,
          { cols, scale: flags.scale, rowLabels });
      process.stdout.write(`wrote ${out} (${what}, ${size.width}x${size.height})\n`);
    });
}
