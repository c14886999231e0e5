import { chain, latestHashes } from './chain.js';
import { prepared, storableText, type Queryable } from './database.js';
import {
  canonicalJson,
  movementToWire,
  outcomeFromWire,
  outcomeToWire,
  parseAccountId,
  reject,
  RejectionCode,
  type AccountId,
  type AssetCatalog,
  type Command,
  type Entry,
  type LoadedMovement,
  type Movement,
  type Outcome,
  type PotChange,
  type PotState,
  type Posting,
  type WireMovementDraft,
  type OrderChange,
  type OrderFunding,
  type OrderSide,
  type OrderState,
  type OrderStatus,
} from '../ledger/index.js';

export type { Queryable };

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
  return {
    potId: row.pot_id,
    memberId: row.member_id,
    status: row.status,
    ...(row.risk_profile === null ? {} : { profile: row.risk_profile }),
    ...(row.rebalanced_on === null ? {} : { rebalancedOn: row.rebalanced_on }),
    ...(Object.keys(row.holds).length === 0
      ? {}
      : { holds: Object.fromEntries(Object.entries(row.holds).map(([id, h]) => [id, { payee: h.payee, currency: h.currency, amountMinor: BigInt(h.amountMinor), expiresAt: h.expiresAt }])) }),
  };
}

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
      WHERE pot_id = $1 OR (owner_type = 'system' AND partition = $2)`,
    [potId, partition],
  );
  const balances = new Map<AccountId, bigint>();
  const versions = new Map<AccountId, bigint>();
  for (const account of accounts.rows) {
    balances.set(account.account_id, account.balance_minor);
    versions.set(account.account_id, account.version);
  }
  return { pot, balances, versions };
}

interface MovementRow {
  movement_id: string;
  command_id: string;
  process: string;
  process_version: number;
  member_id: string;
  pot_id: string;
  partition: number;
  effective_date: string;
  pot_change: PotChange | null;
  order_change: OrderChange | null;
  reverses: string | null;
}

/** Reads committed movements with their entries, rebuilt from the journal rows. */
export async function readMovements(db: Queryable, movementIds: readonly string[]): Promise<Map<string, Movement>> {
  const movements = new Map<string, Movement>();
  if (movementIds.length === 0) return movements;
  const heads = await db.query<MovementRow>(
    `SELECT movement_id, command_id, process, process_version, member_id, pot_id, partition, effective_date::text AS effective_date,
            pot_change, order_change, reverses
       FROM movements WHERE movement_id = ANY($1::text[])`,
    [movementIds],
  );
  const sides = await db.query<{ movement_id: string; entry_index: number; side: 'debit' | 'credit'; account_id: string; asset: string; amount_minor: bigint }>(
    `SELECT movement_id, entry_index, side, account_id, asset, amount_minor
       FROM entries WHERE movement_id = ANY($1::text[]) ORDER BY movement_id, entry_index, side DESC`,
    [movementIds],
  );
  const entries = new Map<string, Entry[]>();
  for (const row of sides.rows) {
    const list = entries.get(row.movement_id) ?? [];
    const entry = list[row.entry_index] ?? { debit: '', credit: '', asset: row.asset, amountMinor: row.amount_minor };
    list[row.entry_index] = row.side === 'debit' ? { ...entry, debit: row.account_id } : { ...entry, credit: row.account_id };
    entries.set(row.movement_id, list);
  }
  for (const row of heads.rows) {
    movements.set(row.movement_id, {
      movementId: row.movement_id,
      commandId: row.command_id,
      process: row.process,
      processVersion: row.process_version,
      memberId: row.member_id,
      potId: row.pot_id,
      partition: row.partition,
      effectiveDate: row.effective_date,
      entries: entries.get(row.movement_id) ?? [],
      ...(row.pot_change === null ? {} : { potChange: row.pot_change }),
      ...(row.order_change === null ? {} : { orderChange: row.order_change }),
      ...(row.reverses === null ? {} : { reverses: row.reverses }),
    });
  }
  return movements;
}

/** Loads committed movements by id, each with the id of the movement that reversed it, if any. */
export async function loadMovements(db: Queryable, movementIds: readonly string[]): Promise<Map<string, LoadedMovement>> {
  const loaded = new Map<string, LoadedMovement>();
  if (movementIds.length === 0) return loaded;
  const movements = await readMovements(db, movementIds);
  const reversals = await db.query<{ movement_id: string; reverses: string }>(
    'SELECT movement_id, reverses FROM movements WHERE reverses = ANY($1::text[])',
    [movementIds],
  );
  const reversedBy = new Map(reversals.rows.map((row) => [row.reverses, row.movement_id]));
  for (const [id, movement] of movements) {
    const by = reversedBy.get(id);
    loaded.set(id, by === undefined ? { movement } : { movement, reversedBy: by });
  }
  return loaded;
}

export interface StoredOutcome {
  readonly commandId: string;
  readonly fingerprint: string;
  readonly outcome: Outcome;
  readonly recordedAt: string;
  /** The outbox order of the outcome. */
  readonly seq: bigint;
}

/** What `command_outcomes.outcome` holds: only what the movement tables cannot give back. */
type StoredDetail =
  | null
  | { readonly code: RejectionCode; readonly reason: string; readonly details?: Readonly<Record<string, unknown>> }
  | { readonly original: WireMovementDraft; readonly violations: readonly string[] };

interface OutcomeRow {
  command_id: string;
  fingerprint: string;
  status: 'applied' | 'corrected' | 'rejected';
  movement_id: string | null;
  outcome: StoredDetail;
  recorded_at: Date;
  seq: bigint;
}

const OUTCOME_COLUMNS = 'command_id, fingerprint, status, movement_id, outcome, recorded_at, seq';

/** The recorded outcomes of these commandIds (the idempotency record). */
export async function findOutcomes(db: Queryable, commandIds: readonly string[], assets: AssetCatalog): Promise<Map<string, StoredOutcome>> {
  if (commandIds.length === 0) return new Map();
  const { rows } = await prepared(db, 'potledger-find-outcomes')<OutcomeRow>(`SELECT ${OUTCOME_COLUMNS} FROM command_outcomes WHERE command_id = ANY($1::text[])`, [commandIds]);
  return composeOutcomes(db, rows, assets);
}

/** Outcomes of the partition after `afterSeq` (the event outbox), oldest first, at most `limit`. */
export async function outcomesAfter(db: Queryable, partition: number, afterSeq: bigint, limit: number, assets: AssetCatalog): Promise<StoredOutcome[]> {
  const { rows } = await db.query<OutcomeRow>(
    `SELECT ${OUTCOME_COLUMNS} FROM command_outcomes WHERE partition = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
    [partition, afterSeq.toString(), limit],
  );
  const composed = await composeOutcomes(db, rows, assets);
  return rows.flatMap((row) => composed.get(row.command_id) ?? []);
}

