/**
 * A problem the user can fix (bad flag, missing file, corrupt data). The CLI prints `message` as one line
 * on stderr and exits with `exitCode`; anything else that escapes is a bug and keeps its stack trace.
 */
export class VaeError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'VaeError';
  }
}

/** Training stopped because the loss became NaN or infinite; the last good checkpoint is kept. */
export class NonFiniteLossError extends VaeError {
  constructor(readonly epoch: number, readonly step: number, value: number) {
    super(`loss became ${value} at epoch ${epoch}, step ${step}; training stopped (try a lower --lr); ` +
      `the last good checkpoint is kept`, 3);
  }
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
