import type pg from 'pg';
import type { Registry } from 'prom-client';
import { insertPayment, insertPaymentsInFlight, listPaymentRows, paymentSagaStore, readPaymentRow, type PaymentRow } from '../journal/sagas.js';
import { formatAmount, parseAmount, type AssetCatalog } from '../ledger/index.js';
import { SagaEngine, type SagaRecord, type SagaStore } from '../sagas/index.js';
import type { LedgerPublisher } from '../sdk/publisher.js';
import type { Log } from '../shards/log.js';
import { expiredHolds, findOpenHold } from './holds.js';
import { paymentDataOf, type InFlightPayment, type PaymentData, type PaymentExchange, type PaymentRequest, type PaymentReview } from './payment.js';
import { ExchangeRequestError, priceExchange, RATE_MAX_AGE_DAYS_DEFAULT } from './rates.js';
import { reviewReason, type ReviewRules } from './review.js';
import { PAYMENT_SAGAS, PAYMENT_STATUSES, paymentSaga, sagaKind, type Payment, type PaymentStatus } from './sagas.js';

export { PAYMENT_STATUSES, type InFlightPayment, type Payment, type PaymentExchange, type PaymentRequest, type PaymentReview, type PaymentStatus };

/** The same payment id asked again with another payment. */
export class PaymentConflictError extends Error {
  constructor(readonly paymentId: string) {
    super(`payment ${paymentId} exists with other details`);
    this.name = 'PaymentConflictError';
  }
}

export class PaymentNotFoundError extends Error {
  constructor(readonly paymentId: string) {
    super(`no payment ${paymentId}`);
    this.name = 'PaymentNotFoundError';
  }
}

/** A review decision on a payment that is not waiting for one. */
export class PaymentNotInReviewError extends Error {
  constructor(readonly paymentId: string, readonly status: PaymentStatus) {
    super(`payment ${paymentId} is ${status}, not waiting for review`);
    this.name = 'PaymentNotInReviewError';
  }
}

/** An amount or currency the ledger cannot take (before anything is recorded). */
export class PaymentRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PaymentRequestError';
  }
}

/** How the desk reviews payments and finds FX rates (from the configuration). */
export interface PaymentSettings {
  /** The rules that hold a payment for review (none when absent). */
  readonly review?: ReviewRules;
  /** How old the latest FX rate of a pair may be, in days, for a cross-currency payment (default 4: a long weekend). */
  readonly rateMaxAgeDays?: number;
}

export interface PaymentsDeskOptions extends PaymentSettings {
  readonly pool: pg.Pool;
  readonly publisher: LedgerPublisher;
  readonly assets: AssetCatalog;
  readonly log: Log;
  /** How long one step waits for its outcome before the payment is left for `resume`. */
  readonly stepTimeoutMs?: number;
  /** Where the saga metrics are registered (once per registry; a registry of their own when absent). */
  readonly metrics?: Registry;
}

/** The statuses of a payment not yet finished (held for review too): the payment saga's states that are not final. */
const UNFINISHED: readonly PaymentStatus[] = paymentSaga.states.filter((state) => !paymentSaga.isFinal(state));

/** What `sendAs` records: the payment's saga kind, what the kind needs, and the hold it posts. */
export interface PaymentKind {
  readonly kind: string;
  readonly detail: Readonly<Record<string, string>>;
  readonly holdId?: string;
}

/**
 * The payments desk: each payment is a saga of ledger commands (src/payments/sagas.ts, one saga per
 * kind: payment, hold, subscription, redemption, distribution), driven by the saga engine (src/sagas),
 * each step through its own pot's partition with an id derived from the payment
 * (`payment:<id>:debit|credit|refund`) so that every step applies at most once however often it is sent.
 * A payment a review rule flags (src/payments/review.ts) is debited first, so the money is safe in
 * clearing while it waits. A cross-currency payment's rate is the day's (`fx_rates`), fixed when it is
 * recorded. The row (`payments`, its status the saga's state) is written before the first command and
 * moves forward only once the journal has the step's outcome, so a crash anywhere is resumed by sending
 * the current step again (`resume`, at start-up and every few seconds); a repeated request with the same
 * id and details is the same payment.
 */
export class PaymentsDesk {
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> = Promise.resolve();
  #running = false;
  readonly #engine: SagaEngine;
  readonly #stores: ReadonlyMap<string, SagaStore<PaymentStatus, PaymentData>>;

