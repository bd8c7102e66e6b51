/**
 * Training in the page (web/train): the explorer's Train panel runs vae train's loop and the WebGPU engine in a
 * dedicated worker of the page, on the browser's own WebGPU (Chromium's SwiftShader adapter here, headless, with
 * --enable-unsafe-webgpu). The same run trained one step in the page and one step in Node on the CPU engine (the
 * same weights, batches and noise, both from the run's seed) ends with the same parameters within 1e-4; without
 * WebGPU the worker says so in one line.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { AddressInfo } from 'net';
import type { Server } from 'http';
import type { ChildProcess } from 'child_process';
import { unzipSync, zipSync } from 'fflate';
import type { Browser, Page } from 'puppeteer-core';
import { initBackend } from '../../src/backend';
import { createCpuEngine } from '../../src/engine/cpu';
import { ServedFile, fileIn, filesUnder, serveFiles } from '../../src/io/static-server';
import { familyOf } from '../../src/model/families/registry';
import { flatLayout, readVariables } from '../../src/model/flat';
import { EpochClose } from '../../src/train/epoch-close';
import { trainLoop } from '../../src/train/loop';
import { startRun } from '../../src/train/run';
import type { TrainRun } from '../../src/train/types';
import { runVae, startExplore } from '../helpers/cli';
import { tmpDir } from '../helpers/tmp';

const CHROMIUM = process.env.CHROMIUM ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => fs.existsSync(p));
const PAGE_DIR = path.join(__dirname, '..', '..', 'dist', 'explore');

/** A small VAE on 128 MNIST images (one step of 128) and 64 test images, as `vae train` starts it. */
async function smallRun(): Promise<TrainRun> {
  return startRun({ data: 'mnist', out: path.join(tmpDir(), 'run'), limitTrain: 128, limitTest: 64, hidden: [64], zDim: 4, beta: 1, epochs: 1,
    batchSize: 128, lr: 1e-3, seed: 7, klWarmup: 0, binarize: 'dynamic' });
}

const paramsOf = (run: TrainRun) => {
  const variables = run.vae.trainableVariables();
  const params = new Float32Array(flatLayout(variables).size);
  readVariables(variables, flatLayout(variables), params);
  return params;
};

/** The run as the page is given it (plain arrays: page.evaluate's arguments are JSON). */
function pageRun(run: TrainRun, params: Float32Array) {
  const set = (s: TrainRun['dataset']['train']) => ({ images: Array.from(s.images!), labels: s.labels ? Array.from(s.labels) : null, count: s.count });
  return { config: run.config, params: Array.from(params),
    dataset: { ...run.dataset, train: set(run.dataset.train), test: set(run.dataset.test) } };
}

/** Runs the worker in `page` on `request` (pageRun's shape); resolves with its messages up to 'done' or 'error'. */
function trainInWorker(page: Page, request: ReturnType<typeof pageRun>) {
  type Seen = { kind: string; message?: string; params?: number[]; m?: number[]; description?: string; trainLoss?: number };
  return page.evaluate((r) => new Promise<Seen[]>((resolve) => {
    const typed = (s: { images: number[]; labels: number[] | null; count: number }) =>
      ({ images: Uint8Array.from(s.images), labels: s.labels ? Uint8Array.from(s.labels) : null, count: s.count });
    const worker = new Worker('/train-worker.js');
    const seen: Seen[] = [];
    worker.onmessage = (e: MessageEvent) => {
      const m = e.data as { kind: string; message?: string; params?: Float32Array; adam?: { m: Float32Array }; description?: string;
        result?: { train: { loss: number } } };
      seen.push({ kind: m.kind, message: m.message, description: m.description, params: m.params ? Array.from(m.params) : undefined,
        m: m.adam ? Array.from(m.adam.m) : undefined, trainLoss: m.result?.train.loss });
      if (m.kind === 'done' || m.kind === 'error') { worker.terminate(); resolve(seen); }
    };
    worker.onerror = (e) => { seen.push({ kind: 'error', message: e.message }); resolve(seen); };
    worker.postMessage({ kind: 'train', run: { config: r.config, params: Float32Array.from(r.params),
      dataset: { ...r.dataset, train: typed(r.dataset.train), test: typed(r.dataset.test) } } });
  }), request);
}