async function composeOutcomes(db: Queryable, rows: readonly OutcomeRow[], assets: AssetCatalog): Promise<Map<string, StoredOutcome>> {
  const movements = await readMovements(db, rows.flatMap((row) => (row.movement_id === null ? [] : [row.movement_id])));
  const found = new Map<string, StoredOutcome>();
  for (const row of rows) {
    found.set(row.command_id, {
      commandId: row.command_id,
      fingerprint: row.fingerprint,
      outcome: outcomeOf(row, movements, assets),
      recordedAt: row.recorded_at.toISOString(),
      seq: row.seq,
    });
  }
  return found;
}

function outcomeOf(row: OutcomeRow, movements: ReadonlyMap<string, Movement>, assets: AssetCatalog): Outcome {
  const detail = row.outcome;
  if (row.status === 'rejected') {
    if (detail === null || !('code' in detail)) throw new Error(`outcome of ${row.command_id}: a rejection without its code`);
    return reject(detail.code, detail.reason, detail.details === undefined ? undefined : { ...detail.details });
  }
  const movement = row.movement_id === null ? undefined : movements.get(row.movement_id);
  if (movement === undefined) throw new Error(`outcome of ${row.command_id}: movement ${row.movement_id} is missing`);
  if (row.status === 'applied') return { kind: 'applied', movement };
  if (detail === null || !('original' in detail)) throw new Error(`outcome of ${row.command_id}: a correction without its original`);
  const wire = outcomeFromWire(
    { kind: 'corrected', movement: movementToWire(movement, assets), original: detail.original, violations: detail.violations },
    assets,
  );
  return wire;
}