  constructor(private readonly options: PaymentsDeskOptions) {
    this.#engine = new SagaEngine({
      pool: options.pool, publisher: options.publisher, log: options.log, source: 'payments-desk',
      ...(options.stepTimeoutMs === undefined ? {} : { stepTimeoutMs: options.stepTimeoutMs }),
      ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    });
    this.#stores = new Map(PAYMENT_SAGAS.map((saga) => [saga.name, paymentSagaStore(options.pool, saga, (row) => paymentDataOf(row, options.assets))]));
  }

  /**
   * Resumes the unfinished payments now and then every `everyMs` (a step whose outcome came late, a
   * crash): several processes may do so at once, since every step and status change applies once.
   */
  start(everyMs: number): void {
    const sweep = async (): Promise<void> => {
      if (this.#running) return;
      this.#running = true;
      try {
        await this.resume();
      } catch (error) {
        this.options.log.error({ err: error }, 'resuming payments failed; trying again later');
      } finally {
        this.#running = false;
      }
    };
    this.#sweeping = sweep();
    this.#timer = setInterval(() => {
      this.#sweeping = sweep();
    }, everyMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#sweeping;
  }

  /**
   * Posts an open hold, in full or in part, as a payment to the hold's payee (its debit step is the
   * hold's post). Undefined when the buyer's pot holds no such hold open.
   */
  async postHold(request: { readonly paymentId: string; readonly holdId: string; readonly amount: string }): Promise<Payment | undefined> {
    const hold = await findOpenHold(this.options.pool, request.holdId);
    if (hold === undefined) {
      // Posted (or voided) already: the payment asked again is the one it was.
      const asked = await this.read(request.paymentId);
      return asked?.holdId === request.holdId ? asked : undefined;
    }
    return this.send({ paymentId: request.paymentId, payer: hold.payer, payee: hold.payee, amount: request.amount, currency: hold.currency }, request.holdId);
  }

  /** Records the payment (or finds it, asked before) and drives it as far as it goes now. */
  async send(request: PaymentRequest, holdId?: string): Promise<Payment> {
    return this.sendAs(request, holdId === undefined ? { kind: 'payment', detail: {} } : { kind: 'hold', detail: {}, holdId });
  }

  /**
   * Records a payment of a saga kind (src/payments/sagas.ts) with what the kind needs in `detail` (a
   * pool's id), or finds it, asked before; then drives it as far as it goes now.
   */
  async sendAs(request: PaymentRequest, as: PaymentKind): Promise<Payment> {
    sagaKind(as.kind);
    const amount = this.#amount(request);
    const exchange = await this.#price(request, amount.value);
    if (exchange !== undefined && as.holdId !== undefined) throw new PaymentRequestError('a hold is posted in its own currency');
    const reviewed = { payer: request.payer, currency: request.currency, amountMinor: amount.value, ...(exchange === undefined ? {} : { cost: exchange }) };
    const review = await reviewReason(this.options.pool, this.options.assets, this.options.review, reviewed);
    const inserted = await insertPayment(this.options.pool, {
      paymentId: request.paymentId, kind: as.kind, detail: as.detail, payer: request.payer, payee: request.payee, amountMinor: amount.value, currency: request.currency,
      holdId: as.holdId, exchange, reviewReason: review,
    });
    const row = inserted ?? (await readPaymentRow(this.options.pool, request.paymentId));
    if (row === undefined) throw new Error(`payment ${request.paymentId} was recorded and cannot be read back`);
    const recorded = this.#payment(row);
    if (!sameRequest(recorded, request, formatAmount(amount.value, amount.scale), as)) throw new PaymentConflictError(request.paymentId);
    return this.#drive(row);
  }

  /**
   * Records payments whose money one movement has taken into clearing already (a pool's distribution),
   * as in flight; the desk credits each payee (or refunds the payer). Asked again, nothing changes.
   */
  async recordInFlight(payments: readonly InFlightPayment[]): Promise<void> {
    if (payments.length === 0) return;
    for (const payment of payments) sagaKind(payment.kind);
    await insertPaymentsInFlight(this.options.pool, payments.map((p) => ({ ...p, detail: { ...p.detail, debitedBy: p.debitedBy } })));
  }

  /** An operator's decision on a payment held for review: released (credited to the payee) or rejected (refunded). */
  async decideReview(paymentId: string, decision: 'released' | 'rejected', by: string, note: string | undefined): Promise<Payment> {
    const row = await readPaymentRow(this.options.pool, paymentId);
    if (row === undefined) throw new PaymentNotFoundError(paymentId);
    const saga = sagaKind(row.kind);
    const decided = await this.#engine.decide(saga, this.#store(saga.name), paymentId, { decision, by, note });
    const record = decided.record;
    if (record === undefined) throw new PaymentNotFoundError(paymentId);
    const payment = paymentOf(record);
    if (!decided.moved && payment.review?.decision !== decision) throw new PaymentNotInReviewError(paymentId, payment.status);
    return decided.moved ? payment : this.drive(paymentId);
  }

  /** Drives every payment that has not finished (after a crash, at start-up), and expires the holds whose time has passed. */
  async resume(): Promise<number> {
    let driven = 0;
    for (const saga of PAYMENT_SAGAS) driven += (await this.#engine.sweep(saga, this.#store(saga.name))).driven;
    await this.expireHolds();
    return driven;
  }

  /**
   * Sends `hold.expire` for every open hold whose time has passed by the publisher's clock; the pot
   * refuses one that has not (its own check), and one sent twice applies once. Returns how many expired.
   */
  async expireHolds(): Promise<number> {
    let expired = 0;
    for (const hold of await expiredHolds(this.options.pool, this.options.publisher.now())) {
      const outcome = await this.#engine.send({ process: 'hold.expire', commandId: `hold:${hold.holdId}:expire`, pot: hold.pot, payload: { holdId: hold.holdId } });
      if (outcome?.kind === 'applied') expired += 1;
    }
    return expired;
  }

  async read(paymentId: string): Promise<Payment | undefined> {
    const row = await readPaymentRow(this.options.pool, paymentId);
    return row === undefined ? undefined : this.#payment(row);
  }

  /** Payments in flight (not yet completed, refunded or rejected; those held for review too), oldest first. */
  async inFlight(limit: number, status?: PaymentStatus): Promise<Payment[]> {
    const rows = await listPaymentRows(this.options.pool, UNFINISHED, limit, status);
    return rows.map((row) => this.#payment(row));
  }

  /** Takes the payment through its remaining steps; stops at a final status or a step without an outcome yet. */
  async drive(paymentId: string, known?: Payment): Promise<Payment> {
    const row = known === undefined ? await readPaymentRow(this.options.pool, paymentId) : undefined;
    if (known !== undefined) {
      const saga = sagaKind(known.kind);
      const { status, ...data } = known;
      return this.#driven(paymentId, await this.#engine.drive(saga, this.#store(saga.name), paymentId, { known: { id: paymentId, state: status, data, attempts: 0 } }));
    }
    if (row === undefined) throw new PaymentNotFoundError(paymentId);
    return this.#drive(row);
  }

  async #drive(row: PaymentRow): Promise<Payment> {
    const saga = sagaKind(row.kind);
    const store = this.#store(saga.name);
    const payment = this.#payment(row);
    const { status, ...data } = payment;
    return this.#driven(row.payment_id, await this.#engine.drive(saga, store, row.payment_id, { known: { id: row.payment_id, state: status, data, attempts: row.attempts } }));
  }

  #driven(paymentId: string, record: SagaRecord<PaymentStatus, PaymentData> | undefined): Payment {
    if (record === undefined) throw new PaymentNotFoundError(paymentId);
    return paymentOf(record);
  }

  /** The request's amount in minor units, with its currency's scale; a PaymentRequestError for what the ledger cannot take. */
  #amount(request: PaymentRequest): { readonly value: bigint; readonly scale: number } {
    const currency = this.options.assets.find(request.currency);
    if (currency?.kind !== 'currency') throw new PaymentRequestError(`${request.currency} is not a currency`);
    const amount = parseAmount(request.amount, currency.scale);
    if (!amount.ok) throw new PaymentRequestError(`amount: ${amount.reason}`);
    if (amount.value === 0n) throw new PaymentRequestError('amount: a payment moves more than zero');
    if (request.payer.potId === request.payee.potId) throw new PaymentRequestError('a payment goes to another pot');
    return { value: amount.value, scale: currency.scale };
  }

  async #price(request: PaymentRequest, amountMinor: bigint) {
    if (request.fromCurrency === undefined) return undefined;
    return priceExchange(this.options.pool, this.options.assets, {
      sold: request.fromCurrency,
      bought: request.currency,
      amountMinor,
      today: this.options.publisher.now().toISOString().slice(0, 10),
      maxAgeDays: this.options.rateMaxAgeDays ?? RATE_MAX_AGE_DAYS_DEFAULT,
    }).catch((error: unknown) => {
      throw error instanceof ExchangeRequestError ? new PaymentRequestError(error.message) : error;
    });
  }

  #store(kind: string): SagaStore<PaymentStatus, PaymentData> {
    const store = this.#stores.get(kind);
    if (store === undefined) throw new Error(`no saga kind ${kind}`);
    return store;
  }

  #payment(row: PaymentRow): Payment {
    const saga = sagaKind(row.kind);
    if (!saga.has(row.status)) throw new Error(`payment ${row.payment_id} is in ${row.status}, which is not a payment status`);
    return paymentOf({ id: row.payment_id, state: row.status, data: paymentDataOf(row, this.options.assets), attempts: row.attempts });
  }
}

/** Whether the payment recorded under the request's id is the one asked (else the id was used for another). */
function sameRequest(recorded: Payment, request: PaymentRequest, amount: string, as: PaymentKind): boolean {
  return (
    recorded.payer.memberId === request.payer.memberId && recorded.payer.potId === request.payer.potId &&
    recorded.payee.memberId === request.payee.memberId && recorded.payee.potId === request.payee.potId &&
    recorded.currency === request.currency && recorded.amount === amount && recorded.holdId === as.holdId &&
    recorded.exchange?.fromCurrency === request.fromCurrency && recorded.kind === as.kind &&
    Object.entries(as.detail).every(([key, value]) => recorded.detail[key] === value)
  );
}

/** A payment as the API answers it: the saga's data with its state as the status (in the order the API has always given). */
function paymentOf(record: SagaRecord<PaymentStatus, PaymentData>): Payment {
  const { reason, createdAt, updatedAt, ...data } = record.data;
  return { ...data, status: record.state, ...(reason === undefined ? {} : { reason }), createdAt, updatedAt };
}
