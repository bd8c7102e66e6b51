/**
 * The Train panel's settings: `vae train`'s own flags (train/flags.ts: the same names, defaults, help and checks),
 * those that make sense for a run in the page, and the run they make (train/new-run.ts, as `vae train` makes it).
 */
import type { Dataset } from '../../src/data/datasets';
import type { NewRunOptions } from '../../src/model/families/family';
import { TRAIN_FLAGS } from '../../src/train/flags';
import { newRunConfigFor } from '../../src/train/new-run';
import type { PageRun } from './core';

/** The flags the panel offers, in this order (the data come from the panel's own choice). */
const PANEL_FLAGS = ['model', 'arch', 'likelihood', 'binarize', 'z-dim', 'hidden', 'beta', 'kl-warmup', 'epochs', 'batch-size', 'lr', 'seed',
  'limit-train', 'limit-test', 'image-size', 'channels', 'test-split'];
/** The flags of a folder of pictures (as `vae train` refuses them for MNIST, so does the panel). */
const FOLDER_FLAGS = ['image-size', 'channels', 'test-split'];
/** Families the page cannot start: M1+M2 learns from a trained M1's run folder. */
const NOT_IN_PAGE = ['m1m2'];

/** A flag as the panel shows it: an input (a menu when it has choices), its default and its help. */
export interface PanelFlag {
  /** 'z-dim' */
  name: string;
  /** The value the field starts with ('' when the default is a rule, shown as the placeholder). */
  value: string;
  /** The default in words (a placeholder), where it is not one value. */
  placeholder: string;
  help: string;
  choices: string[] | null;
}

const nameOf = (flags: string) => /^--([a-z0-9-]+)/.exec(flags)![1];
const keyOf = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

export function panelFlags(): PanelFlag[] {
  return PANEL_FLAGS.map((name) => {
    const spec = TRAIN_FLAGS.find((f) => nameOf(f.flags) === name);
    if (!spec) throw new Error(`vae train has no --${name}`);
    const choices = (spec.parse as { choices?: readonly string[] } | undefined)?.choices?.filter((c) => !NOT_IN_PAGE.includes(c)) ?? null;
    return { name, value: spec.default !== undefined ? String(spec.default) : '', placeholder: spec.defaultText ?? '', help: spec.help, choices };
  });
}

/**
 * The options `vae train` would take from these fields (empty: the flag's default), each checked by the flag's own
 * parser: a refused value throws "--z-dim: must be a whole number of at least 1."
 */
export function panelOptions(values: Record<string, string>): NewRunOptions {
  const options: Record<string, unknown> = {};
  for (const name of PANEL_FLAGS) {
    const spec = TRAIN_FLAGS.find((f) => nameOf(f.flags) === name)!;
    const text = (values[name] ?? '').trim();
    if (text === '') {
      if (spec.default !== undefined) options[keyOf(name)] = spec.default;
      continue;
    }
    try {
      options[keyOf(name)] = spec.parse ? spec.parse(text) : text;
    } catch (e) {
      throw new Error(`--${name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (NOT_IN_PAGE.includes(String(options.model))) throw new Error(`--model ${options.model} cannot be trained in the page`);
  if (options.channels !== undefined) options.channels = Number(options.channels); // as vae train takes it
  return { data: 'page', ...options } as NewRunOptions;
}

/** The first `n` of a set, as --limit-train and --limit-test take them. */
function firstOf(set: Dataset['train'], n: number | undefined, dim: number): Dataset['train'] {
  if (n === undefined || n >= set.count) return set;
  return { images: set.images!.subarray(0, n * dim), labels: set.labels ? set.labels.subarray(0, n) : null, count: n };
}

/** `dataset` as --limit-train and --limit-test cut it. */
export function limitedDataset(dataset: Dataset, limitTrain?: number, limitTest?: number): Dataset {
  const dim = dataset.height * dataset.width * dataset.channels;
  return { ...dataset, train: firstOf(dataset.train, limitTrain, dim), test: firstOf(dataset.test, limitTest, dim) };
}

/** A new run of these fields on `dataset` (held in memory), as `vae train` would start it. */
export function panelRun(values: Record<string, string>, dataset: Dataset): PageRun {
  const options = panelOptions(values);
  if (dataset.kind !== 'folder' && FOLDER_FLAGS.some((name) => (values[name] ?? '').trim() !== '')) {
    throw new Error(`--image-size, --channels and --test-split are for a folder of pictures; ${dataset.name} has its own sizes and test set`);
  }
  const data = limitedDataset(dataset, options.limitTrain, options.limitTest);
  return { config: newRunConfigFor(options, data), dataset: data };
}
