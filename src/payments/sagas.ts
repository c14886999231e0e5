import { defineSaga, refusalReason, type CommandOutcome, type Next, type PotRef, type Saga } from '../sagas/index.js';
import type { PaymentData } from './payment.js';

/**
 * The payment sagas, one per kind of payment: each moves money the same way (a debit on the payer into
 * its partition's clearing, a credit on the payee out of its partition's clearing, or a refund back to
 * the payer when the payee refuses) and differs only in the processes that do it (a hold's post debits
 * with `hold.post`). A payment's row in `payments` is its saga's row: its `status` is the state, its
 * `kind` the saga's name. Ids are the payments desk's of old: `payment:<id>:debit|credit|refund`.
 *
 *   requested  → debit on the payer   → review (a rule flagged it) or in-flight; rejected when refused
 *   review     → paused for an operator: released → in-flight; rejected → refunding
 *   in-flight  → credit on the payee  → completed, or refunding when refused
 *   refunding  → refund on the payer  → refunded; refused (the payer's pot closed since): it stays, the
 *                amount in clearing, for an operator (never dropped)
 */
type Money = { amount: string; currency: string; exchange?: { fromCurrency: string; rate: string } };

function money(payment: PaymentData): Money {
  const { amount, currency, exchange } = payment;
  return exchange === undefined ? { amount, currency } : { amount, currency, exchange: { fromCurrency: exchange.fromCurrency, rate: exchange.rate } };
}

/** The pool a pool kind's payment is for (its detail). */
function poolOf(payment: PaymentData): string {
  const poolId = payment.detail.poolId;
  if (typeof poolId !== 'string') throw new Error(`payment ${payment.paymentId} (${payment.kind}) names no pool`);
  return poolId;
}

function holdOf(payment: PaymentData): string {
  if (payment.holdId === undefined) throw new Error(`payment ${payment.paymentId} (${payment.kind}) names no hold`);
  return payment.holdId;
}

const commandId = ({ id, step }: { readonly id: string; readonly step: string }): string => `payment:${id}:${step}`;
const payer = (payment: PaymentData): PotRef => payment.payer;
const payee = (payment: PaymentData): PotRef => payment.payee;

/** After the debit: review when a rule flagged it and no operator has decided yet, else in flight; rejected when refused. */
function afterDebit(outcome: CommandOutcome, payment: PaymentData): Next<'review' | 'in-flight' | 'rejected'> {
  if (outcome.kind !== 'applied') return { to: 'rejected', reason: refusalReason(outcome) };
  return { to: payment.review !== undefined && payment.review.decision === undefined ? 'review' : 'in-flight' };
}

const afterCredit = (outcome: CommandOutcome): Next<'completed' | 'refunding'> =>
  outcome.kind === 'applied' ? { to: 'completed' } : { to: 'refunding', reason: refusalReason(outcome) };

/** The payer's pot refused its own money back (closed since): the payment stays `refunding`, the amount in clearing. */
const afterRefund = (outcome: CommandOutcome): Next<'refunded'> =>
  outcome.kind === 'applied' ? { to: 'refunded' } : { stay: `a payment refund was refused; the amount stays in clearing: ${refusalReason(outcome)}` };

const review = {
  paused: {
    decisions: { released: 'in-flight', rejected: 'refunding' },
    reason: (decision: { readonly decision: string; readonly by: string; readonly note?: string | undefined }) =>
      decision.decision === 'rejected' ? `rejected in review by ${decision.by}${decision.note === undefined ? '' : `: ${decision.note}`}` : undefined,
  },
  describe: 'a review rule flagged it; debited, its money waits in clearing until an operator releases or rejects it',
} as const;

const final = { final: true } as const;

const credit = {
  step: 'credit',
  process: 'payment.credit',
  command: (payment: PaymentData) => ({ pot: payee(payment), payload: { paymentId: payment.paymentId, payer: payment.payer, amount: payment.amount, currency: payment.currency } }),
  to: ['completed', 'refunding'],
  on: afterCredit,
} as const;

const refund = {
  step: 'refund',
  process: 'payment.refund',
  command: (payment: PaymentData) => ({
    pot: payer(payment), payload: { paymentId: payment.paymentId, ...money(payment), reason: payment.reason ?? 'the payee refused the payment' },
  }),
  to: ['refunded'],
  on: afterRefund,
} as const;

const debitTo = ['review', 'in-flight', 'rejected'] as const;

const sendDebit = {
  step: 'debit',
  process: 'payment.send',
  command: (payment: PaymentData) => ({ pot: payer(payment), payload: { paymentId: payment.paymentId, payee: payment.payee, ...money(payment) } }),
  to: debitTo,
  on: afterDebit,
} as const;

const party = (memberId: string) => ({ memberId, potId: `${memberId}-pot` });
/** A payment as the examples of the property test start it; each kind adjusts it. */
const example: PaymentData = {
  paymentId: 'example-1', kind: 'payment', detail: {}, payer: party('payer'), payee: party('payee'), amount: '12.34', currency: 'GBP',
  createdAt: '2026-01-05T09:00:00.000Z', updatedAt: '2026-01-05T09:00:00.000Z',
};
const reviewed: PaymentData = { ...example, paymentId: 'example-2', review: { reason: 'over the review limit of 10.00 GBP' } };

