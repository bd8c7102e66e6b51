#!/usr/bin/env node
/**
 * node bench/same-run.js RUN RUN...: whether training runs are the same run: each later run folder's metrics
 * (metrics.jsonl without its timings) and every epoch's weights and optimizer state (the hashes in each epoch's
 * checksums.json) against the first's. One line a run; exits 1 when any differs. The GPU check uses it for the
 * issue's `--seed gives the same run twice on the GPU` (and once more with every product in its plain form).
 */
'use strict';
const fs = require('fs');
const path = require('path');

const TIMINGS = ['time', 'seconds', 'samplesPerSec'];

/** A run folder's numbers: its metrics without timings, and each epoch's file hashes (model.json aside). */
function runOf(dir) {
  const metrics = fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((line) => {
    const m = JSON.parse(line);
    for (const t of TIMINGS) delete m[t];
    return JSON.stringify(m);
  });
  const epochs = fs.readdirSync(dir).filter((name) => /^epoch-\d+$/.test(name)).sort().map((name) => {
    const { files } = JSON.parse(fs.readFileSync(path.join(dir, name, 'checksums.json'), 'utf8'));
    const hashes = Object.entries(files).filter(([file]) => file.endsWith('.bin')).map(([file, f]) => [file, f.sha256]);
    return { name, hashes };
  });
  return { metrics, epochs };
}

/** What differs between two runs (empty when nothing). */
function differences(a, b) {
  const found = [];
  if (a.metrics.length !== b.metrics.length) found.push(`${b.metrics.length} epochs of metrics against ${a.metrics.length}`);
  a.metrics.forEach((m, i) => { if (i < b.metrics.length && m !== b.metrics[i]) found.push(`the metrics of epoch ${i + 1}`); });
  if (a.epochs.map((e) => e.name).join() !== b.epochs.map((e) => e.name).join()) found.push('the epochs saved');
  for (const e of a.epochs) {
    const other = b.epochs.find((f) => f.name === e.name);
    for (const [file, hash] of other ? e.hashes : []) {
      if (other.hashes.find(([f]) => f === file)?.[1] !== hash) found.push(`${e.name}/${file}`);
    }
  }
  return found;
}

/** "1 epoch's", "2 epochs'". */
const epochs = (n) => (n === 1 ? "1 epoch's" : `${n} epochs'`);

const dirs = process.argv.slice(2);
if (dirs.length < 2) {
  console.error('usage: node bench/same-run.js RUN RUN...');
  process.exit(2);
}
const [first, ...rest] = dirs.map(runOf);
let same = true;
rest.forEach((run, i) => {
  const found = differences(first, run);
  same = same && found.length === 0;
  console.log(found.length === 0
    ? `${dirs[i + 1]}: the same run as ${dirs[0]} (${epochs(first.metrics.length)} metrics, ${epochs(first.epochs.length)} weights and optimizer state, to the bit)`
    : `${dirs[i + 1]}: not the same run as ${dirs[0]}: ${found.join(', ')} differ`);
});
process.exit(same ? 0 : 1);
