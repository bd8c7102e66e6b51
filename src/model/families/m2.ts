/**
 * M2, semi-supervised (Kingma et al. 2014): a label cvae with a third network, the classifier q(y|x), that
 * learns from a few labelled images and the unlabelled rest (the objective is in ../m2.ts); and M1+M2, the
 * same model on the codes of a trained VAE (M1) instead of pixels (../m1m2.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { epochOrder, testMatrix } from '../../data/batches';
import { VaeError } from '../../errors';
import { displayPath } from '../../files';
import { nonNegativeFloat, positiveInt } from '../../options';
import { partRange } from '../flat';
import { PAPER_ALPHA_PER_IMAGE, SemiBatch, evaluateSemi, semiSupervisedTerms, semiWeights } from '../m2';
import { tensorFrom } from '../tensor-io';
import { buildClassifier, buildDecoder, buildEncoder } from '../vae';
import { Family, NewRunOptions } from './family';
import { labelClasses } from './shared';
import { fillSemiBatch, semiSupervisedPlan } from './semi-batches';

/** M2's networks as in Kingma et al. 2014 (§4.1): one hidden layer of 500 units, 50 latent dimensions. */
export const M2_HIDDEN = [500];
export const M2_Z_DIM = 50;
/** M1+M2 with 100 labels: M2's hidden layer in the paper's code (nips14-ssl, run_2layer_ssl.py). */
export const M1M2_HIDDEN = [300];
/** M2: labelled training images (the paper's headline setting: 100, 10 per class). */
export const DEFAULT_LABELED = 100;

/** The paper's objective: no β, warm-up or IWAE; a hidden layer, a labelled data set; α in units of N. */
function configureSemi(o: NewRunOptions, model: Parameters<Family['configure']>[1], dataset: Parameters<Family['configure']>[2]) {
  if (o.beta !== 1 || o.klWarmup > 0 || (o.iwTrain ?? 1) > 1) {
    throw new VaeError('--model m2 trains the objective of Kingma et al. 2014: --beta, --kl-warmup and --iw-train are for vae and cvae');
  }
  if (!dataset.train.labels || !dataset.labelNames || !dataset.test.labels) {
    throw new VaeError(`--model ${o.model} learns from labelled and unlabelled images, and ${dataset.name} has no labels`);
  }
  if (!dataset.train.images) {
    // Its labelled images are drawn from the whole set every step: it holds the set in memory.
    throw new VaeError(`--model ${o.model} draws labelled images from the whole training set every step, so it holds the set in memory, ` +
      `and ${dataset.name} is larger than --data-memory: raise it to ${Math.ceil((dataset.train.count + dataset.test.count) * dataset.train.store!.dim / 2 ** 20) + 1} or pass --limit-train`);
  }
  model.condition = { kind: 'label', classes: labelClasses(dataset, o.model ?? 'm2') };
  if (model.hidden.length === 0) throw new VaeError('--model m2 needs at least one hidden layer (--hidden)');
  return { labeled: o.labeled ?? DEFAULT_LABELED, alpha: (o.alpha ?? PAPER_ALPHA_PER_IMAGE) * dataset.train.count };
}

