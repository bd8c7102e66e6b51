/**
 * libuv's thread pool, where a folder's first run decodes its pictures (native/decode) and the cache's shards are
 * written and read. libuv gives it 4 threads unless UV_THREADPOOL_SIZE says otherwise, whatever the cores: on a
 * 16-core machine a first run would decode on a quarter of them. bin/vae sizes it to the cores (sizeThreadPool)
 * before anything runs there; the user's own UV_THREADPOOL_SIZE wins.
 */
import * as os from 'os';

/** libuv's own default, and the fewest threads vae asks for. */
const LIBUV_DEFAULT = 4;
/** libuv's limit. */
const LIBUV_MAX = 1024;

/** UV_THREADPOOL_SIZE for these cores, or null where the user set it. */
export function threadPoolSize(env: NodeJS.ProcessEnv, cores: number): string | null {
  if (env.UV_THREADPOOL_SIZE) return null;
  return String(Math.min(LIBUV_MAX, Math.max(LIBUV_DEFAULT, cores)));
}

/** Sets UV_THREADPOOL_SIZE to the cores unless set: before the pool's first task (libuv reads it then, once). */
export function sizeThreadPool(env: NodeJS.ProcessEnv = process.env): void {
  const size = threadPoolSize(env, os.availableParallelism());
  if (size !== null) env.UV_THREADPOOL_SIZE = size;
}

/** The pool's threads in this process: as many native calls as run at once. */
export function poolThreads(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.UV_THREADPOOL_SIZE);
  return Number.isInteger(n) && n >= 1 ? Math.min(LIBUV_MAX, n) : LIBUV_DEFAULT;
}
