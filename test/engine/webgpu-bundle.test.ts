/**
 * The WebGPU engine runs outside Node: bundled for the browser platform by esbuild, nothing under src/engine/webgpu/
 * may reach a Node module (esbuild refuses 'fs', 'path', ... there). The Node side of it, the Dawn loader (gpu.ts)
 * and the registry's lookups (engines.ts), stays outside the folder. The second test shows the check can fail.
 */
import * as path from 'path';
import { build } from 'esbuild';

const root = path.join(__dirname, '..', '..');
const entries = ['engine.ts', 'decode.ts'].map((f) => path.join(root, 'src', 'engine', 'webgpu', f));

/** Bundles `contents` (TypeScript, resolved from the repository's root) for the browser; resolves with the errors. */
async function bundleForBrowser(contents: string): Promise<string[]> {
  try {
    const result = await build({ stdin: { contents, resolveDir: root, loader: 'ts' }, bundle: true, platform: 'browser', format: 'esm',
      write: false, logLevel: 'silent' });
    return result.errors.map((e) => e.text);
  } catch (e) {
    return (e as { errors?: { text: string }[] }).errors?.map((x) => x.text) ?? [String(e)];
  }
}

const importAll = entries.map((f) => `export * from ${JSON.stringify(f)};`).join('\n');

test('the WebGPU engine and its decoder bundle for the browser (no Node module reached)', async () => {
  expect(await bundleForBrowser(importAll)).toEqual([]);
}, 120_000);

test('a Node import reached from the engine fails the bundle', async () => {
  const errors = await bundleForBrowser(`${importAll}\nexport { readFileSync } from 'fs';`);
  expect(errors.join('\n')).toMatch(/"fs"/);
}, 120_000);