export const m2: Family = {
  name: 'm2',
  noun: 'M2 model',
  help: "'m2': semi-supervised M2 (Kingma et al. 2014), a cvae with a classifier q(y|x), learning from --labeled labels and the unlabelled rest",
  traits: { prior: true, kl: true, label: true, region: false, classifies: true, conv: false, codes: false },
  networks: ['classifier'],
  // 'labelled': how many labelled images the step saw (its shards' shares add up to it).
  stats: ['rec', 'kl', 'u', 'l', 'ce', 'labelled'],
  flags: [
    { flags: '--labeled <n>', parse: positiveInt, defaultText: String(DEFAULT_LABELED),
      help: 'm2, m1m2: training images that keep their label, the same number per class, picked with --seed' },
    { flags: '--alpha <a>', parse: nonNegativeFloat, defaultText: `${PAPER_ALPHA_PER_IMAGE}, the paper's α = 0.1·N`,
      help: "m2, m1m2: weight of the classifier's cross-entropy on the labelled images, α = a·N with N the training images" },
  ],
  takes: ['labeled', 'alpha'],
  gpu: (model) => ({ objective: 'm2', classifier: 'classifier', classes: model.condition?.kind === 'label' ? model.condition.classes : 0 }),
  takesHint: () => '--labeled and --alpha are for semi-supervised training: add --model m2',
  matches: (model) => model.family === 'm2' && !model.features && model.condition?.kind === 'label',
  defaults: () => ({ hidden: M2_HIDDEN, zDim: M2_Z_DIM }),
  configure: configureSemi,
  describe: (model, settings, trainCount) => {
    const features = model.features;
    return `M2 (semi-supervised: ${settings.labeled} labelled images, α ${settings.alpha! / trainCount}·N)` +
      (features ? ` on the codes of M1 ${displayPath(features.source)} (${features.dims.length} of its ${features.m1.zDim} dimensions vary)` : '');
  },
  build: (config) => ({ encoder: buildEncoder(config), decoder: buildDecoder(config), extras: { classifier: buildClassifier(config) } }),

  /**
   * Every step takes the next batch of unlabelled images (or M1's codes of them, drawn afresh from q(z1|x))
   * and a fresh draw of labelled ones; see semi-batches.ts.
   */
  batches({ vae, train, settings, binarize, m1 }) {
    const plan = semiSupervisedPlan(settings, train.labels, vae.labelDim);
    const { batchSize, seed } = settings;
    const unlabelled = plan.split.unlabelled;
    const codes = m1 ? m1.encode(testMatrix(train, m1.m1.inputDim, 'none'), train.count) : null;
    const nl = plan.labelledBatch;
    let order: { epoch: number; order: Uint32Array } | null = null;
    return {
      steps: Math.ceil(unlabelled.length / batchSize),
      rows: batchSize + nl,
      samples: vae.labelDim, // one noise row per label for an unlabelled image
      fill(epoch, step, slot) {
        if (order?.epoch !== epoch) order = { epoch, order: epochOrder(seed, epoch, unlabelled.length).map((i) => unlabelled[i]) };
        const { unlabelled: n, noiseKey } = fillSemiBatch(plan, { set: train, codes, dim: vae.inputDim, binarize, seed,
          normals: settings.normals ?? 'sfc32' }, order.order, epoch, step, slot, { batch: batchSize, classes: vae.labelDim, zDim: vae.config.zDim });
        const semi = { unlabelled: n, labelled: nl, weights: semiWeights(unlabelled.length, plan.split.labelled.length, n, nl, plan.alpha) };
        return { task: { n: n + nl, samples: 1, semi, ...(noiseKey ? { noiseKey } : {}) }, examples: n };
      },
    };
  },

  /** Shard s of an M2 batch: its share of the unlabelled images and its share of the labelled ones. */
  shardTerms(vae, slot, task, s, shards) {
    const semi = task.semi!;
    const dim = vae.inputDim;
    const zDim = vae.config.zDim;
    const classes = vae.labelDim;
    const [u0, u1] = partRange(semi.unlabelled, s, shards);
    const [l0, l1] = partRange(semi.labelled, s, shards);
    if (u1 === u0 && l1 === l0) return null;
    const batch: SemiBatch = {};
    if (u1 > u0) {
      batch.unlabelled = {
        x: tensorFrom(slot.x, u0 * dim, [u1 - u0, dim]) as tf.Tensor2D,
        eps: tensorFrom(slot.eps, u0 * classes * zDim, [(u1 - u0) * classes, zDim]) as tf.Tensor2D,
      };
    }
    if (l1 > l0) {
      const row = semi.unlabelled + l0;
      batch.labelled = {
        x: tensorFrom(slot.x, row * dim, [l1 - l0, dim]) as tf.Tensor2D,
        y: tensorFrom(slot.y, row * classes, [l1 - l0, classes]) as tf.Tensor2D,
        eps: tensorFrom(slot.eps, (semi.unlabelled * classes + l0) * zDim, [l1 - l0, zDim]) as tf.Tensor2D,
      };
    }
    return () => {
      const t = semiSupervisedTerms(vae, batch, semi.weights);
      return [t.loss, t.recSum, t.klSum, t.uSum, t.lSum, t.ceSum, tf.scalar(l1 - l0)];
    };
  },

  trainTerms: (sums) => ({ loss: sums.loss / sums.count, negElbo: sums.u! / sums.count, rec: sums.rec / sums.count, kl: sums.kl / sums.count,
    labelled: { negElbo: sums.l! / sums.labelled!, crossEntropy: sums.ce! / sums.labelled! } }),

  async evaluate(vae, x, labels) {
    const terms = await evaluateSemi(vae, x.rows(0, x.count), x.count, labels!); // held in memory (configureSemi)
    return { terms, loss: terms.negElbo };
  },
};

/** M1+M2: M2 on the codes of the VAE in --m1 (train/run.ts loads it and records its features in the model). */
export const m1m2: Family = {
  ...m2,
  name: 'm1m2',
  storedAs: 'm2',
  noun: 'M1+M2 model',
  help: "'m1m2': M2 on the codes of the VAE in --m1 (Kingma et al. 2014's M1+M2)",
  traits: { ...m2.traits, codes: true },
  flags: [{ flags: '--m1 <dir>', help: "m1m2: the run folder of a trained VAE (M1); M2 learns from its codes (Kingma et al. 2014's M1+M2)" }],
  takes: ['m1', 'labeled', 'alpha'],
  takesHint: () => '--m1 is for --model m1m2',
  matches: (model) => model.family === 'm2' && model.features !== undefined,
  defaults: () => ({ hidden: M1M2_HIDDEN, zDim: M2_Z_DIM }),
};
