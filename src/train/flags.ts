/**
 * `vae train`'s flags, their defaults and their help, in one place: commands/train.ts registers them with
 * commander (whose defaults fill the run's settings), and docs/train.md's table is generated from them
 * (`npm run docs`; a test fails when it is out of date). Defaults that depend on the model family are the
 * family's own (model/families), and the help states them as the registry gives them. The explorer's Train panel
 * shows them too (nothing here reaches a Node module).
 */
import { DEFAULT_DATA_MEMORY_MB, DEFAULT_TEST_SPLIT } from '../data/stream';
import { CONV_SIZES } from '../model/conv';
import { FlagSpec, NewRunOptions } from '../model/families/family';
import { FAMILIES, MODEL_CHOICES, familiesWith } from '../model/families/registry';
import { DEFAULT_SIGMA } from '../model/losses';
import { choice, hiddenSizes, nonNegativeFloat, nonNegativeInt, positiveFloat, positiveInt } from '../options';

/** "400 (500 for m2, 256 with --arch conv)": a family default, with the families and arch that differ. */
function familyDefault(pick: (d: { hidden: number[]; zDim: number }) => string): string {
  const options = { condition: 'label', arch: 'mlp' } as NewRunOptions;
  const base = pick(FAMILIES[0].defaults(options));
  const others = FAMILIES.map((f) => [f.name, pick(f.defaults(options))]).filter(([, v]) => v !== base).map(([name, v]) => `${v} for ${name}`);
  const conv = pick(FAMILIES[0].defaults({ ...options, arch: 'conv' }));
  if (conv !== base) others.push(`${conv} with --arch conv`);
  return others.length > 0 ? `${base} (${others.join(', ')})` : base;
}

