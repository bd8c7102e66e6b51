/**
 * The batches of semi-supervised training (M2, M1+M2): which images keep their label, and what a step sees.
 * Every step takes the next `batch` unlabelled images of the epoch's order and a fresh draw of labelled ones
 * (min(batch, labelled images), without replacement within the step); see model/m2.ts for how they are weighed.
 */
import { fillBatch } from '../../data/batches';
import { ImageSet } from '../../data/datasets';
import type { Labels } from '../../data/folder';
import { LabelledSplit, splitLabelled } from '../../data/labelled';
import { VaeError } from '../../errors';
import { fillOneHot } from '../condition';
import { sampleCodes } from '../m1m2';
import type { TrainSettings } from '../run-config';
import { NormalsKind, Rng, trainingNormals } from '../../rng';

/** An M2 run's labelled and unlabelled images, labelled images per step, and α. */
export interface SemiPlan {
  split: LabelledSplit;
  labelledBatch: number;
  alpha: number;
}

export function semiSupervisedPlan(settings: TrainSettings, labels: Labels | null, classes: number): SemiPlan {
  const { labeled, alpha } = settings;
  if (!labels || labeled === undefined || alpha === undefined) throw new VaeError('an M2 run needs labelled data, --labeled and --alpha');
  const split = splitLabelled(labels, classes, labeled, settings.seed);
  return { split, labelledBatch: Math.min(split.labelled.length, settings.batchSize), alpha };
}

/** Where a batch's inputs come from: images (binarized or not), or for M1+M2 M1's codes of them. */
export interface SemiSource {
  set: ImageSet;
  codes: { mean: Float32Array; logvar: Float32Array } | null;
  /** Values per input (pixels, or kept code dimensions). */
  dim: number;
  binarize: boolean;
  seed: number;
  /** How the run draws its noise ε (TrainSettings.normals). */
  normals: NormalsKind;
}

/**
 * Writes step `step` of `epoch` into a batch slot: the unlabelled inputs order[step · batch, …) then the
 * labelled ones; the labelled ones' one-hot labels at their rows; noise, one row per label for every
 * unlabelled input and one per labelled input. Returns the number of unlabelled inputs and the noise's Philox key
 * (null for an sfc32 stream).
 */
export function fillSemiBatch(plan: SemiPlan, source: SemiSource, order: Uint32Array, epoch: number, step: number,
  slot: { x: Float32Array; y: Float32Array; eps: Float32Array }, sizes: { batch: number; classes: number; zDim: number }): { unlabelled: number; noiseKey: [number, number] | null } {
  const { split, labelledBatch: nl } = plan;
  const { set, codes, dim, binarize, seed } = source;
  const { batch, classes, zDim } = sizes;
  const start = step * batch;
  const nu = Math.min(batch, split.unlabelled.length - start);
  /** Inputs rows[from, to) into out: images, or codes drawn from q(z1|x); `stream` names the noise. */
  const fill = (rows: ArrayLike<number>, from: number, to: number, out: Float32Array, stream: string) => {
    if (codes) sampleCodes(codes, dim, rows, from, to, out, new Rng(seed, `codes${stream}`, epoch, step));
    else fillBatch(set, dim, rows, from, to, out, binarize ? new Rng(seed, `binarize${stream}`, epoch, step) : undefined);
  };
  fill(order, start, start + nu, slot.x.subarray(0, nu * dim), '');
  const picked = new Rng(seed, 'labelled-batch', epoch, step).permutation(split.labelled.length).map((i) => split.labelled[i]);
  fill(picked, 0, nl, slot.x.subarray(nu * dim, (nu + nl) * dim), '-labelled');
  fillOneHot(set.labels!, classes, picked, 0, nl, slot.y.subarray(nu * classes, (nu + nl) * classes));
  const noiseKey = trainingNormals(source.normals, seed, epoch, step, slot.eps.subarray(0, (nu * classes + nl) * zDim));
  return { unlabelled: nu, noiseKey };
}
