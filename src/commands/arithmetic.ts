import { Command } from 'commander';
import { VaeError } from '../errors';
import { assertPngName } from '../files';
import { toTiles, writeImageGrid } from '../io/png';
import { decodeCodes, encodeMeans } from '../model/generate';
import { attributeVector } from '../model/latent';
import { encodeAll } from '../model/likelihood';
import { atLeastTwo, invertMode, positiveInt } from '../options';
import { checkpointOption, invertOption, labelIndex, loadSplit, noInvertOption, openModel, readInputImages, requireModel, scaleOption,
  tileShape } from './common';

export function registerArithmetic(program: Command, context: { quiet: () => boolean }): void {
  program.command('arithmetic')
    .description('attribute vectors: z_attr = mean code of training images labelled A − mean code of those labelled B ' +
      '(or not A); decode μ(image) + α·z_attr for α from 0 to 1, a strip after the prepared input')
    .argument('<image>', 'input image (PNG, JPEG, WebP, any size)')
    .argument('[out]', 'output PNG', 'arithmetic.png')
    .requiredOption('--add <label>', 'the attribute to add: a label name or index')
    .option('--sub <label>', 'the attribute to take away (default: every label but --add)')
    .option('--steps <n>', 'values of α from 0 to 1', atLeastTwo, 8)
    .option('--limit-train <n>', 'training images used for the mean codes', positiveInt, 20000)
    .addOption(checkpointOption())
    .addOption(invertOption('image'))
    .addOption(noInvertOption('image'))
    .addOption(scaleOption(1))
    .action(async (image: string, out: string, flags: { add: string; sub?: string; steps: number; limitTrain: number;
      checkpoint?: string; invert?: boolean; scale: number }) => {
      assertPngName(out);
      const loaded = await openModel(flags.checkpoint, context.quiet());
      requireModel(loaded, 'arithmetic', {});
      const add = labelIndex(loaded, flags.add);
      const sub = flags.sub === undefined ? undefined : labelIndex(loaded, flags.sub);
      if (sub === add) throw new VaeError('--add and --sub name the same label');
      const train = await loadSplit(loaded, 'train', flags.limitTrain);
      if (!train.labels) throw new VaeError('this data set has no labels to take attributes from');
      const d = loaded.vae.config.zDim;
      const direction = attributeVector(encodeAll(loaded.vae, train.x, train.count).mu, train.labels, d, add, sub);
      const x = await readInputImages([image], loaded, invertMode(flags.invert));
      const z = encodeMeans(loaded.vae, x, 1);
      const codes = new Float32Array(flags.steps * d);
      for (let s = 0; s < flags.steps; s++) {
        const alpha = s / (flags.steps - 1);
        for (let j = 0; j < d; j++) codes[s * d + j] = z[j] + alpha * direction[j];
      }
      const dim = loaded.vae.inputDim;
      const tiles = [x, ...toTiles(decodeCodes(loaded.vae, codes, flags.steps), flags.steps, dim)];
      const size = await writeImageGrid(out, tiles, tileShape(loaded), { cols: tiles.length, scale: flags.scale });
      const names = loaded.config.data.labelNames ?? [];
      process.stdout.write(`wrote ${out} (+${names[add]}${sub === undefined ? '' : ` −${names[sub]}`}, α from 0 to 1 in ` +
        `${flags.steps} steps; ${size.width}x${size.height})\n`);
    });
}
