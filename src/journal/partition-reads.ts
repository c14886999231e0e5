/**
 * What a shard worker reads of its partition before planning a batch: pots with their accounts, the
 * partition's system accounts, and where an event stands in the outbox. Reads only; no locks (the
 * worker holds the partition through its fencing epoch, checked when it commits).
 */
import type pg from 'pg';
import { prepared, type Queryable } from './database.js';
import type { AccountId, PotState } from '../ledger/index.js';
import { POT_COLUMNS, potOfRow, type PotRow } from './store.js';

/** One account as loaded: its balance and version (the number of entries it has had). */
export interface LoadedAccount {
  readonly account: AccountId;
  readonly balanceMinor: bigint;
  readonly version: bigint;
}

/** A pot as loaded for its actor: its state (undefined when it does not exist), and its accounts. */
export interface LoadedPot {
  readonly pot: PotState | undefined;
  readonly accounts: readonly LoadedAccount[];
}

/** Pots by id, each with every account it has; an absent pot is answered with no state and no accounts. */
export async function loadPotsWithAccounts(pool: pg.Pool, potIds: readonly string[]): Promise<Map<string, LoadedPot>> {
  const pots = await prepared(pool, 'potledger-load-pots')<PotRow>(`SELECT ${POT_COLUMNS} FROM pots WHERE pot_id = ANY($1::text[])`, [potIds]);
  const accounts = await prepared(pool, 'potledger-load-pot-accounts')<{ pot_id: string; account_id: string; balance_minor: bigint; version: bigint }>(
    'SELECT pot_id, account_id, balance_minor, version FROM balances WHERE pot_id = ANY($1::text[])',
    [potIds],
  );
  const loaded = new Map<string, { pot: PotState | undefined; accounts: LoadedAccount[] }>();
  for (const potId of potIds) loaded.set(potId, { pot: undefined, accounts: [] });
  for (const row of pots.rows) {
    const entry = loaded.get(row.pot_id);
    if (entry !== undefined) entry.pot = potOfRow(row);
  }
  for (const row of accounts.rows) loaded.get(row.pot_id)?.accounts.push({ account: row.account_id, balanceMinor: row.balance_minor, version: row.version });
  return loaded;
}

/** Every system account of `partition` (clearing and contra accounts), with its balance and version. */
export async function loadSystemAccounts(db: Queryable, partition: number): Promise<LoadedAccount[]> {
  const { rows } = await db.query<{ account_id: string; balance_minor: bigint; version: bigint }>(
    "SELECT account_id, balance_minor, version FROM balances WHERE owner_type = 'system' AND partition = $1",
    [partition],
  );
  return rows.map((row) => ({ account: row.account_id, balanceMinor: row.balance_minor, version: row.version }));
}

/**
 * The outbox sequence of the outcome an event stands for, found by the event's movement id or, for a
 * rejection, its command id; undefined when the partition has no such outcome.
 */
export async function outcomeSeqOfEvent(db: Queryable, partition: number, target: { readonly movementId: string; readonly commandId: string }): Promise<bigint | undefined> {
  const { rows } = await db.query<{ seq: bigint }>(
    'SELECT seq FROM command_outcomes WHERE partition = $1 AND (movement_id = $2 OR command_id = $3) ORDER BY seq LIMIT 1',
    [partition, target.movementId, target.commandId],
  );
  return rows[0]?.seq;
}