function detailOf(outcome: Outcome, assets: AssetCatalog): StoredDetail {
  switch (outcome.kind) {
    case 'applied':
      return null;
    case 'corrected': {
      const wire = outcomeToWire(outcome, assets);
      return wire.kind === 'corrected' ? { original: wire.original, violations: wire.violations } : null;
    }
    case 'rejected':
      return outcome.details === undefined ? { code: outcome.code, reason: outcome.reason } : { code: outcome.code, reason: outcome.reason, details: outcome.details };
  }
}

/** One command's result, ready to be written. */
export interface CommitItem {
  readonly command: Command;
  readonly fingerprint: string;
  readonly partition: number;
  readonly outcome: Outcome;
  /** The postings of the movement (none for a rejection), with balances and versions after each. */
  readonly postings: readonly Posting[];
  /** The JetStream sequence of the message that carried the command, when it came from the stream. */
  readonly streamSeq?: bigint;
  /** Who asked for the command and through what (the publisher's headers), for the audit trail. */
  readonly audit?: { readonly principal: string | undefined; readonly source: string | undefined };
}

/** The most rows one commit writes; callers split larger batches. */
export const COMMIT_BATCH_MAX = 5_000;

/**
 * Writes a batch of outcomes in the caller's transaction: movements, entries, balance snapshots, pots
 * and the idempotency records, with batched inserts. Items are in commit order; a later item may read
 * what an earlier one wrote (balances are taken from the last posting of each account).
 *
 * Contract: the caller holds the partitions involved. A stale writer cannot overwrite newer balances:
 * the entries' unique (account_id, account_version) refuses a version written twice, and the balance
 * upsert only moves versions forward (asserted by the affected row count). A commandId recorded before
 * fails the batch with a unique violation.
 */
export async function commitItems(db: Queryable, items: readonly CommitItem[], assets: AssetCatalog): Promise<bigint[]> {
  if (items.length === 0) return [];
  if (items.length > COMMIT_BATCH_MAX) throw new RangeError(`commitItems: at most ${COMMIT_BATCH_MAX} items`);
  const applied = items.filter((item) => item.outcome.kind !== 'rejected');
  await insertMovements(db, applied);
  await insertEntries(db, applied);
  await upsertBalances(db, applied);
  await addToPartitionTotals(db, applied);
  await writePots(db, applied);
  await writeOrders(db, applied);
  return insertOutcomes(db, items, assets);
}

function movementOf(item: CommitItem) {
  if (item.outcome.kind === 'rejected') throw new Error('movementOf: a rejection has no movement');
  return item.outcome.movement;
}

async function insertMovements(db: Queryable, items: readonly CommitItem[]): Promise<void> {
  if (items.length === 0) return;
  const movements = items.map(movementOf);
  // Each pot's hash chain goes on from its latest movement (the caller holds the pots' partitions).
  const chained = chain(movements, await latestHashes(db, [...new Set(movements.map((m) => m.potId))]));
  await prepared(db, 'potledger-insert-movements')(
    `INSERT INTO movements (movement_id, command_id, process, process_version, member_id, pot_id, partition,
                            effective_date, corrected, pot_change, reverses, order_change, prev_hash, hash)
     SELECT m.movement_id, m.command_id, m.process, m.process_version, m.member_id, m.pot_id, m.partition,
            m.effective_date, m.corrected, m.pot_change, m.reverses, m.order_change, m.prev_hash, m.hash
       FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[], $7::int[],
                   $8::date[], $9::bool[], $10::jsonb[], $11::text[], $12::jsonb[], $13::text[], $14::text[])
            WITH ORDINALITY AS m(movement_id, command_id, process, process_version, member_id, pot_id, partition,
                                 effective_date, corrected, pot_change, reverses, order_change, prev_hash, hash, ordinal)
      ORDER BY m.ordinal`,
    [
      movements.map((m) => m.movementId),
      movements.map((m) => m.commandId),
      movements.map((m) => m.process),
      movements.map((m) => m.processVersion),
      movements.map((m) => m.memberId),
      movements.map((m) => m.potId),
      movements.map((m) => m.partition),
      movements.map((m) => m.effectiveDate),
      items.map((item) => item.outcome.kind === 'corrected'),
      movements.map((m) => (m.potChange === undefined ? null : canonicalJson(m.potChange))),
      movements.map((m) => m.reverses ?? null),
      movements.map((m) => (m.orderChange === undefined ? null : canonicalJson(m.orderChange))),
      chained.map((c) => c.previous),
      chained.map((c) => c.hash),
    ],
  );
}

