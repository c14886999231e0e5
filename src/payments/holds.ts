import type { Queryable } from '../journal/database.js';
import { formatAmount, type AssetCatalog } from '../ledger/index.js';

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
  const { rows } = await db.query<{ pot_id: string; member_id: string; hold: { payee: { memberId: string; potId: string }; currency: string; amountMinor: string; expiresAt: string } }>(
    "SELECT pot_id, member_id, holds -> $1::text AS hold FROM pots WHERE holds <> '{}'::jsonb AND holds ? $1::text",
    [id],
  );
  const row = rows[0];
  if (row === undefined) return undefined;
  return { payer: { memberId: row.member_id, potId: row.pot_id }, payee: row.hold.payee, currency: row.hold.currency, amountMinor: BigInt(row.hold.amountMinor), expiresAt: row.hold.expiresAt };
}

/** A hold's state: open from its pot, ended from the outcomes of the commands that ended it. */
export async function readHold(db: Queryable, assets: AssetCatalog, id: string): Promise<HoldView | undefined> {
  const open = await findOpenHold(db, id);
  if (open !== undefined) {
    const scale = assets.find(open.currency)?.scale;
    if (scale === undefined) throw new Error(`hold ${id}: unknown currency ${open.currency}`);
    return { holdId: id, status: 'open', payer: open.payer, payee: open.payee, amount: formatAmount(open.amountMinor, scale), currency: open.currency, expiresAt: open.expiresAt };
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
