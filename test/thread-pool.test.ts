import { spawnSync } from 'child_process';
import * as path from 'path';
import { poolThreads, threadPoolSize } from '../src/thread-pool';

describe('libuv thread pool', () => {
  it('is sized to the cores, 4 at least, 1024 at most, unless the user set it', () => {
    expect(threadPoolSize({}, 16)).toBe('16');
    expect(threadPoolSize({}, 2)).toBe('4');
    expect(threadPoolSize({}, 4096)).toBe('1024');
    expect(threadPoolSize({ UV_THREADPOOL_SIZE: '2' }, 16)).toBeNull();
  });

  it('says how many native calls run at once', () => {
    expect(poolThreads({})).toBe(4);
    expect(poolThreads({ UV_THREADPOOL_SIZE: '12' })).toBe(12);
    expect(poolThreads({ UV_THREADPOOL_SIZE: 'many' })).toBe(4);
  });

  it('bin/vae sets it before the CLI runs, and keeps the user\'s', () => {
    // The CLI's own environment, as bin/vae leaves it: printed by a preload that runs after bin/vae's first lines.
    const bin = path.join(__dirname, '..', 'bin', 'vae');
    const probe = `const m = require('module'); const load = m._load; m._load = function (r, ...a) {
      if (r.endsWith('cli.js')) process.stdout.write('POOL=' + process.env.UV_THREADPOOL_SIZE + '\\n');
      return load.call(this, r, ...a); };`;
    const run = (env: NodeJS.ProcessEnv) => spawnSync(process.execPath, ['-e', `${probe} require(${JSON.stringify(bin)});`, bin, '--version'],
      { env: { ...process.env, UV_THREADPOOL_SIZE: undefined, ...env }, encoding: 'utf8' });
    const mine = run({});
    expect(mine.status).toBe(0);
    expect(mine.stdout).toContain(`POOL=${threadPoolSize({}, require('os').availableParallelism())}`);
    expect(run({ UV_THREADPOOL_SIZE: '3' }).stdout).toContain('POOL=3');
  });
});
