import { inspect } from 'node:util';

/**
 * Waiting for conditions instead of sleeping: poll a probe until it returns a value (anything but
 * undefined, null or false) or the deadline passes, then fail naming what was awaited and what the probe
 * last saw.
 */
export interface WaitOptions {
  /** Give up after this long (default 15 s). */
  readonly timeoutMs?: number;
  /** Poll this often (default 50 ms). */
  readonly intervalMs?: number;
  /** Describes the last state seen, for the error message when the wait times out. */
  readonly describe?: () => string | Promise<string>;
}

export class WaitTimeoutError extends Error {
  constructor(what: string, timeoutMs: number, detail: string) {
    super(`timed out after ${timeoutMs} ms waiting for ${what}${detail === '' ? '' : `; ${detail}`}`);
    this.name = 'WaitTimeoutError';
  }
}

type Found<T> = Exclude<T, undefined | null | false>;

export async function waitFor<T>(what: string, probe: () => T | Promise<T>, options: WaitOptions = {}): Promise<Found<T>> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const intervalMs = options.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== null && value !== false) return value as Found<T>;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const described = options.describe === undefined ? '' : await Promise.resolve(options.describe()).catch((error: unknown) => String(error));
      const detail = [described, lastError === undefined ? '' : `last error: ${errorText(lastError)}`].filter((part) => part !== '').join('; ');
      throw new WaitTimeoutError(what, timeoutMs, detail);
    }
    await pause(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
}

/** Resolves with `promise`, or rejects when it does not settle within `timeoutMs`. */
export async function withDeadline<T>(what: string, promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new WaitTimeoutError(what, timeoutMs, '')), timeoutMs);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** The poll interval of waitFor; not for waiting on anything else. */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** An error as text: `String()` of an Error or a string, else what util.inspect shows (never `[object Object]`). */
function errorText(error: unknown): string {
  return error instanceof Error || typeof error === 'string' ? String(error) : inspect(error);
}
