/**
 * A model family (vae, cvae, m2, m1m2, the autoencoders, ...) is one module in this folder that says
 * everything the rest of the tool needs to know about it: its defaults and flag checks, how its networks are
 * built, its loss terms with named statistics, its batches, how it is evaluated, and what it can do (traits),
 * which the commands read to refuse what a model cannot do. registry.ts lists them; nothing outside this
 * folder switches on a family's name. docs/ARCHITECTURE.md has the recipe for adding one.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Binarize } from '../../data/batches';
import type { Inputs } from '../../data/batches';
import type { Dataset, ImageSet, ResidentSet } from '../../data/datasets';
import type { Labels } from '../../data/folder';
import type { NoiseKind } from '../../data/noise';
import type { ConditionLayout, Region } from '../condition';
import type { ElboTerms } from '../evaluate';
import type { M1Codes } from '../m1m2';
import type { SemiWeights } from '../m2';
import type { EpochSums, ModelConfig, TrainSettings } from '../run-config';
import type { Quantizer, Vae } from '../vae';

/**
 * Numbers a training step reports at most: its loss, then the family's sums (Family.stats). Both engines lay a
 * batch slot's statistics out in rows of this many (registry.ts checks every family's fit).
 */
export const STEP_STATS = 8;

/**
 * The objective the WebGPU engine records for a family (engine/webgpu/objectives/: one module each), with what it
 * needs to know of the model. The family declares it (Family.gpu); networks are named as in Family.networks.
 */
export type GpuObjectiveSpec =
  /** The ELBO of a Gaussian code, −log p(x|z) + β·KL; with K samples per example (--iw-train), IWAE's bound. */
  | { objective: 'elbo' }
  /** The cvae's: the ELBO (or IWAE's bound) with the condition beside the encoder's and the decoder's inputs. */
  | { objective: 'cvae'; condition: ConditionLayout }
  /** A point code and the reconstruction: a denoising one encodes corrupted inputs; a sparse one adds its penalty. */
  | { objective: 'autoencoder'; denoising: boolean; sparsity?: { target: number; weight: number } }
  /** A point code quantised by the `codebook` network's entries (its kernel [codeDim, entries]), with the commitment weight. */
  | { objective: 'vq'; codebook: string; entries: number; commitment: number }
  /** M2's semi-supervised objective: every unlabelled image with every one of `classes` labels, and the `classifier` network. */
  | { objective: 'm2'; classifier: string; classes: number };

/** What a family can do. Commands read these to refuse, in one line, what a model cannot do. */
export interface FamilyTraits {
  /** A prior p(z) = N(0, I) that its codes fill: sample, manifold and evaluate --iw work. */
  prior: boolean;
  /** A KL term weighted by β (--beta, --kl-warmup and --iw-train apply). */
  kl: boolean;
  /** Conditioned on the class label (sample --label, analogy), or on a region of the image (complete). */
  label: boolean;
  region: boolean;
  /** A classifier q(y|x) (classify, evaluate's test error). */
  classifies: boolean;
  /** Can be built with --arch conv. */
  conv: boolean;
  /** Learns from the codes of another VAE (M1), not from images: a run starts from --m1 (train/run.ts). */
  codes: boolean;
}

/** A flag of `vae train`: train/flags.ts lists the common ones, a family its own (Family.flags). */
export interface FlagSpec {
  /** commander's flags: '--epochs <n>'. */
  flags: string;
  help: string;
  /** The default commander fills in, which the run's settings take. */
  default?: string | number;
  /** The default in words, where it is not one value (it depends on the family, the data, the machine). */
  defaultText?: string;
  parse?: (value: string) => unknown;
}

/**
 * The settings of `vae train` that make a new run (train/flags.ts gives their defaults and help), a family's own
 * flags (Family.flags) among them, by their attribute name (--codebook-size: codebookSize).
 */