async function insertEntries(db: Queryable, items: readonly CommitItem[]): Promise<void> {
  const rows = items.flatMap((item) => item.postings.map((posting) => ({ movementId: movementOf(item).movementId, posting })));
  if (rows.length === 0) return;
  await prepared(db, 'potledger-insert-entries')(
    `INSERT INTO entries (movement_id, entry_index, side, account_id, asset, amount_minor, balance_after_minor, account_version)
     SELECT * FROM unnest($1::text[], $2::smallint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[])`,
    [
      rows.map((r) => r.movementId),
      rows.map((r) => r.posting.entryIndex),
      rows.map((r) => r.posting.side),
      rows.map((r) => r.posting.account),
      rows.map((r) => r.posting.asset),
      rows.map((r) => r.posting.amountMinor.toString()),
      rows.map((r) => r.posting.balanceAfterMinor.toString()),
      rows.map((r) => r.posting.accountVersion.toString()),
    ],
  );
}

/** Adds each posting's signed amount (debit +, credit −) to its partition's total for the kind and asset. */
async function addToPartitionTotals(db: Queryable, items: readonly CommitItem[]): Promise<void> {
  const totals = new Map<string, { partition: number; kind: string; asset: string; deltaMinor: bigint }>();
  for (const item of items) {
    for (const posting of item.postings) {
      const ref = parseAccountId(posting.account);
      if (ref === undefined) throw new Error(`addToPartitionTotals: ${posting.account} is not an account id`);
      const partition = ref.owner.type === 'system' ? ref.owner.partition : item.partition;
      const key = `${partition}|${ref.kind}|${ref.asset}`;
      const signed = posting.side === 'debit' ? posting.amountMinor : -posting.amountMinor;
      const total = totals.get(key);
      if (total === undefined) totals.set(key, { partition, kind: ref.kind, asset: ref.asset, deltaMinor: signed });
      else total.deltaMinor += signed;
    }
  }
  if (totals.size === 0) return;
  // Sorted, so that two transactions touching the same rows lock them in the same order.
  const rows = [...totals.values()].sort((a, b) => a.partition - b.partition || a.kind.localeCompare(b.kind) || a.asset.localeCompare(b.asset));
  await prepared(db, 'potledger-add-partition-totals')(
    `INSERT INTO partition_totals (partition, kind, asset, balance_minor)
     SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::bigint[])
     ON CONFLICT (partition, kind, asset) DO UPDATE SET balance_minor = partition_totals.balance_minor + EXCLUDED.balance_minor`,
    [rows.map((r) => r.partition), rows.map((r) => r.kind), rows.map((r) => r.asset), rows.map((r) => r.deltaMinor.toString())],
  );
}

async function upsertBalances(db: Queryable, items: readonly CommitItem[]): Promise<void> {
  const latest = new Map<AccountId, { posting: Posting; movementId: string }>();
  for (const item of items) {
    for (const posting of item.postings) latest.set(posting.account, { posting, movementId: movementOf(item).movementId });
  }
  if (latest.size === 0) return;
  const rows = [...latest.values()].map(({ posting, movementId }) => {
    const ref = parseAccountId(posting.account);
    if (ref === undefined) throw new Error(`upsertBalances: ${posting.account} is not an account id`);
    return { posting, movementId, ref };
  });
  const result = await prepared(db, 'potledger-upsert-balances')(
    `INSERT INTO balances (account_id, owner_type, pot_id, partition, kind, asset, balance_minor, version, last_movement_id)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::text[])
     ON CONFLICT (account_id) DO UPDATE
        SET balance_minor = EXCLUDED.balance_minor, version = EXCLUDED.version, last_movement_id = EXCLUDED.last_movement_id
      WHERE balances.version < EXCLUDED.version`,
    [
      rows.map((r) => r.posting.account),
      rows.map((r) => r.ref.owner.type),
      rows.map((r) => (r.ref.owner.type === 'pot' ? r.ref.owner.potId : null)),
      rows.map((r) => (r.ref.owner.type === 'system' ? r.ref.owner.partition : null)),
      rows.map((r) => r.ref.kind),
      rows.map((r) => r.ref.asset),
      rows.map((r) => r.posting.balanceAfterMinor.toString()),
      rows.map((r) => r.posting.accountVersion.toString()),
      rows.map((r) => r.movementId),
    ],
  );
  if (result.rowCount !== rows.length) {
    throw new Error(`upsertBalances: ${rows.length - (result.rowCount ?? 0)} balances were newer than this commit (a stale writer)`);
  }
}

