#!/usr/bin/env node
'use strict';
// Builds the optional native addon (gemm.cc: matrix products and the Adam update in AVX-512/AVX2) with node-gyp,
// which npm provides to its scripts. Runs as the package's "install" script and as `npm run build:native`.
// A failed build is not an error: vae then runs on the wasm backend's own kernels, only slower; the backend line
// that `vae train` prints says which ones it uses.
const { spawnSync } = require('child_process');
const path = require('path');

if (process.env.VAE_NATIVE === '0') {
  console.log('vae: VAE_NATIVE=0: the native addon is not built');
  process.exit(0);
}
const result = spawnSync('node-gyp', ['rebuild'], { cwd: __dirname, stdio: ['ignore', 'pipe', 'pipe'], shell: true });
if (result.status === 0) {
  console.log(`vae: built the native addon (${path.join('native', 'build', 'Release', 'vae_gemm.node')})`);
} else {
  const log = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
  console.warn(`${log}\nvae: could not build the native addon (needs make and a C++ compiler); `
    + 'training will use the wasm backend\'s own kernels, about 3 times slower');
}