export interface NewRunOptions {
  data: string;
  /** A --model choice (registry.ts). */
  model?: string;
  /** 'mlp' (default) or 'conv' (convolutions; square images of 28, 32 or 64 pixels). */
  arch?: 'mlp' | 'conv';
  /** p(x|z): 'bernoulli' (default), or 'gaussian' with the decoder's mean and a fixed standard deviation `sigma`. */
  likelihood?: 'bernoulli' | 'gaussian';
  sigma?: number;
  /** dae: the corruption of the inputs (default: gaussian, at its DEFAULT_NOISE_LEVEL). */
  noise?: NoiseKind;
  noiseLevel?: number;
  /** sae: the target mean activation ρ of the code units and the penalty's weight. */
  sparsity?: number;
  sparsityWeight?: number;
  /** vqvae: entries of the codebook, values per entry, and the weight β of the commitment term. */
  codebookSize?: number;
  codeDim?: number;
  commitment?: number;
  /** M1+M2: the run folder of a trained VAE. */
  m1?: string;
  /** What a cvae is conditioned on: the class label (default) or the observed part of the image. */
  condition?: 'label' | Region;
  binarize: Binarize;
  /** Latent dimensions and hidden layer sizes; defaults are the family's. */
  zDim?: number;
  hidden?: number[];
  beta: number;
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  klWarmup: number;
  /** Samples per example of the importance-weighted objective (IWAE); 1: the ELBO. */
  iwTrain?: number;
  /** M2: labelled training images, and the classifier's weight α in units of N, the training images. */
  labeled?: number;
  alpha?: number;
  /** Run folder; default checkpoints/run-DATE-TIME. */
  out?: string;
  limitTrain?: number;
  limitTest?: number;
  /** A folder of images: side and channels of the images, and the share held out for testing (see DataOptions). */
  imageSize?: number;
  channels?: 1 | 3;
  testSplit?: number;
  /** A folder of images: the most MB of pictures held in memory; a larger set is streamed (data/stream.ts). */
  dataMemory?: number;
}

/**
 * An M2 batch: `unlabelled` images (rows 0…) then `labelled` ones; noise: `classes` rows per unlabelled image
 * (one per label), then one row per labelled image; one-hot labels at the labelled images' rows.
 */
export interface SemiTask {
  unlabelled: number;
  labelled: number;
  weights: SemiWeights;
}

/** A training step as the engine is given it: which batch slot, how many rows, β, and the family's layout. */
export interface ShardTask {
  slot: number;
  /** Examples in this batch (the last batch of an epoch may be short). */
  n: number;
  beta: number;
  /** K > 1: the importance-weighted objective with K noise rows per example; 1: the ELBO. */
  samples: number;
  /** An M2 step: how the n examples split, and the weights of the objective's sums. */
  semi?: SemiTask;
  /**
   * The Philox key of the step's noise ε (rng.ts's philoxNormals), where the run draws it so: an engine that draws
   * the noise itself (the WebGPU engine) gives slots with an empty eps and draws it from this key.
   */
  noiseKey?: [number, number];
}

/** One batch slot: inputs [rows, dim], one-hot labels [rows, labelDim], noise [rows · samples, zDim], corrupted inputs. */
export interface BatchSlot {
  x: Float32Array;
  y: Float32Array;
  eps: Float32Array;
  /** A denoising autoencoder's corrupted inputs (empty for other models). */
  noisy: Float32Array;
  /**
   * Given by an engine that holds the training images itself (BatchSource.gather): each row's index in the
   * training set goes here, and x is not written.
   */
  imageIndex?: Float32Array;
  /**
   * Given by an engine that takes a batch's images as their bytes (BatchSource.imageBytes, a set it does not hold):
   * the rows' pixels go here, row after row, and x is not written.
   */
  bytes?: Uint8Array;
}

/** What a family's batches are made from. */
export interface BatchContext {
  vae: Vae;
  train: ImageSet;
  settings: TrainSettings;
  binarize: boolean;
  /** M1+M2: the M1 whose codes are M2's inputs. */
  m1?: M1Codes;
}

/** The batches of an epoch, written into batch slots. */
export interface BatchSource {
  /** Steps per epoch. */
  steps: number;
  /** Rows of a batch slot, and noise rows per row. */
  rows: number;
  samples: number;
  /**
   * Writes batch `step` of `epoch` into `slot`; returns its task without the slot and β, and the examples the
   * step counts towards the epoch's means (M2: its unlabelled images).
   */
  fill(epoch: number, step: number, slot: BatchSlot): { task: Omit<ShardTask, 'slot' | 'beta'>; examples: number };
  /**
   * The training set, where a batch's x is its rows' images scaled by 1/255 and nothing more (no binarization, no
   * corruption): an engine may keep it and gather the rows itself from the slot's imageIndex.
   */
  gather?: ResidentSet;
  /**
   * A batch's x is its rows' images scaled by 1/255 and nothing more, as for `gather`, whether or not the set is in
   * memory (a streamed one is not): an engine may take each batch as its images' bytes (BatchSlot.bytes), a quarter
   * of the floats' size, and scale them itself.
   */
  imageBytes?: boolean;
  /**
   * A streamed training set: makes step `step` of `epoch` ready to be filled (its pictures read from the disk; the
   * next ones are read meanwhile). Awaited before each fill.
   */
  ready?(epoch: number, step: number): Promise<void>;
  /** Lets go of what the source holds open (a streamed set's files). */
  close?(): void;
}

