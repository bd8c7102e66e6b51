import { Command } from 'commander';
import { VaeError } from '../errors';
import { assertPngName } from '../files';
import { toTiles, writeImageGrid } from '../io/png';
import { decodeCodes, repeatedOneHot } from '../model/generate';
import { manifoldCodes, principalPlane, unitVector } from '../model/latent';
import { encodeAll } from '../model/likelihood';
import { checkpointOption, dataLabels, labelIndex, loadSplit, openModel, requireModel, requirePrior, scaleOption, tileShape } from './common';
import { positiveInt } from '../options';

function dimsPair(value: string): [number, number] {
  const m = /^(\d+),(\d+)$/.exec(value.trim());
  if (!m || m[1] === m[2]) throw new VaeError(`--dims takes two different latent dimensions, such as 0,1 (got '${value}')`);
  return [Number(m[1]), Number(m[2])];
}

export function registerManifold(program: Command, context: { quiet: () => boolean }): void {
  program.command('manifold')
    .description('decode a grid of codes through the inverse normal CDF (Kingma & Welling 2013, Fig. 4): the 2-D ' +
      'latent space, or two dimensions of a larger one (default: the two main principal directions of the test codes)')
    .argument('[out]', 'output PNG', 'manifold.png')
    .option('--dims <i,j>', 'two latent dimensions (0-based) to walk along, the others at 0')
    .option('--size <n>', 'images per side of the grid', positiveInt, 20)
    .option('--label <y>', 'cvae: decode every code with this label (name or index)')
    .addOption(checkpointOption())
    .addOption(scaleOption(1))
    .action(async (out: string, flags: { dims?: string; size: number; label?: string; checkpoint?: string; scale: number }) => {
      assertPngName(out);
      if (flags.size < 2) throw new VaeError('--size must be at least 2');
      const loaded = await openModel(flags.checkpoint, context.quiet());
      requireModel(loaded, 'manifold', { label: true });
      requirePrior(loaded, 'manifold');
      if (loaded.vae.labelDim > 0 && flags.label === undefined) {
        throw new VaeError(`this cvae decodes a label: pass --label (${loaded.config.data.labelNames?.join(', ')})`);
      }
      const d = loaded.vae.config.zDim;
      let axes: [ArrayLike<number>, ArrayLike<number>];
      let scales: [number, number] = [1, 1];
      let what: string;
      if (flags.dims !== undefined || d === 2) {
        const [i, j] = flags.dims !== undefined ? dimsPair(flags.dims) : [0, 1];
        if (i >= d || j >= d) throw new VaeError(`--dims ${i},${j}: the latent space has dimensions 0 to ${d - 1}`);
        axes = [unitVector(d, i), unitVector(d, j)];
        what = `latent dimensions ${i} (across) and ${j} (up), the others 0`;
      } else {
        const test = await loadSplit(loaded, 'test');
        const { directions, variances } = principalPlane(encodeAll(loaded.vae, test.x, test.count, dataLabels(loaded, test.labels)).mu, test.count, d);
        axes = [directions[0], directions[1]];
        scales = [Math.sqrt(variances[0]), Math.sqrt(variances[1])];
        what = 'the two main principal directions of the test codes (scaled by their spread), the others 0';
      }
      const codes = manifoldCodes(d, flags.size, axes[0], axes[1], scales[0], scales[1]);
      const count = flags.size * flags.size;
      if (flags.label !== undefined && loaded.vae.labelDim === 0) throw new VaeError('--label is for a cvae conditioned on the label');
      const labels = flags.label !== undefined ? repeatedOneHot([labelIndex(loaded, flags.label)], count, loaded.vae.labelDim) : undefined;
      const size = await writeImageGrid(out, toTiles(decodeCodes(loaded.vae, codes, count, labels), count, loaded.vae.inputDim),
        tileShape(loaded), { cols: flags.size, pad: 0, scale: flags.scale });
      process.stdout.write(`wrote ${out} (${flags.size}x${flags.size} grid along ${what}; ${size.width}x${size.height})\n`);
    });
}
