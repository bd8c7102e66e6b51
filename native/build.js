#!/usr/bin/env node
'use strict';
// Builds the optional native addon (gemm.cc: matrix products and the Adam update in AVX-512/AVX2) with node-gyp,
// which npm provides to its scripts. Runs as the package's "install" script and as `npm run build:native`.
// A failed build is not an error: vae then runs on the wasm backend's own kernels, only slower; the backend line
// that `vae train` prints says which ones it uses.
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

if (process.env.VAE_NATIVE === '0') {
  console.log('vae: VAE_NATIVE=0: the native addon is not built');
  process.exit(0);
}
// node-gyp downloads Node's headers unless it is told where they are (npm's `nodedir` setting). A Node installed
// with its headers (Debian's nodejs: /usr/include/node) needs no download, which matters without network access.
const args = ['rebuild'];
const prefix = path.resolve(path.dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) {
  args.push(`--nodedir=${prefix}`);
}
/** node-gyp rebuild in `dir`; true when it built. */
function build(dir) {
  const result = spawnSync('node-gyp', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], shell: true });
  if (result.status === 0) return { ok: true };
  return { ok: false, log: `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n') };
}

const gemm = build(__dirname);
if (gemm.ok) {
  console.log(`vae: built the native addon (${path.join('native', 'build', 'Release', 'vae_gemm.node')})`);
} else {
  console.warn(`${gemm.log}\nvae: could not build the native addon (needs make, a C++ compiler and Node's headers); `
    + 'training will use the wasm backend\'s own kernels, about 3 times slower');
}
// The picture decoder of a folder's first run (decode/decode.cc): libjpeg-turbo and libpng, whose headers come with
// Debian's libjpeg62-turbo-dev and libpng-dev. Without it sharp decodes every picture, the same bytes, slower.
const decode = build(path.join(__dirname, 'decode'));
if (decode.ok) {
  console.log(`vae: built the picture decoder (${path.join('native', 'decode', 'build', 'Release', 'vae_decode.node')})`);
} else {
  console.warn(`${decode.log}\nvae: could not build the picture decoder (needs libjpeg and libpng headers: ` +
    'apt-get install libjpeg62-turbo-dev libpng-dev); sharp will decode folders of pictures, about 10 times slower');
}