export const TRAIN_FLAGS: readonly FlagSpec[] = [
  { flags: '--data <name|dir>', default: 'mnist', help: "'mnist', 'fashion-mnist' (Debian's dataset-fashion-mnist), a folder of " +
    'MNIST-format idx files (raw or .gz), or a folder of images (PNG, JPEG, WebP, searched recursively; the first-level subfolders, ' +
    'if any, are the labels; decoded once and cached in DIR/.vae-cache)' },
  { flags: '--image-size <n>', parse: positiveInt, defaultText: '28 when all images are 28x28, else 64',
    help: 'folder of images: side of the square the images are cropped and scaled to' },
  { flags: '--channels <n>', parse: choice(['1', '3'] as const), defaultText: '3 when any image is in colour',
    help: 'folder of images: 1 (grey) or 3 (colour)' },
  { flags: '--test-split <share>', parse: positiveFloat, defaultText: String(DEFAULT_TEST_SPLIT),
    help: 'folder of images: the share held out as the test set, picked with --seed' },
  { flags: '--data-memory <MB>', parse: positiveFloat, default: DEFAULT_DATA_MEMORY_MB,
    help: 'folder of images: the most MB of pictures held in memory; a larger set is streamed from its cache in shuffled windows ' +
      '(two windows held at once; docs/own-images.md says how the order differs from a full shuffle)' },
  { flags: '--binarize <mode>', parse: choice(['none', 'dynamic'] as const), default: 'none',
    help: "'none' (grey levels are the targets, as in pytorch/examples) or 'dynamic' (each pixel redrawn as x ~ Bernoulli(grey level) " +
      'every batch; the test set binarized once with a fixed seed: the protocol of the VAE papers)' },
  { flags: '--model <family>', parse: choice(MODEL_CHOICES), default: 'vae',
    help: `the model family: ${FAMILIES.map((f) => f.help).join('; ')}` },
  { flags: '--arch <kind>', parse: choice(['mlp', 'conv'] as const), default: 'mlp',
    help: "'mlp': dense layers; 'conv': 4x4 stride-2 convolutions down, 2x upsampling and 3x3 convolutions up, " +
      `for square images of ${CONV_SIZES.join(', ')} pixels, grey or colour (${familiesWith('conv')})` },
  { flags: '--likelihood <p>', parse: choice(['bernoulli', 'gaussian'] as const), defaultText: 'bernoulli',
    help: "p(x|z): 'bernoulli' (pixels in [0, 1] as probabilities: digits, drawings) or 'gaussian' (colour photographs): " +
      'the decoder gives the mean of each pixel (through a sigmoid), the standard deviation is fixed (--sigma); reported in nats and bits/dim' },
  { flags: '--sigma <s>', parse: positiveFloat, defaultText: String(DEFAULT_SIGMA),
    help: 'gaussian: the fixed standard deviation of p(x|z) on pixel values in [0, 1]' },
  ...FAMILIES.flatMap((f) => f.flags ?? []),
  { flags: '--z-dim <n>', parse: positiveInt, defaultText: familyDefault((d) => String(d.zDim)),
    help: 'latent dimensions (a cvae on the label has 2, so that its samples follow the label; with --condition, 20)' },
  { flags: '--hidden <sizes>', parse: hiddenSizes, defaultText: familyDefault((d) => d.hidden.join(',')),
    help: "hidden layer sizes of the encoder, e.g. 400 or 512,256; the decoder mirrors them, m2's classifier has the same; " +
      'with --arch conv, the dense layers between the convolutions and z' },
  { flags: '--beta <b>', parse: nonNegativeFloat, default: 1, help: 'weight of the KL term (1: VAE; >1: β-VAE, Higgins et al. 2017)' },
  { flags: '--epochs <n>', parse: positiveInt, default: 10, help: 'epochs to train (with --resume: the new total)' },
  { flags: '--batch-size <n>', parse: positiveInt, default: 128, help: 'examples per step' },
  { flags: '--lr <rate>', parse: positiveFloat, default: 1e-3, help: 'Adam learning rate' },
  { flags: '--seed <n>', parse: nonNegativeInt, default: 1, help: 'seed for initial weights, data order and noise: the same seed gives the same numbers' },
  { flags: '--iw-train <k>', parse: positiveInt, default: 1,
    help: 'train on the importance-weighted bound with K samples per example (IWAE, Burda et al. 2015); 1: the ELBO' },
  { flags: '--kl-warmup <epochs>', parse: nonNegativeInt, default: 0, help: 'raise β linearly from 0 over this many epochs (0: off)' },
  { flags: '--out <dir>', defaultText: 'checkpoints/run-DATE-TIME', help: 'run folder' },
  { flags: '--resume <dir>', help: 'continue an interrupted run from its last checkpoint (settings come from the run)' },
  { flags: '--threads <n>', parse: positiveInt, defaultText: 'one per core, up to 2, on the wasm and cpu backends',
    help: 'training threads; every batch is split into 2 fixed halves, so any thread count gives the same numbers' },
  { flags: '--limit-train <n>', parse: positiveInt, defaultText: 'all', help: 'use only the first n training images (quick runs)' },
  { flags: '--limit-test <n>', parse: positiveInt, defaultText: 'all', help: 'use only the first n test images (quick runs)' },
];

/** The flags of a resumed run that may differ from the run's own settings. */
export const RESUME_FLAGS = ['resume', 'epochs', 'threads'];

/** docs/train.md's table of the flags: flag, default, meaning. */
export function flagTable(): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|');
  const rows = TRAIN_FLAGS.map((f) => {
    const def = f.default !== undefined ? `\`${f.default}\`` : f.defaultText ?? '';
    return `| \`${cell(f.flags)}\` | ${cell(def)} | ${cell(f.help)} |`;
  });
  return ['| flag | default | meaning |', '|---|---|---|', ...rows].join('\n') + '\n';
}


/** `text` with the flag table between its markers. */
export function withFlagTable(text: string): string {
  const start = '<!-- flags:start -->';
  const end = '<!-- flags:end -->';
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error(`no ${start} ... ${end} in the document`);
  return text.slice(0, a + start.length) + '\n' + flagTable() + text.slice(b);
}
