/**
 * The part of an epoch's end that every trainer shares, `vae train` (epoch-end.ts) and the explorer's Train panel:
 * the test-set evaluation (the family's), the epoch's result and its metrics line, the best-so-far bookkeeping, and
 * the preview (samples from the prior, or reconstructions). Nothing here reaches a Node module.
 */
import { Inputs, inputsOf, testInputs, testMatrix } from '../data/batches';
import { Family } from '../model/families/family';
import { Preview, previewImages } from '../model/generate';
import { Rng } from '../rng';
import { LoopRun, emptySums } from './loop';
import { EpochResult, TrainHooks } from './types';

/** Codes drawn for each epoch's sample grid (the same every epoch). */
export const EPOCH_SAMPLES = 64;
/** Test images a preview may show (an autoencoder's: 4 rows of 8). */
const PREVIEW_TEST_ROWS = 32;

/** A metrics.jsonl line. */
export interface MetricsLine {
  epoch: number;
  step: number;
  beta: number;
  train: EpochResult['train'];
  test: EpochResult['test'];
  seconds: number;
  samplesPerSec: number;
  time: string;
}

export class EpochClose {
  /** The test inputs: images (binarized once if the run binarizes), or for M1+M2 M1's mean codes of them. */
  private readonly testX: Inputs;
  private readonly sampleZ: Float32Array;

  constructor(private readonly run: LoopRun, private readonly family: Family) {
    const { config, dataset, vae, m1 } = run;
    // A streamed test set is read a range at a time, never held whole as floats.
    this.testX = m1 ? inputsOf(m1.encode(testMatrix(dataset.test, m1.m1.inputDim, 'none'), dataset.test.count).mean, vae.inputDim)
      : testInputs(dataset.test, vae.inputDim, config.data.binarize);
    this.sampleZ = new Rng(config.train.seed, 'epoch-samples').normals(EPOCH_SAMPLES * vae.config.zDim);
  }

  /**
   * Ends epoch `epoch` (the model holds its trained parameters): evaluates on the test set, and moves the run's
   * state past the epoch (its sums reset, the best epoch kept). The result's files are the caller's to fill in.
   */
  async close(epoch: number, beta: number, hooks: TrainHooks): Promise<{ result: EpochResult; metrics: MetricsLine }> {
    const { config, dataset, vae, state } = this.run;
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
      samplesPng: '',
    };
    const metrics: MetricsLine = { epoch, step: state.globalStep, beta, train: result.train, test: result.test,
      seconds: result.seconds, samplesPerSec: result.samplesPerSec, time: new Date().toISOString() };
    state.epochsDone = epoch;
    state.stepInEpoch = 0;
    state.partial = emptySums();
    if (isBest) {
      state.bestTestLoss = test.loss;
      state.bestEpoch = epoch;
    }
    return { result, metrics };
  }

  /** The epoch's preview: samples from the prior (an M1+M2 model's codes decoded by M1), or reconstructions. */
  preview(): Preview & { shape: number[] } {
    const { config, vae, m1 } = this.run;
    const preview = previewImages(vae, this.sampleZ, this.testX.rows(0, Math.min(this.testX.count, PREVIEW_TEST_ROWS)));
    const shape = m1 ? m1.m1.config.inputShape : config.model.inputShape;
    return { ...preview, images: m1 ? m1.decode(preview.images, preview.count) : preview.images, shape };
  }
}
