/**
 * The seed's bulk writes: its rows column by column, exactly as `commitItems` would write them for the
 * same commands (movements with their hash chain, entry sides with balance-after and account version,
 * pot balance snapshots, pots, outcomes with their fingerprints), and the statements that load them,
 * the partition's system balances and totals, read them back, and mark the load announced. The
 * planning (through the pure core) is the seed's own (src/seed/).
 */
import type pg from 'pg';
import {
  assert,
  canonicalJson,
  parseAccountId,
  type AccountId,
  type Command,
  type Movement,
  type Posting,
} from '../ledger/index.js';
import { chain } from './chain.js';
import { prepared, type Queryable } from './database.js';
import type { MemberFields } from './members.js';

/** A seed command planned through the core: what it writes. */
export interface PlannedCommand {
  readonly command: Command;
  readonly fingerprint: string;
  readonly movement: Movement;
  readonly postings: readonly Posting[];
}

/** A seeded member as the rows need it. */
export interface SeedMemberRow {
  readonly memberId: string;
  readonly potId: string;
  readonly fields: MemberFields;
}

export type SeedTable = 'members' | 'pots' | 'movements' | 'entries' | 'balances' | 'command_outcomes' | 'partition_totals';

/** The rows of one batch of seeded members, column by column, in the order they are planned. */
export class SeedBatch {
  readonly members = { memberId: [] as string[], name: [] as string[], email: [] as string[], address: [] as string[], riskProfile: [] as string[] };
  readonly pots = { potId: [] as string[], memberId: [] as string[], partition: [] as number[], movementId: [] as string[] };
  readonly movements = {
    movementId: [] as string[], commandId: [] as string[], process: [] as string[], processVersion: [] as number[],
    memberId: [] as string[], potId: [] as string[], partition: [] as number[], potChange: [] as (string | null)[],
    prevHash: [] as string[], hash: [] as string[],
  };
  /** Each seeded pot's latest movement hash: its chain starts in this batch with its pot.open. */
  readonly #latestHashes = new Map<string, string>();
  readonly entries = {
    movementId: [] as string[], entryIndex: [] as number[], side: [] as string[], accountId: [] as string[], asset: [] as string[],
    amountMinor: [] as string[], balanceAfterMinor: [] as string[], accountVersion: [] as string[],
  };
  /** Pot accounts only: each is written once, by its pot's import. System accounts are written at the end. */
  readonly balances = {
    accountId: [] as string[], potId: [] as string[], kind: [] as string[], asset: [] as string[],
    balanceMinor: [] as string[], version: [] as string[], lastMovementId: [] as string[],
  };
  readonly outcomes = {
    commandId: [] as string[], fingerprint: [] as string[], process: [] as string[], memberId: [] as string[], potId: [] as string[],
    partition: [] as number[], movementId: [] as string[],
  };

  rows(): Record<Exclude<SeedTable, 'partition_totals'>, number> {
    return {
      members: this.members.memberId.length,
      pots: this.pots.potId.length,
      movements: this.movements.movementId.length,
      entries: this.entries.movementId.length,
      balances: this.balances.accountId.length,
      command_outcomes: this.outcomes.commandId.length,
    };
  }

  addMember(member: SeedMemberRow, partition: number): void {
    this.members.memberId.push(member.memberId);
    this.members.name.push(member.fields.name);
    this.members.email.push(member.fields.email);
    this.members.address.push(member.fields.address);
    this.members.riskProfile.push(member.fields.riskProfile);
    this.pots.potId.push(member.potId);
    this.pots.memberId.push(member.memberId);
    this.pots.partition.push(partition);
  }

