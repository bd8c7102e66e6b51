/**
 * The autoencoder family (shared/DESIGN.md), to compare latent spaces with the VAE's: a plain ('ae'), a
 * denoising ('dae': the encoder sees a corrupted image, the decoder is scored on the clean one) and a sparse
 * autoencoder ('sae': sigmoid code units, plus weight · Σ_j KL(ρ || ρ̂_j)). Their code is a point, not a
 * distribution, and they have no prior: nothing to sample from (Vae.autoencoderLossTerms is the objective).
 */
import { DEFAULT_NOISE_LEVEL, NOISE_KINDS, noiseConfig } from '../../data/noise';
import { choice, nonNegativeFloat, positiveFloat } from '../../options';
import { VaeError } from '../../errors';
import type { ModelConfig } from '../run-config';
import { Family, NewRunOptions } from './family';
import { elboTrainTerms, encoderDecoder, evaluateImages, imageBatches, imageDefaults, plainShard, rejectKlFlags } from './shared';

/**
 * sae: the target mean activation of a code unit (Ng's lecture notes: ρ = 0.05), and the penalty's weight.
 * The notes' β = 3 weighs the penalty against a squared error of a few units; our reconstruction is ~100 nats
 * per image, so the weight is larger. Measured, 1 epoch on 10,000 MNIST images, 32 code units: mean activation
 * 0.29 with weight 3, 0.12 with 30, 0.075 with 100.
 */
export const DEFAULT_SPARSITY = 0.05;
export const DEFAULT_SPARSITY_WEIGHT = 100;

function autoencoder(name: string, help: string, configure: (o: NewRunOptions, model: ModelConfig) => void,
  describe: (model: ModelConfig) => string): Family {
  return {
    name,
    noun: 'autoencoder',
    help,
    traits: { prior: false, kl: false, label: false, region: false, classifies: false, conv: true, codes: false },
    networks: [],
    stats: ['rec', 'kl'], // kl: the sparsity penalty (0 but for sae)
    penalty: 'sparsity',
    takes: [],
    matches: (model) => model.family === name,
    defaults: (o) => imageDefaults(o),
    configure(o, model) {
      rejectKlFlags(o, `an autoencoder (--model ${name}) has no KL term: --beta, --kl-warmup and --iw-train are for vae and cvae`);
      configure(o, model);
      return {};
    },
    describe,
    // A dae encodes the corrupted images (the batch's `noisy`), a sae adds its penalty.
    gpu: (model) => ({ objective: 'autoencoder', denoising: model.noise !== undefined, sparsity: model.sparsity }),
    build: (config) => encoderDecoder(config, { kind: 'point', activation: config.sparsity ? 'sigmoid' : 'linear' }),
    batches: imageBatches,
    // A denoising autoencoder encodes the corrupted images and is scored on the clean ones.
    shardTerms: (vae, slot, task, s, shards) => plainShard(vae, slot, task, s, shards, ({ x, noisy }) =>
      vae.autoencoderLossTerms(noisy ?? x, x, task.n)),
    trainTerms: elboTrainTerms,
    evaluate: evaluateImages,
  };
}

export const ae: Family = autoencoder('ae', "'ae': a plain autoencoder", () => undefined, () => 'autoencoder');

export const dae: Family = {
  ...autoencoder('dae', "'dae': a denoising autoencoder (--noise)", (o, model) => {
    model.noise = noiseConfig(o.noise ?? 'gaussian', o.noiseLevel);
  }, (model) => `denoising autoencoder (${model.noise!.kind} noise, level ${model.noise!.level})`),
  flags: [
    { flags: '--noise <kind>', parse: choice(NOISE_KINDS), defaultText: 'gaussian', help: `dae: how inputs are corrupted: ${NOISE_KINDS.join(', ')}` },
    { flags: '--noise-level <p>', parse: nonNegativeFloat, defaultText: NOISE_KINDS.map((k) => `${k} ${DEFAULT_NOISE_LEVEL[k]}`).join(', '),
      help: 'dae: the standard deviation of gaussian noise, or the share of pixels hit by salt-pepper or mask' },
  ],
  takes: ['noise', 'noiseLevel'],
  takesHint: () => '--noise and --noise-level are for a denoising autoencoder: add --model dae',
};

export const sae: Family = {
  ...autoencoder('sae', "'sae': a sparse autoencoder (--sparsity)", (o, model) => {
    const target = o.sparsity ?? DEFAULT_SPARSITY;
    if (!(target > 0 && target < 1)) throw new VaeError(`--sparsity is a mean activation, between 0 and 1 (exclusive); got ${target}`);
    model.sparsity = { target, weight: o.sparsityWeight ?? DEFAULT_SPARSITY_WEIGHT };
  }, (model) => `sparse autoencoder (ρ ${model.sparsity!.target}, weight ${model.sparsity!.weight})`),
  flags: [
    { flags: '--sparsity <rho>', parse: positiveFloat, defaultText: String(DEFAULT_SPARSITY),
      help: 'sae: the target mean activation ρ of the (sigmoid) code units' },
    { flags: '--sparsity-weight <w>', parse: nonNegativeFloat, defaultText: String(DEFAULT_SPARSITY_WEIGHT),
      help: 'sae: weight of the penalty Σ_j KL(ρ || mean activation of unit j)' },
  ],
  takes: ['sparsity', 'sparsityWeight'],
  takesHint: () => '--sparsity and --sparsity-weight are for a sparse autoencoder: add --model sae',
};
