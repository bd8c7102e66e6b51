/**
 * `vae explore`: the server (only its own files, whatever the request, and only to its own host names; a note when it
 * listens beyond this machine), the static export, and the page in a real browser (Debian's chromium, driven by
 * puppeteer-core): the pad, a slider, drawing, interpolation, the label
 * picker of a cvae and the curves, with the decoded pixels checked against the decoder run here in Node.
 */
import type { ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import type { Browser, Page } from 'puppeteer-core';
import { useTestBackend } from './helpers/backend';
import { runVae, startExplore as startExploreIn } from './helpers/cli';
import { tmpDir } from './helpers/tmp';
import { loadModel } from '../src/io/checkpoint';
import { prepareImage } from '../src/data/images';

/** Debian's chromium, or CHROMIUM; under CI it must be there (.ci/run installs it). */
const CHROMIUM = process.env.CHROMIUM ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => fs.existsSync(p));

let work: string;
const runs: Record<string, string> = {};

beforeAll(async () => {
  await useTestBackend();
  work = tmpDir();
  const train = (name: string, args: string[]) => {
    runs[name] = path.join(work, name);
    const r = runVae(['-q', 'train', '--epochs', '1', '--limit-train', '2000', '--limit-test', '300', ...args, '--out', runs[name]], work);
    if (r.status !== 0) throw new Error(r.stderr);
  };
  train('z2', ['--z-dim', '2']);
  train('cvae', ['--model', 'cvae']);
  train('m1m2', ['--model', 'm1m2', '--m1', runs.z2, '--labeled', '100']);
}, 240_000);

/** `vae explore` of `run` on a free port (500 codes). */
function startExplore(run: string, extra: string[] = []) {
  return startExploreIn(['--checkpoint', run, '--codes', '500', ...extra], work);
}

/** A raw request (the path exactly as given: no normalisation by a client library), with the URL's Host or `host`. */
function request(url: string, rawPath: string, method = 'GET', host?: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname, port, path: rawPath, method, headers: host ? { Host: host } : {} }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the server', () => {
  let server: { child: ChildProcess; url: string };
  beforeAll(async () => {
    // A symlink in the checkpoint that points out of the run must not be served.
    const checkpoint = JSON.parse(fs.readFileSync(path.join(runs.z2, 'checkpoint.json'), 'utf8')) as { best: string };
    fs.writeFileSync(path.join(work, 'secret.txt'), 'secret\n');
    fs.symlinkSync(path.join(work, 'secret.txt'), path.join(runs.z2, checkpoint.best, 'decoder', 'secret.txt'));
    server = await startExplore(runs.z2);
  }, 60_000);
  afterAll(() => { server.child.kill(); });

  test('serves the page, explore.json, the networks and the metrics', async () => {
    expect((await request(server.url, '/')).body).toMatch(/<title>vae explore<\/title>/);
    expect((await request(server.url, '/app.js')).status).toBe(200);
    const data = JSON.parse((await request(server.url, '/explore.json')).body);
    expect(data).toMatchObject({ family: 'vae', zDim: 2, inputShape: [28, 28, 1], count: 500, prior: true }); // --codes 500
    expect(data.codes).toHaveLength(1000);
    expect(data.directions).toHaveLength(2);
    expect(JSON.parse((await request(server.url, '/model/decoder/model.json')).body).modelTopology).toBeDefined();
    expect((await request(server.url, '/metrics.jsonl')).body).toMatch(/"epoch":1/);
  });

  test.each([
    '/../config.json', '/%2e%2e/config.json', '/%2E%2E%2Fconfig.json', '/model/..%2fdecoder/model.json', '/model/decoder/../../config.json',
    '//etc/passwd', '/etc/passwd', '/config.json', '/checkpoint.json', '/model/decoder/secret.txt', '/model', '/model/', '/nothing',
  ])('%s is not found', async (rawPath) => {
    const r = await request(server.url, rawPath);
    expect(r.status).toBe(404);
    expect(r.body).not.toMatch(/secret|root:/);
  });

  test('it only reads: other methods get 405', async () => {
    expect((await request(server.url, '/explore.json', 'POST')).status).toBe(405);
    expect((await request(server.url, '/explore.json', 'DELETE')).status).toBe(405);
  });

  test('a flood of 400 requests at once is answered, and it still serves afterwards', async () => {
    const replies = await Promise.all(Array.from({ length: 400 }, (_, i) => request(server.url, i % 2 ? '/explore.json' : '/../x')));
    expect(replies.filter((r) => r.status === 200)).toHaveLength(200);
    expect(replies.filter((r) => r.status === 404)).toHaveLength(200);
    expect((await request(server.url, '/')).status).toBe(200);
  }, 60_000);
});

