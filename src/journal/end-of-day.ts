import type pg from 'pg';
import { PARTITION_COUNT_MAX, type AccountId } from '../ledger/index.js';
import { inTransaction } from './database.js';
import { CloseRefusedError } from './errors.js';
import { PARTITION_LOCK_CLASS } from './executor.js';
import { limitOver, rowsWithin } from './row-limits.js';
import { POT_ACCOUNTS_MAX, type Queryable } from './store.js';

/**
 * End-of-day snapshots (Nubank's time shards): closing business day D records, for every account that
 * changed since its previous snapshot, its balance and version at the close. A balance as of a past date
 * is then one indexed lookup, never a replay.
 *
 * The close is a cut in stream order. It is requested here (`requestClose`), then a close marker goes
 * through every partition's command stream (src/shards/close-day.ts), and the shard worker that commits
 * the marker snapshots the partition in that same transaction (`closePartition`): every movement of the
 * partition is wholly before the close or wholly after it. Once every partition has closed, the day is
 * recorded closed (`finishClose`). Work between partitions (a payment's saga) that is in flight at the
 * close sits in clearing accounts, so the balance sheet at the close still nets to zero per asset.
 */

/** What closing a day did: how many account snapshots it recorded, and whether it was closed already. */
export interface CloseResult {
  readonly accounts: number;
  readonly alreadyClosed: boolean;
}

/**
 * The loops of a close run once per partition: over at most PARTITION_COUNT_MAX of them (the most a
 * ledger may have), checked before each loop starts. Within a partition the snapshot is one set-based
 * statement, never a loop over rows in Node.
 */
function checkPartitionCount(partitionCount: number): void {
  if (!Number.isInteger(partitionCount) || partitionCount < 1 || partitionCount > PARTITION_COUNT_MAX) {
    throw new RangeError(`the partition count must be a whole number from 1 to ${PARTITION_COUNT_MAX}, not ${partitionCount}`);
  }
}

/** The advisory lock (class, key) that serialises closers: one at a time, and each day once. */
const CLOSER_LOCK = [PARTITION_LOCK_CLASS, -1] as const;

export type CloseRequest = { readonly kind: 'closed'; readonly result: CloseResult } | { readonly kind: 'requested' };

/**
 * Records the request to close `businessDate` over `partitionCount` partitions (a repeat changes
 * nothing). Answers `closed` when the day is closed already. Refused (CloseRefusedError) when a later
 * day is closed or requested, when an earlier day's close is unfinished, or when the day was requested
 * over another partition count.
 */
export async function requestClose(pool: pg.Pool, businessDate: string, partitionCount: number): Promise<CloseRequest> {
  checkPartitionCount(partitionCount);
  return inTransaction(pool, (client) => requestIn(client, businessDate, partitionCount));
}

async function requestIn(client: Queryable, businessDate: string, partitionCount: number): Promise<CloseRequest> {
  await client.query('SELECT pg_advisory_xact_lock($1, $2)', [...CLOSER_LOCK]);
  const closed = await client.query<{ accounts: bigint }>('SELECT accounts FROM business_days_closed WHERE business_date = $1', [businessDate]);
  if (closed.rows[0] !== undefined) return { kind: 'closed', result: { accounts: Number(closed.rows[0].accounts), alreadyClosed: true } };
  const { rows } = await client.query<{ later: string | null; pending: string | null; count: number | null }>(
    `SELECT (SELECT max(business_date)::text FROM (SELECT business_date FROM business_days_closed UNION ALL SELECT business_date FROM close_requests) d
              WHERE business_date > $1::date) AS later,
            (SELECT min(r.business_date)::text FROM close_requests r
              WHERE r.business_date < $1::date AND NOT EXISTS (SELECT 1 FROM business_days_closed c WHERE c.business_date = r.business_date)) AS pending,
            (SELECT partition_count FROM close_requests WHERE business_date = $1::date) AS count`,
    [businessDate],
  );
  const found = rows[0];
  if (found?.later != null) throw new CloseRefusedError(`a business day after ${businessDate} is closed already (or being closed: ${found.later})`);
  if (found?.pending != null) throw new CloseRefusedError(`the close of ${found.pending} is unfinished; close ${found.pending} again first`);
  if (found?.count != null && found.count !== partitionCount) {
    throw new CloseRefusedError(`the close of ${businessDate} was requested over ${found.count} partitions, not ${partitionCount}`);
  }
  await client.query('INSERT INTO close_requests (business_date, partition_count) VALUES ($1, $2) ON CONFLICT (business_date) DO NOTHING', [businessDate, partitionCount]);
  return { kind: 'requested' };
}

/** True when the close of `businessDate` was requested (a shard honours a marker only then). */
export async function closeRequested(db: Queryable, businessDate: string): Promise<boolean> {
  const { rowCount } = await db.query('SELECT 1 FROM close_requests WHERE business_date = $1::date', [businessDate]);
  return (rowCount ?? 0) > 0;
}

/** The partitions (of 0 … partitionCount-1) that have not yet closed `businessDate`. */
export async function partitionsNotClosed(db: Queryable, businessDate: string, partitionCount: number): Promise<number[]> {
  checkPartitionCount(partitionCount);
  const { rows } = await db.query<{ partition: number }>(
    `SELECT partition FROM partition_closes WHERE business_date = $1::date ${limitOver(PARTITION_COUNT_MAX)}`,
    [businessDate],
  );
  const done = new Set(rowsWithin(rows, PARTITION_COUNT_MAX, `partitionsNotClosed ${businessDate}`).map((row) => row.partition));
  return Array.from({ length: partitionCount }, (_, partition) => partition).filter((partition) => !done.has(partition));
}

