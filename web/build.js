#!/usr/bin/env node
'use strict';
// Builds the page of `vae explore` (web/explore) into dist/explore: app.ts bundled with esbuild (TensorFlow.js,
// Vega and Vega-Lite from node_modules, so the page works offline), index.html and style.css copied. Run by
// `npm run build` after tsc.
const esbuild = require('esbuild');
const fs = require('fs');
const path = require('path');

const src = path.join(__dirname, 'explore');
const out = path.join(__dirname, '..', 'dist', 'explore');
fs.mkdirSync(out, { recursive: true });
esbuild.buildSync({
  entryPoints: [path.join(src, 'app.ts')], bundle: true, format: 'iife', platform: 'browser', target: 'es2020', minify: true,
  outfile: path.join(out, 'app.js'), define: { 'process.env.NODE_ENV': '"production"' }, logLevel: 'warning', legalComments: 'none',
});
for (const file of ['index.html', 'style.css']) fs.copyFileSync(path.join(src, file), path.join(out, file));
