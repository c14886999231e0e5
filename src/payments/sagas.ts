import type { Payment } from './payment.js';

/**
 * Which ledger command each step of a payment's saga sends, per kind of payment. Every kind moves money
 * the same way (src/payments/desk.ts): a debit on the payer into its partition's clearing, a credit on
 * the payee out of its partition's clearing, or a refund back to the payer when the payee refuses; the
 * kinds differ only in the processes that do it (a hold's post debits with `hold.post`).
 */
export interface SagaStep {
  readonly process: string;
  /** The pot it runs on. */
  readonly party: 'payer' | 'payee';
  readonly payload: Readonly<Record<string, unknown>>;
}

export interface SagaKind {
  /**
   * The payer's step into clearing. Absent for a kind whose payments are recorded in flight, the money
   * taken into clearing beforehand by one movement for many of them.
   */
  readonly debit?: (payment: Payment) => SagaStep;
  readonly credit: (payment: Payment) => SagaStep;
  readonly refund: (payment: Payment) => SagaStep;
}

function money(payment: Payment): { amount: string; currency: string; exchange?: { fromCurrency: string; rate: string } } {
  const { amount, currency, exchange } = payment;
  return exchange === undefined ? { amount, currency } : { amount, currency, exchange: { fromCurrency: exchange.fromCurrency, rate: exchange.rate } };
}

const credit = (payment: Payment): SagaStep => ({
  process: 'payment.credit',
  party: 'payee',
  payload: { paymentId: payment.paymentId, payer: payment.payer, amount: payment.amount, currency: payment.currency },
});

const refund = (payment: Payment): SagaStep => ({
  process: 'payment.refund',
  party: 'payer',
  payload: { paymentId: payment.paymentId, ...money(payment), reason: payment.reason ?? 'the payee refused the payment' },
});

/** The pool a pool kind's payment is for (its detail). */
function poolOf(payment: Payment): string {
  const poolId = payment.detail.poolId;
  if (typeof poolId !== 'string') throw new Error(`payment ${payment.paymentId} (${payment.kind}) names no pool`);
  return poolId;
}

const send = (payment: Payment): SagaStep => ({ process: 'payment.send', party: 'payer', payload: { paymentId: payment.paymentId, payee: payment.payee, ...money(payment) } });

/** The kinds of payment the desk drives. Adding one is adding an entry here (and its processes). */
export const SAGA_KINDS: Readonly<Record<string, SagaKind>> = {
  payment: { debit: send, credit, refund },
  hold: {
    debit: (payment) => ({ process: 'hold.post', party: 'payer', payload: { holdId: payment.holdId, paymentId: payment.paymentId, amount: payment.amount } }),
    credit,
    refund,
  },
  /** An investor (payer) subscribes to a pool (payee: the pool's pot): units issued with the debit. */
  subscription: {
    debit: (payment) => ({ process: 'pool.subscribe', party: 'payer', payload: { paymentId: payment.paymentId, poolId: poolOf(payment), amount: payment.amount, currency: payment.currency } }),
    credit,
    refund: (payment) => ({
      process: 'pool.subscription-refund',
      party: 'payer',
      payload: { paymentId: payment.paymentId, poolId: poolOf(payment), amount: payment.amount, currency: payment.currency, reason: payment.reason ?? 'the pool refused the subscription' },
    }),
  },
  /** The pool's pot (payer) pays an investor (payee) for units, cancelled with the credit. */
  redemption: {
    debit: send,
    credit: (payment) => ({ process: 'pool.redeem', party: 'payee', payload: { paymentId: payment.paymentId, poolId: poolOf(payment), amount: payment.amount, currency: payment.currency, payer: payment.payer } }),
    refund,
  },
  /** One investor's share of a distribution, debited from the pool's pot with the others by pool.distribute. */
  distribution: { credit, refund },
};

export function sagaKind(name: string): SagaKind {
  const kind = SAGA_KINDS[name];
  if (kind === undefined) throw new Error(`no saga kind ${name}`);
  return kind;
}
