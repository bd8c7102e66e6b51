import * as path from 'path';
import { Command } from 'commander';
import { BackendInfo } from '../backend';
import { ProgressReporter } from '../train/progress';
import { defaultThreads } from '../train/executor';
import { CONV_HIDDEN, DEFAULT_HIDDEN, DEFAULT_LABELED, DEFAULT_SIGMA, DEFAULT_SPARSITY, DEFAULT_SPARSITY_WEIGHT, DEFAULT_Z_DIM, LABEL_CVAE_Z_DIM, M2_HIDDEN, M2_Z_DIM, NewRunOptions, resumeRun,
  startM1M2Run, startRun } from '../train/run';
import { TrainRun, train } from '../train/train';
import { TaskProgress } from '../train/progress';
import { DEFAULT_TEST_SPLIT } from '../data/datasets';
import { DEFAULT_NOISE_LEVEL, NOISE_KINDS } from '../data/noise';
import { CONV_SIZES, convShape } from '../model/conv';
import { AUTOENCODERS, ModelConfig, isAutoencoder } from '../model/vae';
import { REGIONS, describeCondition } from '../model/condition';
import { PAPER_ALPHA_PER_IMAGE } from '../model/m2';
import { choice, hiddenSizes, nonNegativeFloat, nonNegativeInt, positiveFloat, positiveInt } from './options';

type TrainFlags = Omit<NewRunOptions, 'channels'> & { resume?: string; threads?: number; channels?: '1' | '3' };

