/** The shapes the training loop, its epoch-end pipeline and their callers share. */
import type { RunLock } from '../io/run-lock';
import type { AdamState } from '../engine/adam';
import type { Dataset } from '../data/datasets';
import type { RunConfig, TrainState } from '../io/checkpoint';
import type { ElboTerms } from '../model/evaluate';
import type { M1Codes } from '../model/m1m2';
import type { Vae } from '../model/vae';

export interface TrainRun {
  runDir: string;
  config: RunConfig;
  dataset: Dataset;
  vae: Vae;
  /** Adam's moment estimates, in the order of vae.trainableVariables(). */
  adam: AdamState;
  state: TrainState;
  /** M1+M2: the M1 whose codes M2 learns from. */
  m1?: M1Codes;
  /** The run folder held for this process while it trains (io/run-lock.ts); released when training ends. */
  lock?: RunLock;
}

export interface StepInfo {
  epoch: number;
  step: number;
  steps: number;
  beta: number;
  /** Means over this epoch so far. */
  loss: number;
  rec: number;
  kl: number;
  samplesPerSec: number;
  /** An autoencoder: rec is its reconstruction loss, kl its sparsity penalty (sae; else 0). */
  autoencoder?: boolean;
  /** A family without KL: the name of its kl term (Family.penalty; 'sparsity' when absent). */
  penalty?: string;
}

export interface EpochResult {
  epoch: number;
  epochs: number;
  /** β at the end of the epoch (differs from the target while --kl-warmup is under way). */
  beta: number;
  /** For M2, negElbo, rec and kl are those of U(x) on the unlabelled images; labelled: L(x, y) and −log q(y|x). */
  train: ElboTerms & { loss: number; labelled?: { negElbo: number; crossEntropy: number } };
  /** For M2: U(x) and the classification error of q(y|x). */
  test: ElboTerms & { loss: number; error?: number };
  /** An autoencoder: rec is its reconstruction loss, kl its sparsity penalty (sae; else 0). */
  autoencoder: boolean;
  /** A family without KL: the name of its kl term (Family.penalty; 'sparsity' when absent). */
  penalty?: string;
  seconds: number;
  samplesPerSec: number;
  isBest: boolean;
  checkpointDir: string;
  samplesPng: string;
}

export interface TrainHooks {
  onEpochStart?(epoch: number, steps: number, startStep: number): void;
  onStep?(info: StepInfo): void;
  onEvaluate?(epoch: number): void;
  onEpochEnd?(result: EpochResult): void;
  /** Asked after every step; true saves a checkpoint at once and ends training (Ctrl-C). */
  shouldStop?(): boolean;
  /** The engine that trains, described ("CPU, 2 training threads", "webgpu (NVIDIA H200 ...), 19 dispatches per step"). */
  onEngine?(description: string): void;
  /** Something went wrong that does not stop training (e.g. curves.png could not be drawn). */
  onWarning?(message: string): void;
}