async function writePots(db: Queryable, items: readonly CommitItem[]): Promise<void> {
  const opened: { potId: string; memberId: string; partition: number; movementId: string; profile: string | null }[] = [];
  const closed: { potId: string; movementId: string }[] = [];
  const profiled: { potId: string; profile: string }[] = [];
  const rebalanced: { potId: string; date: string }[] = [];
  /** Holds placed and ended, in commit order. */
  const held: { potId: string; change: Extract<PotChange, { type: 'hold' | 'hold-end' }> }[] = [];
  for (const item of items) {
    const movement = movementOf(item);
    if (movement.potChange?.type === 'open') {
      opened.push({ potId: movement.potId, memberId: movement.potChange.memberId, partition: movement.partition, movementId: movement.movementId, profile: movement.potChange.profile ?? null });
    }
    if (movement.potChange?.type === 'close') closed.push({ potId: movement.potId, movementId: movement.movementId });
    if (movement.potChange?.type === 'profile') profiled.push({ potId: movement.potId, profile: movement.potChange.profile });
    if (movement.potChange?.type === 'rebalance') rebalanced.push({ potId: movement.potId, date: movement.potChange.date });
    if (movement.potChange?.type === 'hold' || movement.potChange?.type === 'hold-end') held.push({ potId: movement.potId, change: movement.potChange });
  }
  if (opened.length > 0) {
    await db.query(
      `INSERT INTO pots (pot_id, member_id, partition, status, opened_movement_id, risk_profile)
       SELECT p.pot_id, p.member_id, p.partition, 'open', p.movement_id, p.risk_profile
         FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[]) AS p(pot_id, member_id, partition, movement_id, risk_profile)`,
      [opened.map((p) => p.potId), opened.map((p) => p.memberId), opened.map((p) => p.partition), opened.map((p) => p.movementId), opened.map((p) => p.profile)],
    );
  }
  if (closed.length > 0) {
    const result = await db.query(
      `UPDATE pots SET status = 'closed', closed_movement_id = c.movement_id
         FROM unnest($1::text[], $2::text[]) AS c(pot_id, movement_id)
        WHERE pots.pot_id = c.pot_id AND pots.status = 'open'`,
      [closed.map((p) => p.potId), closed.map((p) => p.movementId)],
    );
    if (result.rowCount !== closed.length) throw new Error('writePots: a pot to close was not open');
  }
  // In commit order: a pot changed twice in one batch ends with its last change.
  for (const { potId, profile } of profiled) await db.query('UPDATE pots SET risk_profile = $2 WHERE pot_id = $1', [potId, profile]);
  for (const { potId, date } of rebalanced) await db.query('UPDATE pots SET rebalanced_on = $2::date WHERE pot_id = $1', [potId, date]);
  for (const { potId, change } of held) {
    if (change.type === 'hold') {
      const { holdId, payee, currency, amountMinor, expiresAt } = change;
      await db.query('UPDATE pots SET holds = holds || jsonb_build_object($2::text, $3::jsonb) WHERE pot_id = $1', [potId, holdId, JSON.stringify({ payee, currency, amountMinor, expiresAt })]);
    } else {
      await db.query('UPDATE pots SET holds = holds - $2::text WHERE pot_id = $1', [potId, change.holdId]);
    }
  }
}

/**
 * The order a movement changed was changed by someone else since the pot planned it (the aggregator
 * took an open order into a trade while a cancel was being planned). Retrying is the answer: the
 * batch is planned again from fresh state, and the cancel is then rejected. The code is Postgres's
 * serialization failure, so the shards treat it as transient.
 */
export class OrderConflictError extends Error {
  readonly code = '40001';
  constructor(readonly orderIds: readonly string[]) {
    super(`orders ${orderIds.join(', ')} changed since they were loaded; the batch is planned again`);
    this.name = 'OrderConflictError';
  }
}

