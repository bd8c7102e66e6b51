import { Command } from 'commander';
import { assertPngName } from '../files';
import { toTiles, writeImageGrid } from '../io/png';
import { decodeCodes, encodeMeans, interpolateCodes } from '../model/generate';
import { checkpointOption, informer, invertOption, labelName, labelsFor, noInvertOption, openModel, readInputImages, requireModel,
  scaleOption, tileShape } from './common';
import { atLeastTwo, invertMode } from '../options';

export function registerInterpolate(program: Command, context: { quiet: () => boolean }): void {
  program.command('interpolate')
    .description('encode two images (μ) and decode points between them: a strip from a to b, the prepared inputs at its ends')
    .argument('<a>', 'first image (PNG, JPEG, WebP, any size)')
    .argument('<b>', 'second image')
    .argument('[out]', 'output PNG', 'interpolation.png')
    .option('--steps <n>', 'decoded points from a to b, both ends included', atLeastTwo, 10)
    .option('--slerp', 'follow the great circle between the codes instead of the straight line', false)
    .option('--label <y>', "cvae: decode every step with this label (name or index); default: each end's best label, " +
      'blended along the way')
    .addOption(checkpointOption())
    .addOption(invertOption('images'))
    .addOption(noInvertOption('images'))
    .addOption(scaleOption(1))
    .action(async (a: string, b: string, out: string,
      flags: { steps: number; slerp: boolean; label?: string; checkpoint?: string; invert?: boolean; scale: number }) => {
      assertPngName(out);
      const loaded = await openModel(flags.checkpoint, context.quiet());
      requireModel(loaded, 'interpolate', { label: true });
      const { vae } = loaded;
      const x = await readInputImages([a, b], loaded, invertMode(flags.invert));
      const given = labelsFor(loaded, x, 2, flags.label, null, informer(context.quiet()));
      const mu = encodeMeans(vae, x, 2, given.oneHot);
      if (vae.quantizer) informer(context.quiet())('interpolating between the quantised codes of the two images (codebook entries); the points between them are not quantised');
      const z = vae.config.zDim;
      const codes = interpolateCodes(mu.subarray(0, z), mu.subarray(z, 2 * z), flags.steps, flags.slerp);
      // A cvae's label goes from a's to b's along with z (the same label throughout with --label).
      const classes = vae.labelDim;
      const labels = given.oneHot && interpolateCodes(given.oneHot.subarray(0, classes), given.oneHot.subarray(classes), flags.steps);
      const decoded = decodeCodes(vae, codes, flags.steps, labels);
      const [inA, inB] = toTiles(x, 2, vae.inputDim);
      const tiles = [inA, ...toTiles(decoded, flags.steps, vae.inputDim), inB];
      const size = await writeImageGrid(out, tiles, tileShape(loaded), { cols: tiles.length, scale: flags.scale });
      const ends = given.labels ? `, labels ${given.labels.map((y) => labelName(loaded, y)).join(' to ')}` : '';
      process.stdout.write(`wrote ${out} (${flags.steps} steps${flags.slerp ? ', slerp' : ''}${ends}, ${size.width}x${size.height})\n`);
    });
}