  addPlanned({ command, fingerprint, movement, postings }: PlannedCommand): void {
    const m = this.movements;
    m.movementId.push(movement.movementId);
    m.commandId.push(movement.commandId);
    m.process.push(movement.process);
    m.processVersion.push(movement.processVersion);
    m.memberId.push(movement.memberId);
    m.potId.push(movement.potId);
    m.partition.push(movement.partition);
    m.potChange.push(movement.potChange === undefined ? null : canonicalJson(movement.potChange));
    const [linked] = chain([movement], this.#latestHashes);
    m.prevHash.push(linked?.previous ?? '');
    m.hash.push(linked?.hash ?? '');
    if (movement.potChange?.type === 'open') this.pots.movementId.push(movement.movementId);
    for (const posting of postings) this.#addPosting(movement, posting);
    const o = this.outcomes;
    o.commandId.push(command.commandId);
    o.fingerprint.push(fingerprint);
    o.process.push(command.process);
    o.memberId.push(command.memberId);
    o.potId.push(command.potId);
    o.partition.push(movement.partition);
    o.movementId.push(movement.movementId);
  }

  #addPosting(movement: Movement, posting: Posting): void {
    const e = this.entries;
    e.movementId.push(movement.movementId);
    e.entryIndex.push(posting.entryIndex);
    e.side.push(posting.side);
    e.accountId.push(posting.account);
    e.asset.push(posting.asset);
    e.amountMinor.push(posting.amountMinor.toString());
    e.balanceAfterMinor.push(posting.balanceAfterMinor.toString());
    e.accountVersion.push(posting.accountVersion.toString());
    const ref = parseAccountId(posting.account);
    assert(ref !== undefined, `seed: ${posting.account} is not an account id`);
    if (ref.owner.type !== 'pot') return;
    // A new pot's account is posted once: its snapshot is this posting.
    assert(posting.accountVersion === 1n, `seed: ${posting.account} posted twice in one import`);
    const b = this.balances;
    b.accountId.push(posting.account);
    b.potId.push(ref.owner.potId);
    b.kind.push(ref.kind);
    b.asset.push(ref.asset);
    b.balanceMinor.push(posting.balanceAfterMinor.toString());
    b.version.push(posting.accountVersion.toString());
    b.lastMovementId.push(movement.movementId);
  }
}

/**
 * One statement per batch, so a batch is one round trip and Node plans the next batch while Postgres
 * writes this one. Movements and outcomes keep their order (their identity sequences follow it).
 */
const INSERT_BATCH_SQL = `
WITH new_members AS (
  INSERT INTO members (member_id, name, email, address, risk_profile)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
), new_pots AS (
  INSERT INTO pots (pot_id, member_id, partition, status, opened_movement_id, risk_profile)
  SELECT p.pot_id, p.member_id, p.partition, 'open', p.movement_id, p.risk_profile
    FROM unnest($6::text[], $7::text[], $8::int[], $9::text[], $5::text[]) AS p(pot_id, member_id, partition, movement_id, risk_profile)
), new_movements AS (
  INSERT INTO movements (movement_id, command_id, process, process_version, member_id, pot_id, partition, effective_date, corrected, pot_change, prev_hash, hash)
  SELECT m.movement_id, m.command_id, m.process, m.process_version, m.member_id, m.pot_id, m.partition, $10::date, false, m.pot_change, m.prev_hash, m.hash
    FROM unnest($11::text[], $12::text[], $13::text[], $14::int[], $15::text[], $16::text[], $17::int[], $18::jsonb[], $41::text[], $42::text[])
         WITH ORDINALITY AS m(movement_id, command_id, process, process_version, member_id, pot_id, partition, pot_change, prev_hash, hash, ordinal)
   ORDER BY m.ordinal
), new_entries AS (
  INSERT INTO entries (movement_id, entry_index, side, account_id, asset, amount_minor, balance_after_minor, account_version)
  SELECT * FROM unnest($19::text[], $20::smallint[], $21::text[], $22::text[], $23::text[], $24::bigint[], $25::bigint[], $26::bigint[])
), new_balances AS (
  INSERT INTO balances (account_id, owner_type, pot_id, partition, kind, asset, balance_minor, version, last_movement_id)
  SELECT b.account_id, 'pot', b.pot_id, NULL, b.kind, b.asset, b.balance_minor, b.version, b.last_movement_id
    FROM unnest($27::text[], $28::text[], $29::text[], $30::text[], $31::bigint[], $32::bigint[], $33::text[])
         AS b(account_id, pot_id, kind, asset, balance_minor, version, last_movement_id)
)
INSERT INTO command_outcomes (command_id, fingerprint, process, member_id, pot_id, partition, status, movement_id)
SELECT o.command_id, o.fingerprint, o.process, o.member_id, o.pot_id, o.partition, 'applied', o.movement_id
  FROM unnest($34::text[], $35::text[], $36::text[], $37::text[], $38::text[], $39::int[], $40::text[])
       WITH ORDINALITY AS o(command_id, fingerprint, process, member_id, pot_id, partition, movement_id, ordinal)
 ORDER BY o.ordinal`;

