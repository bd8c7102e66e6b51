/**
 * The tuner's picks kept between runs (src/tune-cache.ts), without a GPU: where, under which GPU, which product,
 * how many, and what a failure says. That a run takes them as kept (and times the rest) is tested on the GPU
 * (webgpu.test.ts, webgpu-training.test.ts).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { MAX_KEPT, keptFormsFile, keptFormsFolder } from '../../src/tune-cache';
import { tmpDir } from '../helpers/tmp';

test('the folder: VAE_GPU_TUNE_CACHE, else the user\'s cache folder (XDG_CACHE_HOME, else ~/.cache); off keeps nothing', () => {
  expect(keptFormsFolder({ VAE_GPU_TUNE_CACHE: 'picks' })).toBe(path.resolve('picks'));
  expect(keptFormsFolder({ VAE_GPU_TUNE_CACHE: 'off' })).toBeNull();
  expect(keptFormsFolder({ XDG_CACHE_HOME: '/c' })).toBe(path.join('/c', 'vae', 'gpu-tune'));
  expect(keptFormsFolder({})).toBe(path.join(os.homedir(), '.cache', 'vae', 'gpu-tune'));
});

test('a pick kept is read back for the same product on the same GPU only', async () => {
  const dir = path.join(tmpDir(), 'not', 'there', 'yet');
  const h200 = keptFormsFile(dir, 'H200, driver 580');
  expect(await h200.load(['a'])).toEqual([undefined]);
  await h200.keep([['a', { form: 4, us: [10, 8, null] }], ['b', { form: 0, us: [3, 5] }]]);
  expect(await h200.load(['b', 'c', 'a'])).toEqual([{ form: 0, us: [3, 5] }, undefined, { form: 4, us: [10, 8, null] }]);
  // Another run's picks join these; a product timed again replaces its own.
  await keptFormsFile(dir, 'H200, driver 580').keep([['c', { form: 1, us: [2, 1] }], ['a', { form: 5, us: [9, 9, 7] }]]);
  expect(await h200.load(['a', 'b', 'c'])).toEqual([{ form: 5, us: [9, 9, 7] }, { form: 0, us: [3, 5] }, { form: 1, us: [2, 1] }]);
  // Another driver is another GPU: its own file, nothing of the other's.
  const newer = keptFormsFile(dir, 'H200, driver 590');
  expect(newer.file).not.toBe(h200.file);
  expect(await newer.load(['a'])).toEqual([undefined]);
  // The products' texts are not written out (their hashes are).
  expect(fs.readFileSync(h200.file, 'utf8')).not.toMatch(/"a"/);
});

test('an unreadable file keeps nothing and is written whole again; the newest picks are kept, MAX_KEPT at most', async () => {
  const dir = tmpDir();
  const kept = keptFormsFile(dir, 'gpu');
  fs.writeFileSync(kept.file, '{"format": 1, "gpu": "gpu", "forms": {"x": ');
  expect(await kept.load(['x'])).toEqual([undefined]);
  const now = jest.spyOn(Date, 'now').mockReturnValue(1000);
  try {
    await kept.keep(Array.from({ length: 10 }, (_, i) => [`old ${i}`, { form: 1, us: [2, 1] }]));
    now.mockReturnValue(2000);
    await kept.keep(Array.from({ length: MAX_KEPT - 3 }, (_, i) => [`new ${i}`, { form: 2, us: [2, 1, 0.5] }]));
  } finally {
    now.mockRestore();
  }
  const old = await kept.load(Array.from({ length: 10 }, (_, i) => `old ${i}`));
  expect(old.filter((e) => e !== undefined)).toHaveLength(3);
  expect(await kept.load([`new 0`, `new ${MAX_KEPT - 4}`])).toEqual([{ form: 2, us: [2, 1, 0.5] }, { form: 2, us: [2, 1, 0.5] }]);
  expect(Object.keys(JSON.parse(fs.readFileSync(kept.file, 'utf8')).forms)).toHaveLength(MAX_KEPT);
});

test('picks that cannot be kept (the folder is a file) reject with why, and leave nothing behind', async () => {
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'file'), '');
  const kept = keptFormsFile(path.join(dir, 'file'), 'gpu');
  await expect(kept.keep([['a', { form: 1, us: [2, 1] }]])).rejects.toThrow(/EEXIST|ENOTDIR/);
  expect(await kept.load(['a'])).toEqual([undefined]);
  expect(fs.readdirSync(dir)).toEqual(['file']);
});
