import { Command } from 'commander';
import { assertPngName } from '../files';
import { writeLatentMap } from '../io/plots';
import { principalPlane } from '../model/latent';
import { encodeAll } from '../model/likelihood';
import { checkpointOption, dataLabels, loadSplit, openModel, requireModel } from './common';
import { positiveInt } from '../options';

export function registerLatentMap(program: Command, context: { quiet: () => boolean }): void {
  program.command('latent-map')
    .description("the test set's codes (μ) as a scatter plot coloured by label: the 2-D latent space, or the codes " +
      'projected on their two main principal directions')
    .argument('[out]', 'output PNG', 'latent-map.png')
    .addOption(checkpointOption())
    .option('--limit-test <n>', 'plot only the first n test images', positiveInt)
    .action(async (out: string, flags: { checkpoint?: string; limitTest?: number }) => {
      assertPngName(out);
      const loaded = await openModel(flags.checkpoint, context.quiet());
      requireModel(loaded, 'latent-map', { label: true, region: true });
      const d = loaded.vae.config.zDim;
      const test = await loadSplit(loaded, 'test', flags.limitTest);
      const { mu } = encodeAll(loaded.vae, test.x, test.count, dataLabels(loaded, test.labels));
      const names = loaded.config.data.labelNames ?? [];
      let project = (i: number): [number, number] => [mu[i * d], d > 1 ? mu[i * d + 1] : 0];
      let axes: [string, string] = ['z₁', 'z₂'];
      if (d > 2) {
        const { mean, directions, variances, totalVariance: total } = principalPlane(mu, test.count, d);
        project = (i) => directions.map((u) => u.reduce((a, v, j) => a + v * (mu[i * d + j] - mean[j]), 0)) as [number, number];
        axes = variances.map((v, c) => `principal direction ${c + 1} (${((100 * v) / total).toFixed(0)}% of the variance)`) as [string, string];
      }
      const points = Array.from({ length: test.count }, (_, i) => {
        const [x, y] = project(i);
        const label = test.labels ? names[test.labels[i]] ?? String(test.labels[i]) : 'unlabelled';
        return { x, y, label };
      });
      const size = await writeLatentMap(points, out, axes, names);
      process.stdout.write(`wrote ${out} (${test.count} test codes${d > 2 ? ', projected by PCA' : ''}; ${size.width}x${size.height})\n`);
    });
}
