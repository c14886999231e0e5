import type { PricedExchange } from './rates.js';

/** What a payment is: its request, its state, its kind (the payments desk, src/payments/desk.ts, drives it). */
export type PaymentStatus = 'requested' | 'in-flight' | 'review' | 'completed' | 'refunding' | 'refunded' | 'rejected';
export const PAYMENT_STATUSES: readonly PaymentStatus[] = ['requested', 'in-flight', 'review', 'completed', 'refunding', 'refunded', 'rejected'];

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

export interface Payment extends Omit<PaymentRequest, 'fromCurrency'> {
  /** Which saga it is (src/payments/sagas.ts): a payment, a hold's post, … */
  readonly kind: string;
  /** What its kind needs to know beyond the parties and the amount. */
  readonly detail: Readonly<Record<string, unknown>>;
  /** The hold this payment posts, if it is a hold's post. */
  readonly holdId?: string;
  readonly exchange?: PaymentExchange;
  readonly review?: PaymentReview;
  readonly status: PaymentStatus;
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

