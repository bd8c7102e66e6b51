/**
 * The explorer's Train panel runs the training loop (train/loop.ts) in the page: the loop, the family registry (with
 * every model and its objective) and the WebGPU engine must bundle for the browser, with web/bundle.js's stand-ins for
 * the three modules of src/ that only Node runs (native.ts, files.ts, version.ts). Nothing else may reach a Node
 * module, and a stand-in must give what the code imports of its module. The last two tests show both checks fail.
 */
import * as path from 'path';
import { build } from 'esbuild';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { browserOptions } = require('../../web/bundle') as { browserOptions(extra: object): Parameters<typeof build>[0] };

const root = path.join(__dirname, '..', '..');
const core = ['src/train/loop.ts', 'src/model/families/registry.ts', 'src/engine/webgpu/engine.ts', 'src/options.ts', 'src/gpu-device.ts',
  'src/train/flags.ts', 'src/train/new-run.ts', 'src/io/run-files.ts', 'src/commands/explore-data.ts', 'web/train/core.ts', 'web/train/settings.ts', 'web/train/run-folder.ts']
  .map((f) => `export * from ${JSON.stringify(path.join(root, f))};`).join('\n');

/** Bundles `contents` (TypeScript, resolved from the repository's root) as the page's bundles are; resolves with the errors. */
async function bundleForPage(contents: string): Promise<string[]> {
  try {
    const result = await build(browserOptions({ stdin: { contents, resolveDir: root, loader: 'ts' }, format: 'esm', write: false, logLevel: 'silent' }));
    return result.errors.map((e) => e.text);
  } catch (e) {
    return (e as { errors?: { text: string }[] }).errors?.map((x) => x.text) ?? [String(e)];
  }
}

test('the training loop, the family registry and the WebGPU engine bundle for the page', async () => {
  expect(await bundleForPage(core)).toEqual([]);
}, 120_000);

test('a Node module reached from the training core fails the bundle', async () => {
  const errors = await bundleForPage(`${core}\nexport { openDataset } from ${JSON.stringify(path.join(root, 'src', 'data', 'datasets.ts'))};`);
  expect(errors.join('\n')).toMatch(/"fs"/);
}, 120_000);

test('an import that a stand-in does not give fails the bundle', async () => {
  const errors = await bundleForPage(`${core}\nimport { writeFileAtomic } from ${JSON.stringify(path.join(root, 'src', 'files.ts'))};\n` +
    'export const write = writeFileAtomic;');
  expect(errors.join('\n')).toMatch(/writeFileAtomic/);
}, 120_000);
