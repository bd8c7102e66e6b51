/**
 * `vae explore`: the latent space of a run in the browser. A small read-only server (io/static-server.ts) serves
 * the page (web/explore, bundled into dist/explore by `npm run build`), the run's encoder and decoder (the tfjs
 * layers files of its best checkpoint), its metrics.jsonl (read at each request: a run still training is a live
 * dashboard) and explore.json, made here: the model's shape and family, the test codes with their labels, their
 * two main principal directions and each dimension's spread; and the page's Train panel's data (MNIST, data/mnist/).
 * With no run yet, the page alone (its Train panel trains one). `--export DIR` writes the same files as a static site.
 * The server answers only its own host names and those of `--allow-host`; on an address other than loopback it says
 * on stderr that the run's files can be read from the network.
 */
import * as fs from 'fs';
import * as path from 'path';
import { AddressInfo, isIPv6 } from 'net';
import { Command, InvalidArgumentError } from 'commander';
import { VaeError } from '../errors';
import { nonNegativeInt, positiveInt } from '../options';
import { LoadedModel, M1_DIR, newestRun } from '../io/checkpoint';
import { mnistDir } from '../data/datasets';
import { ServedFile, exportFiles, fileIn, filesUnder, parseHostName, serveFiles } from '../io/static-server';
import { checkpointOption, informer, loadSplit, modelInputs, openModel } from './common';
import { exploreDataOf } from './explore-data';
import { ExploreData } from './explore-types';

/** Where `npm run build` puts the page (web/build.js). */
export const PAGE_DIR = path.join(__dirname, '..', 'explore');
/** Test codes drawn on the pad. */
export const EXPLORE_CODES = 2000;

/** explore.json for a loaded run: `count` test codes and their statistics. */
export async function exploreData(loaded: LoadedModel, count: number): Promise<ExploreData> {
  const split = await loadSplit(loaded, 'test', count);
  return exploreDataOf({ vae: loaded.vae, config: loaded.config, run: path.basename(path.resolve(loaded.runDir)), images: split.x,
    inputs: modelInputs(loaded, split.x, split.count), labels: split.labels, count: split.count, m1: loaded.m1 });
}

/** The MNIST files the Train panel trains on (data/mnist/ in the page): the copy vae ships, as `vae train` reads it. */
const MNIST_FILES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];

/** The page and the data of its Train panel: the explorer with no run yet. */
export function pageFiles(): Map<string, ServedFile> {
  if (!fs.existsSync(path.join(PAGE_DIR, 'index.html'))) {
    throw new VaeError(`the explorer's page is not built (${PAGE_DIR}): run 'npm run build'`);
  }
  const files = filesUnder(PAGE_DIR, '/');
  for (const name of MNIST_FILES) {
    const file = fileIn(mnistDir(), name);
    if (file) files.set(`/data/mnist/${name}`, file);
  }
  return files;
}

/** The files of the explorer for a run: the page (and its Train panel's data), explore.json, the networks, metrics.jsonl. */
export function exploreFiles(loaded: LoadedModel, data: ExploreData): Map<string, ServedFile> {
  const files = pageFiles();
  files.set('/explore.json', { body: Buffer.from(JSON.stringify(data)), type: 'application/json' });
  const networks = (from: string, prefix: string) => {
    for (const net of ['encoder', 'decoder', 'classifier']) {
      const dir = path.join(from, net);
      if (fs.existsSync(dir)) for (const [url, file] of filesUnder(dir, `${prefix}${net}/`)) files.set(url, file);
    }
  };
  networks(loaded.checkpointDir, '/model/');
  if (loaded.m1) networks(path.join(loaded.runDir, M1_DIR), '/model/m1/');
  // Read at each request: a run still training serves its newest epochs.
  const metrics = fs.existsSync(path.join(loaded.runDir, 'metrics.jsonl')) ? fileIn(loaded.runDir, 'metrics.jsonl') : null;
  if (metrics) files.set('/metrics.jsonl', metrics);
  return files;
}

