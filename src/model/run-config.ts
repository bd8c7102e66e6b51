/** The run's settings as config.json keeps them, and the training state a checkpoint keeps (io/checkpoint.ts writes them). */
import type { DataRecord } from '../data/datasets';
import type { NoiseConfig } from '../data/noise';
import type { NormalsKind } from '../rng';
import type { StreamShape } from '../data/stream';
import type { ConditionConfig } from './condition';

/** config.json's model: what the networks are (a family builds them from this; model/families). */
export interface ModelConfig {
  /** The model family (model/families): 'vae', 'cvae', 'm2', 'ae', 'dae', 'sae', ... */
  family: string;
  /** 'mlp': dense layers on the flattened image; 'conv': convolutions (conv.ts), then the dense layers. */
  arch: 'mlp' | 'conv';
  /** height, width, channels of one image. */
  inputShape: [number, number, number];
  hidden: number[];
  zDim: number;
  /**
   * p(x|z): Bernoulli values in [0, 1] (images), or Gaussian. A Gaussian on images has a fixed standard
   * deviation `sigma` and a mean in [0, 1], μ = sigmoid(decoder output), like the Bernoulli's; without
   * `sigma` (M1+M2, on M1's codes) the variance is learned too: the decoder has two outputs per value, μ, then
   * log σ².
   */
  likelihood: 'bernoulli' | 'gaussian';
  sigma?: number;
  /** What a cvae is conditioned on (absent for a vae; the label for m2). */
  condition?: ConditionConfig;
  /** M1+M2: the inputs are the codes of this M1 VAE, not images (inputShape is then [1, codes, 1]). */
  features?: M1Features;
  /** dae: how the inputs are corrupted in training (data/noise.ts). */
  noise?: NoiseConfig;
  /** sae: the target mean activation ρ of the code units and the weight of the penalty. */
  sparsity?: { target: number; weight: number };
  /** A family's own settings (its configure sets them; config.json keeps them): so far only the VQ-VAE has any. */
  options?: VqOptions;
}

/** A VQ-VAE's settings (model/families/vqvae.ts). */
export interface VqOptions {
  /** Entries of the codebook. */
  codebookSize: number;
  /** Values per entry: the code's zDim values are cut into zDim / codeDim entries. */
  codeDim: number;
  /** Weight β of the commitment term. */
  commitment: number;
}

/** What an M1+M2 model records of its M1 (ModelConfig.features). */
export interface M1Features {
  /** M1's model (its weights are kept in the run folder's m1/). */
  m1: ModelConfig;
  /** The latent dimensions of M1 that M2 sees, in order. */
  dims: number[];
  /** The M1 run folder it was taken from, for the record. */
  source: string;
}

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
  /** A streamed set (larger than its memory budget): the windows its epochs are read in (data/stream.ts). */
  stream?: StreamShape;
  /** How the training noise ε is drawn (rng.ts): 'philox' in runs made since 2026-12-05; absent: sfc32 streams. */
  normals?: NormalsKind;
}

/** The format of config.json and the checkpoints this vae writes and reads. */
export const CHECKPOINT_FORMAT = 1;

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