/** The test numbers of an epoch: the terms it reports, and the loss that picks the best checkpoint. */
export interface TestResult {
  terms: ElboTerms & { error?: number };
  loss: number;
}

export interface Family {
  /** The --model choice. */
  readonly name: string;
  /** config.json's model.family, where it is not `name` (M1+M2 is stored as an m2 model with M1's features). */
  readonly storedAs?: string;
  /** What a model of the family is called in messages ("autoencoder"). */
  readonly noun: string;
  /** One sentence for `vae train --help`. */
  readonly help: string;
  readonly traits: FamilyTraits;
  /** Networks besides the encoder and decoder, saved in each checkpoint under their names, trained in this order after them. */
  readonly networks: readonly string[];
  /** Names of the sums a training step reports after its loss, summed over an epoch into EpochSums under these names. */
  readonly stats: readonly string[];
  /**
   * How the WebGPU engine trains this family (its objective and what that needs of the model: GpuObjectiveSpec),
   * if it does; the engine reads nothing else of the family's.
   */
  gpu?(model: ModelConfig): GpuObjectiveSpec;
  /** Flags of `vae train` that this family brings (registered after the common ones; shared ones in one family only). */
  readonly flags?: readonly FlagSpec[];
  /**
   * A family without a KL term: the name of what it adds to the reconstruction (kl in its statistics), for the
   * progress lines ("sparsity", "vq").
   */
  readonly penalty?: string;
  /** Options of `vae train` that only this family (and those that share them) takes. */
  readonly takes: readonly (keyof NewRunOptions)[];
  /** The one-line error when another family is given one of `takes`. */
  takesHint?(o: NewRunOptions): string;
  /** Whether a run's model is of this family (config.json's model.family, and for M1+M2 its features). */
  matches(model: ModelConfig): boolean;
  /** Default hidden layers and latent dimensions for these options. */
  defaults(o: NewRunOptions): { hidden: number[]; zDim: number };
  /**
   * Checks the options that concern the family and completes the model's fields (condition, noise, ...);
   * returns the training settings it adds. A mistake is a VaeError of one line.
   */
  configure(o: NewRunOptions, model: ModelConfig, dataset: Dataset): Partial<TrainSettings>;
  /** The model line's name of the family ("VAE", "CVAE on the label", ...). */
  describe(model: ModelConfig, settings: TrainSettings, trainCount: number): string;
  /** Encoder, decoder and the extra networks, untrained. */
  build(config: ModelConfig): { encoder: tf.LayersModel; decoder: tf.LayersModel; extras: Record<string, tf.LayersModel> };
  /** A family whose codes are quantised: the quantizer of a model with these networks. */
  quantizer?(config: ModelConfig, extras: Record<string, tf.LayersModel>): Quantizer;
  /** The batches of a run. */
  batches(context: BatchContext): BatchSource;
  /**
   * Shard s (of `shards`) of the step in `slot`: reads the shard's rows into tensors and returns the function
   * whose gradient is taken, giving the loss (Σ over its examples, divided by the whole batch's size) and
   * then the sums named by `stats`; null when the shard has no examples.
   */
  shardTerms(vae: Vae, slot: BatchSlot, task: ShardTask, s: number, shards: number): (() => tf.Scalar[]) | null;
  /** Per-example means of the epoch's training sums, as metrics.jsonl records them. */
  trainTerms(sums: EpochSums): ElboTerms & { loss: number; labelled?: { negElbo: number; crossEntropy: number } };
  /** The test numbers, on test inputs x [count, dim] (read a range at a time) with their labels; β weighs the KL of the loss. */
  evaluate(vae: Vae, x: Inputs, labels: Labels | null, beta: number): Promise<TestResult>;
}