export function registerTrain(program: Command, context: { backend: () => BackendInfo; quiet: () => boolean }): void {
  program.command('train')
    .description('train a VAE (default: full MNIST, the pytorch/examples model); a checkpoint after every epoch')
    .option('--data <name|dir>', "'mnist', 'fashion-mnist', a folder of MNIST-format idx files (raw or .gz), or a folder of images " +
      '(PNG, JPEG, WebP, searched recursively; the first-level subfolders, if any, are the labels; decoded once and cached in DIR/.vae-cache)',
    'mnist')
    .option('--image-size <n>', 'folder of images: side of the square the images are cropped and scaled to (default: 28 when all are 28x28, else 64)',
      positiveInt)
    .option('--channels <n>', 'folder of images: 1 (grey) or 3 (colour) (default: 3 when any image is in colour)', choice(['1', '3'] as const))
    .option('--test-split <share>', `folder of images: the share held out as the test set, picked with --seed (default: ${DEFAULT_TEST_SPLIT})`,
      positiveFloat)
    .option('--binarize <mode>', "'none' (grey levels as targets) or 'dynamic' (redraw x ~ Bernoulli(pixel) each batch)",
      choice(['none', 'dynamic'] as const), 'none')
    .option('--model <family>', "'vae'; 'cvae': conditional VAE q(z|x,y), p(x|z,y) (Doersch 2016); 'm2': semi-supervised M2 " +
      '(Kingma et al. 2014), a cvae with a classifier q(y|x), learning from --labeled labels and the unlabelled rest; ' +
      "'m1m2': M2 on the codes of the VAE in --m1; autoencoders, to compare latent spaces: 'ae' (plain), 'dae' (denoising: " +
      "--noise), 'sae' (sparse: --sparsity)",
    choice(['vae', 'cvae', 'm2', 'm1m2', ...AUTOENCODERS] as const), 'vae')
    .option('--arch <kind>', "'mlp': dense layers; 'conv': 4x4 stride-2 convolutions down, 2x upsampling and 3x3 convolutions up, " +
      `for square images of ${CONV_SIZES.join(', ')} pixels, grey or colour (vae, ae, dae, sae)`, choice(['mlp', 'conv'] as const), 'mlp')
    .option('--likelihood <p>', "p(x|z): 'bernoulli' (pixels in [0, 1] as probabilities: digits, drawings) or 'gaussian' (colour photographs): " +
      'the decoder gives the mean of each pixel (through a sigmoid), the standard deviation is fixed (--sigma); reported in nats and bits/dim',
    choice(['bernoulli', 'gaussian'] as const))
    .option('--sigma <s>', `gaussian: the fixed standard deviation of p(x|z) on pixel values in [0, 1] (default: ${DEFAULT_SIGMA})`, positiveFloat)
    .option('--noise <kind>', `dae: how inputs are corrupted: ${NOISE_KINDS.join(', ')} (default: gaussian)`, choice(NOISE_KINDS))
    .option('--noise-level <p>', 'dae: the standard deviation of gaussian noise, or the share of pixels hit by salt-pepper or mask ' +
      `(default: ${NOISE_KINDS.map((k) => `${k} ${DEFAULT_NOISE_LEVEL[k]}`).join(', ')})`, nonNegativeFloat)
    .option('--sparsity <rho>', `sae: the target mean activation ρ of the (sigmoid) code units (default: ${DEFAULT_SPARSITY})`, positiveFloat)
    .option('--sparsity-weight <w>', `sae: weight of the penalty Σ_j KL(ρ || mean activation of unit j) (default: ${DEFAULT_SPARSITY_WEIGHT})`,
      nonNegativeFloat)
    .option('--m1 <dir>', "m1m2: the run folder of a trained VAE (M1); M2 learns from its codes (Kingma et al. 2014's M1+M2)")
    .option('--condition <y>', "what a cvae is conditioned on: 'label' (one-hot class), or the observed part of the image for completion: " +
      "'left-half', 'top-half', 'centre' (all but a centre square)", choice(['label', ...REGIONS] as const), 'label')
    .option('--z-dim <n>', `latent dimensions (default: ${DEFAULT_Z_DIM}; ${LABEL_CVAE_Z_DIM} for a cvae on the label, so that its samples ` +
      `follow the label; ${M2_Z_DIM} for m2, as in the paper)`, positiveInt)
    .option('--hidden <sizes>', `hidden layer sizes of the encoder, e.g. 400 or 512,256; the decoder mirrors them, m2's classifier ` +
      `has the same; with --arch conv, the dense layers between the convolutions and z (default: ${DEFAULT_HIDDEN.join(',')}; ` +
      `${M2_HIDDEN.join(',')} for m2, as in the paper; ${CONV_HIDDEN.join(',')} for conv)`, hiddenSizes)
    .option('--labeled <n>', `m2: training images that keep their label, the same number per class, picked with --seed (default: ${DEFAULT_LABELED})`, positiveInt)
    .option('--alpha <a>', "m2: weight of the classifier's cross-entropy on the labelled images, α = a·N with N the training images " +
      `(default: ${PAPER_ALPHA_PER_IMAGE}, the paper's α = 0.1·N)`,
      nonNegativeFloat)
    .option('--beta <b>', 'weight of the KL term (1: VAE; >1: β-VAE)', nonNegativeFloat, 1)
    .option('--epochs <n>', 'epochs to train (with --resume: the new total)', positiveInt, 10)
    .option('--batch-size <n>', 'examples per step', positiveInt, 128)
    .option('--lr <rate>', 'Adam learning rate', positiveFloat, 1e-3)
    .option('--seed <n>', 'seed for initial weights, data order and noise', nonNegativeInt, 1)
    .option('--iw-train <k>', 'train on the importance-weighted bound with K samples per example (IWAE, Burda et al. 2015); 1: the ELBO', positiveInt, 1)
    .option('--kl-warmup <epochs>', 'raise β linearly from 0 over this many epochs (0: off)', nonNegativeInt, 0)
    .option('--out <dir>', 'run folder (default: checkpoints/run-DATE-TIME)')
    .option('--resume <dir>', 'continue an interrupted run from its last checkpoint (settings come from the run)')
    .option('--threads <n>', 'training threads (default: one per core, up to 2, on the wasm and cpu backends; the same numbers for any count)', positiveInt)
    .option('--limit-train <n>', 'use only the first n training images (quick runs)', positiveInt)
    .option('--limit-test <n>', 'use only the first n test images (quick runs)', positiveInt)
    .action(async (flags: TrainFlags, command: Command) => {
      const backend = context.backend();
      const log = (line: string) => { if (!context.quiet()) process.stderr.write(line + '\n'); };
      let run: TrainRun;
      if (flags.resume) {
        const ignored = command.options.filter((o) => !['resume', 'epochs', 'threads'].includes(o.attributeName()) &&
          command.getOptionValueSource(o.attributeName()) === 'cli').map((o) => o.long);
        if (ignored.length > 0) log(`ignoring ${ignored.join(', ')}: a resumed run keeps its own settings (only --epochs can change)`);
        const resumed = await resumeRun(flags.resume, command.getOptionValueSource('epochs') === 'cli' ? flags.epochs : undefined);
        log(`resuming ${resumed.runDir} from ${resumed.checkpointName}`);
        run = resumed;
      } else {
        let decoding: TaskProgress | null = null;
        const options = { ...flags, channels: flags.channels === undefined ? undefined : Number(flags.channels) as 1 | 3 };
        run = flags.model === 'm1m2' ? await startM1M2Run(options) : await startRun(options, {
          onProgress: (done, total) => {
            decoding ??= new TaskProgress(`reading ${flags.data}`, total, context.quiet());
            decoding.update(done);
            if (done === total) decoding.stop();
          },
          onWarning: (message) => log(`warning: ${message}`),
        });
        log(`run folder: ${run.runDir}`);
      }
      const { config, dataset } = run;
      const threads = flags.threads ?? defaultThreads(backend);
      log(`backend: ${backend.description}, ${threads} training thread${threads > 1 ? 's' : ''}`);
      log(`data: ${dataset.name} (${dataset.train.count} train, ${dataset.test.count} test, ${dataset.height}x${dataset.width}` +
        `${dataset.channels === 3 ? ' colour' : ''}, binarize ${config.data.binarize}) from ${displayPath(dataset.source)}`);
      const features = config.model.features;
      const family = config.model.family === 'cvae' ? `CVAE ${describeCondition(config.model.condition)}`
        : config.model.family === 'm2' ? `M2 (semi-supervised: ${config.train.labeled} labelled images, α ${config.train.alpha! / dataset.train.count}·N)` +
          (features ? ` on the codes of M1 ${displayPath(features.source)} (${features.dims.length} of its ${features.m1.zDim} dimensions vary), Gaussian` : '')
        : describeAutoencoder(config.model) ?? 'VAE';
      const m = config.model;
      const shape = m.arch === 'conv' ? `${m.inputShape.join('x')} conv(${convShape(m.inputShape[0]).channels.join('-')})-${[...m.hidden, m.zDim].join('-')} conv`
        : `${m.inputShape.reduce((a, b) => a * b, 1)}-${[...m.hidden, m.zDim].join('-')} MLP`;
      log(`model: ${shape} ${family}, ${m.likelihood}${m.sigma !== undefined ? ` (σ ${m.sigma})` : ''} p(x|z), ` +
        `${(config.train.iwTrain ?? 1) > 1 ? `IWAE K=${config.train.iwTrain}, ` : ''}` +
        `${isAutoencoder(m.family) ? '' : `β ${config.train.beta}, `}Adam lr ${config.train.lr}, batch ${config.train.batchSize}, ` +
        `${plural(config.train.epochs, 'epoch')}, seed ${config.train.seed}`);

      const reporter = new ProgressReporter(context.quiet());
      let stopRequested = false;
      const onSigint = () => {
        if (stopRequested) process.exit(130);
        stopRequested = true;
        reporter.stopBar(); // a live bar would redraw over the message
        process.stderr.write('stopping: saving a checkpoint (Ctrl-C again to quit without saving)\n');
      };
      process.on('SIGINT', onSigint);
      process.on('SIGTERM', onSigint);
      try {
        const outcome = await train(run, { ...hooksOf(reporter), shouldStop: () => stopRequested }, { threads });
        reporter.stopBar();
        if (outcome.interrupted) {
          process.stderr.write(`interrupted; checkpoint saved in ${outcome.lastCheckpoint}\n` +
            `continue with: vae train --resume ${run.runDir}\n`);
          process.exitCode = 130;
          return;
        }
        const last = outcome.epochs[outcome.epochs.length - 1];
        if (last) {
          const error = last.test.error !== undefined ? `, test error ${(100 * last.test.error).toFixed(2)}%` : '';
          const score = last.autoencoder ? `test reconstruction ${last.test.rec.toFixed(2)} nats` : `test -ELBO ${last.test.negElbo.toFixed(2)} nats`;
          process.stdout.write(`done: ${score}${error} after ${plural(last.epoch, 'epoch')}; ` +
            `run folder ${run.runDir} (best epoch ${run.state.bestEpoch})\n`);
        }
      } finally {
        reporter.stopBar();
        process.off('SIGINT', onSigint);
        process.off('SIGTERM', onSigint);
      }
    });
}

function describeAutoencoder(model: ModelConfig): string | null {
  if (model.family === 'ae') return 'autoencoder';
  if (model.family === 'dae') return `denoising autoencoder (${model.noise!.kind} noise, level ${model.noise!.level})`;
  if (model.family === 'sae') return `sparse autoencoder (ρ ${model.sparsity!.target}, weight ${model.sparsity!.weight})`;
  return null;
}

function hooksOf(reporter: ProgressReporter) {
  return {
    onEpochStart: reporter.onEpochStart.bind(reporter),
    onStep: reporter.onStep.bind(reporter),
    onEvaluate: reporter.onEvaluate.bind(reporter),
    onEpochEnd: reporter.onEpochEnd.bind(reporter),
    onWarning: reporter.onWarning.bind(reporter),
  };
}

/** A path inside the working folder is shown relative to it. */
function displayPath(p: string): string {
  const relative = path.relative(process.cwd(), p);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : p;
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
