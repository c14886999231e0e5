/**
 * A commit's balance snapshots and partition totals: each account's balance row moved to its last
 * posting of the batch, but only from the version and balance its first posting follows on from (the
 * journal's half of the version assertion), and the totals per partition, kind and asset.
 */
import { LedgerAssertionError } from '../ledger/index.js';
import { prepared, type Queryable } from './database.js';
import { balanceRows, partitionTotalRows, type CommitItem } from './commit-rows.js';

/** The most refused accounts an assertion names in its message (the rest are counted). */
const REFUSED_NAMED_MAX = 5;

/**
 * One statement: an UPDATE that moves each existing balance only from the version and balance the
 * batch's first posting to it follows on from (what the UPDATE itself reads, under the row lock), and
 * an INSERT of the accounts the batch opens (version 0 before). It returns only the accounts written
 * neither way, with what the journal held: none when the batch follows on from the journal, so the
 * check costs no extra round trip.
 */
const WRITE_BALANCES_SQL = `
WITH r AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::text[], $10::bigint[], $11::bigint[])
         AS r(account_id, owner_type, pot_id, partition, kind, asset, balance_minor, version, last_movement_id, version_before, balance_before_minor)
), updated AS (
  UPDATE balances b SET balance_minor = r.balance_minor, version = r.version, last_movement_id = r.last_movement_id
    FROM r
   WHERE b.account_id = r.account_id AND r.version_before > 0 AND b.version = r.version_before AND b.balance_minor = r.balance_before_minor
  RETURNING b.account_id
), inserted AS (
  INSERT INTO balances (account_id, owner_type, pot_id, partition, kind, asset, balance_minor, version, last_movement_id)
  SELECT account_id, owner_type, pot_id, partition, kind, asset, balance_minor, version, last_movement_id FROM r WHERE r.version_before = 0
  ON CONFLICT (account_id) DO NOTHING
  RETURNING account_id
), written AS (
  SELECT account_id FROM updated UNION ALL SELECT account_id FROM inserted
)
SELECT r.account_id, r.version_before, r.balance_before_minor,
       (SELECT j.version FROM balances j WHERE j.account_id = r.account_id) AS journal_version,
       (SELECT j.balance_minor FROM balances j WHERE j.account_id = r.account_id) AS journal_balance_minor
  FROM r LEFT JOIN written w ON w.account_id = r.account_id
 WHERE w.account_id IS NULL`;

interface RefusedRow {
  account_id: string;
  version_before: bigint;
  balance_before_minor: bigint;
  journal_version: bigint | null;
  journal_balance_minor: bigint | null;
}

/**
 * Writes the balance snapshots of a batch. A batch that does not follow on from the journal (a stale
 * writer, a planner that lost count, a balance changed behind the journal) writes nothing here and
 * throws LedgerAssertionError: the caller's transaction rolls back.
 */
export async function writeBalances(db: Queryable, items: readonly CommitItem[]): Promise<void> {
  const rows = balanceRows(items);
  if (rows.length === 0) return;
  for (const row of rows) {
    if (row.versionBefore === 0n && row.balanceBeforeMinor !== 0n) {
      throw new LedgerAssertionError(`commit: ${row.last.account} opens at ${row.balanceBeforeMinor}, not 0`);
    }
  }
  const { rows: refused } = await prepared(db, 'potledger-write-balances')<RefusedRow>(WRITE_BALANCES_SQL, [
    rows.map((r) => r.last.account),
    rows.map((r) => r.ref.owner.type),
    rows.map((r) => (r.ref.owner.type === 'pot' ? r.ref.owner.potId : null)),
    rows.map((r) => (r.ref.owner.type === 'system' ? r.ref.owner.partition : null)),
    rows.map((r) => r.ref.kind),
    rows.map((r) => r.ref.asset),
    rows.map((r) => r.last.balanceAfterMinor.toString()),
    rows.map((r) => r.last.accountVersion.toString()),
    rows.map((r) => r.movementId),
    rows.map((r) => r.versionBefore.toString()),
    rows.map((r) => r.balanceBeforeMinor.toString()),
  ]);
  if (refused.length === 0) return;
  const named = refused.slice(0, REFUSED_NAMED_MAX).map(
    (row) =>
      `${row.account_id} follows on from v${row.version_before} (${row.balance_before_minor}), ` +
      `the journal holds ${row.journal_version === null ? 'no row' : `v${row.journal_version} (${row.journal_balance_minor})`}`,
  );
  const more = refused.length > REFUSED_NAMED_MAX ? `; and ${refused.length - REFUSED_NAMED_MAX} more` : '';
  throw new LedgerAssertionError(`commit: ${refused.length} of ${rows.length} balances do not follow on from the journal: ${named.join('; ')}${more}`);
}

/** Adds each posting's signed amount (debit +, credit −) to its partition's total for the kind and asset. */
export async function addToPartitionTotals(db: Queryable, items: readonly CommitItem[]): Promise<void> {
  const rows = partitionTotalRows(items);
  if (rows.length === 0) return;
  await prepared(db, 'potledger-add-partition-totals')(
    `INSERT INTO partition_totals (partition, kind, asset, balance_minor)
     SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::bigint[])
     ON CONFLICT (partition, kind, asset) DO UPDATE SET balance_minor = partition_totals.balance_minor + EXCLUDED.balance_minor`,
    [rows.map((r) => r.partition), rows.map((r) => r.kind), rows.map((r) => r.asset), rows.map((r) => r.deltaMinor.toString())],
  );
}
