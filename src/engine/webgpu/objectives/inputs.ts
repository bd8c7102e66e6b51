/**
 * A batch as the encoder and the loss read it, for the objectives whose rows are the batch's images (all but M2's):
 * the images, gathered on the GPU from the training set where the engine holds it (gather.ts) or uploaded; a
 * denoising autoencoder's corrupted images beside them, which the encoder reads instead. The cvae's inputs are in
 * cvae.ts.
 */
import type { BatchSlot } from '../../../model/families/family';
import { gatherKernel } from '../gather';
import type { Kernel } from '../wgsl';
import type { StepContext, Upload } from './objective';

/** Where a step's inputs are, its kernels (a gather, or none) and how a batch slot's rows are written there. */
export interface StepInputs {
  /** The encoder's rows [rows, its input width]. */
  encoder: number;
  /** What the loss scores, [rows, out]: the images, or a completion's missing values. */
  target: number;
  out: number;
  /** Values beside z in each decoder row (a cvae's condition, written by upload): 0 for none. */
  beside: number;
  kernels: Kernel[];
  gathered: { index: number; lut: number } | null;
  /** Writes the batch's n rows; a decoder row's values beside z go to z's rows (K per row, Z + beside wide). */
  upload(write: Upload, slot: BatchSlot, n: number, decoder: { z: number; K: number }): void;
}

/** The batch's images, as they are (gathered where `gather`) or corrupted for the encoder (`denoising`). */
export function imageInputs(ctx: StepContext, o: { gather: boolean; denoising: boolean }): StepInputs {
  const { D } = ctx.model;
  const { rows } = ctx.plan;
  const x = ctx.mem.take(rows * D);
  // A denoising autoencoder encodes corrupted images (uploaded beside the clean ones) and is scored on the clean.
  const corrupted = o.denoising ? ctx.mem.take(rows * D) : null;
  const gathered = o.gather ? { index: ctx.mem.take(rows), lut: ctx.mem.take(256) } : null;
  return {
    encoder: corrupted ?? x, target: x, out: D, beside: 0, gathered,
    kernels: gathered ? [gatherKernel({ ...gathered, x, D })] : [],
    upload(write, slot, n) {
      if (gathered) write(gathered.index, slot.imageIndex!, n);
      else write(x, slot.x, n * D);
      if (corrupted !== null) write(corrupted, slot.noisy, n * D);
    },
  };
}
