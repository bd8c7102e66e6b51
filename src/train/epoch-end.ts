/**
 * What happens after every epoch of `vae train`, in this order: the test-set evaluation (the family's) and the
 * best-so-far bookkeeping (epoch-close.ts, shared with the page), a preview grid, the metrics line, the training
 * curves and a checkpoint.
 */
import * as fs from 'fs';
import * as path from 'path';
import { errorMessage } from '../errors';
import { appendLine, writeFileAtomic } from '../files';
import { toTiles, writeImageGrid } from '../io/png';
import { EpochMetrics, writeTrainingCurves } from '../io/plots';
import { Family } from '../model/families/family';
import { EpochClose } from './epoch-close';
import { EpochResult, TrainHooks, TrainRun } from './types';

/** The epochs metrics.jsonl records. */
export function readMetrics(file: string): EpochMetrics[] {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter((line) => line.trim()).map((line) => JSON.parse(line) as EpochMetrics);
}

/** Keeps only the metrics of epochs already in the checkpoint we resume from. */
export function truncateMetrics(file: string, epochsDone: number): void {
  if (!fs.existsSync(file)) return;
  const kept = readMetrics(file).filter((m) => m.epoch <= epochsDone);
  writeFileAtomic(file, kept.map((m) => JSON.stringify(m) + '\n').join(''), 'the metrics');
}

/**
 * `vae train`'s epoch end: the shared part (epoch-close.ts: the test evaluation, the result, the bookkeeping), then
 * the run folder's: the preview grid, the metrics line, the training curves and a checkpoint.
 */
export class EpochEnd {
  private readonly shared: EpochClose;
  private readonly metricsFile: string;

  constructor(private readonly trainRun: TrainRun, family: Family) {
    this.shared = new EpochClose(trainRun, family);
    this.metricsFile = path.join(trainRun.runDir, 'metrics.jsonl');
  }

  /**
   * Ends epoch `epoch` (the model holds its trained parameters): evaluates, draws, records, and saves a
   * checkpoint with `save` (which writes the run's state as this leaves it).
   */
  async finish(epoch: number, beta: number, hooks: TrainHooks, save: (isBest: boolean) => Promise<string>): Promise<EpochResult> {
    const { runDir, config } = this.trainRun;
    const { result, metrics } = await this.shared.close(epoch, beta, hooks);
    result.samplesPng = path.join(runDir, 'samples', `epoch-${String(epoch).padStart(4, '0')}.png`);
    const preview = this.shared.preview();
    const [height, width, channels] = preview.shape;
    // (A run folder made elsewhere, such as the page's download, may have no samples/ yet.)
    fs.mkdirSync(path.dirname(result.samplesPng), { recursive: true });
    await writeImageGrid(result.samplesPng, toTiles(preview.images, preview.count, height * width * channels), { height, width, channels },
      { cols: preview.cols, rowLabels: preview.rowLabels?.map((y) => config.data.labelNames?.[y] ?? String(y)) });
    appendLine(this.metricsFile, JSON.stringify(metrics), 'the epoch\'s metrics');
    try {
      await writeTrainingCurves(readMetrics(this.metricsFile), path.join(runDir, 'curves.png'));
    } catch (e) {
      hooks.onWarning?.(errorMessage(e)); // a picture is not worth stopping a run for
    }
    result.checkpointDir = await save(result.isBest);
    return result;
  }
}
