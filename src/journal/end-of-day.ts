import type pg from 'pg';
import type { AccountId } from '../ledger/index.js';
import { inTransaction } from './database.js';
import type { Queryable } from './store.js';

/**
 * End-of-day snapshots (Nubank's time shards): closing business day D records, for every account that
 * changed since its previous snapshot, its balance and version as committed at that moment. A balance
 * as of a past date is then one indexed lookup, never a replay.
 */
export async function closeBusinessDay(pool: pg.Pool, businessDate: string): Promise<{ accounts: number; alreadyClosed: boolean }> {
  return inTransaction(pool, async (client) => {
    // One closer at a time, and each day once.
    await client.query('SELECT pg_advisory_xact_lock(7301, -1)');
    const closed = await client.query<{ accounts: bigint }>('SELECT accounts FROM business_days_closed WHERE business_date = $1', [businessDate]);
    if (closed.rows[0] !== undefined) return { accounts: Number(closed.rows[0].accounts), alreadyClosed: true };
    const later = await client.query('SELECT 1 FROM business_days_closed WHERE business_date > $1 LIMIT 1', [businessDate]);
    if ((later.rowCount ?? 0) > 0) throw new RangeError(`a business day after ${businessDate} is closed already`);
    // Every account whose version moved since its last close: marked closed at that version and
    // snapshotted, in one statement (the balances it reads are those committed when it runs).
    const inserted = await client.query(
      `WITH changed AS (
         UPDATE balances SET closed_version = version WHERE version <> closed_version
         RETURNING account_id, balance_minor, version)
       INSERT INTO balances_eod (business_date, account_id, balance_minor, version)
       SELECT $1::date, account_id, balance_minor, version FROM changed`,
      [businessDate],
    );
    const accounts = inserted.rowCount ?? 0;
    await client.query('INSERT INTO business_days_closed (business_date, accounts) VALUES ($1, $2)', [businessDate, accounts]);
    return { accounts, alreadyClosed: false };
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
      WHERE b.pot_id = $1`,
    [potId, businessDate],
  );
  return new Map(rows.map((row) => [row.account_id, row.balance_minor]));
}