export const paymentSaga = defineSaga<PaymentData>()({
  name: 'payment',
  describe: 'A payment from one pot to another (POST /payments), in one currency or converted at the day\'s rate',
  commandId,
  states: { requested: sendDebit, 'in-flight': credit, review, completed: final, refunding: refund, refunded: final, rejected: final },
  examples: [
    example,
    reviewed,
    { ...example, paymentId: 'example-3', amount: '10.00', currency: 'EUR', exchange: { fromCurrency: 'GBP', rate: '1.25', rateDay: '2026-01-05', cost: '8.00' } },
  ],
});

export const holdSaga = defineSaga<PaymentData>()({
  name: 'hold',
  describe: "A hold's post, in full or in part, as a payment to the hold's payee: its debit is the hold's post",
  commandId,
  states: {
    requested: {
      step: 'debit',
      process: 'hold.post',
      command: (payment: PaymentData) => ({ pot: payer(payment), payload: { holdId: holdOf(payment), paymentId: payment.paymentId, amount: payment.amount } }),
      to: debitTo,
      on: afterDebit,
    },
    'in-flight': credit, review, completed: final, refunding: refund, refunded: final, rejected: final,
  },
  examples: [{ ...example, kind: 'hold', holdId: 'hold-1' }],
});

export const subscriptionSaga = defineSaga<PaymentData>()({
  name: 'subscription',
  describe: "An investor (payer) subscribes to a pool (payee: the pool's pot): units issued with the debit",
  commandId,
  states: {
    requested: {
      step: 'debit',
      process: 'pool.subscribe',
      command: (payment: PaymentData) => ({
        pot: payer(payment), payload: { paymentId: payment.paymentId, poolId: poolOf(payment), amount: payment.amount, currency: payment.currency },
      }),
      to: debitTo,
      on: afterDebit,
    },
    'in-flight': credit,
    review,
    completed: final,
    refunding: {
      step: 'refund',
      process: 'pool.subscription-refund',
      command: (payment: PaymentData) => ({
        pot: payer(payment),
        payload: {
          paymentId: payment.paymentId, poolId: poolOf(payment), amount: payment.amount, currency: payment.currency, reason: payment.reason ?? 'the pool refused the subscription',
        },
      }),
      to: ['refunded'],
      on: afterRefund,
    },
    refunded: final,
    rejected: final,
  },
  examples: [{ ...example, kind: 'subscription', detail: { poolId: 'FUND1' }, payee: { memberId: 'pool-FUND1', potId: 'pool-FUND1' } }],
});

export const redemptionSaga = defineSaga<PaymentData>()({
  name: 'redemption',
  describe: "The pool's pot (payer) pays an investor (payee) for units, cancelled with the credit",
  commandId,
  states: {
    requested: sendDebit,
    'in-flight': {
      step: 'credit',
      process: 'pool.redeem',
      command: (payment: PaymentData) => ({
        pot: payee(payment), payload: { paymentId: payment.paymentId, poolId: poolOf(payment), amount: payment.amount, currency: payment.currency, payer: payment.payer },
      }),
      to: ['completed', 'refunding'],
      on: afterCredit,
    },
    review,
    completed: final,
    refunding: refund,
    refunded: final,
    rejected: final,
  },
  examples: [{ ...example, kind: 'redemption', detail: { poolId: 'FUND1' }, payer: { memberId: 'pool-FUND1', potId: 'pool-FUND1' } }],
});

export const distributionSaga = defineSaga<PaymentData>()({
  name: 'distribution',
  describe: "One investor's share of a pool's distribution, recorded in flight: pool.distribute took every share into clearing in one movement",
  commandId,
  states: {
    // Never recorded here: the payments of a distribution start in flight (PaymentsDesk.recordInFlight).
    requested: { ...sendDebit, command: () => undefined, describe: 'sends nothing: the shares are recorded in flight, debited together by pool.distribute' },
    'in-flight': credit,
    review,
    completed: final,
    refunding: refund,
    refunded: final,
    rejected: final,
  },
  startsIn: () => 'in-flight',
  examples: [{ ...example, kind: 'distribution', detail: { poolId: 'FUND1', distributionId: 'D1' }, payer: { memberId: 'pool-FUND1', potId: 'pool-FUND1' } }],
});

/** A payment's status: the state of its saga, as the payment saga declares them (every kind has the same). */
export type PaymentStatus = (typeof paymentSaga.states)[number];
export const PAYMENT_STATUSES: readonly PaymentStatus[] = paymentSaga.states;
/** A payment as the desk answers it: its data and its saga's state. */
export type Payment = PaymentData & { readonly status: PaymentStatus };

/** Every payment saga, by kind (the `kind` column). Adding a kind is adding a saga here (and its processes). */
export const PAYMENT_SAGAS: readonly Saga<PaymentStatus, PaymentData>[] = [paymentSaga, holdSaga, subscriptionSaga, redemptionSaga, distributionSaga];

export function sagaKind(name: string): Saga<PaymentStatus, PaymentData> {
  const saga = PAYMENT_SAGAS.find((candidate) => candidate.name === name);
  if (saga === undefined) throw new Error(`no saga kind ${name}`);
  return saga;
}
