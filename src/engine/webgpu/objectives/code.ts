/**
 * The code layers' part of a step, which the objectives share: a Gaussian code (μ and log σ²) or a point code (μ
 * alone, through its activation), run on the encoder's top, and back: their weight gradients and the gradient of
 * the encoder's top (masked by its ReLU).
 */
import { deferFinish, jointInputGrad } from '../layers';
import { alongside } from '../products';
import { Kernel } from '../wgsl';
import type { StepInputs } from './inputs';
import type { StepContext } from './objective';

export interface CodeStep {
  /** μ [rows, Z] and its gradient; a Gaussian code's log σ² and its gradient (-1 for a point code). */
  mu: number;
  dmu: number;
  logvar: number;
  dlogvar: number;
  forward: Kernel[];
  /** After dmu (and dlogvar) are written: the code layers' gradients, and the encoder top's. */
  backward: Kernel[];
}

/** The encoder's top: its last output, or its input where it has no layers (then no gradient goes further). */
function encoderTop(ctx: StepContext, input: number) {
  const last = ctx.enc.length - 1;
  return last >= 0 ? { at: ctx.encH[last], grad: ctx.dEncH[last] } : { at: input, grad: null };
}

/** A Gaussian code q(z|x) = N(μ, diag σ²) of the encoder reading `input`, on the step's rows. */
export function gaussianCode(ctx: StepContext, input: number): CodeStep {
  const { mu, logvar } = ctx.code;
  if (!logvar) throw new Error('this GPU objective needs a Gaussian code (μ and log σ²), and the model\'s is a point');
  const size = ctx.plan.rows * ctx.model.Z;
  const at = { mu: ctx.mem.take(size), logvar: ctx.mem.take(size), dmu: ctx.mem.take(size), dlogvar: ctx.mem.take(size) };
  const top = encoderTop(ctx, input);
  return {
    ...at,
    // μ and log σ² side by side (alongside): each's forward; each's weight gradient, and the top's gradient from both
    // (one product over their outputs side by side).
    forward: alongside(mu.forward(top.at, at.mu), logvar.forward(top.at, at.logvar)),
    // What finishes their weight gradients (split sums) goes into the step's later stages.
    backward: alongside(deferFinish(mu.weightGrad(top.at, at.dmu), ctx.later), deferFinish(logvar.weightGrad(top.at, at.dlogvar), ctx.later),
      top.grad === null ? [] : jointInputGrad([{ layer: mu, dOut: at.dmu }, { layer: logvar, dOut: at.dlogvar }], top.grad, top.at, ctx.plan)),
  };
}

/** A point code (an autoencoder's) of the encoder reading `input`, on the step's rows. */
export function pointCode(ctx: StepContext, input: number): CodeStep {
  const { mu, logvar } = ctx.code;
  if (logvar) throw new Error('this GPU objective needs a point code, and the model\'s is Gaussian');
  const size = ctx.plan.rows * ctx.model.Z;
  const at = { mu: ctx.mem.take(size), dmu: ctx.mem.take(size) };
  const top = encoderTop(ctx, input);
  return {
    ...at, logvar: -1, dlogvar: -1,
    forward: mu.forward(top.at, at.mu),
    backward: alongside(deferFinish(mu.weightGrad(top.at, at.dmu), ctx.later), top.grad === null ? [] : mu.inputGrad(at.dmu, top.grad, top.at)),
  };
}

/**
 * A Gaussian code of the encoder reading the inputs, and what its samples need, one per decoder row: the noise ε
 * [decRows, Z] and z, each row `Z + beside` wide (a cvae's condition beside z, uploaded with zeros where z goes).
 */
export function gaussianSamples(ctx: StepContext, inputs: StepInputs) {
  const { Z } = ctx.model;
  const { decRows } = ctx.plan;
  const code = gaussianCode(ctx, inputs.encoder);
  const zLd = Z + inputs.beside;
  return { code, eps: ctx.mem.take(decRows * Z), zLd, z: ctx.mem.take(decRows * zLd) };
}
