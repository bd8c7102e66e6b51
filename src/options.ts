/**
 * Flag parsers shared by the commands and the explorer's Train panel: each rejects nonsense with commander's one-line
 * error. Nothing here imports commander (its Command reaches Node modules), so the page bundles these.
 */

/**
 * A value a parser refuses. Commander recognises it by its code, as its own InvalidArgumentError, and prints
 * "error: option '--x <n>' argument 'v' is invalid. " and the message; the Train panel shows the message.
 */
export class InvalidArgumentError extends Error {
  readonly code = 'commander.invalidArgument';
  readonly exitCode = 1;
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidArgumentError('must be a whole number of at least 1.');
  }
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('must be a whole number of at least 0.');
  return n;
}

export function atLeastTwo(value: string): number {
  const n = positiveInt(value);
  if (n < 2) throw new InvalidArgumentError('must be at least 2 (the two ends).');
  return n;
}

export function positiveFloat(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a number greater than 0.');
  return n;
}

export function nonNegativeFloat(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be a number of at least 0.');
  return n;
}

/** "400" or "512,256": the hidden layer sizes of the encoder (the decoder mirrors them). */
export function hiddenSizes(value: string): number[] {
  const parts = value.split(',').map((p) => p.trim());
  if (parts.some((p) => !/^\d+$/.test(p) || Number(p) < 1)) {
    throw new InvalidArgumentError('must be layer sizes separated by commas, such as 400 or 512,256.');
  }
  return parts.map(Number);
}

/** A parser of one of `choices`; they are its `choices` too (the Train panel's menus). */
export function choice<T extends string>(choices: readonly T[]) {
  const parse = (value: string): T => {
    if (!choices.includes(value as T)) throw new InvalidArgumentError(`must be one of ${choices.join(', ')}.`);
    return value as T;
  };
  return Object.assign(parse, { choices });
}

/** --invert / --no-invert: forced, or detected per image when neither is given. */
export function invertMode(invert: boolean | undefined): 'auto' | boolean {
  return invert === undefined ? 'auto' : invert;
}
