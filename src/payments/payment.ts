import type { PaymentRow } from '../journal/sagas.js';
import { formatAmount, type AssetCatalog } from '../ledger/index.js';
import type { PricedExchange } from './rates.js';

/**
 * What a payment is: its request, its kind, what its saga needs (the payments desk, src/payments/desk.ts,
 * drives it; its states are its saga's, src/payments/sagas.ts).
 */

/** A payment as asked: from one pot to another, an amount of a currency. */
export interface PaymentRequest {
  readonly paymentId: string;
  readonly payer: { readonly memberId: string; readonly potId: string };
  readonly payee: { readonly memberId: string; readonly potId: string };
  readonly amount: string;
  readonly currency: string;
  /** The payer pays in this currency, converted at the day's rate (a cross-currency payment). */
  readonly fromCurrency?: string | undefined;
}

/** A cross-currency payment's exchange, fixed when the payment was recorded: the rate and what the payer paid. */
export type PaymentExchange = Omit<PricedExchange, 'costMinor'>;

/** Why a payment was held for review, and what an operator decided. */
export interface PaymentReview {
  readonly reason: string;
  readonly decision?: 'released' | 'rejected';
  readonly decidedBy?: string;
  readonly decidedAt?: string;
  readonly note?: string;
}

/** A payment without its state: a payment saga's data (its row in `payments`, the status aside). */
export interface PaymentData extends Omit<PaymentRequest, 'fromCurrency'> {
  /** Which saga it is (src/payments/sagas.ts): a payment, a hold's post, … */
  readonly kind: string;
  /** What its kind needs to know beyond the parties and the amount. */
  readonly detail: Readonly<Record<string, unknown>>;
  /** The hold this payment posts, if it is a hold's post. */
  readonly holdId?: string;
  readonly exchange?: PaymentExchange;
  readonly review?: PaymentReview;
  /** Why it was rejected or refunded. */
  readonly reason?: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** A payment recorded in flight: its money is in the payer partition's clearing already (one movement for many). */
export interface InFlightPayment {
  readonly paymentId: string;
  /** The command whose movement took this payment's money into clearing (verify counts it as debited once that applied). */
  readonly debitedBy: string;
  readonly kind: string;
  readonly detail: Readonly<Record<string, unknown>>;
  readonly payer: { readonly memberId: string; readonly potId: string };
  readonly payee: { readonly memberId: string; readonly potId: string };
  readonly amountMinor: bigint;
  readonly currency: string;
}


/** The scale of a currency (or any asset) the catalogue knows; an unknown one is a bug of the caller's data. */
export function scaleOf(assets: AssetCatalog, code: string, of: string): number {
  const scale = assets.find(code)?.scale;
  if (scale === undefined) throw new Error(`${of}: unknown currency ${code}`);
  return scale;
}

/** A payment's row read as its saga's data (its amounts formatted with the catalogue's scales). */
export function paymentDataOf(row: PaymentRow, assets: AssetCatalog): PaymentData {
  const of = `payment ${row.payment_id}`;
  return {
    paymentId: row.payment_id,
    kind: row.kind,
    detail: row.detail,
    payer: { memberId: row.payer_member, potId: row.payer_pot },
    payee: { memberId: row.payee_member, potId: row.payee_pot },
    amount: formatAmount(row.amount_minor, scaleOf(assets, row.currency, of)),
    currency: row.currency,
    ...(row.hold_id === null ? {} : { holdId: row.hold_id }),
    ...(row.from_currency === null || row.rate === null || row.rate_day === null || row.cost_minor === null
      ? {}
      : { exchange: { fromCurrency: row.from_currency, rate: row.rate, rateDay: row.rate_day, cost: formatAmount(row.cost_minor, scaleOf(assets, row.from_currency, of)) } }),
    ...(row.review_reason === null ? {} : { review: reviewOf(row.review_reason, row) }),
    ...(row.reason === null ? {} : { reason: row.reason }),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

function reviewOf(reason: string, row: PaymentRow): PaymentReview {
  return {
    reason,
    ...(row.review_decision === null ? {} : { decision: row.review_decision }),
    ...(row.reviewed_by === null ? {} : { decidedBy: row.reviewed_by }),
    ...(row.reviewed_at === null ? {} : { decidedAt: row.reviewed_at.toISOString() }),
    ...(row.review_note === null ? {} : { note: row.review_note }),
  };
}
