/** Loading one pot for planning: its state, its accounts and its partition's system accounts, as the journal holds them. */
import type { AccountId, PotState } from '../ledger/index.js';
import type { Queryable } from './database.js';

/** What the ledger knows of a pot before a command: its state, balances and account versions. */
export interface PotSnapshot {
  readonly pot: PotState | undefined;
  readonly balances: Map<AccountId, bigint>;
  readonly versions: Map<AccountId, bigint>;
}

export interface PotRow {
  pot_id: string;
  member_id: string;
  status: 'open' | 'closed';
  risk_profile: string | null;
  rebalanced_on: string | null;
  holds: Record<string, { payee: { memberId: string; potId: string }; currency: string; amountMinor: string; expiresAt: string }>;
}

export const POT_COLUMNS = 'pot_id, member_id, status, risk_profile, rebalanced_on::text AS rebalanced_on, holds';

export function potOfRow(row: PotRow): PotState {
  const holds = Object.entries(row.holds).map(
    ([id, hold]) => [id, { payee: hold.payee, currency: hold.currency, amountMinor: BigInt(hold.amountMinor), expiresAt: hold.expiresAt }] as const,
  );
  return {
    potId: row.pot_id,
    memberId: row.member_id,
    status: row.status,
    ...(row.risk_profile === null ? {} : { profile: row.risk_profile }),
    ...(row.rebalanced_on === null ? {} : { rebalancedOn: row.rebalanced_on }),
    ...(holds.length === 0 ? {} : { holds: Object.fromEntries(holds) }),
  };
}

/**
 * The most accounts one pot and its partition's system accounts may hold: a pot has a handful per asset
 * and a partition a few dozen system accounts, so far more than this is a runaway, not a ledger.
 */
export const POT_ACCOUNTS_MAX = 100_000;

/**
 * Loads a pot, every account of the pot, and the system accounts of its partition. Takes no lock: the
 * caller holds the partition (an advisory lock, or ownership fenced by epoch).
 */
export async function loadPot(db: Queryable, potId: string, partition: number): Promise<PotSnapshot> {
  const pots = await db.query<PotRow>(`SELECT ${POT_COLUMNS} FROM pots WHERE pot_id = $1`, [potId]);
  const row = pots.rows[0];
  const pot = row === undefined ? undefined : potOfRow(row);
  const accounts = await db.query<{ account_id: string; balance_minor: bigint; version: bigint }>(
    `SELECT account_id, balance_minor, version FROM balances
      WHERE pot_id = $1 OR (owner_type = 'system' AND partition = $2)
      LIMIT ${POT_ACCOUNTS_MAX + 1}`,
    [potId, partition],
  );
  if (accounts.rows.length > POT_ACCOUNTS_MAX) throw new RangeError(`loadPot: pot ${potId} and partition ${partition} hold more than ${POT_ACCOUNTS_MAX} accounts`);
  const balances = new Map<AccountId, bigint>();
  const versions = new Map<AccountId, bigint>();
  for (const account of accounts.rows) {
    balances.set(account.account_id, account.balance_minor);
    versions.set(account.account_id, account.version);
  }
  return { pot, balances, versions };
}
