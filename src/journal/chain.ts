import { createHash } from 'node:crypto';
import type { Movement } from '../ledger/index.js';
import { prepared, type Queryable } from './database.js';

/**
 * Tamper evidence: each pot's movements form a hash chain. A movement's hash is the SHA-256 of the
 * previous movement's hash (empty for a pot's first) and of the movement's identity and entries, in
 * one canonical text that Postgres can rebuild from the rows alone (`CHAIN_TEXT_SQL`, which `verify`
 * uses): so a row changed behind the service's back — an amount, an account, a movement moved to
 * another pot, one deleted from the middle — no longer hashes to what the next movement names.
 *
 *   <previous hash>
 *   <movement id>\n<command id>\n<process>\n<member id>\n<pot id>\n<partition>\n<effective date>
 *   <entry index>:<debit account>><credit account>:<asset>:<amount in minor units>   (one line each)
 */
type ChainedMovement = Pick<Movement, 'movementId' | 'commandId' | 'process' | 'memberId' | 'potId' | 'partition' | 'effectiveDate' | 'entries'>;

export function movementText(previousHash: string, movement: ChainedMovement): string {
  const head = [previousHash, movement.movementId, movement.commandId, movement.process, movement.memberId, movement.potId, String(movement.partition), movement.effectiveDate];
  const entries = movement.entries.map((entry, index) => `${index}:${entry.debit}>${entry.credit}:${entry.asset}:${entry.amountMinor.toString()}`);
  return [...head, entries.join('\n')].join('\n');
}

export function movementHash(previousHash: string, movement: Parameters<typeof movementText>[1]): string {
  return createHash('sha256').update(movementText(previousHash, movement), 'utf8').digest('hex');
}

/** The hash of each pot's latest movement (pots without one are absent). */
export async function latestHashes(db: Queryable, potIds: readonly string[]): Promise<Map<string, string>> {
  if (potIds.length === 0) return new Map();
  // One backward probe of movements_pot (pot_id, seq) per pot: the cost does not grow with a pot's history.
  const { rows } = await prepared(db, 'potledger-latest-hashes')<{ pot_id: string; hash: string | null }>(
    `SELECT p.pot_id, (SELECT m.hash FROM movements m WHERE m.pot_id = p.pot_id ORDER BY m.seq DESC LIMIT 1) AS hash
       FROM unnest($1::text[]) AS p(pot_id)`,
    [potIds],
  );
  return new Map(rows.flatMap((row) => (row.hash === null ? [] : [[row.pot_id, row.hash] as const])));
}

/** Chains movements in commit order onto the given latest hashes (which it advances). */
export function chain(movements: readonly Parameters<typeof movementText>[1][], latest: Map<string, string>): { previous: string; hash: string }[] {
  return movements.map((movement) => {
    const previous = latest.get(movement.potId) ?? '';
    const hash = movementHash(previous, movement);
    latest.set(movement.potId, hash);
    return { previous, hash };
  });
}

/** The same canonical text, built in SQL from a movement row `m` (and its entries), after `prev`. */
export const CHAIN_TEXT_SQL = `concat_ws(E'\\n', prev, m.movement_id, m.command_id, m.process, m.member_id, m.pot_id, m.partition::text, m.effective_date::text,
  coalesce((SELECT string_agg(format('%s:%s>%s:%s:%s', d.entry_index, d.account_id, c.account_id, d.asset, d.amount_minor), E'\\n' ORDER BY d.entry_index)
              FROM entries d JOIN entries c ON c.movement_id = d.movement_id AND c.entry_index = d.entry_index AND c.side = 'credit'
             WHERE d.movement_id = m.movement_id AND d.side = 'debit'), ''))`;
