/**
 * Progress of training on stderr: a cli-progress bar per epoch on a terminal, plain lines every few
 * seconds otherwise (logs, CI), nothing with --quiet. Results (one line per epoch) go to stdout.
 */
import * as cliProgress from 'cli-progress';
import { EpochResult, StepInfo, TrainHooks } from './train';

const PLAIN_INTERVAL_MS = 10_000;

function fmt(v: number, digits = 2): string {
  return Number.isFinite(v) ? v.toFixed(digits) : String(v);
}

export function formatEpochLine(r: EpochResult): string {
  if (r.test.error !== undefined && r.train.labelled) {
    return `epoch ${r.epoch}/${r.epochs}  train U ${fmt(r.train.negElbo)} (rec ${fmt(r.train.rec)}, KL ${fmt(r.train.kl)})` +
      `  labelled L ${fmt(r.train.labelled.negElbo)}, CE ${fmt(r.train.labelled.crossEntropy, 3)}` +
      `  test U ${fmt(r.test.negElbo)}, error ${fmt(100 * r.test.error)}%` +
      `  ${fmt(r.seconds, 1)} s, ${Math.round(r.samplesPerSec)} images/s${r.isBest ? '  [best]' : ''}`;
  }
  if (r.autoencoder) {
    const penalty = (v: number) => (v !== 0 ? ` (+ ${r.penalty ?? 'sparsity'} ${fmt(v, 3)})` : '');
    return `epoch ${r.epoch}/${r.epochs}  train rec ${fmt(r.train.rec)}${penalty(r.train.kl)}  test rec ${fmt(r.test.rec)}${penalty(r.test.kl)}` +
      `  ${fmt(r.seconds, 1)} s, ${Math.round(r.samplesPerSec)} samples/s${r.isBest ? '  [best]' : ''}`;
  }
  const beta = r.beta !== 1 ? `  β ${fmt(r.beta, 3)}` : '';
  return `epoch ${r.epoch}/${r.epochs}  train -ELBO ${fmt(r.train.negElbo)} (rec ${fmt(r.train.rec)}, KL ${fmt(r.train.kl)})` +
    `  test -ELBO ${fmt(r.test.negElbo)} (rec ${fmt(r.test.rec)}, KL ${fmt(r.test.kl)})${beta}` +
    `  ${fmt(r.seconds, 1)} s, ${Math.round(r.samplesPerSec)} samples/s${r.isBest ? '  [best]' : ''}`;
}

/** The parts of a step's loss: reconstruction and KL, or an autoencoder's reconstruction (and its penalty: sparsity, ...). */
function stepTerms(s: StepInfo): string {
  if (!s.autoencoder) return `rec ${fmt(s.rec)}, KL ${fmt(s.kl)}`;
  return s.kl !== 0 ? `rec ${fmt(s.rec)}, ${s.penalty ?? 'sparsity'} ${fmt(s.kl, 3)}` : `rec ${fmt(s.rec)}`;
}

export class ProgressReporter implements TrainHooks {
  private bar: cliProgress.SingleBar | null = null;
  private lastPlain = 0;
  private stepped = false;
  private epochStart = 0;
  private startStep = 0;
  private readonly tty: boolean;

  constructor(private readonly quiet: boolean, private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly out: (line: string) => void = (line) => process.stdout.write(line + '\n')) {
    this.tty = Boolean(stream.isTTY);
  }

  onEpochStart(epoch: number, steps: number, startStep: number): void {
    if (this.quiet) return;
    this.epochStart = Date.now();
    this.startStep = startStep;
    if (this.tty) {
      this.bar = new cliProgress.SingleBar({
        format: `epoch ${epoch} |{bar}| {value}/{total} | loss {loss} ({terms}) | {speed} samples/s | ETA {eta_formatted}`,
        hideCursor: true,
        clearOnComplete: true,
        etaBuffer: 50,
        stream: this.stream,
      }, cliProgress.Presets.shades_classic);
      this.bar.start(steps, startStep, { loss: '-', terms: '-', speed: '-' });
    } else {
      this.lastPlain = Date.now();
      this.stream.write(`epoch ${epoch}: ${steps} steps${startStep ? `, resuming at step ${startStep}` : ''}\n`);
    }
  }

  onStep(s: StepInfo): void {
    if (this.quiet) return;
    if (this.bar) {
      this.bar.update(s.step, { loss: fmt(s.loss), terms: stepTerms(s), speed: Math.round(s.samplesPerSec) });
    } else if (!this.tty && (Date.now() - this.lastPlain >= PLAIN_INTERVAL_MS || !this.stepped)) {
      // The first step a process trains has a line of its own: training has begun (its data read, its model built).
      this.stepped = true;
      this.lastPlain = Date.now();
      const perStep = (Date.now() - this.epochStart) / Math.max(1, s.step - this.startStep);
      const eta = Math.round(((s.steps - s.step) * perStep) / 1000);
      this.stream.write(`epoch ${s.epoch} step ${s.step}/${s.steps}  loss ${fmt(s.loss)} (${stepTerms(s)})` +
        `  ${Math.round(s.samplesPerSec)} samples/s  ETA ${eta} s\n`);
    }
  }

  onEvaluate(): void {
    this.stopBar();
  }

  onWarning(message: string): void {
    this.stopBar();
    this.stream.write(`warning: ${message}\n`);
  }

  onEpochEnd(r: EpochResult): void {
    this.stopBar();
    this.out(formatEpochLine(r));
  }

  stopBar(): void {
    if (this.bar) {
      this.bar.stop();
      this.bar = null;
    }
  }
}

/** Progress of one long task on stderr: a bar on a terminal, a line every few seconds otherwise. */
export class TaskProgress {
  private bar: cliProgress.SingleBar | null = null;
  private lastPlain = Date.now();
  private readonly start = Date.now();

  constructor(private readonly title: string, private readonly total: number, private readonly quiet: boolean,
    private readonly stream: NodeJS.WriteStream = process.stderr) {
    if (quiet) return;
    if (stream.isTTY) {
      this.bar = new cliProgress.SingleBar({ format: `${title} |{bar}| {value}/{total} | {rate}/s | ETA {eta_formatted}`,
        hideCursor: true, clearOnComplete: true, stream }, cliProgress.Presets.shades_classic);
      this.bar.start(total, 0, { rate: '-' });
    }
  }

  update(done: number): void {
    if (this.quiet) return;
    const seconds = Math.max(1e-3, (Date.now() - this.start) / 1000);
    const rate = Math.round(done / seconds);
    if (this.bar) {
      this.bar.update(done, { rate });
    } else if (Date.now() - this.lastPlain >= PLAIN_INTERVAL_MS) {
      this.lastPlain = Date.now();
      const eta = Math.round((seconds / Math.max(1, done)) * (this.total - done));
      this.stream.write(`${this.title}: ${done}/${this.total}  ${rate}/s  ETA ${eta} s\n`);
    }
  }

  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }
}
