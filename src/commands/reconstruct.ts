import { Command } from 'commander';
import { VaeError } from '../errors';
import { Tile, toTiles, writeImageGrid } from '../io/png';
import { maskImages } from '../model/condition';
import { reconstructImages, sampleCompletions } from '../model/generate';
import { checkpointOption, informer, inputsAndOutput, invertOption, labelsFor, noInvertOption, openModel, pickTestImages, readInputImages,
  scaleOption, tileShape } from './common';
import { choice, invertMode, nonNegativeFloat, nonNegativeInt, positiveInt } from '../options';
import { DEFAULT_NOISE_LEVEL, NOISE_KINDS, NoiseConfig, NoiseKind, corrupt, noiseConfig } from '../data/noise';
import { Rng } from '../rng';

const PER_ROW = 8;

interface ReconstructFlags {
  count: number; checkpoint?: string; seed: number; label?: string; invert?: boolean; scale: number;
  noise?: NoiseKind | 'none'; noiseLevel?: number;
}

/** The corruption to show: --noise, else a denoising autoencoder's own; none with --noise none. */
function noiseFor(trained: NoiseConfig | undefined, flags: ReconstructFlags): NoiseConfig | null {
  if (flags.noise === 'none') return null;
  const kind = flags.noise ?? trained?.kind;
  if (!kind) {
    if (flags.noiseLevel !== undefined) throw new VaeError('--noise-level needs --noise (gaussian, salt-pepper or mask)');
    return null;
  }
  return noiseConfig(kind, flags.noiseLevel ?? (trained?.kind === kind ? trained.level : undefined));
}
/** Completions drawn from the prior beside each reconstruction of a completion model. */
const COMPLETIONS = 5;

export function registerReconstruct(program: Command, context: { quiet: () => boolean }): void {
  program.command('reconstruct')
    .description('originals (upper row) above their reconstructions (lower row), for the given images or n test images ' +
      '(with --noise, or for a denoising autoencoder: originals, noisy inputs, reconstructions); ' +
      'for a completion cvae one row per image: original, observed part, reconstruction, completions')
    .argument('[files...]', 'input images (PNG, JPEG, WebP, any size), then the output PNG (default reconstruction.png)')
    .option('-n, --count <n>', 'number of test images when no images are given', positiveInt, 8)
    .addOption(checkpointOption())
    .option('--seed <n>', 'which test images (when none are given)', nonNegativeInt, 0)
    .option('--label <y>', "cvae: the inputs' label (name or index); default: the test images' labels, or for your images the label whose conditional ELBO is best")
    .addOption(invertOption('images'))
    .addOption(noInvertOption('images'))
    .addOption(scaleOption(1))
    .option('--noise <kind>', `corrupt the inputs first (${NOISE_KINDS.join(', ')}; default for a denoising autoencoder: its training noise) ` +
      "and show them between the originals and the reconstructions; 'none' for a dae's clean inputs", choice([...NOISE_KINDS, 'none'] as const))
    .option('--noise-level <p>', 'with --noise: the standard deviation (gaussian) or the share of pixels hit (default: the model\'s, else ' +
      `${NOISE_KINDS.map((k) => `${k} ${DEFAULT_NOISE_LEVEL[k]}`).join(', ')})`, nonNegativeFloat)
    .action(async (files: string[], flags: ReconstructFlags) => {
      const { inputs, out } = inputsAndOutput(files, 'reconstruction.png');
      const loaded = await openModel(flags.checkpoint, context.quiet());
      const noise = noiseFor(loaded.config.model.noise, flags);
      const dim = loaded.vae.inputDim;
      let x: Float32Array;
      let n: number;
      let known: number[] | null = null;
      if (inputs.length > 0) {
        n = inputs.length;
        x = await readInputImages(inputs, loaded, invertMode(flags.invert));
      } else {
        n = flags.count;
        ({ x, labels: known } = await pickTestImages(loaded, n, flags.seed));
      }
      const { vae } = loaded;
      const originals = toTiles(x, n, dim);
      const tiles: Tile[] = [];
      let cols: number;
      let colLabels: string[] | undefined;
      if (vae.condition.missing) {
        if (flags.label !== undefined) throw new VaeError('--label is for a cvae conditioned on the label; this model completes images');
        // One row per image: original | observed part | reconstruction | completions from the prior.
        const reconstructions = toTiles(reconstructImages(vae, x, n), n, dim);
        const given = toTiles(maskImages(x, n, dim, vae.condition.missing), n, dim);
        const completions = toTiles(sampleCompletions(vae, x, n, COMPLETIONS, flags.seed), n * COMPLETIONS, dim);
        for (let i = 0; i < n; i++) {
          tiles.push(originals[i], given[i], reconstructions[i], ...completions.slice(i * COMPLETIONS, (i + 1) * COMPLETIONS));
        }
        cols = 3 + COMPLETIONS;
        colLabels = [inputs.length > 0 ? 'input' : 'true', 'given', 'recon', ...Array.from({ length: COMPLETIONS }, (_, i) => String(i + 1))];
      } else {
        // With noise, the model sees the corrupted images and should give back the originals.
        const seen = noise ? corrupt(x, noise, new Rng(flags.seed, 'reconstruct-noise')) : x;
        const { oneHot } = labelsFor(loaded, seen, n, flags.label, known, informer(context.quiet()));
        const reconstructions = toTiles(reconstructImages(vae, seen, n, oneHot), n, dim);
        const rows = noise ? [originals, toTiles(seen, n, dim), reconstructions] : [originals, reconstructions];
        // Rows of up to 8: originals, (the noisy inputs,) then their reconstructions underneath.
        cols = Math.min(n, PER_ROW);
        for (let start = 0; start < n; start += cols) {
          for (const row of rows) {
            for (let i = start; i < start + cols; i++) tiles.push(row[i] ?? null);
          }
        }
      }
      const size = await writeImageGrid(out, tiles, tileShape(loaded), { cols, scale: flags.scale, colLabels });
      const what = vae.condition.missing ? `${n} images: original, observed part, reconstruction, ${COMPLETIONS} completions`
        : noise ? `${n} originals, with ${noise.kind} noise (level ${noise.level}), and reconstructions of the noisy ones`
          : `${n} originals and reconstructions`;
      process.stdout.write(`wrote ${out} (${what}, ${size.width}x${size.height})\n`);
    });
}
