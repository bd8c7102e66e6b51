/** What several families share: the image batches, a shard's tensors, the ELBO's epoch means, the usual checks. */
import * as tf from '@tensorflow/tfjs';
import { Inputs, epochOrder, fillBatch, scaleRow } from '../../data/batches';
import type { ResidentSet } from '../../data/datasets';
import { WindowReader, streamedEpoch } from '../../data/stream';
import type { Dataset } from '../../data/datasets';
import type { Labels } from '../../data/folder';
import { corrupt } from '../../data/noise';
import { VaeError } from '../../errors';
import { Rng, trainingNormals } from '../../rng';
import { fillOneHot } from '../condition';
import { evaluateElbo } from '../evaluate';
import { partRange } from '../flat';
import type { ModelConfig } from '../run-config';
import { LossTerms, Vae, buildDecoder, buildEncoder, CodeKind } from '../vae';
import { tensorFrom } from '../tensor-io';
import type { EpochSums } from '../run-config';
import type { BatchContext, BatchSlot, BatchSource, NewRunOptions, ShardTask, TestResult } from './family';

/** pytorch/examples' model: one hidden layer of 400 units, 20 latent dimensions. */
export const DEFAULT_HIDDEN = [400];
export const DEFAULT_Z_DIM = 20;
/** --arch conv: one dense layer between the convolutions and the code. */
export const CONV_HIDDEN = [256];

/** The default layers of a model on images: DEFAULT_HIDDEN, or CONV_HIDDEN with --arch conv. */
export function imageDefaults(o: NewRunOptions, zDim = DEFAULT_Z_DIM): { hidden: number[]; zDim: number } {
  return { hidden: o.arch === 'conv' ? CONV_HIDDEN : DEFAULT_HIDDEN, zDim };
}

/** Encoder and decoder with this code; no extra networks. */
export function encoderDecoder(config: ModelConfig, code?: CodeKind) {
  return { encoder: buildEncoder(config, code), decoder: buildDecoder(config), extras: {} };
}

/**
 * The most classes a label-conditioned model takes: its label is a one-hot input beside the image and z, and past
 * ImageNet's 1,000 classes that input is most of the network (LFW's folders are 5,749 people).
 */
export const MAX_LABEL_CLASSES = 1000;

/** The classes of `dataset` for a model conditioned on its label; more than MAX_LABEL_CLASSES is refused in one line. */
export function labelClasses(dataset: Dataset, model: string): number {
  const classes = dataset.labelNames?.length ?? 0;
  if (classes > MAX_LABEL_CLASSES) {
    throw new VaeError(`--model ${model} takes the label as a one-hot input, and ${dataset.name} has ${classes} classes (its subfolders); ` +
      `at most ${MAX_LABEL_CLASSES} make sense: train a model that takes no label (--model vae)${model === 'cvae' ? ', or a cvae on part of the image (--condition left-half)' : ''}`);
  }
  return classes;
}

/** A family without a KL term refuses the flags that weigh or estimate it. */
export function rejectKlFlags(o: NewRunOptions, message: string): void {
  if (o.beta !== 1 || o.klWarmup > 0 || (o.iwTrain ?? 1) > 1) throw new VaeError(message);
}

/**
 * The batches of a model on images (or codes): each step takes the next batch of the epoch's order; the
 * images (binarized with a stream of their own), one-hot labels for a label-conditioned model, noise ε
 * (K rows per image for IWAE) and, for a denoising autoencoder, the corrupted images beside the clean ones.
 */
