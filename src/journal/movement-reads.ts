/** Reading committed movements back from the journal rows: heads, entries, and the reversals that name them. */
import type { Entry, LoadedMovement, Movement, OrderChange, PotChange } from '../ledger/index.js';
import type { Queryable } from './database.js';

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

/**
 * The most movement ids one query reads: as many as the shards' look-ups send at once (their coalescer
 * asks for at most 10,000 keys). Callers read a statement page, a batch's outcomes or the movements a
 * few commands name; a longer list is read in pages of this size, so no one query is unbounded.
 */
export const MOVEMENT_READ_PAGE_MAX = 10_000;

/** Reads committed movements with their entries, rebuilt from the journal rows. */
export async function readMovements(db: Queryable, movementIds: readonly string[]): Promise<Map<string, Movement>> {
  const movements = new Map<string, Movement>();
  for (let start = 0; start < movementIds.length; start += MOVEMENT_READ_PAGE_MAX) {
    const page = movementIds.slice(start, start + MOVEMENT_READ_PAGE_MAX);
    for (const [id, movement] of await readMovementPage(db, page)) movements.set(id, movement);
  }
  return movements;
}

async function readMovementPage(db: Queryable, movementIds: readonly string[]): Promise<Map<string, Movement>> {
  const movements = new Map<string, Movement>();
  if (movementIds.length === 0) return movements;
  const heads = await db.query<MovementRow>(
    `SELECT movement_id, command_id, process, process_version, member_id, pot_id, partition, effective_date::text AS effective_date,
            pot_change, order_change, reverses
       FROM movements WHERE movement_id = ANY($1::text[])`,
    [movementIds],
  );
  const sides = await db.query<EntrySideRow>(
    `SELECT movement_id, entry_index, side, account_id, asset, amount_minor
       FROM entries WHERE movement_id = ANY($1::text[]) ORDER BY movement_id, entry_index, side DESC`,
    [movementIds],
  );
  const entries = entriesByMovement(sides.rows);
  for (const row of heads.rows) movements.set(row.movement_id, movementOfRow(row, entries.get(row.movement_id) ?? []));
  return movements;
}

interface EntrySideRow {
  movement_id: string;
  entry_index: number;
  side: 'debit' | 'credit';
  account_id: string;
  asset: string;
  amount_minor: bigint;
}

/** Entries rebuilt from their two sides, per movement. */
function entriesByMovement(rows: readonly EntrySideRow[]): Map<string, Entry[]> {
  const entries = new Map<string, Entry[]>();
  for (const row of rows) {
    const list = entries.get(row.movement_id) ?? [];
    const entry = list[row.entry_index] ?? { debit: '', credit: '', asset: row.asset, amountMinor: row.amount_minor };
    list[row.entry_index] = row.side === 'debit' ? { ...entry, debit: row.account_id } : { ...entry, credit: row.account_id };
    entries.set(row.movement_id, list);
  }
  return entries;
}

function movementOfRow(row: MovementRow, entries: Entry[]): Movement {
  return {
    movementId: row.movement_id,
    commandId: row.command_id,
    process: row.process,
    processVersion: row.process_version,
    memberId: row.member_id,
    potId: row.pot_id,
    partition: row.partition,
    effectiveDate: row.effective_date,
    entries,
    ...(row.pot_change === null ? {} : { potChange: row.pot_change }),
    ...(row.order_change === null ? {} : { orderChange: row.order_change }),
    ...(row.reverses === null ? {} : { reverses: row.reverses }),
  };
}

/** Loads committed movements by id, each with the id of the movement that reversed it, if any. */
export async function loadMovements(db: Queryable, movementIds: readonly string[]): Promise<Map<string, LoadedMovement>> {
  const loaded = new Map<string, LoadedMovement>();
  for (let start = 0; start < movementIds.length; start += MOVEMENT_READ_PAGE_MAX) {
    const page = movementIds.slice(start, start + MOVEMENT_READ_PAGE_MAX);
    const movements = await readMovementPage(db, page);
    const reversals = await db.query<{ movement_id: string; reverses: string }>(
      'SELECT movement_id, reverses FROM movements WHERE reverses = ANY($1::text[])',
      [page],
    );
    const reversedBy = new Map(reversals.rows.map((row) => [row.reverses, row.movement_id]));
    for (const [id, movement] of movements) {
      const by = reversedBy.get(id);
      loaded.set(id, by === undefined ? { movement } : { movement, reversedBy: by });
    }
  }
  return loaded;
}
