/** Bad input through the real executable: one line on stderr naming the problem, a non-zero exit code. */
import * as fs from 'fs';
import * as path from 'path';
import { runVae } from './helpers/cli';
import { penOnPaper } from './helpers/drawings';
import { idxBytes, tmpDir, writeIdxDataset } from './helpers/tmp';

let work: string;
let run: string;
let digit: string;

beforeAll(async () => {
  work = tmpDir('vae-cli-');
  run = path.join(work, 'run');
  const r = runVae(['train', '--epochs', '1', '--limit-train', '500', '--limit-test', '100', '--hidden', '32', '--out', run, '-q'], work);
  expect(r.status).toBe(0);
  digit = path.join(work, 'digit.png');
  await penOnPaper('3', digit);
});

function expectOneLineError(r: { status: number | null; stderr: string }, pattern: RegExp): void {
  expect(r.status).not.toBe(0);
  expect(r.status).not.toBeNull();
  const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('(run with --help'));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
}

test.each([
  ['z-dim 0', ['train', '--z-dim', '0'], /--z-dim.*must be a whole number of at least 1/],
  ['negative lr', ['train', '--lr', '-0.01'], /--lr.*must be a number greater than 0/],
  ['unknown binarize', ['train', '--binarize', 'sometimes'], /--binarize.*must be one of none, dynamic/],
  ['bad hidden sizes', ['train', '--hidden', '400,x'], /--hidden.*layer sizes/],
  ['-n 0', ['sample', '-n', '0', 'out.png'], /--count.*must be a whole number of at least 1/],
  ['steps 1', ['interpolate', 'a.png', 'b.png', 'out.png', '--steps', '1'], /--steps.*at least 2/],
  ['unknown backend', ['--backend', 'tpu', 'sample'], /--backend.*Allowed choices/],
])('%s', (_, args, pattern) => {
  expectOneLineError(runVae(args, work), pattern);
});

test('a backend that is not installed says how to install it', () => {
  const r = runVae(['--backend', 'tensorflow', 'sample', 'out.png', '--checkpoint', run], work);
  if (r.status === 0) return expect(r.stdout).toMatch(/wrote/); // tfjs-node is installed on this machine
  expectOneLineError(r, /backend 'tensorflow' is not available .*npm install @tensorflow\/tfjs-node/);
});

test('no checkpoint anywhere', () => {
  expectOneLineError(runVae(['sample', 'out.png'], tmpDir()), /no trained model found under checkpoints\/.*vae train/);
});

test('missing checkpoint', () => {
  expectOneLineError(runVae(['sample', 'out.png', '--checkpoint', path.join(work, 'nope')], work), /checkpoint not found/);
});

test('a folder that is not a checkpoint', () => {
  expectOneLineError(runVae(['evaluate', '--checkpoint', tmpDir()], work), /not a vae checkpoint/);
});

test('an incompatible checkpoint', () => {
  const copy = path.join(work, 'future');
  fs.cpSync(run, copy, { recursive: true });
  const config = JSON.parse(fs.readFileSync(path.join(copy, 'config.json'), 'utf8'));
  fs.writeFileSync(path.join(copy, 'config.json'), JSON.stringify({ ...config, format: 99 }));
  expectOneLineError(runVae(['sample', 'out.png', '--checkpoint', copy], work), /incompatible checkpoint.*format 99/);
});

test('a damaged checkpoint', () => {
  const copy = path.join(work, 'damaged');
  fs.cpSync(run, copy, { recursive: true });
  const index = JSON.parse(fs.readFileSync(path.join(copy, 'checkpoint.json'), 'utf8'));
  fs.writeFileSync(path.join(copy, index.best, 'decoder', 'model.json'), '{"modelTopology": ');
  // The run's only checkpoint: nothing intact to fall back to (test/io/run-folder.test.ts has the fallback).
  expectOneLineError(runVae(['sample', 'out.png', '--checkpoint', copy], work),
    /checkpoint .*epoch-0001 is damaged: decoder\/model\.json has 18 bytes, \d+ were written/);
});

test('a file that is not an image', () => {
  const fake = path.join(work, 'fake.png');
  fs.writeFileSync(fake, 'hello');
  expectOneLineError(runVae(['reconstruct', fake, 'out.png', '--checkpoint', run], work), /fake\.png: not an image/);
});

test('an input image that does not exist', () => {
  expectOneLineError(runVae(['interpolate', digit, 'missing.png', 'out.png', '--checkpoint', run], work), /missing\.png: not an image/);
});

test('an output path that cannot be written', () => {
  expectOneLineError(runVae(['sample', '/no/such/dir/out.png', '--checkpoint', run], work), /cannot write output .*does not exist/);
  expectOneLineError(runVae(['sample', 'out.jpg', '--checkpoint', run], work), /must end in \.png/);
});

test('a missing dataset folder', () => {
  expectOneLineError(runVae(['train', '--data', path.join(work, 'no-data')], work), /dataset folder not found/);
});

test('an idx file with the wrong magic number, and a truncated one', () => {
  const bad = path.join(work, 'bad-magic');
  writeIdxDataset(bad, { train: 10, test: 10 });
  fs.writeFileSync(path.join(bad, 'train-images-idx3-ubyte'), Buffer.from('PK\u0003\u0004 not idx at all'));
  expectOneLineError(runVae(['train', '--data', bad], work), /train-images-idx3-ubyte: not an IDX file \(wrong magic number 0x504b0304\)/);
  const short = path.join(work, 'truncated');
  writeIdxDataset(short, { train: 10, test: 10 });
  fs.writeFileSync(path.join(short, 't10k-images-idx3-ubyte'), idxBytes([10, 28, 28], new Uint8Array(100)));
  expectOneLineError(runVae(['train', '--data', short], work), /t10k-images-idx3-ubyte: truncated IDX file/);
});

test('resuming a run that has finished', () => {
  expectOneLineError(runVae(['train', '--resume', run], work), /already finished its 1 epochs; pass --epochs N/);
});

test('every command has --help listing its flags with defaults', () => {
  for (const command of ['train', 'sample', 'reconstruct', 'interpolate', 'evaluate']) {
    const r = runVae([command, '--help'], work);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/--checkpoint|--epochs/);
    expect(r.stdout).toMatch(/\(default: /);
  }
});
