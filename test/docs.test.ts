/**
 * The documents stay true to the code: docs/train.md's flag table is the one `vae train` registers, and every
 * relative link in README.md and docs/ points at a file that exists.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Command } from 'commander';
import { registerTrain } from '../src/commands/train';
import { TRAIN_FLAGS, flagTable, withFlagTable } from '../src/train/flags';

const ROOT = path.join(__dirname, '..');

test("docs/train.md's flag table is generated from the flags vae train registers (npm run docs)", () => {
  const text = fs.readFileSync(path.join(ROOT, 'docs', 'train.md'), 'utf8');
  expect(withFlagTable(text)).toBe(text);
  const program = new Command('vae');
  registerTrain(program, { backend: () => { throw new Error('not run'); }, quiet: () => true });
  const train = program.commands.find((c) => c.name() === 'train')!;
  const registered = train.options.map((o) => o.flags);
  expect(registered).toEqual(TRAIN_FLAGS.map((f) => f.flags));
  for (const flags of registered) expect(flagTable()).toContain(`| \`${flags.replace(/\|/g, '\\|')}\` |`);
  // Defaults in the table are the ones commander fills in.
  for (const o of train.options) {
    if (o.defaultValue !== undefined) expect(flagTable()).toContain(`| \`${o.flags.replace(/\|/g, '\\|')}\` | \`${o.defaultValue}\` |`);
  }
});

test('the flag table states the families\' defaults', () => {
  const table = flagTable();
  expect(table).toMatch(/--z-dim <n>` \| 20 \(2 for cvae, 50 for m2, 50 for m1m2\)/);
  expect(table).toMatch(/--hidden <sizes>` \| 400 \(500 for m2, 300 for m1m2, 256 with --arch conv\)/);
});

test('every relative link of README.md and docs/*.md points at a file that exists', () => {
  const docs = ['README.md', ...fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => path.join('docs', f))];
  const broken: string[] = [];
  for (const doc of docs) {
    const text = fs.readFileSync(path.join(ROOT, doc), 'utf8');
    for (const m of text.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(m[1])) continue; // https:, mailto:
      if (!fs.existsSync(path.join(ROOT, path.dirname(doc), m[1]))) broken.push(`${doc}: ${m[1]}`);
    }
  }
  expect(broken).toEqual([]);
});
