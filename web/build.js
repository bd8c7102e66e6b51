#!/usr/bin/env node
'use strict';
// Builds the page of `vae explore` (web/explore) into dist/explore: app.ts and the Train panel's worker bundled with esbuild (TensorFlow.js,
// Vega and Vega-Lite from node_modules, so the page works offline), index.html and style.css copied. Run by
// `npm run build` after tsc.
const esbuild = require('esbuild');
const fs = require('fs');
const path = require('path');
const { browserOptions } = require('./bundle');

const src = path.join(__dirname, 'explore');
const out = path.join(__dirname, '..', 'dist', 'explore');
fs.mkdirSync(out, { recursive: true });
for (const file of ['index.html', 'style.css']) fs.copyFileSync(path.join(src, file), path.join(out, file));
// (Asynchronous: esbuild runs plugins, the stand-ins among them, only there.)
// train-worker.js: the Train panel's worker (web/train/worker.ts), vae train's loop and the WebGPU engine.
Promise.all([
  esbuild.build(browserOptions({ entryPoints: [path.join(src, 'app.ts')], format: 'iife', minify: true, outfile: path.join(out, 'app.js') })),
  esbuild.build(browserOptions({ entryPoints: [path.join(__dirname, 'train', 'worker.ts')], format: 'iife', minify: true,
    outfile: path.join(out, 'train-worker.js') })),
]).catch(() => { process.exitCode = 1; }); // esbuild has printed the errors
