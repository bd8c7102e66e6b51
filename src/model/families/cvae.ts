/**
 * The conditional VAE (Doersch 2016 §4): q(z|x, y) and p(x|z, y) with y the one-hot class label, or the
 * observed part of the image (image completion: --condition left-half, top-half, centre). The prior stays
 * p(z) = N(0, I), independent of y; the objective is the VAE's with y given (Vae.lossTerms).
 */
import { VaeError } from '../../errors';
import { choice } from '../../options';
import { ConditionConfig, REGIONS, conditionLayout, describeCondition } from '../condition';
import { Family } from './family';
import { DEFAULT_Z_DIM, imageDefaults, labelClasses } from './shared';
import { vae } from './vae';

/**
 * A cvae on the label draws its samples from the prior p(z) = N(0, I). With 20 dimensions, many such z lie
 * where the encoder put little mass and decode to the same shape whatever the label (measured after 10
 * epochs: an independent classifier reads 63-87% of each label's samples as that label); with 2 dimensions
 * z keeps only the style and every label's samples read as that label (96-100%). See docs/cvae.md.
 */
export const LABEL_CVAE_Z_DIM = 2;

export const cvae: Family = {
  ...vae,
  name: 'cvae',
  noun: 'conditional VAE',
  help: "'cvae': conditional VAE q(z|x,y), p(x|z,y) (Doersch 2016), on the label or, with --condition, on part of the image",
  traits: { ...vae.traits, label: true, region: true, conv: false },
  flags: [{ flags: '--condition <y>', parse: choice(['label', ...REGIONS] as const), default: 'label',
    help: "what a cvae is conditioned on: 'label' (one-hot class), or the observed part of the image for completion: " +
      "'left-half', 'top-half', 'centre' (all but a centre square)" }],
  takes: ['condition'],
  takesHint: (o) => `--condition ${o.condition} needs --model cvae`,
  matches: (model) => model.family === 'cvae' && model.condition !== undefined,
  defaults: (o) => imageDefaults(o, (o.condition ?? 'label') === 'label' ? LABEL_CVAE_Z_DIM : DEFAULT_Z_DIM),
  configure(o, model, dataset) {
    const condition = o.condition ?? 'label';
    let config: ConditionConfig = { kind: 'region', region: condition as Exclude<typeof condition, 'label'> };
    if (condition === 'label') {
      if (!dataset.train.labels || !dataset.labelNames || !dataset.test.labels) {
        throw new VaeError(`--model cvae conditions on the label, and ${dataset.name} has no labels; use --condition left-half|top-half|centre`);
      }
      config = { kind: 'label', classes: labelClasses(dataset, 'cvae') };
    }
    model.condition = config;
    return {};
  },
  describe: (model) => `CVAE ${describeCondition(model.condition)}`,
  gpu: (model) => ({ objective: 'cvae', condition: conditionLayout(model.inputShape, model.condition) }),
};
