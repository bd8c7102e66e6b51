/**
 * The forms the WebGPU engine's tuner picked (engine/webgpu/tune.ts), kept between runs in a file per GPU, so that
 * a run times only what no earlier run on this GPU timed (each product's forms are timed once, within the tuner's
 * time limit, run after run), as Triton and TVM keep what they tuned:
 *
 *   ${VAE_GPU_TUNE_CACHE:-${XDG_CACHE_HOME:-~/.cache}/vae/gpu-tune}/<the GPU's identity, hashed>.json
 *     { format, gpu: identity, forms: { <a product's forms, hashed>: { form, us, at } } }
 *
 * A GPU's identity is its adapter (vendor, architecture, device, and the description, which names the driver), the
 * webgpu package's version and Dawn's toggles: a new driver or Dawn times again. A product's key is the text and
 * workgroups of each of its forms and the rows: a changed kernel is timed again. No pick changes a number (every
 * form gives the same bits), so a stale file can only cost speed; deleting it, or VAE_GPU_TUNE_CACHE=off, times all.
 * Written atomically: two runs that keep picks at once lose at most the other's new ones (timed again later).
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { KeptForm, KeptForms } from './gpu-device';
import { readJson, writeFileAtomicAsync } from './files';

/** Bumped when what a pick means changes (TILE_FORMS' order, the key's text): older files are not read. */
const FORMAT = 1;
/** Picks kept per GPU at most, the newest: a few hundred bytes each. */
export const MAX_KEPT = 4096;

interface KeptFile {
  format: number;
  gpu: string;
  forms: Record<string, KeptForm & { at: number }>;
}

const hashOf = (text: string, digits = 64) => crypto.createHash('sha256').update(text).digest('hex').slice(0, digits);

/** The folder the picks are kept in (VAE_GPU_TUNE_CACHE, else the user's cache folder), or null for none ('off'). */
export function keptFormsFolder(env: NodeJS.ProcessEnv = process.env): string | null {
  const dir = env.VAE_GPU_TUNE_CACHE;
  if (dir === 'off') return null;
  if (dir) return path.resolve(dir);
  return path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'vae', 'gpu-tune');
}

/** The picks of the GPU called `identity`, kept in a file of `dir`. */
export function keptFormsFile(dir: string, identity: string): KeptForms & { file: string } {
  const file = path.join(dir, `${hashOf(identity, 16)}.json`);
  const read = (): KeptFile['forms'] => {
    try {
      const got = readJson<KeptFile>(file);
      return got.format === FORMAT && got.gpu === identity && got.forms && typeof got.forms === 'object' ? got.forms : {};
    } catch {
      return {}; // none yet, or unreadable: timed again, and written whole
    }
  };
  return {
    file,
    async load(keys) {
      const forms = read();
      return keys.map((key) => {
        const e = forms[hashOf(key)];
        return e && Number.isInteger(e.form) && Array.isArray(e.us) ? { form: e.form, us: e.us } : undefined;
      });
    },
    async keep(entries) {
      const forms = read();
      const at = Date.now();
      for (const [key, { form, us }] of entries) forms[hashOf(key)] = { form, us, at };
      const newest = Object.entries(forms).sort((a, b) => b[1].at - a[1].at).slice(0, MAX_KEPT);
      await fs.promises.mkdir(dir, { recursive: true });
      const text = JSON.stringify({ format: FORMAT, gpu: identity, forms: Object.fromEntries(newest) } satisfies KeptFile);
      await writeFileAtomicAsync(file, Buffer.from(text), 'the GPU tuner\'s picks');
    },
  };
}
