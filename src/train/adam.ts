/**
 * Adam (Kingma & Ba 2015) over flat parameter arrays, with PyTorch's defaults:
 *   m ← β1·m + (1 − β1)·g        v ← β2·v + (1 − β2)·g²
 *   θ ← θ − lr · (m / (1 − β1ᵗ)) / (√(v / (1 − β2ᵗ)) + ε)      β1 = 0.9, β2 = 0.999, ε = 1e-8
 *
 * One pass over memory per step (tf.train.adam takes about a dozen tensor operations per variable), and
 * elementwise, so training threads can each update their own part of the parameters: the result does not
 * depend on how the parameters are split.
 */
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
 * of the batch, added in their given order).
 */
export function adamStep(config: AdamConfig, t: number, params: Float32Array, state: AdamState, grads: Float32Array[],
  start: number, end: number): void {
  const { lr, beta1, beta2, epsilon } = config;
  const correction1 = 1 - Math.pow(beta1, t);
  const correction2 = 1 - Math.pow(beta2, t);
  const { m, v } = state;
  const shards = grads.length;
  for (let i = start; i < end; i++) {
    let g = grads[0][i];
    for (let s = 1; s < shards; s++) g += grads[s][i];
    const mi = beta1 * m[i] + (1 - beta1) * g;
    const vi = beta2 * v[i] + (1 - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    params[i] -= (lr * (mi / correction1)) / (Math.sqrt(vi / correction2) + epsilon);
  }
}