describe('the host check and the network note', () => {
  const open: ChildProcess[] = [];
  afterAll(() => { open.forEach((c) => c.kill()); });

  /** `vae explore` with `extra`, once its stderr has its last line ("exploring ..."): the URL, port and stderr lines. */
  async function started(extra: string[]): Promise<{ url: string; port: string; lines: string[] }> {
    const server = await startExplore(runs.z2, extra);
    open.push(server.child);
    for (let waited = 0; !/^exploring /m.test(server.stderr()) && waited < 10_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    return { url: server.url, port: new URL(server.url).port, lines: server.stderr().trimEnd().split('\n') };
  }

  test('--host 0.0.0.0 prints the network note; a foreign Host gets 421, an --allow-host name is answered', async () => {
    const { url, port, lines } = await started(['--host', '0.0.0.0', '--allow-host', 'vae.test,other.test', '--allow-host', 'third.test:8443']);
    expect(url).toBe(`http://0.0.0.0:${port}/`);
    expect(lines.filter((l) => l.startsWith('note:'))).toEqual([`note: listening on 0.0.0.0: the run's files (codes and example ` +
      `pictures of your data) are readable by anyone who can reach this machine on port ${port}`]);
    expect(lines[lines.length - 1]).toMatch(/^exploring /);
    expect((await request(url, '/explore.json')).status).toBe(200); // Host: 0.0.0.0:port, the URL it printed
    for (const host of [`localhost:${port}`, `vae.test:${port}`, `OTHER.test:${port}`, 'third.test:8443']) {
      expect((await request(url, '/explore.json', 'GET', host)).status).toBe(200);
    }
    for (const host of [`evil.example:${port}`, `vae.test:${Number(port) + 1}`, `third.test:${port}`]) {
      const r = await request(url, '/explore.json', 'GET', host);
      expect(r.status).toBe(421);
      expect(r.body).not.toMatch(/codes/);
    }
  });

  test('the default --host 127.0.0.1 prints no note, and answers only its own names', async () => {
    const { url, port, lines } = await started([]);
    expect(url).toBe(`http://127.0.0.1:${port}/`);
    expect(lines.join('\n')).not.toMatch(/note:|readable/);
    expect((await request(url, '/explore.json', 'GET', `localhost:${port}`)).status).toBe(200);
    expect((await request(url, '/explore.json', 'GET', `evil.example:${port}`)).status).toBe(421);
  });

  test('--allow-host refuses what is not a host name, in one line', () => {
    const r = runVae(['explore', '--checkpoint', runs.z2, '--allow-host', 'vae.test,http://evil.example/'], work);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/--allow-host.*http:\/\/evil\.example\/ is not a host name/);
  });
});

test('--export writes a static copy, and refuses a folder that is not empty', () => {
  const dir = path.join(work, 'site');
  const r = runVae(['explore', '--checkpoint', runs.z2, '--export', dir, '--codes', '100'], work);
  expect(r.status).toBe(0);
  for (const f of ['index.html', 'app.js', 'style.css', 'explore.json', 'metrics.jsonl', 'model/encoder/model.json', 'model/decoder/weights.bin']) {
    expect(fs.existsSync(path.join(dir, f))).toBe(true);
  }
  expect(JSON.parse(fs.readFileSync(path.join(dir, 'explore.json'), 'utf8')).count).toBe(100);
  const again = runVae(['explore', '--checkpoint', runs.z2, '--export', dir], work);
  expect(again.status).not.toBe(0);
  expect(again.stderr.trim().split('\n')).toEqual([expect.stringMatching(/is not empty/)]);
});