/** The largest |got − want| / (|want| + floor). */
function worstRelative(got: ArrayLike<number>, want: ArrayLike<number>, floor: number): number {
  expect(got.length).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / (Math.abs(want[i]) + floor));
  return worst;
}

describe('training in the page, in Chromium', () => {
  let server: Server;
  let url = '';
  const browsers: Browser[] = [];
  beforeAll(async () => {
    const files = new Map<string, ServedFile>([['/index.html', { body: Buffer.from('<!doctype html><title>vae</title>'), type: 'text/html' }]]);
    const worker = fileIn(PAGE_DIR, 'train-worker.js');
    if (worker) files.set('/train-worker.js', worker);
    server = await serveFiles(files, '127.0.0.1', 0, []);
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(async () => {
    await Promise.all(browsers.map((b) => b.close()));
    await new Promise((resolve) => server.close(resolve));
  });

  async function pageIn(args: string[]): Promise<Page> {
    const puppeteer = await import('puppeteer-core');
    const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', ...args] });
    browsers.push(browser);
    const page = await browser.newPage();
    await page.goto(url);
    return page;
  }

  test('one step in the page equals the CPU engine\'s step in Node (same weights, batch and noise) within 1e-4', async () => {
    if (!CHROMIUM) return expect(process.env.CI).toBeFalsy(); // CI installs chromium
    expect(fs.existsSync(path.join(PAGE_DIR, 'train-worker.js'))).toBe(true);
    await initBackend('wasm');
    const run = await smallRun();
    const before = paramsOf(run);
    const page = await pageIn(['--enable-unsafe-webgpu', '--enable-unsafe-swiftshader']);
    const messages = await trainInWorker(page, pageRun(run, before));
    const done = messages[messages.length - 1];
    expect(done).toMatchObject({ kind: 'done' });
    expect(messages.find((m) => m.kind === 'engine')?.description).toMatch(/^webgpu/);
    expect(messages.filter((m) => m.kind === 'epoch')).toHaveLength(1);

    const family = familyOf(run.vae.config);
    const close = new EpochClose(run, family);
    const outcome = await trainLoop(run, {
      engine: (setup) => createCpuEngine({ ...setup, backend: { choice: 'wasm', tfName: 'wasm', description: 'wasm', threadChoice: 'wasm' }, threads: 1 }),
      epochEnd: async (epoch, beta, hooks) => (await close.close(epoch, beta, hooks)).result,
      save: async () => '',
    });
    // As test/engine/webgpu.test.ts holds the Node WebGPU engine to the CPU's: the epoch's loss to 1e-4 relative; the
    // gradients (Adam's m after step 1 is (1 − β1) g) to 1e-4 of the largest; the parameters to 1e-4 (|p| + 1).
    const epoch = messages.find((m) => m.kind === 'epoch')!;
    const nodeTrainLoss = outcome.epochs[0].train.loss;
    expect(Math.abs(epoch.trainLoss! - nodeTrainLoss) / Math.abs(nodeTrainLoss)).toBeLessThanOrEqual(1e-4);
    const node = paramsOf(run);
    const scale = run.adam.m.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
    expect(scale).toBeGreaterThan(0);
    expect(worstRelative(done.m!, run.adam.m, scale)).toBeLessThanOrEqual(1e-4);
    expect(worstRelative(done.params!, node, 1)).toBeLessThanOrEqual(1e-4);
    expect(worstRelative(node, before, 1)).toBeGreaterThan(1e-4); // the step moved them (Adam's first step: ~lr each)
    run.vae.dispose();
    run.lock?.release();
  }, 300_000);

  test('without WebGPU the worker says so in one line', async () => {
    if (!CHROMIUM) return expect(process.env.CI).toBeFalsy();
    const run = await smallRun();
    const page = await pageIn([]);
    const messages = await trainInWorker(page, pageRun(run, paramsOf(run)));
    expect(messages).toEqual([expect.objectContaining({ kind: 'error', message: expect.stringMatching(/^this browser has no WebGPU/) })]);
    run.vae.dispose();
    run.lock?.release();
  }, 300_000);

  test('the tuner\'s picks kept in IndexedDB (web/train/kept-forms.ts): read back after a reload for the same GPU only, the newest MAX_KEPT', async () => {
    if (!CHROMIUM) return expect(process.env.CI).toBeFalsy();
    const { build } = await import('esbuild');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { browserOptions } = require('../../web/bundle') as { browserOptions(extra: object): Parameters<typeof build>[0] };
    const bundled = await build(browserOptions({ entryPoints: [path.join(__dirname, '..', '..', 'web', 'train', 'kept-forms.ts')], format: 'iife',
      globalName: 'keptForms', write: false }));
    const script = bundled.outputFiles![0].text;
    type Store = typeof import('../../web/train/kept-forms');
    const inPage = async <T>(page: Page, f: (m: Store) => Promise<T>) => {
      await page.addScriptTag({ content: script });
      return page.evaluate(`(${f.toString()})(keptForms)`) as Promise<T>;
    };
    const page = await pageIn([]);
    await inPage(page, async (m) => {
      await m.indexedDbKeptForms('H200')!.keep([['a', { form: 4, us: [10, 8, null] }], ['b', { form: 0, us: [3, 5] }]]);
      await m.indexedDbKeptForms('H200')!.keep([['a', { form: 5, us: [9, 9, 7] }]]);
    });
    await page.reload();
    expect(await inPage(page, async (m) => [await m.indexedDbKeptForms('H200')!.load(['b', 'c', 'a']), await m.indexedDbKeptForms('H100')!.load(['a'])]))
      .toEqual([[{ form: 0, us: [3, 5] }, null, { form: 5, us: [9, 9, 7] }], [null]]); // (undefined comes back as null)
    // MAX_KEPT: the oldest go.
    const left = await inPage(page, async (m) => {
      const kept = m.indexedDbKeptForms('gpu')!;
      const now = Date.now;
      Date.now = () => 1;
      await kept.keep(Array.from({ length: 10 }, (_, i) => [`old ${i}`, { form: 1, us: [2, 1] }]));
      Date.now = now;
      await kept.keep(Array.from({ length: m.MAX_KEPT - 5 }, (_, i) => [`new ${i}`, { form: 2, us: [2, 1, 0.5] }]));
      const old = await kept.load(Array.from({ length: 10 }, (_, i) => `old ${i}`));
      return { old: old.filter((e) => e !== undefined).length, newest: await kept.load([`new ${m.MAX_KEPT - 6}`]) };
    });
    // 2 (H200's) + 10 old + MAX_KEPT − 5 new: 7 past MAX_KEPT, the oldest 7 (old 0-6) deleted.
    expect(left).toEqual({ old: 3, newest: [{ form: 2, us: [2, 1, 0.5] }] });
    // Without IndexedDB (an opaque origin), nothing is kept.
    expect(await inPage(page, async (m) => [m.indexedDbKeptForms('gpu') === undefined, m.indexedDbKeptForms('gpu', null as never) === undefined]))
      .toEqual([false, true]);
  }, 120_000);
});


type Seen = { ready: boolean; training: boolean; engine: string; epochs: { test: { loss: number }; train: { loss: number } }[]; error: string; done: boolean };


type TrainHandle = { seen: Seen & { downloaded: string; opened: string }; setValue(n: string, v: string): void; start(): void };
const handle = 'vaeTrain';

/** Clicks Download run and unzips the run folder it saves into `work`; the zip's name. */
async function downloadRun(page: Page, work: string): Promise<string> {
  const downloads = path.join(work, 'downloads');
  const cdp = await page.createCDPSession();
  await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
  await page.evaluate((h) => { (window as unknown as Record<string, TrainHandle>)[h].seen.downloaded = ''; }, handle);
  await page.click('#train-download');
  await page.waitForFunction((h) => (window as unknown as Record<string, TrainHandle>)[h].seen.downloaded !== '', { timeout: 60_000 }, handle);
  const zipName = await page.evaluate((h) => (window as unknown as Record<string, TrainHandle>)[h].seen.downloaded, handle);
  for (let i = 0; i < 300 && !fs.existsSync(path.join(downloads, zipName)); i++) await new Promise((r) => setTimeout(r, 100));
  for (const [name, bytes] of Object.entries(unzipSync(new Uint8Array(fs.readFileSync(path.join(downloads, zipName)))))) {
    fs.mkdirSync(path.join(work, path.dirname(name)), { recursive: true });
    fs.writeFileSync(path.join(work, name), bytes);
  }
  return zipName;
}

/** The epochs the curves panel's x axis spans ('1 to 3'), from its Vega-Lite axis label. */
async function curvesEpochs(page: Page): Promise<string | undefined> {
  const label = await page.$eval('#curves [aria-roledescription="axis"][aria-label^="X-axis"]', (g) => g.getAttribute('aria-label') ?? '');
  return /values from (\d+ to \d+)/.exec(label)?.[1];
}

/** Waits until the panel's run is done or failed; what it saw. */
async function untilDone(page: Page): Promise<TrainHandle['seen']> {
  await page.waitForFunction((h) => { const s = (window as unknown as Record<string, TrainHandle>)[h].seen; return s.done || s.error !== ''; },
    { timeout: 240_000 }, handle);
  return page.evaluate((h) => (window as unknown as Record<string, TrainHandle>)[h].seen, handle);
}

/** Zips `work`/`dir` into `work`/`dir`.zip, its files under `dir`/. */
function zipFolder(work: string, dir: string): string {
  const zip: Record<string, Uint8Array> = {};
  const add = (rel: string) => {
    for (const entry of fs.readdirSync(path.join(work, rel), { withFileTypes: true })) {
      const file = path.join(rel, entry.name);
      if (entry.isDirectory()) add(file);
      else zip[file.split(path.sep).join('/')] = new Uint8Array(fs.readFileSync(path.join(work, file)));
    }
  };
  add(dir);
  fs.writeFileSync(path.join(work, `${dir}.zip`), zipSync(zip));
  return path.join(work, `${dir}.zip`);
}

/** Sets the Train panel's fields (`vae train`'s flags by name) and clicks Start. */
async function startWith(page: Page, fields: Record<string, string>): Promise<void> {
  await page.evaluate((h, f) => {
    const train = (window as unknown as Record<string, TrainHandle>)[h];
    for (const [name, value] of Object.entries(f)) train.setValue(name, value);
    train.start();
  }, handle, fields);
}

/** `vae ARGS` in `cwd`, which must succeed (its stderr printed when it does not). */
function ok(args: string[], cwd: string) {
  const r = runVae(args, cwd);
  if (r.status !== 0) console.log(args.join(' '), r.stderr);
  expect(r.status).toBe(0);
  return r;
}

describe("vae explore's Train panel, in Chromium", () => {
  let browser: Browser | null = null;
  let explore: ChildProcess | null = null;
  let exploreUrl = '';
  const work = tmpDir();
  /** The browser (WebGPU on SwiftShader) and `vae explore` in `work`, with no run, started once. */
  async function started(): Promise<{ browser: Browser; url: string }> {
    if (!explore) {
      const served = await startExplore([], work);
      explore = served.child;
      exploreUrl = served.url;
    }
    if (!browser) {
      const puppeteer = await import('puppeteer-core');
      browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--enable-unsafe-webgpu', '--enable-unsafe-swiftshader'] });
    }
    return { browser, url: exploreUrl };
  }
  afterAll(async () => {
    explore?.kill();
    await browser?.close();
  });

  test('with no run yet, vae explore serves the page whose Train panel trains MNIST in the tab, to the CLI\'s test −ELBO within 0.5 nats; the run it downloads opens and resumes in the CLI', async () => {
    if (!CHROMIUM) return expect(process.env.CI).toBeFalsy();
    const { url } = await started();
    const cli = runVae(['train', '--limit-train', '2000', '--limit-test', '500', '--epochs', '1', '--out', 'cli-run'], work);
    expect(cli.status).toBe(0);
    const cliTest = JSON.parse(fs.readFileSync(path.join(work, 'cli-run', 'metrics.jsonl'), 'utf8').trim()).test.loss as number;

    const page = await browser!.newPage();
    await page.goto(url);
    await page.waitForFunction(() => (window as unknown as { vaeTrain?: { seen: Seen } }).vaeTrain?.seen.ready === true, { timeout: 60_000 });
    expect(await page.evaluate(() => (window as unknown as { vaeExplore?: { run: boolean } }).vaeExplore?.run)).toBe(false);
    await startWith(page, { 'limit-train': '2000', 'limit-test': '500', epochs: '1' });
    const seen = await untilDone(page);
    expect(seen.error).toBe('');
    expect(seen.engine).toMatch(/^webgpu/);
    expect(seen.epochs).toHaveLength(1);
    expect(Math.abs(seen.epochs[0].test.loss - cliTest)).toBeLessThanOrEqual(0.5);
    expect(await page.$eval('#train-epochs', (t) => (t as HTMLTableElement).rows.length)).toBe(2); // the header and epoch 1
    // The curves panel, hidden with no run, shows the tab's run.
    expect(await page.$eval('#curves-section', (s) => (s as HTMLElement).hidden)).toBe(false);
    expect(await curvesEpochs(page)).toBe('1 to 1');
    // Download run: the run folder as a zip, which the CLI opens (sample, evaluate) and trains on (--resume): its
    // epoch 2 as the CLI's own run resumed to epoch 2.
    const zipName = await downloadRun(page, work);
    const runDir = zipName.replace(/\.zip$/, '');
    expect(fs.existsSync(path.join(work, runDir, 'epoch-0001', 'encoder', 'model.json'))).toBe(true);
    ok(['sample', '-n', '4', 'samples.png', '--checkpoint', runDir], work);
    expect(ok(['evaluate', '--checkpoint', runDir], work).stdout).toMatch(/ELBO/);
    for (const dir of [runDir, 'cli-run']) ok(['train', '--resume', dir, '--epochs', '2'], work);
    const epoch2 = (dir: string) => JSON.parse(fs.readFileSync(path.join(work, dir, 'metrics.jsonl'), 'utf8').trim().split('\n')[1]).test.loss as number;
    expect(Math.abs(epoch2(runDir) - epoch2('cli-run'))).toBeLessThanOrEqual(0.5);
    if (process.env.VAE_SCREENSHOTS) {
      console.log(`the page: ${JSON.stringify(seen.epochs[0])}`);
      const section = await page.$('#train-section');
      await section!.screenshot({ path: path.join(__dirname, '..', '..', 'docs', 'images', 'train-in-page.png') });
    }
  }, 400_000);

  test('a run folder vae train made opens in the page and trains on there as it does in the CLI', async () => {
    if (!CHROMIUM) return expect(process.env.CI).toBeFalsy();
    const { url } = await started();
    ok(['train', '--limit-train', '256', '--limit-test', '100', '--epochs', '1', '--out', 'cli'], work);
    zipFolder(work, 'cli');
    fs.cpSync(path.join(work, 'cli'), path.join(work, 'cli-2'), { recursive: true });
    ok(['train', '--resume', 'cli-2', '--epochs', '2'], work);

    const page = await browser!.newPage();
    await page.goto(url);
    await page.waitForFunction((h) => (window as unknown as Record<string, TrainHandle>)[h]?.seen.ready === true, { timeout: 60_000 }, handle);
    const input = await page.$('#train-open');
    await (input as unknown as { uploadFile(f: string): Promise<void> }).uploadFile(path.join(work, 'cli.zip'));
    await page.waitForFunction((h) => { const s = (window as unknown as Record<string, TrainHandle>)[h].seen; return s.opened !== '' || s.error !== ''; },
      { timeout: 60_000 }, handle);
    expect(await page.evaluate((h) => (window as unknown as Record<string, TrainHandle>)[h].seen.opened, handle)).toBe('epoch-0001');
    await page.evaluate((h) => { (window as unknown as Record<string, TrainHandle>)[h].setValue('epochs', '2'); }, handle);
    await page.click('#train-continue');
    const seen = await untilDone(page);
    expect(seen.error).toBe('');
    expect(seen.epochs).toHaveLength(1);
    const zipName = await downloadRun(page, work);
    const lines = fs.readFileSync(path.join(work, zipName.replace(/\.zip$/, ''), 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const cli = fs.readFileSync(path.join(work, 'cli-2', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.epoch)).toEqual([1, 2]);
    expect(lines[0]).toEqual(cli[0]); // the CLI's own epoch 1, kept
    expect(Math.abs(lines[1].test.loss - cli[1].test.loss)).toBeLessThanOrEqual(0.5);
  }, 300_000);

  test('a zip of 40 PNG and JPEG pictures in two class folders, a text file among them, dropped on the panel, trains in the page, the text file listed; the pad decodes while it trains', async () => {
    if (!CHROMIUM) return expect(process.env.CI).toBeFalsy();
    const { url } = await started();
    const sharp = (await import('sharp')).default;
    const zip: Record<string, Uint8Array> = {};
    for (let i = 0; i < 40; i++) {
      const [cls, side] = [i % 2 === 0 ? 'circles' : 'squares', 40 + 3 * i];
      const shape = cls === 'circles' ? `<circle cx="${side / 2}" cy="${side / 2}" r="${side / 3}" fill="rgb(${6 * i},90,200)"/>`
        : `<rect x="${side / 4}" y="${side / 4}" width="${side / 2}" height="${side / 2}" fill="rgb(220,${5 * i},40)"/>`;
      const svg = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${side}" height="${side + 7}"><rect width="100%" height="100%" fill="white"/>${shape}</svg>`);
      const image = sharp(svg);
      zip[`shapes/${cls}/${String(i).padStart(2, '0')}.${i % 4 < 2 ? 'png' : 'jpg'}`] = new Uint8Array(i % 4 < 2 ? await image.png().toBuffer() : await image.jpeg().toBuffer());
    }
    zip['shapes/circles/notes.txt'] = new TextEncoder().encode('not a picture');
    const zipPath = path.join(work, 'shapes.zip');
    fs.writeFileSync(zipPath, zipSync(zip));

    const page = await browser!.newPage();
    await page.goto(url);
    await page.waitForFunction((h) => (window as unknown as Record<string, TrainHandle>)[h]?.seen.ready === true, { timeout: 60_000 }, handle);
    // Dropped on the panel (a drop event carrying the zip).
    await page.evaluate((bytes) => {
      const data = new DataTransfer();
      data.items.add(new File([Uint8Array.from(atob(bytes), (c) => c.charCodeAt(0))], 'shapes.zip', { type: 'application/zip' }));
      document.getElementById('train-section')!.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
    }, fs.readFileSync(zipPath).toString('base64'));
    await page.waitForFunction(() => (document.getElementById('train-data') as HTMLSelectElement).value === 'pictures', { timeout: 30_000 });
    await startWith(page, { epochs: '3', 'batch-size': '16', 'image-size': '28' });
    // After its first epoch the explorer's panels show the model; while the worker trains on, a drag on the pad decodes.
    await page.waitForFunction((h) => { const s = (window as unknown as Record<string, TrainHandle & { seen: { shown: number } }>)[h].seen; return s.shown >= 1 || s.error !== ''; },
      { timeout: 120_000 }, handle);
    const image = () => page.$eval('#image', (c) => Array.from((c as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, 28, 28).data));
    const before = await image();
    const box = (await (await page.$('#pad'))!.boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.9, box.y + box.height * 0.1);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.1, box.y + box.height * 0.9, { steps: 4 });
    await page.mouse.up();
    const after = await image();
    const training = await page.evaluate((h) => (window as unknown as Record<string, TrainHandle>)[h].seen.training, handle);
    expect(after).not.toEqual(before);
    expect(training).toBe(true); // the drag was decoded while the worker trained
    expect(await page.evaluate(() => (window as unknown as { vaeExplore: { state(): { run: string } } }).vaeExplore.state().run)).toMatch(/shapes, in this tab/);
    const seen = await untilDone(page) as TrainHandle['seen'] & { data: { name: string; train: number; test: number; skipped: { file: string }[] } };
    expect(seen.error).toBe('');
    expect(seen.data).toMatchObject({ name: 'shapes', train: 36, test: 4, skipped: [{ file: 'circles/notes.txt' }] });
    expect(seen.epochs).toHaveLength(3);
    expect(Number.isFinite(seen.epochs[0].test.loss)).toBe(true);
    expect(await page.$eval('#train-skipped', (ul) => ul.textContent)).toMatch(/circles\/notes\.txt/);

    // The run it downloads opens in a new page: refused until its pictures are given (they are not MNIST), then trained on.
    let runZip = path.join(work, 'downloads', await downloadRun(page, work));
    const again = await browser!.newPage();
    await again.goto(url);
    await again.waitForFunction((h) => (window as unknown as Record<string, TrainHandle>)[h]?.seen.ready === true, { timeout: 60_000 }, handle);
    const openZip = async () => {
      await again.evaluate((h) => { const s = (window as unknown as Record<string, TrainHandle>)[h].seen; s.opened = ''; s.error = ''; }, handle);
      await ((await again.$('#train-open')) as unknown as { uploadFile(f: string): Promise<void> }).uploadFile(runZip);
      await again.waitForFunction((h) => { const s = (window as unknown as Record<string, TrainHandle>)[h].seen; return s.opened !== '' || s.error !== ''; },
        { timeout: 60_000 }, handle);
      return again.evaluate((h) => (window as unknown as Record<string, TrainHandle>)[h].seen, handle);
    };
    expect((await openZip()).error).toMatch(/^this run trained on the pictures of shapes \(36 training and 4 test pictures, 28x28 colour\): choose or drop/);
    await ((await again.$('#train-pictures')) as unknown as { uploadFile(f: string): Promise<void> }).uploadFile(zipPath);
    await again.waitForFunction(() => (document.getElementById('train-data') as HTMLSelectElement).value === 'pictures', { timeout: 30_000 });
    const opened = await openZip();
    expect(opened.error).toBe('');
    expect(opened.opened).toBe('epoch-0003');
    expect(await again.$eval('#curves-section', (s) => (s as HTMLElement).hidden)).toBe(false);
    expect(await curvesEpochs(again)).toBe('1 to 3'); // its three epochs' curves
    await again.evaluate((h) => { (window as unknown as Record<string, TrainHandle>)[h].setValue('epochs', '4'); }, handle);
    await again.click('#train-continue');
    const continued = await untilDone(again);
    expect(continued.error).toBe('');
    expect(continued.epochs.map((e) => (e as unknown as { epoch: number }).epoch)).toEqual([4]);

    // And a run `vae train --data shapes` made on the same pictures (its own decoders) opens on the pictures chosen.
    for (const [name, bytes] of Object.entries(unzipSync(new Uint8Array(fs.readFileSync(zipPath))))) {
      fs.mkdirSync(path.join(work, path.dirname(name)), { recursive: true });
      fs.writeFileSync(path.join(work, name), bytes);
    }
    ok(['train', '--data', 'shapes', '--image-size', '28', '--batch-size', '16', '--epochs', '1', '--out', 'cli-shapes'], work);
    runZip = zipFolder(work, 'cli-shapes');
    expect(await openZip()).toMatchObject({ error: '', opened: 'epoch-0001' });
  }, 400_000);

  test('a batch larger than the adapter binds is refused with the limit named', async () => {
    if (!CHROMIUM) return expect(process.env.CI).toBeFalsy();
    const { url } = await started();
    const page = await browser!.newPage();
    await page.goto(url);
    await page.waitForFunction((h) => (window as unknown as Record<string, TrainHandle>)[h]?.seen.ready === true, { timeout: 60_000 }, handle);
    const limit = await page.evaluate(async () => (await (navigator as unknown as { gpu: GPU }).gpu.requestAdapter())!.limits.maxStorageBufferBindingSize);
    // A 784-1000-1000-20 VAE on batches of 60,000 needs one buffer of 2,469 MiB (1,268 at 30,000: the step's size).
    expect(limit).toBeLessThan(2469 * 2 ** 20);
    await startWith(page, { hidden: '1000,1000', 'batch-size': '60000', 'limit-test': '100', epochs: '1' });
    const seen = await untilDone(page);
    expect(seen.epochs).toHaveLength(0);
    expect(seen.error).toMatch(new RegExp(`in one \\d+ MiB buffer, and this GPU binds at most ${limit / 2 ** 20} MiB: .*--batch-size`));
    expect(await page.$eval('#train-status', (p) => p.textContent)).toContain(seen.error);
  }, 300_000);

  test('a device lost mid-run stops training with the last epoch kept; Continue trains on from it on a new device', async () => {
    if (!CHROMIUM) return expect(process.env.CI).toBeFalsy();
    const { url } = await started();
    const page = await browser!.newPage();
    // The panel's worker, wrapped: the first device it opens is destroyed at its first submission after epoch 2's
    // first step (epoch 1's checkpoint saved, epoch 2's not).
    await page.evaluateOnNewDocument(() => {
      const Real = window.Worker;
      window.Worker = function (url: string | URL, options?: WorkerOptions) {
        const script = new URL(url, location.href).href;
        const wrapper = `
          let armed = false, fired = false;
          const post = self.postMessage.bind(self);
          self.postMessage = (m, t) => { if (m && m.kind === 'step' && m.info.epoch === 2) armed = true; post(m, t); };
          const requestDevice = GPUAdapter.prototype.requestDevice;
          GPUAdapter.prototype.requestDevice = async function (d) {
            const device = await requestDevice.call(this, d);
            const submit = device.queue.submit.bind(device.queue);
            device.queue.submit = (buffers) => { submit(buffers); if (armed && !fired) { fired = true; device.destroy(); } };
            return device;
          };
          importScripts(${JSON.stringify(script)});`;
        return new Real(URL.createObjectURL(new Blob([wrapper], { type: 'text/javascript' })), options);
      } as unknown as typeof Worker;
    });
    await page.goto(url);
    await page.waitForFunction((h) => (window as unknown as Record<string, TrainHandle>)[h]?.seen.ready === true, { timeout: 60_000 }, handle);
    await startWith(page, { 'limit-train': '256', 'limit-test': '100', 'batch-size': '64', epochs: '3' });
    const lost = await untilDone(page) as TrainHandle['seen'] & { kept: string };
    expect(lost.error).toMatch(/device was lost|GPU step failed|reading the parameters back/);
    expect(lost.kept).toBe('epoch-0001');
    expect(lost.done).toBe(false);
    expect(await page.$eval('#train-status', (p) => p.textContent)).toMatch(/kept as at epoch-0001: Continue trains on/);
    expect(await page.$eval('#train-continue', (b) => (b as HTMLButtonElement).disabled)).toBe(false);
    await page.evaluate((h) => { (window as unknown as Record<string, TrainHandle>)[h].seen.epochs = []; }, handle);
    await page.click('#train-continue');
    const seen = await untilDone(page);
    expect(seen.error).toBe('');
    expect(seen.epochs.map((e) => (e as unknown as { epoch: number }).epoch)).toEqual([2, 3]);
    const runDir = path.join(work, (await downloadRun(page, work)).replace(/\.zip$/, ''));
    const lines = fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { epoch: number });
    expect(lines.map((l) => l.epoch)).toEqual([1, 2, 3]);
  }, 300_000);

  test('vae explore --export with no run writes a static site that trains, served by a plain static file server', async () => {
    const site = tmpDir();
    const r = runVae(['explore', '--export', 'site'], site);
    expect(r.status).toBe(0);
    for (const f of ['index.html', 'app.js', 'train-worker.js', 'data/mnist/train-images-idx3-ubyte', 'data/mnist/t10k-labels-idx1-ubyte']) {
      expect(fs.existsSync(path.join(site, 'site', f))).toBe(true);
    }
    expect(r.stderr).toMatch(/no run yet/);
    if (!CHROMIUM) return expect(process.env.CI).toBeFalsy();
    await started();
    const files = filesUnder(path.join(site, 'site'), '/'); // every file of the folder, as any static server serves it
    const server = await serveFiles(files, '127.0.0.1', 0, []);
    try {
      const page = await browser!.newPage();
      await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      await page.waitForFunction((h) => (window as unknown as Record<string, TrainHandle>)[h]?.seen.ready === true, { timeout: 60_000 }, handle);
      await startWith(page, { 'limit-train': '256', 'limit-test': '100', epochs: '1' });
      const seen = await untilDone(page);
      expect(seen.error).toBe('');
      expect(seen.epochs).toHaveLength(1);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  }, 300_000);

  test('in a browser without WebGPU the panel says so in one sentence, and the page still loads', async () => {
    if (!CHROMIUM) return expect(process.env.CI).toBeFalsy();
    const { url } = await started();
    const puppeteer = await import('puppeteer-core');
    const plain = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    try {
      const page = await plain.newPage();
      await page.goto(url);
      await page.waitForFunction(() => (window as unknown as { vaeExplore?: { ready: boolean } }).vaeExplore?.ready === true, { timeout: 60_000 });
      await page.waitForFunction((h) => (window as unknown as Record<string, TrainHandle>)[h].seen.error !== '', { timeout: 30_000 }, handle);
      expect(await page.$eval('#train-note', (p) => p.textContent)).toMatch(/^This browser has no WebGPU, so it cannot train here/);
      expect(await page.$eval('#train-start', (b) => (b as HTMLButtonElement).disabled)).toBe(true);
    } finally {
      await plain.close();
    }
  }, 120_000);
});
