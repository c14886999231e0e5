import type { Queryable } from '../journal/database.js';
import { formatAmount, type AssetCatalog } from '../ledger/index.js';
import { scaleOf } from './payment.js';

/** An open hold as its pot keeps it (`pots.holds`), with the pot that holds it. */
export interface OpenHold {
  readonly payer: { readonly memberId: string; readonly potId: string };
  readonly payee: { readonly memberId: string; readonly potId: string };
  readonly currency: string;
  readonly amountMinor: bigint;
  readonly expiresAt: string;
}

/** A hold's state: open (with what it holds), or how it ended. */
export interface HoldView {
  readonly holdId: string;
  readonly status: 'open' | 'posted' | 'voided' | 'expired';
  readonly payer?: { readonly memberId: string; readonly potId: string };
  readonly payee?: { readonly memberId: string; readonly potId: string };
  readonly amount?: string;
  readonly currency?: string;
  readonly expiresAt?: string;
  /** The payment that posted it. */
  readonly paymentId?: string;
}

/** The open hold `id`, found through the pots' open holds (an index over the pots that hold any). */
export async function findOpenHold(db: Queryable, id: string): Promise<OpenHold | undefined> {
  type StoredHold = { payee: { memberId: string; potId: string }; currency: string; amountMinor: string; expiresAt: string };
  const { rows } = await db.query<{ pot_id: string; member_id: string; hold: StoredHold }>(
    "SELECT pot_id, member_id, holds -> $1::text AS hold FROM pots WHERE holds <> '{}'::jsonb AND holds ? $1::text",
    [id],
  );
  const row = rows[0];
  if (row === undefined) return undefined;
  const { payee, currency, amountMinor, expiresAt } = row.hold;
  return { payer: { memberId: row.member_id, potId: row.pot_id }, payee, currency, amountMinor: BigInt(amountMinor), expiresAt };
}

/** A hold's state: open from its pot, ended from the outcomes of the commands that ended it. */
export async function readHold(db: Queryable, assets: AssetCatalog, id: string): Promise<HoldView | undefined> {
  const open = await findOpenHold(db, id);
  if (open !== undefined) {
    const amount = formatAmount(open.amountMinor, scaleOf(assets, open.currency, `hold ${id}`));
    return { holdId: id, status: 'open', payer: open.payer, payee: open.payee, amount, currency: open.currency, expiresAt: open.expiresAt };
  }
  const { rows } = await db.query<{ command_id: string; status: string }>('SELECT command_id, status FROM command_outcomes WHERE command_id = ANY($1::text[])', [
    [`hold:${id}:place`, `hold:${id}:void`, `hold:${id}:expire`],
  ]);
  const applied = new Set(rows.filter((r) => r.status === 'applied').map((r) => r.command_id));
  if (!applied.has(`hold:${id}:place`)) return undefined;
  if (applied.has(`hold:${id}:void`)) return { holdId: id, status: 'voided' };
  if (applied.has(`hold:${id}:expire`)) return { holdId: id, status: 'expired' };
  const posted = await db.query<{ payment_id: string }>("SELECT payment_id FROM payments WHERE hold_id = $1 AND status <> 'rejected' ORDER BY created_at LIMIT 1", [id]);
  return { holdId: id, status: 'posted', ...(posted.rows[0] === undefined ? {} : { paymentId: posted.rows[0].payment_id }) };
}

/**
 * The most expired holds one sweep expires (the rest are expired by the next sweep): each is a command
 * waited for in turn, and a sweep runs every few seconds.
 */
export const HOLDS_EXPIRED_PER_SWEEP_MAX = 1000;

/** Open holds whose time has passed by `now`, with the pot that holds them, by pot then hold id. */
export async function expiredHolds(db: Queryable, now: Date): Promise<{ readonly holdId: string; readonly pot: { readonly memberId: string; readonly potId: string } }[]> {
  const { rows } = await db.query<{ pot_id: string; member_id: string; hold_id: string }>(
    `SELECT p.pot_id, p.member_id, h.key AS hold_id FROM pots p, jsonb_each(p.holds) h
      WHERE p.holds <> '{}'::jsonb AND (h.value->>'expiresAt')::timestamptz <= $1 ORDER BY p.pot_id, h.key LIMIT $2`,
    [now, HOLDS_EXPIRED_PER_SWEEP_MAX],
  );
  return rows.map((row) => ({ holdId: row.hold_id, pot: { memberId: row.member_id, potId: row.pot_id } }));
}
