/**
 * The whole tool as a user runs it: train briefly on 5,000 MNIST images, then sample, reconstruct,
 * interpolate (from photos of pen drawings) and evaluate, through the real bin/vae.
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { runVae } from './helpers/cli';
import { penOnPaper } from './helpers/drawings';
import { tmpDir } from './helpers/tmp';

let work: string;

beforeAll(() => {
  work = tmpDir('vae-e2e-');
});

async function pngSize(file: string) {
  const meta = await sharp(file).metadata();
  return { format: meta.format, width: meta.width, height: meta.height };
}

// 5,000 images in batches of 32 (157 steps an epoch): with the default batch of 128, one epoch is only 40 steps
// and ends near 210 nats, before the model leaves the blurry-mean-digit phase.
test('train 3 epochs on 5,000 images: test -ELBO below 160 nats, checkpoint, metrics and sample grid', async () => {
  const r = runVae(['train', '--epochs', '3', '--batch-size', '32', '--limit-train', '5000'], work);
  expect(r.status).toBe(0);
  expect(r.stderr).toMatch(/^backend: (wasm|cpu|tensorflow|tensorflow-gpu) \(/m);
  const runs = fs.readdirSync(path.join(work, 'checkpoints'));
  expect(runs).toHaveLength(1);
  const runDir = path.join(work, 'checkpoints', runs[0]);
  const metrics = fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  expect(metrics.map((m) => m.epoch)).toEqual([1, 2, 3]);
  const last = metrics[2];
  expect(last.test.negElbo).toBeLessThan(160);
  expect(last.test.negElbo).toBeLessThan(metrics[0].test.negElbo);
  expect(last.test.negElbo).toBeCloseTo(last.test.rec + last.test.kl, 6);
  expect(r.stdout).toMatch(new RegExp(`epoch 3/3 .*test -ELBO ${last.test.negElbo.toFixed(2)}`));
  expect(await pngSize(path.join(runDir, 'samples', 'epoch-0003.png'))).toEqual({ format: 'png', width: 242, height: 242 });
  expect(JSON.parse(fs.readFileSync(path.join(runDir, 'checkpoint.json'), 'utf8'))).toMatchObject({ last: 'epoch-0003' });
  expect(JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8')).model)
    .toMatchObject({ inputShape: [28, 28, 1], hidden: [400], zDim: 20 });
});

test('sample -n 64 writes an 8 x 8 grid from the newest run', async () => {
  const r = runVae(['sample', '-n', '64', 'out.png'], work);
  expect(r.status).toBe(0);
  expect(r.stderr).toMatch(/using checkpoint .*newest run/);
  expect(await pngSize(path.join(work, 'out.png'))).toEqual({ format: 'png', width: 8 * 30 + 2, height: 8 * 30 + 2 });
  // Not blank, not saturated noise, and different codes give different images.
  const { data, info } = await sharp(path.join(work, 'out.png')).raw().toBuffer({ resolveWithObject: true });
  const tileMeans = Array.from({ length: 64 }, (_, t) => {
    const top = 2 + Math.floor(t / 8) * 30;
    const left = 2 + (t % 8) * 30;
    let sum = 0;
    for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) sum += data[((top + y) * info.width + left + x) * info.channels];
    return sum / (784 * 255);
  });
  const mean = tileMeans.reduce((a, b) => a + b, 0) / 64;
  expect(mean).toBeGreaterThan(0.05); // MNIST's mean pixel is 0.13
  expect(mean).toBeLessThan(0.3);
  expect(Math.max(...tileMeans) - Math.min(...tileMeans)).toBeGreaterThan(0.03);
  expect(data.reduce((m, v) => Math.max(m, v), 0)).toBeGreaterThan(150);
});

test('reconstruct test images, and photos of pen drawings of any size', async () => {
  expect(runVae(['reconstruct', 'rec.png', '-n', '8'], work).status).toBe(0);
  expect(await pngSize(path.join(work, 'rec.png'))).toEqual({ format: 'png', width: 242, height: 62 });
  const photos = [];
  for (const [d, size] of [['0', { width: 1000, height: 1200 }], ['7', { width: 333, height: 400 }], ['3', { width: 2000, height: 2400 }]] as const) {
    const file = path.join(work, `photo-${d}.${d === '7' ? 'jpg' : 'png'}`);
    await penOnPaper(d, file, size);
    photos.push(file);
  }
  const r = runVae(['reconstruct', ...photos, 'rec-photos.png'], work);
  expect(r.status).toBe(0);
  expect(await pngSize(path.join(work, 'rec-photos.png'))).toEqual({ format: 'png', width: 3 * 30 + 2, height: 62 });
});

test('interpolate between two pen drawings (line and slerp), and evaluate', async () => {
  const a = path.join(work, 'photo-0.png');
  const b = path.join(work, 'photo-7.jpg');
  expect(runVae(['interpolate', a, b, 'lerp.png'], work).status).toBe(0);
  expect(await pngSize(path.join(work, 'lerp.png'))).toEqual({ format: 'png', width: 12 * 30 + 2, height: 32 });
  expect(runVae(['interpolate', a, b, 'slerp.png', '--steps', '5', '--slerp'], work).status).toBe(0);
  expect(await pngSize(path.join(work, 'slerp.png'))).toEqual({ format: 'png', width: 7 * 30 + 2, height: 32 });

  const e = runVae(['evaluate', '--json'], work);
  expect(e.status).toBe(0);
  const result = JSON.parse(e.stdout);
  expect(result.images).toBe(10000);
  expect(result.negElbo).toBeLessThan(160);
  expect(result.negElbo).toBeCloseTo(result.rec + result.kl, 6);
  expect(result.bitsPerDim).toBeCloseTo(result.negElbo / (784 * Math.LN2), 6);
  expect(result.activeUnits).toBeGreaterThan(0);
  expect(result.activeUnits).toBeLessThanOrEqual(20);
  expect(result.importance).toBeUndefined();

  // The importance-sampled NLL lies below the -ELBO of the same images (the bound is tighter).
  const iw = runVae(['evaluate', '--iw', '50', '--limit-test', '200', '--json'], work);
  expect(iw.status).toBe(0);
  const withIw = JSON.parse(iw.stdout);
  expect(withIw.importance.k).toBe(50);
  expect(withIw.importance.nll).toBeLessThan(withIw.negElbo);
  expect(withIw.importance.nll).toBeGreaterThan(withIw.negElbo - 30);
  const text = runVae(['evaluate', '--iw', '5', '--limit-test', '10'], work);
  expect(text.stdout).toMatch(/test NLL [0-9.]+ nats \([0-9.]+ bits\/dim\), importance sampling with K=5/);
  expect(text.stdout).toMatch(/active units \d+ of 20/);
});

test('curves.png, manifold, latent-map, encode and arithmetic', async () => {
  const runDir = path.join(work, 'checkpoints', fs.readdirSync(path.join(work, 'checkpoints'))[0]);
  const curves = await pngSize(path.join(runDir, 'curves.png'));
  expect(curves.format).toBe('png');
  expect(curves.width!).toBeGreaterThan(600);

  // 20-D model: the grid follows the two main principal directions; --dims picks two dimensions.
  const m = runVae(['manifold', 'manifold.png', '--size', '10'], work);
  expect(m.status).toBe(0);
  expect(m.stdout).toMatch(/principal directions/);
  expect(await pngSize(path.join(work, 'manifold.png'))).toEqual({ format: 'png', width: 280, height: 280 });
  expect(runVae(['manifold', 'dims.png', '--dims', '3,7', '--size', '5'], work).status).toBe(0);
  expect(await pngSize(path.join(work, 'dims.png'))).toEqual({ format: 'png', width: 140, height: 140 });
  expect(runVae(['manifold', 'bad.png', '--dims', '3,25'], work).stderr).toMatch(/dimensions 0 to 19/);

  // The latent map is a real plot, of the size the command reports.
  const lm = runVae(['latent-map', 'map.png', '--limit-test', '500'], work);
  expect(lm.status).toBe(0);
  const stated = /(\d+)x(\d+)\)/.exec(lm.stdout)!;
  expect(await pngSize(path.join(work, 'map.png'))).toEqual({ format: 'png', width: Number(stated[1]), height: Number(stated[2]) });

  // Codes as CSV: a header, then one row per image with its label (MNIST's first test digits are 7, 2, 1, 0, 4).
  expect(runVae(['encode', '--split', 'test', '--limit', '5', '-o', 'codes.csv'], work).status).toBe(0);
  const rows = fs.readFileSync(path.join(work, 'codes.csv'), 'utf8').trim().split('\n').map((r) => r.split(','));
  expect(rows).toHaveLength(6);
  expect(rows[0].slice(0, 3)).toEqual(['source', 'label', 'mu_0']);
  expect(rows[0]).toHaveLength(2 + 40);
  expect(rows.slice(1).map((r) => r[1])).toEqual(['7', '2', '1', '0', '4']);
  expect(rows[1].slice(2).every((v) => Number.isFinite(Number(v)))).toBe(true);
  const one = runVae(['encode', path.join(work, 'photo-3.png')], work);
  expect(one.stdout.trim().split('\n')).toHaveLength(2);

  const ar = runVae(['arithmetic', path.join(work, 'photo-3.png'), 'arith.png', '--add', '8', '--sub', '3', '--steps', '5',
    '--limit-train', '2000'], work);
  expect(ar.status).toBe(0);
  expect(await pngSize(path.join(work, 'arith.png'))).toEqual({ format: 'png', width: 6 * 30 + 2, height: 32 });
  expect(runVae(['arithmetic', path.join(work, 'photo-3.png'), 'x.png', '--add', 'cat'], work).stderr)
    .toMatch(/unknown label 'cat'; this model's labels are: 0, 1, 2/);
});
