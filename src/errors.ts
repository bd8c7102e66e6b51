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

/** Exit code of a write the file system refused (sysexits.h's EX_IOERR): the user's to fix, not one of our bugs (70). */
export const EXIT_DISK = 74;

/**
 * A write that failed for a reason the user fixes (a full disk, no permission, a read-only or over-quota file
 * system): says what could not be written, where, and why, in one line. `after` is what the caller adds (the
 * training loop: which checkpoint is kept, and how to go on).
 */
export class DiskError extends VaeError {
  constructor(readonly what: string, readonly where: string, readonly reason: string, after = '') {
    super(`could not write ${what} in ${where}: ${reason}${after ? `; ${after}` : ''}`, EXIT_DISK);
    this.name = 'DiskError';
  }

  /** The same failure, with what the caller adds. */
  withAdvice(after: string): DiskError {
    return new DiskError(this.what, this.where, this.reason, after);
  }
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
