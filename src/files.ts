/** Small file-system helpers: atomic writes, and output paths checked before any long work starts. */
import { isAscii } from 'buffer';
import * as fs from 'fs';
import * as path from 'path';
import { DiskError, VaeError, errorMessage } from './errors';

/** The errors of a write that are the user's to fix, in words. */
const DISK_ERRORS: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is exceeded',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'the file system is read-only',
};

/**
 * `e` as a DiskError (what could not be written, in which folder, why) when it is one of the errors a user fixes
 * (DISK_ERRORS), else `e` itself.
 */
export function asDiskError(e: unknown, what: string, file: string): unknown {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (e instanceof DiskError || !code || !(code in DISK_ERRORS)) return e;
  return new DiskError(what, displayPath(path.dirname(file)), `${DISK_ERRORS[code]} (${code})`);
}

/**
 * VAE_FAULT_WRITE=CODE:N:PATTERN (for tests): the N-th write (from 1) through these helpers to a path that the
 * regular expression PATTERN matches ('/'-separated) fails with the errno CODE (ENOSPC, EACCES, ...), as a full disk
 * or a refused permission would, after its file is opened.
 */
function injectedFault(file: string): void {
  const spec = process.env.VAE_FAULT_WRITE ?? '';
  const fault = /^([A-Z]+):(\d+):(.+)$/.exec(spec);
  if (!fault || !new RegExp(fault[3]).test(file.split(path.sep).join('/'))) return;
  if (spec !== faults.spec) Object.assign(faults, { spec, matches: 0 }); // a new fault counts its writes from 1
  if (++faults.matches === Number(fault[2])) throw Object.assign(new Error(`${fault[1]}: injected write failure, write '${file}'`), { code: fault[1] });
}
const faults = { spec: '', matches: 0 };

/**
 * Writes `data` (a string, bytes, or parts of bytes one after the other) to a temporary name beside the target,
 * flushes it to disk, then renames it over the target. A failed write leaves nothing behind: the temporary file is
 * removed, the target is as it was.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array | Uint8Array[], what = path.basename(file)): void {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      injectedFault(file);
      // Parts are written one after the other (a checkpoint's moments: no copy of them joined).
      for (const part of typeof data === 'string' ? [Buffer.from(data)] : Array.isArray(data) ? data : [data]) {
        for (let done = 0; done < part.length;) done += fs.writeSync(fd, part, done, part.length - done);
      }
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw asDiskError(e, what, file);
  }
}

/** writeFileAtomic with the write and the flush on libuv's threads (a shard of 256 MB: the main thread goes on). */
export async function writeFileAtomicAsync(file: string, data: Uint8Array, what = path.basename(file)): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    const handle = await fs.promises.open(tmp, 'w');
    try {
      injectedFault(file);
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.promises.rename(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw asDiskError(e, what, file);
  }
}

/** Appends a line to `file`; a failed append is undone (the file keeps its old size), so no half line is left. */
export function appendLine(file: string, line: string, what = path.basename(file)): void {
  const before = fs.existsSync(file) ? fs.statSync(file).size : 0;
  try {
    injectedFault(file);
    fs.appendFileSync(file, line + '\n');
  } catch (e) {
    if (fs.existsSync(file)) fs.truncateSync(file, before);
    throw asDiskError(e, what, file);
  }
}

export function readJson<T>(file: string): T {
  // ASCII (most JSON) decoded as latin1, the same characters: Node's UTF-8 decoding took 150 ms for 12 MB here,
  // the whole read then 25.
  const bytes = fs.readFileSync(file);
  return JSON.parse(bytes.toString(isAscii(bytes) ? 'latin1' : 'utf8')) as T;
}

/** Fails early, with one line, when `file` cannot be written (missing folder, no permission, a folder). */
export function assertWritableFile(file: string, what = 'output'): void {
  const dir = path.dirname(path.resolve(file));
  if (!fs.existsSync(dir)) throw new VaeError(`cannot write ${what} ${file}: folder ${dir} does not exist`);
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) {
    throw new VaeError(`cannot write ${what} ${file}: it is a folder`);
  }
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    throw new VaeError(`cannot write ${what} ${file}: ${errorMessage(e)}`);
  }
}

export function assertPngName(file: string): void {
  if (path.extname(file).toLowerCase() !== '.png') {
    throw new VaeError(`output ${file}: vae writes PNG images, so the name must end in .png`);
  }
  assertWritableFile(file);
}

/** A path inside the working folder is shown relative to it. */
export function displayPath(p: string): string {
  const relative = path.relative(process.cwd(), p);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : p;
}