describe('the page, in Chromium', () => {
  let browser: Browser;
  const open: ChildProcess[] = [];
  beforeAll(async () => {
    if (!CHROMIUM) return;
    const puppeteer = await import('puppeteer-core');
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--enable-unsafe-swiftshader'] });
  }, 60_000);
  afterAll(async () => {
    open.forEach((c) => c.kill());
    if (browser) await browser.close();
  });

  async function load(run: string): Promise<Page> {
    const server = await startExplore(run);
    open.push(server.child);
    const page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 1000 });
    await page.goto(server.url);
    await page.waitForFunction(() => (window as unknown as { vaeExplore?: { ready: boolean } }).vaeExplore !== undefined, { timeout: 60_000 });
    expect(await page.evaluate(() => (window as unknown as { vaeExplore: { ready: boolean; error?: string } }).vaeExplore)).toMatchObject({ ready: true });
    return page;
  }

  /** The pixels of a canvas the page drew at the model's size, as grey levels in [0, 1]. */
  const pixels = (page: Page, id: string) => page.evaluate((canvasId) => {
    const c = document.getElementById(canvasId) as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    return Array.from({ length: c.width * c.height }, (_, i) => d[4 * i] / 255);
  }, id);
  const stateOf = (page: Page) => page.evaluate(() =>
    (window as unknown as { vaeExplore: { state(): { z: number[]; label: number; drawn: number[] | null; prepared: number[] | null } } })
      .vaeExplore.state());

  /** The decoder's image for code z, computed here in Node from the same checkpoint (M1+M2: M2's mean code, decoded by M1). */
  async function nodeDecode(run: string, z: number[], label?: number): Promise<Float32Array> {
    const loaded = await loadModel(run, 'best', () => undefined);
    const zt = tf.tensor2d(z, [1, z.length]);
    const out = label === undefined ? loaded.vae.decodeMean(zt) : loaded.vae.decodeMean(zt, tf.oneHot([label], loaded.vae.labelDim).toFloat() as tf.Tensor2D);
    const values = loaded.m1 ? loaded.m1.decode(out.dataSync() as Float32Array, 1) : out.dataSync() as Float32Array;
    loaded.vae.dispose();
    loaded.m1?.dispose();
    return values;
  }

  const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

  test('the pad, a slider, drawing, interpolation and the curves work, and the pixels are the decoder\'s', async () => {
    if (!CHROMIUM) return expect(process.env.CI).toBeFalsy(); // CI installs chromium
    const page = await load(runs.z2);
    // The decoded image is the decoder's output for the code in the page's state (8-bit canvas, WebGL floats).
    const first = await stateOf(page);
    expect(maxDiff(await pixels(page, 'image'), await nodeDecode(runs.z2, first.z))).toBeLessThan(0.02);

    // Drag on the pad: the code moves, and the image follows it.
    const padBox = (await (await page.$('#pad'))!.boundingBox())!;
    await page.mouse.move(padBox.x + padBox.width * 0.8, padBox.y + padBox.height * 0.2);
    await page.mouse.down();
    await page.mouse.move(padBox.x + padBox.width * 0.85, padBox.y + padBox.height * 0.15);
    await page.mouse.up();
    const moved = await stateOf(page);
    expect(maxDiff(moved.z, first.z)).toBeGreaterThan(0.5);
    const padImage = await pixels(page, 'image');
    expect(maxDiff(padImage, await nodeDecode(runs.z2, moved.z))).toBeLessThan(0.02);
    expect(page.url()).toMatch(/#z=/);

    // A slider sets its dimension.
    await page.evaluate(() => {
      const input = document.querySelector('#sliders input[data-dim="0"]') as HTMLInputElement;
      input.value = String(Number(input.min) + 0.1 * (Number(input.max) - Number(input.min)));
      input.dispatchEvent(new Event('input'));
    });
    const slid = await stateOf(page);
    expect(slid.z[0]).not.toBeCloseTo(moved.z[0], 3);
    expect(slid.z[1]).toBeCloseTo(moved.z[1], 5);
    expect(maxDiff(await pixels(page, 'image'), padImage)).toBeGreaterThan(0.05);

    // The pad's x axis can be one dimension: a drag along x then moves that dimension alone.
    await page.select('#axis-x', 'z1');
    await page.select('#axis-y', 'z0');
    const before = await stateOf(page);
    await page.mouse.move(padBox.x + padBox.width * 0.2, padBox.y + padBox.height * 0.5);
    await page.mouse.down();
    await page.mouse.up();
    const along = await stateOf(page);
    expect(Math.abs(along.z[1] - before.z[1])).toBeGreaterThan(0.1);
    expect(maxDiff(await pixels(page, 'image'), await nodeDecode(runs.z2, along.z))).toBeLessThan(0.02);

    // Draw a "1", then a "0": each gets a code (marked on the pad) and a reconstruction; A and B give the strip.
    const sketch = (await (await page.$('#sketch'))!.boundingBox())!;
    const stroke = async (points: Array<[number, number]>) => {
      await page.mouse.move(sketch.x + points[0][0] * sketch.width, sketch.y + points[0][1] * sketch.height);
      await page.mouse.down();
      for (const [x, y] of points.slice(1)) await page.mouse.move(sketch.x + x * sketch.width, sketch.y + y * sketch.height, { steps: 4 });
      await page.mouse.up();
    };
    await stroke([[0.5, 0.15], [0.5, 0.85]]);
    const one = await stateOf(page);
    expect(one.drawn).toHaveLength(2);
    expect(Math.max(...await pixels(page, 'reconstruction'))).toBeGreaterThan(0.3);
    await page.click('#set-a');
    await page.click('#clear');
    await stroke(Array.from({ length: 13 }, (_, i): [number, number] => [0.5 + 0.25 * Math.cos(i / 2), 0.5 + 0.3 * Math.sin(i / 2)]));
    const zero = await stateOf(page);
    expect(maxDiff(zero.drawn!, one.drawn!)).toBeGreaterThan(0.1);
    await page.click('#set-b');
    expect(await page.$eval('#strip', (c) => [(c as HTMLCanvasElement).width, (c as HTMLCanvasElement).hidden])).toEqual([8 * 28, false]);

    // The curves: a point each for train and test of the one epoch, from metrics.jsonl; an epoch that the run
    // adds while the page is open appears within the refresh (5 s).
    await page.waitForSelector('#curves svg .mark-symbol.role-mark path', { timeout: 20_000 });
    const points = () => page.$$eval('#curves svg .mark-symbol.role-mark path', (p) => p.length);
    expect(await points()).toBe(2);
    const metrics = path.join(runs.z2, 'metrics.jsonl');
    const last = JSON.parse(fs.readFileSync(metrics, 'utf8').trim().split('\n').pop()!);
    fs.appendFileSync(metrics, JSON.stringify({ ...last, epoch: 2 }) + '\n');
    await page.waitForFunction(() => document.querySelectorAll('#curves svg .mark-symbol.role-mark path').length === 4, { timeout: 15_000 });
    if (process.env.VAE_SCREENSHOTS) await page.screenshot({ path: path.join(__dirname, '..', 'docs', 'images', 'explore.png') });
    await page.close();
  }, 120_000);

  test('an uploaded photo of a pen drawing is prepared as the CLI prepares it (inverted, fitted, centred)', async () => {
    if (!CHROMIUM) return expect(process.env.CI).toBeFalsy();
    const page = await load(runs.z2);
    const photo = path.join(__dirname, '..', 'docs', 'images', 'pen-3.jpg');
    await (await page.$('input#upload'))!.uploadFile(photo);
    await page.waitForFunction(() => (window as unknown as { vaeExplore: { state(): { drawn: unknown } } }).vaeExplore.state().drawn !== null,
      { timeout: 20_000 });
    const { prepared, drawn } = await stateOf(page);
    expect(drawn).toHaveLength(2);
    const cli = (await prepareImage(photo, { height: 28, width: 28 })).pixels;
    // The same steps (data/ink.ts); the resampling differs (Lanczos in sharp, the canvas's own smoothing).
    const meanDiff = Array.from(cli).reduce((a, v, i) => a + Math.abs(v - prepared![i]), 0) / cli.length;
    expect(meanDiff).toBeLessThan(0.03); // measured 0.011
    expect(Math.max(...prepared!)).toBeGreaterThan(0.8);
    await page.close();
  }, 120_000);

  test('a cvae: the label picker changes the decoded image, which is the decoder\'s for that label', async () => {
    if (!CHROMIUM) return expect(process.env.CI).toBeFalsy();
    const page = await load(runs.cvae);
    expect(await page.$eval('#label-picker', (e) => (e as HTMLElement).hidden)).toBe(false);
    expect(await page.$$eval('#label option', (o) => o.length)).toBe(10);
    const before = await pixels(page, 'image');
    await page.select('#label', '7');
    const state = await stateOf(page);
    expect(state.label).toBe(7);
    const after = await pixels(page, 'image');
    expect(maxDiff(after, before)).toBeGreaterThan(0.05);
    expect(maxDiff(after, await nodeDecode(runs.cvae, state.z, 7))).toBeLessThan(0.02);
    expect(page.url()).toMatch(/label=7/);
    await page.close();
  }, 120_000);

  test("an M1+M2 run: M2 decodes M1's code and M1 the image; a drawing gets the classifier's probabilities", async () => {
    if (!CHROMIUM) return expect(process.env.CI).toBeFalsy();
    const page = await load(runs.m1m2);
    const state = await stateOf(page);
    expect(maxDiff(await pixels(page, 'image'), await nodeDecode(runs.m1m2, state.z, state.label))).toBeLessThan(0.02);
    const sketch = (await (await page.$('#sketch'))!.boundingBox())!;
    await page.mouse.move(sketch.x + sketch.width / 2, sketch.y + sketch.height * 0.15);
    await page.mouse.down();
    await page.mouse.move(sketch.x + sketch.width / 2, sketch.y + sketch.height * 0.85, { steps: 6 });
    await page.mouse.up();
    expect((await stateOf(page)).drawn).toHaveLength(state.z.length);
    expect(await page.$eval('#probs', (p) => p.textContent)).toMatch(/^q\(y\|x\): \S+ \d+%, \S+ \d+%, \S+ \d+%$/);
    await page.close();
  }, 120_000);
});
