/**
 * Adam (Kingma & Ba 2015) over flat parameter arrays, with PyTorch's defaults:
 *   m ← β1·m + (1 − β1)·g        v ← β2·v + (1 − β2)·g²
 *   θ ← θ − lr · (m / (1 − β1ᵗ)) / (√(v / (1 − β2ᵗ)) + ε)      β1 = 0.9, β2 = 0.999, ε = 1e-8
 *
 * One pass over memory per step (tf.train.adam takes about a dozen tensor operations per variable), and
 * elementwise, so training threads can each update their own part of the parameters: the result does not
 * depend on how the parameters are split.
 */
import { nativeAddon } from '../native';

export interface AdamConfig {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

export const ADAM_DEFAULTS: Omit<AdamConfig, 'lr'> = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };

export interface AdamState {
  /** First and second moment estimates, one per parameter. */
  m: Float32Array;
  v: Float32Array;
}

/**
 * One Adam step t (1-based) on params[start, end): the gradient is the sum of `grads` (one array per shard
 * of the batch, added in their given order). Shards beyond the first are first added into grads[0].
 * The native addon, when built, does the same arithmetic bit for bit, about 10x faster (`useNative`).
 */
export function adamStep(config: AdamConfig, t: number, params: Float32Array, state: AdamState, grads: Float32Array[],
  start: number, end: number, useNative = true): void {
  const { beta1, beta2, epsilon } = config;
  const stepSize = config.lr / (1 - Math.pow(beta1, t)); // lr / (1 − β1ᵗ)
  const invCorrection2 = 1 / (1 - Math.pow(beta2, t)); // 1 / (1 − β2ᵗ)
  const native = useNative ? nativeAddon() : null;
  if (native) {
    native.adam(params, state.m, state.v, grads, start, end, stepSize, invCorrection2, beta1, beta2, epsilon);
    return;
  }
  const g = grads[0];
  for (let s = 1; s < grads.length; s++) {
    const gs = grads[s];
    for (let i = start; i < end; i++) g[i] += gs[i];
  }
  const a1 = 1 - beta1;
  const a2 = 1 - beta2;
  const { m, v } = state;
  for (let i = start; i < end; i++) {
    const gi = g[i];
    const mi = beta1 * m[i] + a1 * gi;
    const vi = beta2 * v[i] + a2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    params[i] -= (stepSize * mi) / (Math.sqrt(vi * invCorrection2) + epsilon);
  }
}