/**
 * A Postgres array literal of non-null values, built with one join: every element quoted, which is
 * valid as long as none holds a quote or a backslash (one check over all of them; otherwise pg's own
 * element-by-element escaping). pg's escaping took about a tenth of the seed's time in Node.
 */
function arrayLiteral(values: readonly (string | number)[]): string | readonly (string | number)[] {
  if (values.length === 0) return '{}';
  if (/["\\]/.test(values.join(''))) return values;
  return `{"${values.join('","')}"}`;
}

/** pot_change: JSON text (quotes escaped) or NULL. */
function jsonArrayLiteral(values: readonly (string | null)[]): string {
  return `{${values.map((value) => (value === null ? 'NULL' : `"${value.replace(/["\\]/g, '\\$&')}"`)).join(',')}}`;
}

export async function insertSeedBatch(db: Queryable, batch: SeedBatch, asOf: string): Promise<void> {
  const { members: s, pots: p, movements: m, entries: e, balances: b, outcomes: o } = batch;
  const columns = [
    s.memberId, s.name, s.email, s.address, s.riskProfile,
    p.potId, p.memberId, p.partition, p.movementId,
    asOf,
    m.movementId, m.commandId, m.process, m.processVersion, m.memberId, m.potId, m.partition, m.potChange,
    e.movementId, e.entryIndex, e.side, e.accountId, e.asset, e.amountMinor, e.balanceAfterMinor, e.accountVersion,
    b.accountId, b.potId, b.kind, b.asset, b.balanceMinor, b.version, b.lastMovementId,
    o.commandId, o.fingerprint, o.process, o.memberId, o.potId, o.partition, o.movementId,
    m.prevHash, m.hash,
  ];
  const parameters = columns.map((column) =>
    typeof column === 'string' ? column : column === m.potChange ? jsonArrayLiteral(m.potChange) : arrayLiteral(column as (string | number)[]),
  );
  const result = await prepared(db, 'potledger-seed-batch')(INSERT_BATCH_SQL, parameters);
  assert(result.rowCount === o.commandId.length, `seed: ${result.rowCount} outcomes written of ${o.commandId.length}`);
}

/** A partition's system account as the seed leaves it. */
export interface SeedSystemBalance {
  readonly account: AccountId;
  readonly balanceMinor: bigint;
  readonly version: bigint;
  readonly lastMovementId: string | null;
}

/** The system accounts' snapshots, written once at the end (their versions chained in memory). */
export async function insertSystemBalances(db: Queryable, accounts: readonly SeedSystemBalance[]): Promise<number> {
  if (accounts.length === 0) return 0;
  const refs = accounts.map(({ account }) => parseAccountId(account));
  await db.query(
    `INSERT INTO balances (account_id, owner_type, pot_id, partition, kind, asset, balance_minor, version, last_movement_id)
     SELECT b.account_id, 'system', NULL, b.partition, b.kind, b.asset, b.balance_minor, b.version, b.last_movement_id
       FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::text[])
            AS b(account_id, partition, kind, asset, balance_minor, version, last_movement_id)`,
    [
      accounts.map(({ account }) => account),
      refs.map((ref) => (ref?.owner.type === 'system' ? ref.owner.partition : null)),
      refs.map((ref) => ref?.kind ?? null),
      refs.map((ref) => ref?.asset ?? null),
      accounts.map(({ balanceMinor }) => String(balanceMinor)),
      accounts.map(({ version }) => String(version)),
      accounts.map(({ lastMovementId }) => lastMovementId),
    ],
  );
  return accounts.length;
}

