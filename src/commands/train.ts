/** `vae train`: a new run, or one resumed; its flags are train/flags.ts's. */
import { Command, Option } from 'commander';
import { BackendInfo } from '../backend';
import { defaultThreads } from '../engine/cpu';
import { prestartThreads } from '../engine/threads';
import { DiskError } from '../errors';
import { displayPath } from '../files';
import { keptCheckpointAdvice } from '../io/checkpoint';
import { convShape } from '../model/conv';
import { familyOf } from '../model/families/registry';
import { RESUME_FLAGS, TRAIN_FLAGS } from '../train/flags';
import { ProgressReporter, TaskProgress } from '../train/progress';
import { NewRunOptions, resumeRun, startRun } from '../train/run';
import { TrainRun, train } from '../train/train';

/** The parsed flags: the run's options (--channels still as its text, '1' or '3'), --resume and --threads. */
type TrainFlags = NewRunOptions & { resume?: string; threads?: number };

export function registerTrain(program: Command, context: { backend: () => BackendInfo; quiet: () => boolean }): void {
  const command = program.command('train')
    .description('train a VAE (default: full MNIST, the pytorch/examples model); a checkpoint after every epoch');
  for (const spec of TRAIN_FLAGS) {
    const option = new Option(spec.flags, spec.help + (spec.defaultText ? ` (default: ${spec.defaultText})` : ''));
    if (spec.parse) option.argParser(spec.parse);
    if (spec.default !== undefined) option.default(spec.default);
    command.addOption(option);
  }
  command
    .action(async (flags: TrainFlags, command: Command) => {
      const backend = context.backend();
      const log = (line: string) => { if (!context.quiet()) process.stderr.write(line + '\n'); };
      const threads = flags.threads ?? defaultThreads(backend);
      // Under webgpu the engine says where training runs (the GPU, or the CPU for a model it has no kernels for).
      const gpu = backend.choice === 'webgpu';
      // The training threads load their backend while the data set is read (one is let go if the main thread trains).
      if (!gpu && threads > 1) prestartThreads(threads, backend.threadChoice);
      let run: TrainRun;
      if (flags.resume) {
        const ignored = command.options.filter((o) => !RESUME_FLAGS.includes(o.attributeName()) &&
          command.getOptionValueSource(o.attributeName()) === 'cli').map((o) => o.long);
        if (ignored.length > 0) log(`ignoring ${ignored.join(', ')}: a resumed run keeps its own settings (only --epochs can change)`);
        const resumed = await resumeRun(flags.resume, command.getOptionValueSource('epochs') === 'cli' ? flags.epochs : undefined);
        log(`resuming ${resumed.runDir} from ${resumed.checkpointName}`);
        run = resumed;
      } else {
        let decoding: TaskProgress | null = null;
        const options: NewRunOptions = { ...flags, channels: flags.channels === undefined ? undefined : Number(flags.channels) as 1 | 3 };
        run = await startRun(options, {
          onProgress: (done, total) => {
            decoding ??= new TaskProgress(`decoding the pictures of ${flags.data} (once: they are cached)`, total, context.quiet());
            decoding.update(done);
            if (done === total) decoding.stop();
          },
          onWarning: (message) => log(`warning: ${message}`),
        });
        log(`run folder: ${run.runDir}`);
      }
      const { config, dataset } = run;
      log(`backend: ${backend.description}${gpu ? '' : `, ${threads} training thread${threads > 1 ? 's' : ''}`}`);
      log(`data: ${dataset.name} (${dataset.train.count} train, ${dataset.test.count} test, ${dataset.height}x${dataset.width}` +
        `${dataset.channels === 3 ? ' colour' : ''}, binarize ${config.data.binarize}) from ${displayPath(dataset.source)}` +
        (dataset.train.store ? `; larger than --data-memory ${config.data.dataMemory} MB: streamed from its cache` +
          (config.train.stream ? `, in shuffled windows of ${config.train.stream.windowRows} pictures` : '') : ''));
      const family = familyOf(config.model);
      const m = config.model;
      const shape = m.arch === 'conv' ? `${m.inputShape.join('x')} conv(${convShape(m.inputShape[0]).channels.join('-')})-${[...m.hidden, m.zDim].join('-')} conv`
        : `${m.inputShape.reduce((a, b) => a * b, 1)}-${[...m.hidden, m.zDim].join('-')} MLP`;
      log(`model: ${shape} ${family.describe(m, config.train, dataset.train.count)}, ${m.likelihood}${m.sigma !== undefined ? ` (σ ${m.sigma})` : ''} p(x|z), ` +
        `${(config.train.iwTrain ?? 1) > 1 ? `IWAE K=${config.train.iwTrain}, ` : ''}` +
        `${family.traits.kl ? `β ${config.train.beta}, ` : ''}Adam lr ${config.train.lr}, batch ${config.train.batchSize}, ` +
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
        const onEngine = (description: string) => { if (gpu) log(`engine: ${description}`); };
        const outcome = await train(run, { ...hooksOf(reporter), onEngine, shouldStop: () => stopRequested }, { threads });
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
      } catch (e) {
        // A full disk (or a refused write) while training: one line saying what is kept and how to go on.
        throw e instanceof DiskError ? e.withAdvice(keptCheckpointAdvice(run.runDir)) : e;
      } finally {
        reporter.stopBar();
        process.off('SIGINT', onSigint);
        process.off('SIGTERM', onSigint);
        run.lock?.release();
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

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
