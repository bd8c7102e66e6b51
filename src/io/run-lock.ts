/**
 * A run folder has one writer at a time: a process that trains (a new run or a resumed one) holds RUN/.lock, a
 * file made with O_EXCL that names it (pid, host, when it started, its command). A second trainer refuses in one
 * line naming the holder; a lock whose process is gone (killed, the machine rebooted) is taken over with a
 * warning. Readers (sample, evaluate, explore while training) take no lock: checkpoints appear by rename, whole.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { VaeError, errorMessage } from '../errors';
import { displayPath } from '../files';

export const LOCK_FILE = '.lock';

interface LockHolder {
  pid: number;
  host: string;
  started: string;
  command: string;
}

export interface RunLock {
  /** Gives the run folder up (also done when the process exits). */
  release(): void;
}

/** Whether process `pid` of this machine is running (one we may not signal is running too). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(file: string): LockHolder | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as LockHolder;
  } catch {
    return null; // gone meanwhile, or half-written by a process killed while making it
  }
}

/**
 * Takes the run folder `runDir` for this process; `warn` hears of a stale lock taken over. Taking a folder this
 * process already holds gives it again.
 */
export function lockRun(runDir: string, warn: (message: string) => void): RunLock {
  const file = path.join(runDir, LOCK_FILE);
  const me: LockHolder = { pid: process.pid, host: os.hostname(), started: new Date().toISOString(),
    command: ['vae', ...process.argv.slice(2)].join(' ') };
  for (let attempt = 0; ; attempt++) {
    try {
      fs.writeFileSync(file, JSON.stringify(me) + '\n', { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 2) {
        throw new VaeError(`cannot lock the run folder ${displayPath(runDir)}: ${errorMessage(e).split('\n')[0]}`);
      }
    }
    const holder = readHolder(file);
    if (holder?.pid === process.pid && holder.host === me.host) return { release: () => undefined };
    if (holder && (holder.host !== me.host || alive(holder.pid))) {
      const where = holder.host !== me.host ? ` on ${holder.host}` : '';
      throw new VaeError(`${displayPath(runDir)} is being trained by process ${holder.pid}${where} (started ${holder.started}: ${holder.command}); ` +
        `wait for it to finish or stop it (if it is gone, remove ${displayPath(file)})`);
    }
    warn(holder ? `${displayPath(runDir)} was locked by process ${holder.pid} (started ${holder.started}), which is gone: taking it over`
      : `${displayPath(file)} was unreadable (a lock left half-made): taking it over`);
    fs.rmSync(file, { force: true });
  }
  held.add(file);
  if (held.size === 1 && !process.listeners('exit').includes(releaseAll)) process.on('exit', releaseAll);
  return { release: () => release(file) };
}

/** The lock files this process holds: released when it exits, however it exits (a crash, process.exit). */
const held = new Set<string>();

function release(file: string): void {
  if (!held.delete(file)) return;
  if (readHolder(file)?.pid === process.pid) fs.rmSync(file, { force: true });
}

function releaseAll(): void {
  for (const file of [...held]) release(file);
}
