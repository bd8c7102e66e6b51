/**
 * What happens after every epoch, in this order: the test-set evaluation (the family's), a preview grid, the
 * metrics line, the training curves, the best-so-far bookkeeping and a checkpoint.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Inputs, inputsOf, testInputs, testMatrix } from '../data/batches';
import { errorMessage } from '../errors';
import { appendLine, writeFileAtomic } from '../files';
import { toTiles, writeImageGrid } from '../io/png';
import { EpochMetrics, writeTrainingCurves } from '../io/plots';
import { Family } from '../model/families/family';
import { previewImages } from '../model/generate';
import { Rng } from '../rng';
import { emptySums } from './loop';
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

/** Codes drawn for each epoch's sample grid (the same every epoch). */
export const EPOCH_SAMPLES = 64;
/** Test images a preview may show (an autoencoder's: 4 rows of 8). */
const PREVIEW_TEST_ROWS = 32;

export class EpochEnd {
  /** The test inputs: images (binarized once if the run binarizes), or for M1+M2 M1's mean codes of them. */
  private readonly testX: Inputs;
  private readonly sampleZ: Float32Array;
  private readonly metricsFile: string;

  constructor(private readonly trainRun: TrainRun, private readonly family: Family) {
    const { config, dataset, vae, m1 } = trainRun;
    // A streamed test set is read a range at a time, never held whole as floats.
    this.testX = m1 ? inputsOf(m1.encode(testMatrix(dataset.test, m1.m1.inputDim, 'none'), dataset.test.count).mean, vae.inputDim)
      : testInputs(dataset.test, vae.inputDim, config.data.binarize);
    this.sampleZ = new Rng(config.train.seed, 'epoch-samples').normals(EPOCH_SAMPLES * vae.config.zDim);
    this.metricsFile = path.join(trainRun.runDir, 'metrics.jsonl');
  }

  /**
   * Ends epoch `epoch` (the model holds its trained parameters): evaluates, draws, records, and saves a
   * checkpoint with `save` (which writes the run's state as this leaves it).
   */
  async finish(epoch: number, beta: number, hooks: TrainHooks, save: (isBest: boolean) => Promise<string>): Promise<EpochResult> {
    const { runDir, config, dataset, vae, state } = this.trainRun;
    const sums = state.partial;
    hooks.onEvaluate?.(epoch);
    const test = await this.family.evaluate(vae, this.testX, dataset.test.labels, config.train.beta);
    const isBest = state.bestTestLoss === null || test.loss < state.bestTestLoss;
    const result: EpochResult = {
      epoch, epochs: config.train.epochs, beta, autoencoder: !this.family.traits.kl, penalty: this.family.penalty,
      train: this.family.trainTerms(sums),
      test: { loss: test.loss, ...test.terms },
      seconds: sums.seconds,
      samplesPerSec: sums.count / sums.seconds,
      isBest,
      checkpointDir: '',
      samplesPng: path.join(runDir, 'samples', `epoch-${String(epoch).padStart(4, '0')}.png`),
    };
    await this.writePreview(result.samplesPng);
    appendLine(this.metricsFile, JSON.stringify({
      epoch, step: state.globalStep, beta, train: result.train, test: result.test,
      seconds: result.seconds, samplesPerSec: result.samplesPerSec, time: new Date().toISOString(),
    }), 'the epoch\'s metrics');
    try {
      await writeTrainingCurves(readMetrics(this.metricsFile), path.join(runDir, 'curves.png'));
    } catch (e) {
      hooks.onWarning?.(errorMessage(e)); // a picture is not worth stopping a run for
    }
    state.epochsDone = epoch;
    state.stepInEpoch = 0;
    state.partial = emptySums();
    if (isBest) {
      state.bestTestLoss = test.loss;
      state.bestEpoch = epoch;
    }
    result.checkpointDir = await save(isBest);
    return result;
  }

  /** The epoch's preview grid: samples from the prior (an M1+M2 model's codes decoded by M1), or reconstructions. */
  private async writePreview(file: string): Promise<void> {
    const { config, vae, m1 } = this.trainRun;
    const preview = previewImages(vae, this.sampleZ, this.testX.rows(0, Math.min(this.testX.count, PREVIEW_TEST_ROWS)));
    const [height, width, channels] = m1 ? m1.m1.config.inputShape : config.model.inputShape;
    const images = m1 ? m1.decode(preview.images, preview.count) : preview.images;
    await writeImageGrid(file, toTiles(images, preview.count, height * width * channels), { height, width, channels },
      { cols: preview.cols, rowLabels: preview.rowLabels?.map((y) => config.data.labelNames?.[y] ?? String(y)) });
  }
}