/** One partition total the seed adds (as `commitItems` keeps them). */
export interface SeedPartitionTotal {
  readonly partition: number;
  readonly kind: string;
  readonly asset: string;
  readonly balanceMinor: bigint;
}

/** Adds the totals, sorted so that their rows are locked in the order every commit locks them. */
export async function insertPartitionTotals(db: Queryable, totals: readonly SeedPartitionTotal[]): Promise<number> {
  const rows = [...totals].sort((a, b) => a.partition - b.partition || a.kind.localeCompare(b.kind) || a.asset.localeCompare(b.asset));
  if (rows.length === 0) return 0;
  await db.query(
    `INSERT INTO partition_totals (partition, kind, asset, balance_minor)
     SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::bigint[])
     ON CONFLICT (partition, kind, asset) DO UPDATE SET balance_minor = partition_totals.balance_minor + EXCLUDED.balance_minor`,
    [rows.map((r) => r.partition), rows.map((r) => r.kind), rows.map((r) => r.asset), rows.map((r) => r.balanceMinor.toString())],
  );
  return rows.length;
}

/** Per asset, the sum of the partition totals and of its settled units, as written (one row per asset: the catalogue's size). */
export async function totalsByAsset(db: Queryable): Promise<{ asset: string; total: bigint; units: bigint }[]> {
  const { rows } = await db.query<{ asset: string; total: bigint; units: bigint }>(
    `SELECT asset, sum(balance_minor)::bigint AS total, coalesce(sum(balance_minor) FILTER (WHERE kind = 'units'), 0)::bigint AS units
       FROM partition_totals GROUP BY asset`,
  );
  return rows;
}

/** What stands in a seed's way: movements recorded already, or the latest business day from `asOf` on that is closed. */
export interface SeedObstacles {
  readonly movements: boolean;
  readonly closed: string | null;
}

/**
 * Takes the journal's tables in EXCLUSIVE mode for the rest of the transaction (readers go on, no one
 * else writes while the seed loads), then reports what would stand in the seed's way.
 */
export async function lockForSeed(db: Queryable, asOf: string): Promise<SeedObstacles> {
  await db.query('LOCK TABLE movements, entries, balances, pots, command_outcomes, partition_totals, members IN EXCLUSIVE MODE');
  const { rows } = await db.query<{ movements: boolean; closed: string | null }>(
    `SELECT EXISTS (SELECT 1 FROM movements) AS movements,
            (SELECT max(business_date)::text FROM business_days_closed WHERE business_date >= $1::date) AS closed`,
    [asOf],
  );
  return { movements: rows[0]?.movements === true, closed: rows[0]?.closed ?? null };
}

/**
 * A bulk load is opening history, not activity: its movements get no ledger events. Each partition's
 * event outbox is marked through its last seeded outcome (a worker's first claim keeps that point), so
 * a worker starting on a seeded ledger does not publish millions of events, and the consumers of events
 * (alerts) see only what happens from then on.
 */
export async function markSeedAnnounced(client: Queryable): Promise<void> {
  await client.query(
    `INSERT INTO partition_owners (partition, epoch, worker_id, events_through_seq)
     SELECT partition, 1, 'seed', max(seq) FROM command_outcomes GROUP BY partition
     ON CONFLICT (partition) DO UPDATE SET events_through_seq = greatest(partition_owners.events_through_seq, EXCLUDED.events_through_seq)`,
  );
}

/** The tables just loaded, analyzed so that the planner knows their size for the close and for the first queries. */
export async function analyzeSeededTables(pool: pg.Pool): Promise<void> {
  await pool.query('ANALYZE members, pots, movements, entries, balances, command_outcomes, partition_totals');
}