/** --allow-host, repeatable and comma-separated: the names gathered so far and these. */
function hostNames(value: string, previous: string[] = []): string[] {
  const names = value.split(',').map((name) => name.trim());
  for (const name of names) {
    if (!parseHostName(isIPv6(name) ? `[${name}]` : name)) {
      throw new InvalidArgumentError(`${name === '' ? 'an empty name' : name} is not a host name (such as vae.example or vae.example:8080).`);
    }
  }
  return [...previous, ...names];
}

/** 127.0.0.0/8 and ::1 (also written as an IPv4-mapped IPv6 address): only this machine can connect. */
export function isLoopback(address: string): boolean {
  return /^(::ffff:)?127\.\d+\.\d+\.\d+$/i.test(address) || address === '::1';
}

export function registerExplore(program: Command, context: { quiet: () => boolean }): void {
  program.command('explore')
    .description('the latent space of a run in the browser: a 2-D pad, sliders, drawing, interpolation and the training curves, ' +
      'and a Train panel that trains a model in the tab on its WebGPU (a local web server, or a static copy with --export)')
    .addOption(checkpointOption())
    .option('--port <n>', 'port to serve on (0: any free one)', nonNegativeInt, 5173)
    .option('--host <address>', 'address to listen on (only this machine by default; 0.0.0.0: every interface, and the ' +
      'run\'s files are readable from the network)', '127.0.0.1')
    .option('--allow-host <names>', 'more host names the server answers to, such as a proxy\'s (name or name:port; ' +
      'repeatable or comma-separated): other than these it answers only localhost, 127.0.0.1, [::1] and its --host (421)',
    hostNames)
    .option('--export <dir>', 'write the page and its files to this folder (any static web server serves it) instead of serving')
    .option('--codes <n>', 'test images whose codes are drawn on the pad', positiveInt, EXPLORE_CODES)
    .action(async (flags: { checkpoint?: string; port: number; host: string; allowHost?: string[]; export?: string; codes: number }) => {
      const info = informer(context.quiet());
      // No run yet: the page alone, whose Train panel trains one.
      const loaded = flags.checkpoint === undefined && newestRun() === null ? null : await openModel(flags.checkpoint, context.quiet(), { codes: true });
      const files = loaded ? exploreFiles(loaded, await exploreData(loaded, flags.codes)) : pageFiles();
      const what = loaded ? `the explorer of ${loaded.runDir}` : 'the explorer (no run yet: its Train panel trains one)';
      if (flags.export) {
        if (fs.existsSync(flags.export) && fs.readdirSync(flags.export).length > 0) {
          throw new VaeError(`${flags.export} is not empty: choose a new folder for --export`);
        }
        exportFiles(files, flags.export);
        info(`wrote ${what} to ${flags.export.replace(/\/+$/, '')}/ (${files.size} files): serve it with any static web server`);
        return;
      }
      const server = await serveFiles(files, flags.host, flags.port, flags.allowHost ?? []);
      const { address, port } = server.address() as AddressInfo;
      if (!isLoopback(address)) {
        // Even with --quiet, like the URL: anyone on the network may read the user's data.
        process.stderr.write(`note: listening on ${flags.host}: the run's files (codes and example pictures of your data) are ` +
          `readable by anyone who can reach this machine on port ${port}\n`);
      }
      const shown = flags.host.includes(':') ? `[${flags.host}]` : flags.host;
      // The URL goes to stdout (for scripts), even with --quiet.
      process.stdout.write(`http://${shown}:${port}/\n`);
      info(`${loaded ? `exploring ${loaded.runDir}` : 'no run under checkpoints/ yet: the page\'s Train panel trains one'} (Ctrl-C to stop)`);
      await new Promise<void>((resolve) => {
        const stop = () => server.close(() => resolve());
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
