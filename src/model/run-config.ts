/** The run's settings as config.json keeps them, and the training state a checkpoint keeps (io/checkpoint.ts writes them). */
import type { DataRecord } from '../data/datasets';
import type { ModelConfig } from './vae';

export interface TrainSettings {
  epochs: number;
  batchSize: number;
  lr: number;
  beta: number;
  klWarmup: number;
  seed: number;
  /** Samples per example of the importance-weighted objective (IWAE); 1 or absent: the ELBO. */
  iwTrain?: number;
  /** M2: how many training images keep their label (balanced over the classes), and the weight α of the classifier. */
  labeled?: number;
  alpha?: number;
  /** Use only the first N training / test images (for quick runs and tests). */
  limitTrain?: number;
  limitTest?: number;
}

export interface RunConfig {
  format: number;
  tool: { name: 'vae'; version: string };
  createdAt: string;
  model: ModelConfig;
  /** Where the data came from; an image folder also records how its images were prepared and split. */
  data: DataRecord & {
    binarize: 'none' | 'dynamic';
    labelNames: string[] | null;
    trainCount: number;
    testCount: number;
  };
  /** How an input image becomes a model input (see data/images.ts). */
  preprocess: {
    height: number; width: number; channels: number; range: [number, number]; lightOnDark: boolean;
    /** 'digit': a user's drawing is fitted into the frame as MNIST's digits were (default); 'photo': cropped to the frame. */
    fit?: 'digit' | 'photo';
  };
  train: TrainSettings;
}

/** Sums over the examples seen so far in an epoch (so an epoch interrupted mid-way reports the same means). */
export interface EpochSums {
  loss: number;
  rec: number;
  kl: number;
  count: number;
  seconds: number;
  /** M2: Σ U(x) over the unlabelled images (count), Σ L(x, y) and Σ −log q(y|x) over `labelled` labelled pairs. */
  u?: number;
  l?: number;
  ce?: number;
  labelled?: number;
}

export interface TrainState {
  /** Epochs finished. */
  epochsDone: number;
  /** Steps finished of epoch epochsDone + 1 (non-zero only for a checkpoint taken mid-epoch, e.g. on Ctrl-C). */
  stepInEpoch: number;
  globalStep: number;
  partial: EpochSums;
  bestTestLoss: number | null;
  bestEpoch: number | null;
  /** Random numbers are counter-based (rng.ts): (seed, epoch, step) is the whole generator state. */
  rng: { kind: 'counter'; seed: number };
}
