/**
 * The VAE (Kingma & Welling 2013) and β-VAE (Higgins et al. 2017): q(z|x) = N(μ(x), diag σ²(x)), p(z) = N(0, I),
 * loss −log p(x|z) + β · KL(q(z|x) || p(z)); with --iw-train K the importance-weighted bound of IWAE
 * (Burda et al. 2015). The objective itself is Vae.lossTerms and Vae.importanceWeightedLossTerms.
 */
import { Family } from './family';
import { elboTrainTerms, encoderDecoder, evaluateImages, imageBatches, imageDefaults, plainShard } from './shared';

export const vae: Family = {
  name: 'vae',
  noun: 'VAE',
  help: "'vae': the VAE (β-VAE with --beta, IWAE with --iw-train)",
  traits: { prior: true, kl: true, label: false, region: false, classifies: false, conv: true, codes: false },
  networks: [],
  stats: ['rec', 'kl'],
  gpu: () => ({ objective: 'elbo' }),
  takes: [],
  matches: (model) => model.family === 'vae',
  defaults: (o) => imageDefaults(o),
  configure: () => ({}),
  describe: () => 'VAE',
  build: (config) => encoderDecoder(config),
  batches: imageBatches,
  shardTerms: (model, slot, task, s, shards) => plainShard(model, slot, task, s, shards, ({ x, eps, y }) => task.samples > 1
    ? model.importanceWeightedLossTerms(x, eps, task.samples, task.beta, task.n, y)
    : model.lossTerms(x, eps, task.beta, task.n, y)),
  trainTerms: elboTrainTerms,
  evaluate: evaluateImages,
};
