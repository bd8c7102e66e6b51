import * as fs from 'fs';
import * as path from 'path';
import { createModel } from '../../src/model/families/registry';
import { fileSaveHandler, loadLayersModel, saveLayersModel } from '../../src/io/tfjs-files';
import { useTestBackend } from '../helpers/backend';
import { tmpDir } from '../helpers/tmp';

beforeAll(useTestBackend);

test.each([
  ['an MLP VAE', { family: 'vae' as const, arch: 'mlp' as const, inputShape: [6, 6, 1] as [number, number, number], hidden: [10, 7] }],
  ['a conv VAE', { family: 'vae' as const, arch: 'conv' as const, inputShape: [28, 28, 1] as [number, number, number], hidden: [16] }],
])('saveLayersModel writes the files TensorFlow.js\'s own save writes, to the byte, and they load back: %s', async (_, shape) => {
  const vae = createModel({ ...shape, zDim: 3, likelihood: 'bernoulli' }, 6);
  for (const [net, model] of Object.entries(vae.networks)) {
    const ours = path.join(tmpDir(), net);
    const theirs = path.join(tmpDir(), net);
    await saveLayersModel(model, ours);
    await model.save(fileSaveHandler(theirs));
    for (const file of ['model.json', 'weights.bin']) {
      expect(Buffer.compare(fs.readFileSync(path.join(ours, file)), fs.readFileSync(path.join(theirs, file)))).toBe(0);
    }
    const loaded = await loadLayersModel(ours);
    expect(loaded.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(model.getWeights().map((w) => Array.from(w.dataSync())));
  }
});
