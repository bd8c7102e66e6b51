import { ChildProcess, spawn, spawnSync } from 'child_process';
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

/** `vae explore ARGS` in `cwd` on a free port: the process, the URL it printed and its stderr so far. */
export async function startExplore(args: string[], cwd: string): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const child = spawn(process.execPath, [VAE_BIN, 'explore', '--port', '0', ...args], { cwd });
  let err = '';
  child.stderr!.on('data', (d) => { err += d; });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /^(http:\/\/\S+)$/m.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`vae explore exited with ${code}: ${err}`)));
  });
  return { child, url, stderr: () => err };
}
