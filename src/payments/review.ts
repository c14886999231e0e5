import type pg from 'pg';
import { formatAmount, type AssetCatalog } from '../ledger/index.js';
import { scaleOf } from './payment.js';

/**
 * The fraud rules hook: rules that hold a payment for an operator's review instead of completing it.
 * A flagged payment is still debited (its money waits in clearing, out of the payer's reach), then
 * waits in `review` until an operator releases it (the payee is credited) or rejects it (the payer is
 * refunded). Configured with PAYMENT_REVIEW_OVER and PAYMENT_REVIEW_OPEN_ALERTS (src/config).
 */
export interface ReviewRules {
  /** A payment strictly over the limit of its currency (or, cross-currency, a cost over the limit of the payer's currency). */
  readonly overMinor: ReadonlyMap<string, bigint>;
  /** A payment from a pot with an alert not yet acknowledged. */
  readonly openAlerts: boolean;
}

export interface ReviewedPayment {
  readonly payer: { readonly potId: string };
  readonly currency: string;
  readonly amountMinor: bigint;
  readonly cost?: { readonly fromCurrency: string; readonly costMinor: bigint };
}

/** The rules as configured (src/config), or undefined when none is set. */
export function reviewRules(config: { readonly PAYMENT_REVIEW_OVER: ReadonlyMap<string, bigint>; readonly PAYMENT_REVIEW_OPEN_ALERTS: boolean }): ReviewRules | undefined {
  if (config.PAYMENT_REVIEW_OVER.size === 0 && !config.PAYMENT_REVIEW_OPEN_ALERTS) return undefined;
  return { overMinor: config.PAYMENT_REVIEW_OVER, openAlerts: config.PAYMENT_REVIEW_OPEN_ALERTS };
}

/** Why the rules hold this payment for review, or undefined when none does. */
export async function reviewReason(db: pg.Pool, assets: AssetCatalog, rules: ReviewRules | undefined, payment: ReviewedPayment): Promise<string | undefined> {
  if (rules === undefined) return undefined;
  const reasons: string[] = [];
  const over = (currency: string, minor: bigint): void => {
    const limit = rules.overMinor.get(currency);
    if (limit !== undefined && minor > limit) reasons.push(`over the review limit of ${formatAmount(limit, scaleOf(assets, currency, 'review'))} ${currency}`);
  };
  over(payment.currency, payment.amountMinor);
  if (payment.cost !== undefined) over(payment.cost.fromCurrency, payment.cost.costMinor);
  if (rules.openAlerts) {
    const { rows } = await db.query<{ alert_id: string }>('SELECT alert_id FROM alerts WHERE pot_id = $1 AND acknowledged_at IS NULL ORDER BY seq LIMIT 1', [payment.payer.potId]);
    const alert = rows[0];
    if (alert !== undefined) reasons.push(`the payer's pot has an open alert (${alert.alert_id})`);
  }
  return reasons.length === 0 ? undefined : reasons.join('; ');
}
