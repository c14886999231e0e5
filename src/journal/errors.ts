/** Errors of the journal's end-of-day close (src/journal/end-of-day.ts), each with a stable code. */

/** The close of a business day is refused: a later day is closed or being closed, or an earlier close is unfinished. */
export class CloseRefusedError extends RangeError {
  readonly code = 'JOURNAL_ERR_CLOSE_REFUSED';
  constructor(message: string) {
    super(message);
    this.name = 'CloseRefusedError';
  }
}

/**
 * Not every partition committed its close marker in time (no worker owns it, or one is far behind).
 * The close stays requested: closing the same day again resumes it.
 */
export class CloseTimeoutError extends Error {
  readonly code = 'JOURNAL_ERR_CLOSE_TIMEOUT';
  constructor(readonly businessDate: string, readonly partitions: readonly number[], timeoutMs: number, cause?: unknown) {
    super(
      `the close of ${businessDate}: partitions ${partitions.join(', ')} did not commit their close marker within ${timeoutMs} ms` +
        `${cause === undefined ? '' : ` (the last attempt failed: ${describeCause(cause)})`}; close the day again to resume`,
      cause === undefined ? undefined : { cause },
    );
    this.name = 'CloseTimeoutError';
  }
}

/** A cause as text: an Error's message, else what String() gives (an object's tag, said outright). */
function describeCause(cause: unknown): string {
  if (cause instanceof Error) return cause.message;
  if (typeof cause === 'object' && cause !== null) return Object.prototype.toString.call(cause);
  return String(cause);
}
