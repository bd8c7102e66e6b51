import { Command } from 'commander';
import { VaeError } from '../errors';
import { negElboPerLabel } from '../model/generate';
import { classProbabilities } from '../model/m2';
import { checkpointOption, INFER_SAMPLES, invertOption, labelName, modelInputs, noInvertOption, openModel, readInputImages } from './common';
import { invertMode, positiveInt } from '../options';

interface ClassifyFlags {
  checkpoint?: string;
  invert?: boolean;
  fit: boolean;
  top: number;
  json: boolean;
}

/**
 * Class probabilities of images: M2's classifier q(y|x); for a cvae on the label, the posterior under its
 * conditional bound, p(y|x) ∝ exp(−L(x, y)) with p(y) uniform (an approximation: L bounds −log p(x|y)).
 */
export function registerClassify(program: Command, context: { quiet: () => boolean }): void {
  program.command('classify')
    .description("predict the class of each image with an m2 model's classifier q(y|x) (or a label cvae's conditional ELBO)")
    .argument('<files...>', 'input images (PNG, JPEG, WebP, any size)')
    .addOption(checkpointOption())
    .option('--top <k>', 'also show the next most probable classes, k in all', positiveInt, 1)
    .addOption(invertOption('images'))
    .addOption(noInvertOption('images'))
    .option('--no-fit', 'take images of the model\'s size as they are framed (default: fit other sizes into the frame, MNIST-style)')
    .option('--json', 'print one JSON object per image instead of text', false)
    .action(async (files: string[], flags: ClassifyFlags) => {
      const loaded = await openModel(flags.checkpoint, context.quiet(), { codes: true });
      const { vae } = loaded;
      const classes = vae.labelDim;
      if (classes === 0) {
        throw new VaeError(`'vae classify' needs a model that knows the classes: train one with 'vae train --model m2' (or --model cvae); ` +
          `${loaded.runDir} is a ${vae.condition.missing ? 'completion model' : 'plain VAE'}`);
      }
      const n = files.length;
      const x = modelInputs(loaded, await readInputImages(files, loaded, invertMode(flags.invert), flags.fit ? 'auto' : false), n);
      const p = vae.classifier ? classProbabilities(vae, x, n) : posteriorFromBound(negElboPerLabel(vae, x, n, INFER_SAMPLES), n, classes);
      const top = Math.min(flags.top, classes);
      for (let i = 0; i < n; i++) {
        const row = Array.from(p.subarray(i * classes, (i + 1) * classes));
        const ranked = row.map((prob, y) => ({ label: labelName(loaded, y), probability: prob }))
          .sort((a, b) => b.probability - a.probability).slice(0, top);
        process.stdout.write(flags.json ? JSON.stringify({ file: files[i], predictions: ranked }) + '\n'
          : `${files[i]}  ${ranked.map((r) => `${r.label} ${r.probability.toFixed(3)}`).join('  ')}\n`);
      }
    });
}

/** softmax_y(−L(x, y)) for each row of −ELBO values [n, classes]. */
function posteriorFromBound(negElbo: Float32Array, n: number, classes: number): Float32Array {
  const out = new Float32Array(n * classes);
  for (let i = 0; i < n; i++) {
    const row = negElbo.subarray(i * classes, (i + 1) * classes);
    const best = Math.min(...row);
    let total = 0;
    for (let y = 0; y < classes; y++) total += (out[i * classes + y] = Math.exp(best - row[y]));
    for (let y = 0; y < classes; y++) out[i * classes + y] /= total;
  }
  return out;
}
