/**
 * Bounds on the rows one journal read may return: each read names its limit (with the reason beside
 * it), asks Postgres for one row more than that, and refuses the answer if that row comes back, so a
 * read never holds more in memory than its limit and never silently truncates.
 */

/** `LIMIT` text for a read bounded by `max` rows: one more, so that going over is seen. */
export function limitOver(max: number): string {
  if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`limitOver: ${max} is not a row limit`);
  return `LIMIT ${max + 1}`;
}

/** The rows, or a RangeError naming `what` when the read returned more than `max` of them. */
export function rowsWithin<T>(rows: T[], max: number, what: string): T[] {
  if (rows.length > max) throw new RangeError(`${what}: more than ${max} rows`);
  return rows;
}

/** Refuses a page size outside [1, max]. */
export function checkPageSize(limit: number, max: number, what: string): void {
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > max) throw new RangeError(`${what}: the page size must be from 1 to ${max}, not ${limit}`);
}
