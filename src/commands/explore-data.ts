/**
 * explore.json's numbers (the shape of the model, its test codes and their statistics), with no Node module: `vae
 * explore` makes them for a run folder, the Train panel's worker for the model it trains.
 */
import { conditionLayout, oneHot } from '../model/condition';
import { familyOf } from '../model/families/registry';
import { encodeMeans } from '../model/generate';
import { principalPlane } from '../model/latent';
import type { M1Codes } from '../model/m1m2';
import type { RunConfig } from '../model/run-config';
import type { Vae } from '../model/vae';
import type { ExploreData } from './explore-types';

const round = (v: number) => Math.round(v * 1e4) / 1e4;

/**
 * explore.json's numbers for a model: its test codes (of `inputs`, the model's inputs for `images`), their two main
 * principal directions and each dimension's spread, and what the page needs to know of the model.
 */
export function exploreDataOf(o: { vae: Vae; config: RunConfig; run: string; images: Float32Array; inputs: Float32Array;
  labels: ArrayLike<number> | null; count: number; m1?: M1Codes }): ExploreData {
  const { vae, config } = o;
  const model = config.model;
  const family = familyOf(model);
  const d = model.zDim;
  const n = o.count;
  const classes = vae.labelDim;
  const labels = o.labels ? Array.from(o.labels) : null;
  const given = classes > 0 ? oneHot(labels ?? new Array<number>(n).fill(0), classes) : undefined;
  const codes = encodeMeans(vae, o.inputs, n, given);
  const { mean, directions, variances } = principalPlane(codes, n, d);
  const std = Array.from({ length: d }, (_, j) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += (codes[i * d + j] - mean[j]) ** 2;
    return Math.sqrt(s / Math.max(n, 1));
  });
  const layout = conditionLayout(model.inputShape, model.condition);
  const m1 = o.m1?.m1.config;
  const outputs = (m: typeof model): ExploreData['outputs'] => (m.likelihood === 'gaussian' && m.sigma === undefined ? 'mean-and-logvar' : 'logits');
  const inputShape = m1?.inputShape ?? model.inputShape;
  return {
    run: o.run, family: model.family, noun: family.noun, arch: model.arch, inputShape,
    zDim: d, outputs: outputs(model),
    m1: o.m1 && m1 ? { dims: o.m1.dims, zDim: m1.zDim, outputs: outputs(m1) } : null,
    prior: family.traits.prior, pointCode: vae.pointCode, classifies: family.traits.classifies,
    labelNames: config.data.labelNames, label: classes > 0,
    region: layout.observed && layout.missing ? { observed: Array.from(layout.observed), missing: Array.from(layout.missing) } : null,
    example: Array.from(o.images.subarray(0, inputShape[0] * inputShape[1] * inputShape[2]), round),
    preprocess: { lightOnDark: config.preprocess.lightOnDark, fit: config.preprocess.fit ?? 'digit' },
    codes: Array.from(codes, round), labels, count: n,
    mean: Array.from(mean, round), directions: directions.map((v) => Array.from(v, round)), spread: variances.map((v) => round(Math.sqrt(v))),
    std: std.map(round), order: std.map((s, j) => [s, j]).sort((a, b) => b[0] - a[0]).map(([, j]) => j),
  };
}

