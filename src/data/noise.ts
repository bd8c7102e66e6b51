/**
 * Corrupting inputs for a denoising autoencoder (Vincent et al. 2008; shared/DESIGN.md): the encoder sees
 * a noisy image, the decoder is scored on the clean one.
 */
import { VaeError } from '../errors';
import { Rng } from '../rng';

export const NOISE_KINDS = ['gaussian', 'salt-pepper', 'mask'] as const;
export type NoiseKind = typeof NOISE_KINDS[number];

export interface NoiseConfig {
  kind: NoiseKind;
  /** gaussian: the standard deviation added to each value; salt-pepper and mask: the share of values hit. */
  level: number;
}

/** A default level per kind, strong enough that the corruption is plainly visible on a digit. */
export const DEFAULT_NOISE_LEVEL: Record<NoiseKind, number> = { gaussian: 0.5, 'salt-pepper': 0.2, mask: 0.5 };

/** The noise of `kind` at `level` (default DEFAULT_NOISE_LEVEL), checked: a share of pixels is at most 1. */
export function noiseConfig(kind: NoiseKind, level = DEFAULT_NOISE_LEVEL[kind]): NoiseConfig {
  if (kind !== 'gaussian' && level > 1) {
    throw new VaeError(`--noise-level for ${kind} noise is the share of pixels hit, between 0 and 1; got ${level}`);
  }
  return { kind, level };
}

/**
 * x with noise, values in [0, 1]: gaussian adds N(0, level²) and clips; salt-pepper sets each value, with
 * probability `level`, to 0 or 1 (even odds); mask sets each value, with probability `level`, to 0.
 */
export function corrupt(x: Float32Array, noise: NoiseConfig, rng: Rng, into?: Float32Array): Float32Array {
  const out = into ?? new Float32Array(x.length);
  const { level } = noise;
  for (let i = 0; i < x.length; i++) {
    if (noise.kind === 'gaussian') {
      out[i] = Math.min(1, Math.max(0, x[i] + level * rng.normal()));
    } else if (rng.uniform() < level) {
      out[i] = noise.kind === 'mask' ? 0 : rng.uniform() < 0.5 ? 0 : 1;
    } else {
      out[i] = x[i];
    }
  }
  return out;
}
