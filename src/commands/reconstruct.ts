import { Command } from 'commander';
import { VaeError } from '../errors';
import { assertPngName } from '../io/files';
import { Tile, toTiles, writeImageGrid } from '../io/png';
import { reconstructImages } from '../model/generate';
import { Rng } from '../rng';
import { loadSplit, openModel, readInputImages, tileShape } from './common';
import { invertMode, nonNegativeInt, positiveInt } from './options';

const PER_ROW = 8;

export function registerReconstruct(program: Command, context: { quiet: () => boolean }): void {
  program.command('reconstruct')
    .description('originals (upper row) above their reconstructions (lower row), for the given images or n test images')
    .argument('[files...]', 'input images (PNG, JPEG, WebP, any size), then the output PNG (default reconstruction.png)')
    .option('-n, --count <n>', 'number of test images when no images are given', positiveInt, 8)
    .option('--checkpoint <dir>', 'run folder or checkpoint (default: newest run under checkpoints/)')
    .option('--seed <n>', 'which test images (when none are given)', nonNegativeInt, 0)
    .option('--invert', 'invert the input images (dark drawing on light paper); default: detected per image')
    .option('--no-invert', 'never invert the input images')
    .option('--scale <n>', 'enlarge each pixel n times', positiveInt, 1)
    .action(async (files: string[], flags: { count: number; checkpoint?: string; seed: number; invert?: boolean; scale: number }) => {
      const out = files.length > 0 ? files[files.length - 1] : 'reconstruction.png';
      const inputs = files.slice(0, -1);
      assertPngName(out);
      const loaded = await openModel(flags.checkpoint, context.quiet());
      const dim = loaded.vae.inputDim;
      let x: Float32Array;
      let n: number;
      if (inputs.length > 0) {
        n = inputs.length;
        x = await readInputImages(inputs, loaded, invertMode(flags.invert));
      } else {
        const test = loadSplit(loaded, 'test');
        n = flags.count;
        if (n > test.count) throw new VaeError(`the test set has only ${test.count} images`);
        const picked = new Rng(flags.seed, 'reconstruct').permutation(test.count).subarray(0, n);
        x = gatherRows(test.x, picked, dim);
      }
      const recon = reconstructImages(loaded.vae, x, n);
      const originals = toTiles(x, n, dim);
      const reconstructions = toTiles(recon, n, dim);
      // Rows of up to 8: originals, then their reconstructions underneath.
      const cols = Math.min(n, PER_ROW);
      const tiles: Tile[] = [];
      for (let start = 0; start < n; start += cols) {
        for (const row of [originals, reconstructions]) {
          for (let i = start; i < start + cols; i++) tiles.push(row[i] ?? null);
        }
      }
      const size = await writeImageGrid(out, tiles, tileShape(loaded), { cols, scale: flags.scale });
      process.stdout.write(`wrote ${out} (${n} originals and reconstructions, ${size.width}x${size.height})\n`);
    });
}

function gatherRows(matrix: Float32Array, rows: ArrayLike<number>, dim: number): Float32Array {
  const out = new Float32Array(rows.length * dim);
  for (let i = 0; i < rows.length; i++) out.set(matrix.subarray(rows[i] * dim, (rows[i] + 1) * dim), i * dim);
  return out;
}
