'use strict';
// What the page's bundles share (web/build.js and the tests that bundle src/ for the browser): esbuild's settings,
// and the stand-ins for the three modules of src/ that only Node runs. The model, its families, the training loop
// and the WebGPU engine reach them, and the page has none of what they give: no native addon (the wasm backend's
// kernels and the Adam update fall back to their JavaScript), no working folder to show paths from, no package.json.
// A stand-in names only what the page's code imports of its module: an import of anything else fails the bundle.
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version;

const STAND_INS = {
  'src/native.ts': `export const nativeAddon = () => null; export const decodeAddon = () => null;
    export const largeBytes = (bytes) => new Uint8Array(bytes);`,
  'src/files.ts': 'export const displayPath = (p) => p;',
  'src/version.ts': `export const TOOL_VERSION = ${JSON.stringify(version)};`,
};

/** esbuild plugin: the stand-ins above in place of their modules. */
const standIns = {
  name: 'vae-stand-ins',
  setup(build) {
    build.onLoad({ filter: /[\\/]src[\\/](native|files|version)\.ts$/ }, (args) => {
      const relative = path.relative(root, args.path).split(path.sep).join('/');
      return relative in STAND_INS ? { contents: STAND_INS[relative], loader: 'js' } : undefined;
    });
  },
};

/** esbuild's options for a bundle of the page's. */
function browserOptions(extra) {
  return { bundle: true, platform: 'browser', target: 'es2020', define: { 'process.env.NODE_ENV': '"production"' }, logLevel: 'warning',
    legalComments: 'none', plugins: [standIns], ...extra };
}

module.exports = { browserOptions, STAND_INS };