/**
 * Snapshots one partition for the close of `businessDate`, in the caller's transaction: the one that
 * commits the partition's close marker (after the batch's movements), or the offline close. Records,
 * for every account of the partition whose version moved since its last close, its balance and version,
 * and the cut: the seq of the partition's last movement included. A partition that has closed this day
 * (or a later one) already answers `repeat` and records nothing: a marker delivered or published again.
 *
 * Contract: the caller holds the partition (its fence, or the partition's advisory lock), so no other
 * transaction changes the partition's accounts until this one commits.
 */
export async function closePartition(db: Queryable, partition: number, businessDate: string, streamSeq: bigint | undefined): Promise<'closed' | 'repeat'> {
  const latest = await db.query<{ latest: string | null }>('SELECT max(business_date)::text AS latest FROM partition_closes WHERE partition = $1', [partition]);
  const latestDate = latest.rows[0]?.latest;
  if (latestDate != null && latestDate >= businessDate) return 'repeat';
  await db.query(
    `WITH accounts AS (
       SELECT account_id FROM balances WHERE owner_type = 'system' AND partition = $2
       UNION ALL
       SELECT b.account_id FROM pots p JOIN balances b ON b.pot_id = p.pot_id WHERE p.partition = $2),
     changed AS (
       UPDATE balances b SET closed_version = b.version FROM accounts a
        WHERE b.account_id = a.account_id AND b.version <> b.closed_version
       RETURNING b.account_id, b.balance_minor, b.version, b.last_movement_id),
     snapshot AS (
       INSERT INTO balances_eod (business_date, account_id, balance_minor, version)
       SELECT $1::date, account_id, balance_minor, version FROM changed
       RETURNING 1)
     INSERT INTO partition_closes (business_date, partition, stream_seq, movement_seq_through, accounts)
     SELECT $1::date, $2, $3,
            -- Every movement with entries since the last close moved an account; its last movement is the latest.
            greatest((SELECT max(m.seq) FROM changed c JOIN movements m ON m.movement_id = c.last_movement_id),
                     (SELECT max(movement_seq_through) FROM partition_closes WHERE partition = $2), 0),
            (SELECT count(*) FROM snapshot)`,
    [businessDate, partition, streamSeq === undefined ? null : streamSeq.toString()],
  );
  return 'closed';
}

/** Records the day closed once every partition has closed it; a repeat changes nothing. */
export async function finishClose(pool: pg.Pool, businessDate: string): Promise<CloseResult> {
  return inTransaction(pool, (client) => finishIn(client, businessDate));
}

async function finishIn(client: Queryable, businessDate: string): Promise<CloseResult> {
  const inserted = await client.query<{ accounts: bigint }>(
    `INSERT INTO business_days_closed (business_date, accounts)
     SELECT $1::date, coalesce(sum(accounts), 0) FROM partition_closes WHERE business_date = $1::date
     ON CONFLICT (business_date) DO NOTHING
     RETURNING accounts`,
    [businessDate],
  );
  if (inserted.rows[0] !== undefined) return { accounts: Number(inserted.rows[0].accounts), alreadyClosed: false };
  const closed = await client.query<{ accounts: bigint }>('SELECT accounts FROM business_days_closed WHERE business_date = $1', [businessDate]);
  return { accounts: Number(closed.rows[0]?.accounts ?? 0n), alreadyClosed: true };
}

/**
 * Closes `businessDate` straight in Postgres, with no command stream: for offline callers (the seed,
 * tools and tests that write through the executor) and ONLY while no shard worker commits. It holds
 * every partition's advisory lock (the executor's), so it is a cut against the executor, but a shard
 * worker takes no such lock: with workers running, close through the markers (src/shards/close-day.ts).
 * Each partition records its cut like a marker would (no stream sequence), so `verify` checks it the same.
 */
export async function closeBusinessDayOffline(pool: pg.Pool, businessDate: string, partitionCount: number): Promise<CloseResult> {
  checkPartitionCount(partitionCount);
  return inTransaction(pool, async (client) => {
    const request = await requestIn(client, businessDate, partitionCount);
    if (request.kind === 'closed') return request.result;
    const beyond = await client.query<{ partition: number }>(
      "SELECT max(partition) AS partition FROM (SELECT max(partition) AS partition FROM pots UNION ALL SELECT max(partition) FROM balances WHERE owner_type = 'system') p",
    );
    const highest = beyond.rows[0]?.partition;
    if (highest != null && highest >= partitionCount) throw new CloseRefusedError(`the ledger has partition ${highest}; a close over ${partitionCount} partitions would miss it`);
    for (let partition = 0; partition < partitionCount; partition += 1) {
      await client.query('SELECT pg_advisory_xact_lock($1, $2)', [PARTITION_LOCK_CLASS, partition]);
      await closePartition(client, partition, businessDate, undefined);
    }
    return finishIn(client, businessDate);
  });
}

/** The balances of a pot's accounts at the close of `businessDate`, from the end-of-day snapshots. */
export async function potBalancesAsOf(db: Queryable, potId: string, businessDate: string): Promise<Map<AccountId, bigint>> {
  const { rows } = await db.query<{ account_id: string; balance_minor: bigint }>(
    `SELECT b.account_id, d.balance_minor
       FROM balances b
       JOIN LATERAL (SELECT d.balance_minor FROM balances_eod d
                      WHERE d.account_id = b.account_id AND d.business_date <= $2::date
                      ORDER BY d.business_date DESC LIMIT 1) d ON true
      WHERE b.pot_id = $1
      ${limitOver(POT_ACCOUNTS_MAX)}`,
    [potId, businessDate],
  );
  return new Map(rowsWithin(rows, POT_ACCOUNTS_MAX, `potBalancesAsOf ${potId}`).map((row) => [row.account_id, row.balance_minor]));
}
