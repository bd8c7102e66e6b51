import * as path from 'path';
import { Command } from 'commander';
import { BackendInfo } from '../backend';
import { ProgressReporter } from '../train/progress';
import { defaultThreads } from '../train/executor';
import { DEFAULT_HIDDEN, DEFAULT_LABELED, DEFAULT_Z_DIM, LABEL_CVAE_Z_DIM, M2_HIDDEN, M2_Z_DIM, NewRunOptions, resumeRun,
  startM1M2Run, startRun } from '../train/run';
import { TrainRun, train } from '../train/train';
import { REGIONS, describeCondition } from '../model/condition';
import { PAPER_ALPHA_PER_IMAGE } from '../model/m2';
import { choice, hiddenSizes, nonNegativeFloat, nonNegativeInt, positiveFloat, positiveInt } from './options';

type TrainFlags = NewRunOptions & { resume?: string; threads?: number };

export function registerTrain(program: Command, context: { backend: () => BackendInfo; quiet: () => boolean }): void {
  program.command('train')
    .description('train a VAE (default: full MNIST, the pytorch/examples model); a checkpoint after every epoch')
    .option('--data <name|dir>', "'mnist', 'fashion-mnist', or a folder of MNIST-format idx files (raw or .gz)", 'mnist')
    .option('--binarize <mode>', "'none' (grey levels as targets) or 'dynamic' (redraw x ~ Bernoulli(pixel) each batch)",
      choice(['none', 'dynamic'] as const), 'none')
    .option('--model <family>', "'vae'; 'cvae': conditional VAE q(z|x,y), p(x|z,y) (Doersch 2016); 'm2': semi-supervised M2 " +
      '(Kingma et al. 2014), a cvae with a classifier q(y|x), learning from --labeled labels and the unlabelled rest; ' +
      "'m1m2': M2 on the codes of the VAE in --m1",
    choice(['vae', 'cvae', 'm2', 'm1m2'] as const), 'vae')
    .option('--m1 <dir>', "m1m2: the run folder of a trained VAE (M1); M2 learns from its codes (Kingma et al. 2014's M1+M2)")
    .option('--condition <y>', "what a cvae is conditioned on: 'label' (one-hot class), or the observed part of the image for completion: " +
      "'left-half', 'top-half', 'centre' (all but a centre square)", choice(['label', ...REGIONS] as const), 'label')
    .option('--z-dim <n>', `latent dimensions (default: ${DEFAULT_Z_DIM}; ${LABEL_CVAE_Z_DIM} for a cvae on the label, so that its samples ` +
      `follow the label; ${M2_Z_DIM} for m2, as in the paper)`, positiveInt)
    .option('--hidden <sizes>', `hidden layer sizes of the encoder, e.g. 400 or 512,256; the decoder mirrors them, m2's classifier ` +
      `has the same (default: ${DEFAULT_HIDDEN.join(',')}; ${M2_HIDDEN.join(',')} for m2, as in the paper)`, hiddenSizes)
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
        run = flags.model === 'm1m2' ? await startM1M2Run(flags) : startRun(flags);
        log(`run folder: ${run.runDir}`);
      }
      const { config, dataset } = run;
      const threads = flags.threads ?? defaultThreads(backend);
      log(`backend: ${backend.description}, ${threads} training thread${threads > 1 ? 's' : ''}`);
      log(`data: ${dataset.name} (${dataset.train.count} train, ${dataset.test.count} test, ${dataset.height}x${dataset.width}` +
        `, binarize ${config.data.binarize}) from ${displayPath(dataset.source)}`);
      const features = config.model.features;
      const family = config.model.family === 'cvae' ? `CVAE ${describeCondition(config.model.condition)}`
        : config.model.family === 'm2' ? `M2 (semi-supervised: ${config.train.labeled} labelled images, α ${config.train.alpha! / dataset.train.count}·N)` +
          (features ? ` on the codes of M1 ${displayPath(features.source)} (${features.dims.length} of its ${features.m1.zDim} dimensions vary), Gaussian` : '')
        : 'VAE';
      log(`model: ${config.model.inputShape.reduce((a, b) => a * b, 1)}-${config.model.hidden.join('-')}-${config.model.zDim} MLP ${family}, ` +
        `${(config.train.iwTrain ?? 1) > 1 ? `IWAE K=${config.train.iwTrain}, ` : ''}` +
        `β ${config.train.beta}, Adam lr ${config.train.lr}, batch ${config.train.batchSize}, ${plural(config.train.epochs, 'epoch')}, seed ${config.train.seed}`);

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
          process.stdout.write(`done: test -ELBO ${last.test.negElbo.toFixed(2)} nats${error} after ${plural(last.epoch, 'epoch')}; ` +
            `run folder ${run.runDir} (best epoch ${run.state.bestEpoch})\n`);
        }
      } finally {
        reporter.stopBar();
        process.off('SIGINT', onSigint);
        process.off('SIGTERM', onSigint);
      }
    });
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
