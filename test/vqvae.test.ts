/**
 * VQ-VAE through the CLI: train, reconstruct, interpolate (between quantised codes), encode (codebook entries),
 * evaluate (with the codebook's use), resume to the numbers of an uninterrupted run, and sample refused in one line.
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { readMetrics } from '../src/train/train';
import { runVae } from './helpers/cli';
import { tmpDir } from './helpers/tmp';

const work = tmpDir();
const run = path.join(work, 'vq');
const quick = ['--limit-train', '2000', '--limit-test', '300', '--codebook-size', '64'];

beforeAll(() => {
  const trained = runVae(['train', '--model', 'vqvae', '--epochs', '2', ...quick, '--out', run], work);
  expect(trained.status).toBe(0);
  expect(trained.stderr).toMatch(/VQ-VAE \(10 entries of 2 values per code from a codebook of 64, β 0.25\)/);
  expect(trained.stdout).toMatch(/train rec [\d.]+ \(\+ vq [\d.]+\)/);
});

test('training lowers the test reconstruction and saves the codebook as a layers model', () => {
  const metrics = readMetrics(path.join(run, 'metrics.jsonl'));
  expect(metrics).toHaveLength(2);
  expect(metrics[1].test.rec).toBeLessThan(metrics[0].test.rec);
  const checkpoint = path.join(run, 'epoch-0002');
  const codebook = JSON.parse(fs.readFileSync(path.join(checkpoint, 'codebook', 'model.json'), 'utf8'));
  expect(JSON.stringify(codebook.modelTopology)).toMatch(/"units":64/);
  expect(JSON.parse(fs.readFileSync(path.join(run, 'config.json'), 'utf8')).model.options).toEqual({ codebookSize: 64, codeDim: 2, commitment: 0.25 });
});

test('reconstruct and interpolate decode quantised codes; encode prints codebook entries; evaluate counts those in use', async () => {
  const recon = path.join(work, 'r.png');
  expect(runVae(['reconstruct', '-n', '4', recon, '--checkpoint', run], work).status).toBe(0);
  expect((await sharp(recon).metadata()).width).toBeGreaterThan(0);

  const encoded = runVae(['encode', '--split', 'test', '--limit', '5', '--checkpoint', run], work);
  expect(encoded.status).toBe(0);
  const [header, ...rows] = encoded.stdout.trim().split('\n');
  expect(header).toBe(['source', 'label', ...Array.from({ length: 10 }, (_, j) => `index_${j}`)].join(','));
  expect(rows).toHaveLength(5);
  for (const row of rows) {
    for (const v of row.split(',').slice(2)) expect(Number.isInteger(Number(v)) && Number(v) >= 0 && Number(v) < 64).toBe(true);
  }

  const digits = [0, 1].map((i) => path.join(work, `d${i}.png`));
  for (const [i, file] of digits.entries()) {
    await sharp({ create: { width: 28, height: 28, channels: 3, background: 'white' } })
      .composite([{ input: Buffer.from(`<svg width="28" height="28"><circle cx="14" cy="14" r="${6 + 3 * i}" stroke="black" stroke-width="3" fill="none"/></svg>`) }])
      .png().toFile(file);
  }
  const walked = runVae(['interpolate', ...digits, path.join(work, 'i.png'), '--checkpoint', run], work);
  expect(walked.status).toBe(0);
  expect(walked.stderr).toMatch(/between the quantised codes/);

  const evaluated = runVae(['evaluate', '--checkpoint', run], work);
  expect(evaluated.status).toBe(0);
  expect(evaluated.stdout).toMatch(/test reconstruction -log p\(x\|code\) [\d.]+ nats/);
  const used = Number(/codebook: (\d+) of 64 entries in use/.exec(evaluated.stdout)![1]);
  expect(used).toBeGreaterThan(1);
  expect(used).toBeLessThanOrEqual(64);
});

test('sample and evaluate --iw refuse in one line: no prior was learnt', () => {
  const sampled = runVae(['sample', path.join(work, 's.png'), '--checkpoint', run], work);
  expect(sampled.status).toBe(1);
  expect(sampled.stderr.trim().split('\n')).toHaveLength(1);
  expect(sampled.stderr).toMatch(/prior p\(z\), and a VQ-VAE \(vqvae\) has none/);
  expect(runVae(['evaluate', '--iw', '10', '--checkpoint', run], work).stderr).toMatch(/VQ-VAE \(vqvae\) has neither/);
  expect(runVae(['train', '--codebook-size', '8', '--epochs', '1'], work).stderr).toMatch(/are for a VQ-VAE: add --model vqvae/);
  expect(runVae(['train', '--model', 'vqvae', '--z-dim', '5'], work).stderr).toMatch(/--z-dim 5 is not a whole number of codebook entries/);
});

test('a VQ-VAE resumed from its checkpoint ends where an uninterrupted run ends', () => {
  const first = path.join(work, 'vq-1');
  expect(runVae(['train', '--model', 'vqvae', '--epochs', '1', ...quick, '--out', first], work).status).toBe(0);
  expect(runVae(['train', '--resume', first, '--epochs', '2'], work).status).toBe(0);
  const strip = (file: string) => readMetrics(file).map(({ train, test }) => ({ train, test }));
  expect(strip(path.join(first, 'metrics.jsonl'))).toEqual(strip(path.join(run, 'metrics.jsonl')));
});
