/** Outcome look-ups: the recorded outcome of a command (the idempotency record) and the partition's outbox, rebuilt with their movements. */
import {
  movementToWire,
  outcomeFromWire,
  outcomeToWire,
  reject,
  type AssetCatalog,
  type Movement,
  type Outcome,
  type RejectionCode,
  type WireMovementDraft,
} from '../ledger/index.js';
import { prepared, type Queryable } from './database.js';
import { readMovements } from './movement-reads.js';

export interface StoredOutcome {
  readonly commandId: string;
  readonly fingerprint: string;
  readonly outcome: Outcome;
  readonly recordedAt: string;
  /** The outbox order of the outcome. */
  readonly seq: bigint;
}

/** What `command_outcomes.outcome` holds: only what the movement tables cannot give back. */
export type StoredDetail =
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

/**
 * The most outcomes one query reads: as many commandIds as the shards' look-ups send at once (their
 * coalescer asks for at most 10,000 keys); a longer list is read in pages of this size, and an outbox
 * page may not ask for more.
 */
export const OUTCOME_READ_PAGE_MAX = 10_000;

/** The recorded outcomes of these commandIds (the idempotency record). */
export async function findOutcomes(db: Queryable, commandIds: readonly string[], assets: AssetCatalog): Promise<Map<string, StoredOutcome>> {
  if (commandIds.length <= OUTCOME_READ_PAGE_MAX) return findOutcomePage(db, commandIds, assets);
  const found = new Map<string, StoredOutcome>();
  for (let start = 0; start < commandIds.length; start += OUTCOME_READ_PAGE_MAX) {
    for (const [id, stored] of await findOutcomePage(db, commandIds.slice(start, start + OUTCOME_READ_PAGE_MAX), assets)) found.set(id, stored);
  }
  return found;
}

async function findOutcomePage(db: Queryable, commandIds: readonly string[], assets: AssetCatalog): Promise<Map<string, StoredOutcome>> {
  if (commandIds.length === 0) return new Map();
  const { rows } = await prepared(db, 'potledger-find-outcomes')<OutcomeRow>(`SELECT ${OUTCOME_COLUMNS} FROM command_outcomes WHERE command_id = ANY($1::text[])`, [commandIds]);
  return composeOutcomes(db, rows, assets);
}

/** Outcomes of the partition after `afterSeq` (the event outbox), oldest first, at most `limit` (≤ OUTCOME_READ_PAGE_MAX). */
export async function outcomesAfter(db: Queryable, partition: number, afterSeq: bigint, limit: number, assets: AssetCatalog): Promise<StoredOutcome[]> {
  if (!Number.isInteger(limit) || limit < 1 || limit > OUTCOME_READ_PAGE_MAX) throw new RangeError(`outcomesAfter: the limit must be from 1 to ${OUTCOME_READ_PAGE_MAX}`);
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

/** What an outcome stores in `command_outcomes.outcome`. */
export function storedDetailOf(outcome: Outcome, assets: AssetCatalog): StoredDetail {
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
