/**
 * The cvae's objective on the GPU (Doersch 2016 §4): the VAE's (elbo.ts: the ELBO, or IWAE's bound) on inputs laid
 * out by the condition (model/condition.ts): the encoder reads [x, y] (y the one-hot label, or nothing beside x for
 * a region), the decoder [z, c] (c the label or the observed pixels), and the loss scores what the decoder models
 * (the whole image, or a completion's missing pixels). The batch is written on the CPU in that layout and uploaded.
 */
import { ConditionLayout, writeDecoderCondition, writeDecoderTarget, writeEncoderInput } from '../../../model/condition';
import type { ModelConfig } from '../../../model/run-config';
import { gaussianObjective } from './elbo';
import type { StepInputs } from './inputs';
import type { GpuObjective, StepContext, StepOptions } from './objective';

/** The condition's inputs, uploaded: the encoder's rows, the condition beside z in every decoder row, the target. */
function conditionInputs(ctx: StepContext, layout: ConditionLayout): StepInputs {
  const { D, Z } = ctx.model;
  const { rows, decRows } = ctx.plan;
  const { encoderExtra: E, decoderExtra: C, outputDim: out } = layout;
  const x = ctx.mem.take(rows * D);
  const xy = E > 0 ? ctx.mem.take(rows * (D + E)) : null;
  const target = out !== D ? ctx.mem.take(rows * out) : x;
  // The rows as the kernels read them, written here first (z's own values stay 0: the kernels write them).
  const staging = { xy: new Float32Array(xy === null ? 0 : rows * (D + E)), z: new Float32Array(C > 0 ? decRows * (Z + C) : 0),
    target: new Float32Array(target === x ? 0 : rows * out) };
  return {
    encoder: xy ?? x, target, out, beside: C, kernels: [], gathered: null,
    upload(write, slot, n, decoder) {
      const rowsOf = (width: number, fill: (r: number, row: Float32Array) => void, buffer: Float32Array, at: number, count = n) => {
        for (let r = 0; r < count; r++) fill(r, buffer.subarray(r * width, (r + 1) * width));
        write(at, buffer, count * width);
      };
      write(x, slot.x, n * D);
      if (xy !== null) rowsOf(D + E, (r, row) => writeEncoderInput(layout, slot.x, D, slot.y, r, row), staging.xy, xy);
      // The decoder's rows: K per example (the importance-weighted objective's samples).
      if (C > 0) {
        rowsOf(Z + C, (rk, row) => writeDecoderCondition(layout, slot.x, D, slot.y, Math.floor(rk / decoder.K), row.subarray(Z)), staging.z,
          decoder.z, n * decoder.K);
      }
      if (target !== x) rowsOf(out, (r, row) => writeDecoderTarget(layout, slot.x, D, r, row), staging.target, target);
    },
  };
}

export const cvaeObjective = (spec: { condition: ConditionLayout }, o: StepOptions): GpuObjective =>
  gaussianObjective(o, (ctx) => conditionInputs(ctx, spec.condition), false);

/** The kernels lay out an MLP's rows: a conv cvae (not built today) would need its condition as feature maps. */
export const cvaeUnsupported = (model: ModelConfig): string | null => (model.arch === 'conv' ? `a conditioned conv ${model.family} model` : null);
