import { spawnSync } from 'child_process';
import * as path from 'path';

export const VAE_BIN = path.resolve(__dirname, '..', '..', 'bin', 'vae');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real bin/vae (the compiled CLI in dist/, built by `npm test`'s pretest step); `env` adds variables. */
export function runVae(args: string[], cwd: string, env: Record<string, string> = {}): CliResult {
  const r = spawnSync(process.execPath, [VAE_BIN, ...args], { cwd, encoding: 'utf8', timeout: 300_000,
    env: { ...process.env, VAE_DEBUG: '', ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