/** Applies the movements' order changes, each guarded by the state it was planned from. */
async function writeOrders(db: Queryable, items: readonly CommitItem[]): Promise<void> {
  const changes = items.flatMap((item) => {
    const movement = movementOf(item);
    return movement.orderChange === undefined ? [] : [{ movement, change: movement.orderChange }];
  });
  if (changes.length === 0) return;
  const placed = changes.flatMap(({ movement, change }) => (change.type === 'place' ? [{ movement, change }] : []));
  if (placed.length > 0) {
    await db.query(
      `INSERT INTO orders (order_id, pot_id, member_id, partition, fund, currency, side, amount_minor, dealing_date, status,
                           placed_movement_id, last_movement_id, funding)
       SELECT o.order_id, o.pot_id, o.member_id, o.partition, o.fund, o.currency, o.side, o.amount_minor, o.dealing_date, 'open',
              o.movement_id, o.movement_id, o.funding
         FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::date[], $10::text[], $11::text[])
              AS o(order_id, pot_id, member_id, partition, fund, currency, side, amount_minor, dealing_date, movement_id, funding)`,
      [
        placed.map(({ change }) => change.orderId),
        placed.map(({ movement }) => movement.potId),
        placed.map(({ movement }) => movement.memberId),
        placed.map(({ movement }) => movement.partition),
        placed.map(({ change }) => change.fund),
        placed.map(({ change }) => change.currency),
        placed.map(({ change }) => change.side),
        placed.map(({ change }) => change.amountMinor),
        placed.map(({ change }) => change.dealingDate),
        placed.map(({ movement }) => movement.movementId),
        placed.map(({ change }) => change.funding ?? 'cash'),
      ],
    );
  }
  // In lifecycle order, so an order changed twice in one batch (allocated, then settled) is updated in turn.
  const cancels = changes.flatMap(({ movement, change }) => (change.type === 'cancel' ? [{ id: change.orderId, movementId: movement.movementId }] : []));
  await guardedUpdate(db, cancels, `UPDATE orders o SET status = 'cancelled', last_movement_id = c.movement_id
      FROM unnest($1::text[], $2::text[]) AS c(order_id, movement_id)
     WHERE o.order_id = c.order_id AND o.status = 'open'
    RETURNING o.order_id`, [cancels.map((c) => c.id), cancels.map((c) => c.movementId)]);
  const allocations = changes.flatMap(({ movement, change }) => (change.type === 'allocate' ? [{ change, id: change.orderId, movementId: movement.movementId }] : []));
  await guardedUpdate(db, allocations, `UPDATE orders o SET status = 'allocated', filled_minor = a.filled_minor, units_minor = a.units_minor,
           cash_minor = a.cash_minor, last_movement_id = a.movement_id
      FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[])
           AS a(order_id, movement_id, trade_id, filled_minor, units_minor, cash_minor)
     WHERE o.order_id = a.order_id AND o.status = 'aggregated' AND o.trade_id = a.trade_id
    RETURNING o.order_id`, [
    allocations.map((a) => a.id),
    allocations.map((a) => a.movementId),
    allocations.map((a) => a.change.tradeId),
    allocations.map((a) => a.change.filledMinor),
    allocations.map((a) => a.change.unitsMinor),
    allocations.map((a) => a.change.cashMinor),
  ]);
  const settlements = changes.flatMap(({ movement, change }) => (change.type === 'settle' ? [{ change, id: change.orderId, movementId: movement.movementId }] : []));
  await guardedUpdate(db, settlements, `UPDATE orders o SET status = 'settled', last_movement_id = s.movement_id
      FROM unnest($1::text[], $2::text[], $3::text[]) AS s(order_id, movement_id, trade_id)
     WHERE o.order_id = s.order_id AND o.status = 'allocated' AND o.trade_id = s.trade_id
    RETURNING o.order_id`, [settlements.map((s) => s.id), settlements.map((s) => s.movementId), settlements.map((s) => s.change.tradeId)]);
}

async function guardedUpdate(db: Queryable, wanted: readonly { id: string }[], sql: string, params: unknown[]): Promise<void> {
  if (wanted.length === 0) return;
  const { rows } = await db.query<{ order_id: string }>(sql, params);
  if (rows.length === wanted.length) return;
  const done = new Set(rows.map((row) => row.order_id));
  throw new OrderConflictError(wanted.map((w) => w.id).filter((id) => !done.has(id)));
}

interface OrderRow {
  order_id: string;
  pot_id: string;
  fund: string;
  currency: string;
  side: OrderSide;
  amount_minor: bigint;
  dealing_date: string;
  status: OrderStatus;
  trade_id: string | null;
  filled_minor: bigint | null;
  units_minor: bigint | null;
  cash_minor: bigint | null;
  funding: OrderFunding;
}

