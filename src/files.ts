/** Small file-system helpers: atomic writes, and output paths checked before any long work starts. */
import * as fs from 'fs';
import * as path from 'path';
import { VaeError, errorMessage } from './errors';

/** Writes to a temporary name beside the target, flushes it to disk, then renames it over the target. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

export function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
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
