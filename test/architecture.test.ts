/**
 * Imports only go downward: each folder of src/ is a layer (docs/ARCHITECTURE.md), and a module may import
 * from its own layer and the layers below it, never from one above; and no modules import each other in a
 * circle (type-only imports aside, which vanish when compiled). Parsed from the sources, so a new upward
 * import or cycle fails here.
 */
import * as fs from 'fs';
import * as path from 'path';

const SRC = path.join(__dirname, '..', 'src');

/** Bottom to top. A file directly in src/ other than cli.ts is in 'base'. */
export const LAYERS = ['base', 'data', 'model', 'engine', 'io', 'train', 'commands', 'cli'] as const;

function layerOf(file: string): number {
  const rel = path.relative(SRC, file).split(path.sep);
  const name = rel.length === 1 ? (rel[0] === 'cli.ts' ? 'cli' : 'base') : rel[0];
  const index = (LAYERS as readonly string[]).indexOf(name);
  if (index < 0) throw new Error(`${path.relative(SRC, file)} is in no layer: add its folder to LAYERS and docs/ARCHITECTURE.md`);
  return index;
}

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Relative module specifiers a file imports (import ... from, import type, export ... from, require). */
export function relativeImports(text: string): string[] {
  const found: string[] = [];
  const pattern = /(?:\bfrom\s+|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"](\.[^'"]*)['"]/gm;
  for (let m = pattern.exec(text); m; m = pattern.exec(text)) found.push(m[1]);
  return found;
}

/** The relative modules a file needs at run time (`import type` and `export type` vanish when compiled). */
export function runtimeImports(text: string): string[] {
  return relativeImports(text.replace(/^\s*(import|export)\s+type\s[^;]*;/gm, ''));
}

function resolve(from: string, spec: string): string {
  const base = path.resolve(path.dirname(from), spec);
  for (const candidate of [base + '.ts', path.join(base, 'index.ts'), base]) if (fs.existsSync(candidate)) return candidate;
  throw new Error(`${path.relative(SRC, from)} imports ${spec}, which does not exist`);
}

describe('module layers', () => {
  it('finds the imports of every kind', () => {
    const text = "import * as a from './a';\nimport type { B } from '../b';\nexport { C } from './c/d';\nconst e = require('./e');\nimport './f';";
    expect(relativeImports(text)).toEqual(['./a', '../b', './c/d', './e', './f']);
  });

  it('no module imports from a layer above its own', () => {
    const upward: string[] = [];
    for (const file of sources(SRC)) {
      for (const spec of relativeImports(fs.readFileSync(file, 'utf8'))) {
        const target = resolve(file, spec);
        if (layerOf(target) > layerOf(file)) {
          upward.push(`${path.relative(SRC, file)} (${LAYERS[layerOf(file)]}) imports ${path.relative(SRC, target)} (${LAYERS[layerOf(target)]})`);
        }
      }
    }
    expect(upward).toEqual([]);
  });

  it('tells type-only imports from run-time ones', () => {
    const text = "import type { A } from './a';\nexport type { B } from './b';\nimport { C } from './c';\nimport type {\n  D,\n} from './d';";
    expect(runtimeImports(text)).toEqual(['./c']);
  });

  it('no modules import each other in a circle', () => {
    const graph = new Map(sources(SRC).map((file) => [file,
      runtimeImports(fs.readFileSync(file, 'utf8')).map((spec) => resolve(file, spec))]));
    const cycles: string[] = [];
    const done = new Set<string>();
    const visit = (file: string, path_: string[]) => {
      const at = path_.indexOf(file);
      if (at >= 0) {
        cycles.push([...path_.slice(at), file].map((f) => path.relative(SRC, f)).join(' -> '));
        return;
      }
      if (done.has(file)) return;
      for (const next of graph.get(file) ?? []) visit(next, [...path_, file]);
      done.add(file);
    };
    for (const file of graph.keys()) visit(file, []);
    expect(cycles).toEqual([]);
  });
});

/**
 * The WebGPU engine's folder is a house of its own (docs/ARCHITECTURE.md): its files in levels, bottom to top, a file
 * importing only from its own level and those below; objectives/ is one level. Nothing in it imports a Node module
 * (the browser trains with it too: webgpu-bundle.test.ts bundles it), and no file is longer than 400 lines.
 */
export const WEBGPU_LEVELS: readonly (readonly string[])[] = [
  ['wgsl.ts'],
  ['plan.ts', 'half.ts', 'products.ts', 'conv.ts', 'likelihoods.ts', 'gaussian.ts', 'codes.ts', 'optimizer.ts', 'stats.ts', 'gather.ts', 'noise.ts', 'upsampled.ts'],
  ['layers.ts'],
  ['networks.ts'],
  ['objectives/'],
  ['step.ts', 'runtime.ts', 'profile.ts', 'tune.ts'],
  ['engine.ts', 'decode.ts'],
];

describe('the WebGPU engine\'s folder', () => {
  const folder = path.join(SRC, 'engine', 'webgpu');
  const levelOf = (file: string): number => {
    const rel = path.relative(folder, file).split(path.sep).join('/');
    const level = WEBGPU_LEVELS.findIndex((names) => names.some((n) => (n.endsWith('/') ? rel.startsWith(n) : rel === n)));
    if (level < 0) throw new Error(`engine/webgpu/${rel} is in no level: add it to WEBGPU_LEVELS and docs/ARCHITECTURE.md`);
    return level;
  };
  const files = sources(folder);

  it('has every file in a level, each at most 400 lines', () => {
    expect(files.length).toBeGreaterThan(10);
    const long = files.filter((f) => fs.readFileSync(f, 'utf8').split('\n').length > 400).map((f) => path.relative(SRC, f));
    expect(long).toEqual([]);
    for (const f of files) expect(levelOf(f)).toBeGreaterThanOrEqual(0);
  });

  it('is mapped in docs/ARCHITECTURE.md, file by file', () => {
    const map = fs.readFileSync(path.join(SRC, '..', 'docs', 'ARCHITECTURE.md'), 'utf8');
    expect(files.map((f) => path.basename(f)).filter((name) => !map.includes(`\`${name}\``))).toEqual([]);
  });

  it('imports only from its own level and the levels below', () => {
    const upward: string[] = [];
    for (const file of files) {
      for (const spec of relativeImports(fs.readFileSync(file, 'utf8'))) {
        const target = resolve(file, spec);
        if (target.startsWith(folder + path.sep) && levelOf(target) > levelOf(file)) {
          upward.push(`${path.relative(folder, file)} imports ${path.relative(folder, target)}`);
        }
      }
    }
    expect(upward).toEqual([]);
  });

  it('imports no Node module, directly', () => {
    const builtins = new Set(require('module').builtinModules as string[]);
    const found: string[] = [];
    const bare = /(?:\bfrom\s+|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"]([^.'"][^'"]*)['"]/gm;
    for (const file of files) {
      const text = fs.readFileSync(file, 'utf8');
      for (let m = bare.exec(text); m; m = bare.exec(text)) {
        if (builtins.has(m[1].replace(/^node:/, ''))) found.push(`${path.relative(folder, file)}: ${m[1]}`);
      }
      if (/\bprocess\./.test(text)) found.push(`${path.relative(folder, file)}: process`);
    }
    expect(found).toEqual([]);
  });
});

