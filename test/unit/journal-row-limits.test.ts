import { describe, expect, it } from 'vitest';
import type { Queryable } from '../../src/journal/database.js';
import { closeBusinessDayOffline, partitionsNotClosed } from '../../src/journal/end-of-day.js';
import { PAGE_LINES_MAX, potAudit, potStatement } from '../../src/journal/reads.js';
import { checkPageSize, limitOver, rowsWithin } from '../../src/journal/row-limits.js';
import { OUTCOME_READ_PAGE_MAX, outcomesAfter } from '../../src/journal/store.js';
import { assetCatalog, DEFAULT_ASSETS, PARTITION_COUNT_MAX } from '../../src/ledger/index.js';

/*
 * Every read and sweep of the journal has a named limit, checked where it is used: a page size out of
 * range is refused before any query runs, and a read that returns more rows than its limit is refused
 * rather than truncated.
 */

const assets = assetCatalog(DEFAULT_ASSETS);
/** A database that must not be asked: the limit is checked first. */
const untouched = { query: () => Promise.reject(new Error('queried')) } as unknown as Queryable;

describe('row limits', () => {
  it('ask for one row more than the limit, and refuse an answer that has it', () => {
    expect(limitOver(10)).toBe('LIMIT 11');
    expect(() => limitOver(0)).toThrow(RangeError);
    expect(rowsWithin([1, 2, 3], 3, 'three')).toEqual([1, 2, 3]);
    expect(() => rowsWithin([1, 2, 3, 4], 3, 'three')).toThrow('three: more than 3 rows');
    expect(() => checkPageSize(0, 5, 'page')).toThrow(RangeError);
    expect(() => checkPageSize(6, 5, 'page')).toThrow(RangeError);
    expect(() => checkPageSize(1.5, 5, 'page')).toThrow(RangeError);
    expect(() => checkPageSize(5, 5, 'page')).not.toThrow();
  });

  it('refuse oversize pages of statements, audit trails and the outbox before querying', async () => {
    await expect(potStatement(untouched, { potId: 'P-1', from: '2026-01-01', to: '2026-12-31', afterSeq: 0n, limit: PAGE_LINES_MAX + 1 }, assets)).rejects.toThrow(RangeError);
    await expect(potAudit(untouched, 'P-1', PAGE_LINES_MAX + 1, undefined)).rejects.toThrow(RangeError);
    await expect(potAudit(untouched, 'P-1', 0, undefined)).rejects.toThrow(RangeError);
    await expect(outcomesAfter(untouched, 0, 0n, OUTCOME_READ_PAGE_MAX + 1, assets)).rejects.toThrow(RangeError);
  });

  it('refuse a close over more partitions than a ledger may have', async () => {
    await expect(partitionsNotClosed(untouched, '2026-11-30', PARTITION_COUNT_MAX + 1)).rejects.toThrow(RangeError);
    await expect(closeBusinessDayOffline(untouched as never, '2026-11-30', 0)).rejects.toThrow(RangeError);
  });
});
