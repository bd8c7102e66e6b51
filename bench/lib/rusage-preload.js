'use strict';
// Loaded with `node --require bench/lib/rusage-preload.js bin/vae ...` by bench/run.js: when the process
// exits, writes its peak resident memory (process.resourceUsage().maxRSS, KiB) and the TensorFlow.js
// backend that was active to the file named by BENCH_RUSAGE_OUT. Pure Node: no /usr/bin/time needed.
// It only reads what the process already loaded; it never loads or changes anything of the CLI.
const fs = require('fs');

const out = process.env.BENCH_RUSAGE_OUT;
const started = Date.now();

/** tf.getBackend() of the tfjs-core the CLI loaded, if any, found in the module cache. */
function activeBackend() {
  const info = { backend: null, package: null, wasmSimd: null, wasmThreads: null, nativeKernels: null };
  try {
    const keys = Object.keys(require.cache);
    const core = keys.find((k) => /[\\/]@tensorflow[\\/]tfjs-core[\\/]dist[\\/][^\\/]*\.js$/.test(k) &&
      require.cache[k].exports && typeof require.cache[k].exports.getBackend === 'function');
    if (!core) return info;
    const tf = require.cache[core].exports;
    info.backend = tf.getBackend() || null;
    if (keys.some((k) => /[\\/]@tensorflow[\\/]tfjs-node-gpu[\\/]/.test(k))) info.package = '@tensorflow/tfjs-node-gpu';
    else if (keys.some((k) => /[\\/]@tensorflow[\\/]tfjs-node[\\/]/.test(k))) info.package = '@tensorflow/tfjs-node';
    else if (info.backend === 'wasm') info.package = '@tensorflow/tfjs-backend-wasm';
    else if (info.backend === 'cpu') info.package = '@tensorflow/tfjs-backend-cpu';
    if (info.backend === 'wasm') {
      info.wasmSimd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
      info.wasmThreads = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT');
      // vae's native kernels (native/gemm.cc): the addon is in the module cache when the CLI loaded it.
      const addon = keys.find((k) => /vae_gemm\.node$/.test(k));
      info.nativeKernels = addon && tf.getKernel('VaeBernoulliNll', 'wasm') ? require.cache[addon].exports.isa : null;
    }
  } catch (e) {
    info.error = String(e && e.message ? e.message : e);
  }
  return info;
}

// Workers inherit --require; only the main thread writes (its figures cover the whole process, workers included).
if (out && require('worker_threads').isMainThread) {
  process.on('exit', (code) => {
    const usage = process.resourceUsage();
    const record = {
      maxRssKiB: usage.maxRSS,
      userSeconds: usage.userCPUTime / 1e6,
      systemSeconds: usage.systemCPUTime / 1e6,
      secondsSincePreload: (Date.now() - started) / 1000,
      exitCode: code,
      ...activeBackend(),
    };
    try {
      fs.writeFileSync(out, JSON.stringify(record) + '\n');
    } catch {
      // the bench reports a missing record; never change the CLI's exit
    }
  });
}