export function imageBatches({ vae, train, settings, binarize }: BatchContext): BatchSource {
  const { batchSize, seed } = settings;
  const samples = Math.max(1, settings.iwTrain ?? 1);
  const dim = vae.inputDim;
  const zDim = vae.config.zDim;
  const labelDim = vae.labelDim;
  const noise = vae.config.noise;
  if (labelDim > 0 && !train.labels) throw new VaeError('a label-conditioned model needs a data set with labels');
  // A run that streams (config: train.stream) reads its epochs a window at a time (data/stream.ts): the order is the
  // windowed one whether or not the set is held in memory now, so that a resumed run replays it.
  const shape = settings.stream;
  const reader = shape && train.store ? new WindowReader(train.store, shape, seed, settings.epochs) : null;
  let order: { epoch: number; order: Uint32Array } | null = null;
  const orderOf = (epoch: number) => {
    if (order?.epoch !== epoch) order = { epoch, order: reader ? reader.plan(epoch).order : shape ? streamedEpoch(seed, epoch, train.count, shape).order
      : epochOrder(seed, epoch, train.count) };
    return order.order;
  };
  return {
    steps: Math.ceil(train.count / batchSize),
    rows: batchSize,
    samples,
    gather: binarize || noise || !train.images ? undefined : train as ResidentSet,
    imageBytes: !binarize && !noise,
    ready: reader ? (epoch, step) => reader.ready(epoch, step * batchSize, Math.min(train.count, (step + 1) * batchSize)) : undefined,
    close: () => reader?.close(),
    fill(epoch, step, slot) {
      const epochOrder = orderOf(epoch);
      const start = step * batchSize;
      const n = Math.min(batchSize, train.count - start);
      const binarizeRng = binarize ? new Rng(seed, 'binarize', epoch, step) : undefined;
      /** Row k of the batch: its picture's bytes and where they start (in the stream's window, or in the held set). */
      const rowOf = (k: number): [Uint8Array, number] => (reader ? reader.row(epoch, start + k) : [train.images!, epochOrder[start + k] * dim]);
      if (slot.bytes) {
        for (let k = 0; k < n; k++) {
          const [bytes, base] = rowOf(k);
          slot.bytes.set(bytes.subarray(base, base + dim), k * dim);
        }
      } else if (slot.imageIndex) {
        slot.imageIndex.set(epochOrder.subarray(start, start + n));
      } else if (reader) {
        for (let k = 0; k < n; k++) {
          const [bytes, base] = rowOf(k);
          scaleRow(bytes, base, dim, slot.x, k * dim, binarizeRng);
        }
      } else {
        fillBatch(train, dim, epochOrder, start, start + n, slot.x.subarray(0, n * dim), binarizeRng);
      }
      if (labelDim > 0) fillOneHot(train.labels!, labelDim, epochOrder, start, start + n, slot.y);
      const noiseKey = trainingNormals(settings.normals ?? 'sfc32', seed, epoch, step, slot.eps.subarray(0, n * samples * zDim));
      if (noise) corrupt(slot.x.subarray(0, n * dim), noise, new Rng(seed, 'corrupt', epoch, step), slot.noisy.subarray(0, n * dim));
      return { task: { n, samples, ...(noiseKey ? { noiseKey } : {}) }, examples: n };
    },
  };
}

/** A shard's rows of a plain batch, as tensors: images, noise (K rows per image), labels, corrupted images. */
export interface ShardTensors {
  x: tf.Tensor2D;
  eps: tf.Tensor2D;
  y?: tf.Tensor2D;
  noisy?: tf.Tensor2D;
}

/**
 * Shard s of a plain batch: `terms` computes its loss terms from its rows (normalised by the whole batch's
 * size, task.n); the shard reports [loss, Σ rec, Σ KL]. Null for a shard without rows.
 */
export function plainShard(vae: Vae, slot: BatchSlot, task: ShardTask, s: number, shards: number,
  terms: (t: ShardTensors) => LossTerms): (() => tf.Scalar[]) | null {
  const [start, end] = partRange(task.n, s, shards);
  const rows = end - start;
  if (rows === 0) return null;
  const dim = vae.inputDim;
  const zDim = vae.config.zDim;
  const k = task.samples;
  const labelDim = vae.labelDim;
  const t: ShardTensors = {
    x: tensorFrom(slot.x, start * dim, [rows, dim]) as tf.Tensor2D,
    eps: tensorFrom(slot.eps, start * k * zDim, [rows * k, zDim]) as tf.Tensor2D,
    y: labelDim > 0 ? tensorFrom(slot.y, start * labelDim, [rows, labelDim]) as tf.Tensor2D : undefined,
    noisy: slot.noisy.length > 0 ? tensorFrom(slot.noisy, start * dim, [rows, dim]) as tf.Tensor2D : undefined,
  };
  return () => {
    const r = terms(t);
    return [r.loss, r.recSum, r.klSum];
  };
}

/** Per-example means of an epoch's sums of reconstruction and KL (or penalty): −ELBO = rec + KL. */
export function elboTrainTerms(sums: EpochSums) {
  return { loss: sums.loss / sums.count, negElbo: (sums.rec + sums.kl) / sums.count, rec: sums.rec / sums.count, kl: sums.kl / sums.count };
}

/** The test −ELBO (or reconstruction and penalty) with a fixed noise stream; the loss is rec + β KL. */
export async function evaluateImages(vae: Vae, x: Inputs, labels: Labels | null, beta: number): Promise<TestResult> {
  const terms = await evaluateElbo(vae, x, labels);
  return { terms, loss: terms.rec + beta * terms.kl };
}
