/**
 * Plots drawn with Vega-Lite, rendered to SVG by Vega (no canvas needed) and converted to PNG by sharp.
 */
import * as path from 'path';
import sharp from 'sharp';
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';
import { VaeError, errorMessage } from '../errors';
import { writeFileAtomic } from '../files';

export async function writeVegaLitePng(spec: vegaLite.TopLevelSpec, file: string, scale = 2): Promise<{ width: number; height: number }> {
  try {
    const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
    const svg = await view.toSVG(scale);
    view.finalize();
    const png = await sharp(Buffer.from(svg)).flatten({ background: '#ffffff' }).png().toBuffer({ resolveWithObject: true });
    writeFileAtomic(file, png.data, `the plot ${path.basename(file)}`);
    return { width: png.info.width, height: png.info.height };
  } catch (e) {
    throw e instanceof VaeError ? e : new VaeError(`cannot draw ${file}: ${errorMessage(e).split('\n')[0]}`);
  }
}

export interface EpochMetrics {
  epoch: number;
  train: { negElbo: number; rec: number; kl: number };
  /** error: M2's test classification error. */
  test: { negElbo: number; rec: number; kl: number; error?: number };
}

/**
 * curves.png: train and test −ELBO, reconstruction and KL per epoch, one panel each; for M2 (whose −ELBO is
 * U(x)) also the test error of its classifier.
 */
export async function writeTrainingCurves(metrics: EpochMetrics[], file: string): Promise<{ width: number; height: number }> {
  const terms = [['negElbo', '−ELBO'], ['rec', 'reconstruction'], ['kl', 'KL']] as const;
  const values = metrics.flatMap((m) => (['train', 'test'] as const).flatMap((split) =>
    terms.map(([key, name]) => ({ epoch: m.epoch, split, term: name, nats: m[split][key] }))));
  const epochAxis = { field: 'epoch', type: 'quantitative', axis: { tickMinStep: 1, format: 'd' } } as const;
  const curves = {
    data: { values },
    facet: { column: { field: 'term', type: 'nominal', sort: terms.map(([, name]) => name), title: null } },
    spec: {
      width: 220, height: 160,
      mark: { type: 'line', point: metrics.length < 30 },
      encoding: {
        x: epochAxis,
        y: { field: 'nats', type: 'quantitative', scale: { zero: false }, title: 'nats per example' },
        color: { field: 'split', type: 'nominal', sort: ['train', 'test'] },
      },
    },
    resolve: { scale: { y: 'independent' } },
  } as const;
  const errors = metrics.filter((m) => m.test.error !== undefined).map((m) => ({ epoch: m.epoch, error: 100 * m.test.error! }));
  const error = {
    data: { values: errors },
    title: { text: 'test error', fontWeight: 'normal', fontSize: 11 },
    width: 220, height: 160,
    mark: { type: 'line', color: '#d62728', point: metrics.length < 30 ? { color: '#d62728' } : false },
    encoding: { x: epochAxis, y: { field: 'error', type: 'quantitative', scale: { zero: false }, title: 'test error (%)' } },
  } as const;
  const schema = 'https://vega.github.io/schema/vega-lite/v5.json';
  const config = { background: 'white' };
  return writeVegaLitePng((errors.length > 0 ? { $schema: schema, hconcat: [curves, error], config }
    : { $schema: schema, ...curves, config }) as vegaLite.TopLevelSpec, file);
}

/** A scatter plot of 2-D codes coloured by label, with a legend. */
export async function writeLatentMap(points: { x: number; y: number; label: string }[], file: string, axes: [string, string],
  labelOrder: string[]): Promise<{ width: number; height: number }> {
  return writeVegaLitePng({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    width: 480, height: 480,
    data: { values: points },
    mark: { type: 'circle', size: 8, opacity: 0.6 },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: axes[0] },
      y: { field: 'y', type: 'quantitative', title: axes[1] },
      color: { field: 'label', type: 'nominal', sort: labelOrder, scale: { scheme: 'category10' }, title: 'label' },
    },
    config: { background: 'white' },
  }, file);
}
