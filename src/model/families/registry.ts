/**
 * The model families, one line each: `vae train --model`'s choices and help, the checkpoint loader, the
 * training step and the commands' checks all look a family up here. To add one, write its module beside
 * these and add it to FAMILIES (docs/ARCHITECTURE.md).
 */
import type * as tf from '@tensorflow/tfjs';
import { VaeError } from '../../errors';
import type { ModelConfig } from '../run-config';
import { Vae, initWeights } from '../vae';
import { ae, dae, sae } from './autoencoders';
import { cvae } from './cvae';
import { Family, NewRunOptions, STEP_STATS } from './family';
import { m1m2, m2 } from './m2';
import { vae } from './vae';
import { vqvae } from './vqvae';

export const FAMILIES: readonly Family[] = [vae, cvae, m2, m1m2, ae, dae, sae, vqvae];

/** The --model choices, in the order of FAMILIES. */
export const MODEL_CHOICES = FAMILIES.map((f) => f.name);

/** The family given as --model `name`. */
export function familyNamed(name: string): Family {
  const family = FAMILIES.find((f) => f.name === name);
  if (!family) throw new VaeError(`unknown model '${name}': choose one of ${MODEL_CHOICES.join(', ')}`);
  return family;
}

/** The family of a model config (config.json's model), or null for one this version does not know. */
export function findFamily(model: ModelConfig | undefined): Family | null {
  return model ? FAMILIES.find((f) => f.matches(model)) ?? null : null;
}

export function familyOf(model: ModelConfig): Family {
  const family = findFamily(model);
  if (!family) throw new VaeError(`unknown model family '${model.family}'`);
  return family;
}

/** The families that have a trait, by name ("vae, ae, dae and sae"). */
export function familiesWith(trait: keyof Family['traits']): string {
  const names = FAMILIES.filter((f) => f.traits[trait]).map((f) => f.name);
  return names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}` : names.join('');
}

// The engines' statistics layout holds STEP_STATS numbers a step: the loss and a family's sums.
for (const f of FAMILIES) if (1 + f.stats.length > STEP_STATS) throw new Error(`the ${f.name} family reports more than STEP_STATS numbers a step`);

/**
 * Stops options that belong to another family (--noise without --model dae, ...), with that family's hint.
 * --condition label is the default, and means nothing to a family that takes no condition.
 */
export function checkFamilyOptions(family: Family, o: NewRunOptions): void {
  for (const other of FAMILIES) {
    for (const key of other.takes) {
      const given = o[key] !== undefined && !(key === 'condition' && o.condition === 'label');
      if (given && !family.takes.includes(key)) throw new VaeError(other.takesHint!(o));
    }
  }
}

/** A new model of this config with seeded initial weights (PyTorch's initialisation; see initWeights). */
export function createModel(config: ModelConfig, seed: number): Vae {
  const { encoder, decoder, extras } = familyOf(config).build(config);
  for (const net of [encoder, decoder, ...Object.values(extras)]) initWeights(net, seed);
  return assembleModel(config, encoder, decoder, extras);
}

/** The model of these networks (built, or loaded from a checkpoint), with its family's quantizer if it has one. */
export function assembleModel(config: ModelConfig, encoder: tf.LayersModel, decoder: tf.LayersModel, extras: Record<string, tf.LayersModel>): Vae {
  return new Vae(config, encoder, decoder, extras, familyOf(config).quantizer?.(config, extras) ?? null);
}

/** The networks a checkpoint of this model holds besides encoder and decoder. */
export function extraNetworks(config: ModelConfig): readonly string[] {
  return familyOf(config).networks;
}