/** The orders by id, as they stand now (the aggregator's changes included). */
export async function loadOrders(db: Queryable, orderIds: readonly string[]): Promise<Map<string, OrderState>> {
  const orders = new Map<string, OrderState>();
  if (orderIds.length === 0) return orders;
  const { rows } = await db.query<OrderRow>(
    `SELECT order_id, pot_id, fund, currency, side, amount_minor, dealing_date::text AS dealing_date, status, trade_id,
            filled_minor, units_minor, cash_minor, funding
       FROM orders WHERE order_id = ANY($1::text[])`,
    [orderIds],
  );
  for (const row of rows) orders.set(row.order_id, orderOfRow(row));
  return orders;
}

export function orderOfRow(row: OrderRow): OrderState {
  return {
    orderId: row.order_id,
    potId: row.pot_id,
    fund: row.fund,
    currency: row.currency,
    side: row.side,
    amountMinor: row.amount_minor,
    dealingDate: row.dealing_date,
    status: row.status,
    ...(row.funding === 'proceeds' ? { funding: 'proceeds' as const } : {}),
    ...(row.trade_id === null ? {} : { tradeId: row.trade_id }),
    ...(row.filled_minor === null || row.units_minor === null || row.cash_minor === null
      ? {}
      : { allocation: { filledMinor: row.filled_minor, unitsMinor: row.units_minor, cashMinor: row.cash_minor } }),
  };
}

/**
 * Inserts the outcomes in item order and returns their outbox sequence numbers, in the same order. The
 * rows are inserted in item order so that the outbox follows commit order, but neither the order in
 * which Postgres hands out the identity values nor the order of RETURNING is promised: each seq is
 * matched to its item by commandId (unique within a commit), never by position.
 */
async function insertOutcomes(db: Queryable, items: readonly CommitItem[], assets: AssetCatalog): Promise<bigint[]> {
  const { rows } = await prepared(db, 'potledger-insert-outcomes')<{ command_id: string; seq: bigint }>(
    `INSERT INTO command_outcomes (command_id, fingerprint, process, member_id, pot_id, partition, status, movement_id,
                                   rejection_code, outcome, stream_seq, principal, source, produced_at)
     SELECT o.command_id, o.fingerprint, o.process, o.member_id, o.pot_id, o.partition, o.status, o.movement_id,
            o.rejection_code, o.outcome, o.stream_seq, o.principal, o.source, o.produced_at
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[], $8::text[],
                   $9::text[], $10::jsonb[], $11::bigint[], $12::text[], $13::text[], $14::timestamptz[])
            WITH ORDINALITY AS o(command_id, fingerprint, process, member_id, pot_id, partition, status, movement_id,
                                 rejection_code, outcome, stream_seq, principal, source, produced_at, ordinal)
      ORDER BY o.ordinal
     RETURNING command_id, seq`,
    [
      items.map((i) => i.command.commandId),
      items.map((i) => i.fingerprint),
      items.map((i) => storableText(i.command.process)),
      items.map((i) => i.command.memberId),
      items.map((i) => i.command.potId),
      items.map((i) => i.partition),
      items.map((i) => i.outcome.kind),
      items.map((i) => (i.outcome.kind === 'rejected' ? null : i.outcome.movement.movementId)),
      items.map((i) => (i.outcome.kind === 'rejected' ? i.outcome.code : null)),
      items.map((i) => {
        const detail = detailOf(i.outcome, assets);
        // jsonb refuses \u0000 (a NUL in a rejected payload's key, say): it is stored as U+FFFD.
        return detail === null ? null : JSON.stringify(detail).replaceAll('\\u0000', '\\ufffd');
      }),
      items.map((i) => (i.streamSeq === undefined ? null : i.streamSeq.toString())),
      items.map((i) => i.audit?.principal ?? null),
      items.map((i) => i.audit?.source ?? null),
      // A command the journal refused has its own values written no more than the rejection needs:
      // its producedAt may be what Postgres refused (an offset beyond ±15:59, say).
      items.map((i) => (i.outcome.kind === 'rejected' && i.outcome.code === RejectionCode.storageRefused ? null : i.command.producedAt)),
    ],
  );
  const seqByCommand = new Map(rows.map((row) => [row.command_id, row.seq]));
  return items.map((item) => {
    const seq = seqByCommand.get(item.command.commandId);
    if (seq === undefined) throw new Error(`insertOutcomes: no outbox sequence came back for command ${item.command.commandId}`);
    return seq;
  });
}
