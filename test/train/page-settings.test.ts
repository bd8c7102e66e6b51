/**
 * The Train panel's fields (web/train/settings.ts) are `vae train`'s flags: the same defaults and checks, and the run
 * they make is the run `vae train` makes from the same settings.
 */
import * as path from 'path';
import { loadDataset } from '../../src/data/datasets';
import { TRAIN_FLAGS } from '../../src/train/flags';
import { startRun } from '../../src/train/run';
import { panelFlags, panelOptions, panelRun } from '../../web/train/settings';
import { tmpDir } from '../helpers/tmp';

test('the panel offers vae train\'s flags with their defaults and help, and no family it cannot start', () => {
  const flags = panelFlags();
  expect(flags.map((f) => f.name)).toEqual(expect.arrayContaining(['model', 'z-dim', 'beta', 'kl-warmup', 'batch-size', 'epochs', 'lr', 'seed']));
  const epochs = TRAIN_FLAGS.find((f) => f.flags.startsWith('--epochs '))!;
  expect(flags.find((f) => f.name === 'epochs')).toMatchObject({ value: String(epochs.default), help: epochs.help, choices: null });
  const model = flags.find((f) => f.name === 'model')!;
  expect(model.choices).toContain('cvae');
  expect(model.choices).not.toContain('m1m2');
  expect(flags.find((f) => f.name === 'z-dim')).toMatchObject({ value: '', placeholder: expect.stringMatching(/^20/) });
});

test('a refused value is one line naming the flag, with vae train\'s words', () => {
  expect(() => panelOptions({ 'z-dim': '0' })).toThrow(/^--z-dim: must be a whole number of at least 1\.$/);
  expect(() => panelOptions({ model: 'gan' })).toThrow(/^--model: must be one of vae, /);
  expect(() => panelOptions({ model: 'm1m2' })).toThrow(/m1m2 cannot be trained in the page/);
  expect(() => panelRun({ 'image-size': '32' }, loadDataset('mnist', { limitTrain: 10, limitTest: 10 })))
    .toThrow(/^--image-size, --channels and --test-split are for a folder of pictures; mnist has its own/);
});

test('the panel\'s run is the run vae train starts from the same settings', async () => {
  const values = { model: 'cvae', 'z-dim': '3', hidden: '32', beta: '2', epochs: '2', 'limit-train': '300', 'limit-test': '100', seed: '5' };
  const inPage = panelRun(values, loadDataset('mnist'));
  const cli = await startRun({ ...panelOptions(values), data: 'mnist', out: path.join(tmpDir(), 'run') }, {});
  cli.lock?.release();
  const withoutTime = (c: object) => ({ ...c, createdAt: '' });
  expect({ ...withoutTime(inPage.config), data: { ...inPage.config.data, source: '' } })
    .toEqual({ ...withoutTime(cli.config), data: { ...cli.config.data, source: '' } });
  expect(inPage.dataset.train.count).toBe(300);
  expect(inPage.dataset.test.count).toBe(100);
  expect(inPage.dataset.train.images).toEqual(cli.dataset.train.images);
});
