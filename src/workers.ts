/** Starting worker threads from compiled JavaScript, or from TypeScript under ts-node (tests). */
import * as os from 'os';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { BackendInfo } from './backend';

/**
 * Threads worth starting for work split across threads: one per core, at most `max`, on the wasm and cpu
 * backends (each computes on one core); 1 on the native TensorFlow backends, which use every core already.
 */
export function parallelThreads(backend: BackendInfo, max: number): number {
  if (backend.choice !== 'wasm' && backend.choice !== 'cpu') return 1;
  return Math.max(1, Math.min(max, os.availableParallelism()));
}

/** A worker running `name` (a module beside `fromFile`, without extension), in the same language as fromFile. */
export function startWorker(fromFile: string, name: string): Worker {
  const ext = path.extname(fromFile);
  return new Worker(path.join(path.dirname(fromFile), `${name}${ext}`),
    ext === '.ts' ? { execArgv: ['-r', 'ts-node/register/transpile-only'] } : {});
}
