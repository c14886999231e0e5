import type pg from 'pg';
import { bodyProblem, DomainError, ErrorCode } from '../errors.js';
import { formatAmount, parseAmount, type AssetCatalog } from '../ledger/index.js';
import type { LedgerPublisher } from '../sdk/publisher.js';
import type { Log } from '../shards/log.js';
import { findOpenHold } from './holds.js';
import { ExchangeRequestError, priceExchange, RATE_MAX_AGE_DAYS_DEFAULT } from './rates.js';
import { reviewReason, type ReviewRules } from './review.js';
import { PAYMENT_STATUSES, type InFlightPayment, type Payment, type PaymentExchange, type PaymentRequest, type PaymentReview, type PaymentStatus } from './payment.js';
import { sagaKind, type SagaStep } from './sagas.js';

export { PAYMENT_STATUSES, type InFlightPayment, type Payment, type PaymentExchange, type PaymentRequest, type PaymentReview, type PaymentStatus };

/** The same payment id asked again with another payment. */
export class PaymentConflictError extends DomainError {
  readonly code = ErrorCode.idempotencyKeyReused;
  readonly status = 409;
  constructor(readonly paymentId: string) {
    super(`payment ${paymentId} exists with other details`);
    this.name = 'PaymentConflictError';
  }
}

export class PaymentNotFoundError extends DomainError {
  readonly code = ErrorCode.notFound;
  readonly status = 404;
  constructor(readonly paymentId: string) {
    super(`no payment ${paymentId}`, { title: `payment ${paymentId} was not found` });
    this.name = 'PaymentNotFoundError';
  }
}

/** A review decision on a payment that is not waiting for one. */
export class PaymentNotInReviewError extends DomainError {
  readonly code = ErrorCode.paymentNotInReview;
  readonly status = 409;
  constructor(readonly paymentId: string, readonly paymentStatus: PaymentStatus) {
    super(`payment ${paymentId} is ${paymentStatus}, not waiting for review`);
    this.name = 'PaymentNotInReviewError';
  }
}

/** An amount or currency the ledger cannot take (before anything is recorded). */
export class PaymentRequestError extends DomainError {
  readonly code = ErrorCode.validationFailed;
  readonly status = 422;
  constructor(message: string) {
    super(message, bodyProblem(message));
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
}

const FINAL: readonly PaymentStatus[] = ['completed', 'refunded', 'rejected'];
const UNFINISHED = "('requested', 'in-flight', 'review', 'refunding')";
const STEP_TIMEOUT_MS = 30_000;

interface PaymentRow {
  payment_id: string;
  payer_member: string;
  payer_pot: string;
  payee_member: string;
  payee_pot: string;
  amount_minor: bigint;
  currency: string;
  status: PaymentStatus;
  reason: string | null;
  hold_id: string | null;
  kind: string;
  detail: Record<string, unknown>;
  from_currency: string | null;
  rate: string | null;
  rate_day: string | null;
  cost_minor: bigint | null;
  review_reason: string | null;
  review_decision: 'released' | 'rejected' | null;
  reviewed_by: string | null;
  reviewed_at: Date | null;
  review_note: string | null;
  created_at: Date;
  updated_at: Date;
}

type StepOutcome = { readonly kind: 'applied' } | { readonly kind: 'rejected'; readonly reason: string };

const PAYMENT_COLUMNS = '*, rate_day::text AS rate_day';

/**
 * The payments desk drives each payment as a saga of ledger commands, each through its own pot's
 * partition, with ids derived from the payment so that every step applies at most once however often
 * it is sent:
 *   requested  → debit on the payer    (payment:<id>:debit)  → in-flight (or review), or rejected
 *   review     → waits for an operator: released → in-flight; rejected → refunding
 *   in-flight  → credit on the payee   (payment:<id>:credit) → completed, or refunding
 *   refunding  → refund on the payer   (payment:<id>:refund) → refunded
 * Which process each step runs depends on the payment's kind (src/payments/sagas.ts: payment.send,
 * hold.post, …). A payment a review rule flags (src/payments/review.ts) is debited first, so the money
 * is safe in clearing while it waits. A cross-currency payment's rate is the day's (`fx_rates`), fixed
 * when it is recorded.
 * The row is written before the first command, and its status moves forward only once the journal
 * has the step's outcome, so a crash anywhere is resumed by sending the current step again
 * (`resume`, at start-up); a repeated request with the same id and details is the same payment.
 */
export class PaymentsDesk {
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> = Promise.resolve();
  #running = false;

  constructor(private readonly options: PaymentsDeskOptions) {}

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
  async sendAs(request: PaymentRequest, as: { readonly kind: string; readonly detail: Readonly<Record<string, string>>; readonly holdId?: string }): Promise<Payment> {
    sagaKind(as.kind);
    const holdId = as.holdId;
    const scale = this.options.assets.find(request.currency);
    if (scale?.kind !== 'currency') throw new PaymentRequestError(`${request.currency} is not a currency`);
    const amount = parseAmount(request.amount, scale.scale);
    if (!amount.ok) throw new PaymentRequestError(`amount: ${amount.reason}`);
    if (amount.value === 0n) throw new PaymentRequestError('amount: a payment moves more than zero');
    if (request.payer.potId === request.payee.potId) throw new PaymentRequestError('a payment goes to another pot');
    const exchange =
      request.fromCurrency === undefined
        ? undefined
        : await priceExchange(this.options.pool, this.options.assets, {
            sold: request.fromCurrency,
            bought: request.currency,
            amountMinor: amount.value,
            today: this.options.publisher.now().toISOString().slice(0, 10),
            maxAgeDays: this.options.rateMaxAgeDays ?? RATE_MAX_AGE_DAYS_DEFAULT,
          }).catch((error: unknown) => {
            throw error instanceof ExchangeRequestError ? new PaymentRequestError(error.message) : error;
          });
    if (exchange !== undefined && holdId !== undefined) throw new PaymentRequestError('a hold is posted in its own currency');
    const review = await reviewReason(this.options.pool, this.options.assets, this.options.review, { payer: request.payer, currency: request.currency, amountMinor: amount.value, ...(exchange === undefined ? {} : { cost: exchange }) });
    const inserted = await this.options.pool.query<PaymentRow>(
      `INSERT INTO payments (payment_id, payer_member, payer_pot, payee_member, payee_pot, amount_minor, currency, status, hold_id, kind,
                             from_currency, rate, rate_day, cost_minor, review_reason, detail)
       VALUES ($1, $2, $3, $4, $5, $6, $7, 'requested', $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT (payment_id) DO NOTHING
       RETURNING ${PAYMENT_COLUMNS}`,
      [
        request.paymentId, request.payer.memberId, request.payer.potId, request.payee.memberId, request.payee.potId, amount.value, request.currency,
        holdId ?? null, as.kind,
        exchange?.fromCurrency ?? null, exchange?.rate ?? null, exchange?.rateDay ?? null, exchange?.costMinor ?? null, review ?? null, JSON.stringify(as.detail),
      ],
    );
    const first = inserted.rows[0];
    const recorded = first === undefined ? await this.read(request.paymentId) : this.#payment(first);
    if (recorded === undefined) throw new Error(`payment ${request.paymentId} was recorded and cannot be read back`);
    const same =
      recorded.payer.memberId === request.payer.memberId && recorded.payer.potId === request.payer.potId &&
      recorded.payee.memberId === request.payee.memberId && recorded.payee.potId === request.payee.potId &&
      recorded.currency === request.currency && recorded.amount === formatAmount(amount.value, scale.scale) && recorded.holdId === holdId &&
      recorded.exchange?.fromCurrency === request.fromCurrency && recorded.kind === as.kind &&
      Object.entries(as.detail).every(([key, value]) => recorded.detail[key] === value);
    if (!same) throw new PaymentConflictError(request.paymentId);
    return this.drive(request.paymentId, recorded);
  }

  /**
   * Records payments whose money one movement has taken into clearing already (a pool's distribution),
   * as in flight; the desk credits each payee (or refunds the payer). Asked again, nothing changes.
   */
  async recordInFlight(payments: readonly InFlightPayment[]): Promise<void> {
    if (payments.length === 0) return;
    await this.options.pool.query(
      `INSERT INTO payments (payment_id, kind, detail, payer_member, payer_pot, payee_member, payee_pot, amount_minor, currency, status)
       SELECT p.payment_id, p.kind, p.detail, p.payer_member, p.payer_pot, p.payee_member, p.payee_pot, p.amount_minor, p.currency, 'in-flight'
         FROM jsonb_to_recordset($1::jsonb) AS p(payment_id text, kind text, detail jsonb, payer_member text, payer_pot text, payee_member text, payee_pot text, amount_minor bigint, currency text)
       ON CONFLICT (payment_id) DO NOTHING`,
      [
        JSON.stringify(
          payments.map((p) => {
            sagaKind(p.kind);
            return {
              payment_id: p.paymentId, kind: p.kind, detail: { ...p.detail, debitedBy: p.debitedBy }, payer_member: p.payer.memberId, payer_pot: p.payer.potId,
              payee_member: p.payee.memberId, payee_pot: p.payee.potId, amount_minor: p.amountMinor.toString(), currency: p.currency,
            };
          }),
        ),
      ],
    );
  }

  /** An operator's decision on a payment held for review: released (credited to the payee) or rejected (refunded). */
  async decideReview(paymentId: string, decision: 'released' | 'rejected', by: string, note: string | undefined): Promise<Payment> {
    const { rowCount } = await this.options.pool.query(
      `UPDATE payments SET status = $2, review_decision = $3, reviewed_by = $4, reviewed_at = now(), review_note = $5,
              reason = CASE WHEN $3 = 'rejected' THEN 'rejected in review by ' || $4 || coalesce(': ' || $5, '') ELSE reason END, updated_at = now()
        WHERE payment_id = $1 AND status = 'review'`,
      [paymentId, decision === 'released' ? 'in-flight' : 'refunding', decision, by, note ?? null],
    );
    const payment = await this.read(paymentId);
    if (payment === undefined) throw new PaymentNotFoundError(paymentId);
    if (rowCount === 0 && payment.review?.decision !== decision) throw new PaymentNotInReviewError(paymentId, payment.status);
    return this.drive(paymentId);
  }

  /** Drives every payment that has not finished (after a crash, at start-up), and expires the holds whose time has passed. */
  async resume(): Promise<number> {
    const { rows } = await this.options.pool.query<{ payment_id: string }>(`SELECT payment_id FROM payments WHERE status IN ('requested', 'in-flight', 'refunding') ORDER BY created_at`);
    for (const row of rows) await this.drive(row.payment_id);
    await this.expireHolds();
    return rows.length;
  }

  /**
   * Sends `hold.expire` for every open hold whose time has passed by the publisher's clock; the pot
   * refuses one that has not (its own check), and one sent twice applies once. Returns how many expired.
   */
  async expireHolds(): Promise<number> {
    const now = this.options.publisher.now();
    const { rows } = await this.options.pool.query<{ pot_id: string; member_id: string; hold_id: string }>(
      `SELECT p.pot_id, p.member_id, h.key AS hold_id FROM pots p, jsonb_each(p.holds) h
        WHERE p.holds <> '{}'::jsonb AND (h.value->>'expiresAt')::timestamptz <= $1 ORDER BY p.pot_id, h.key`,
      [now],
    );
    let expired = 0;
    for (const row of rows) {
      const outcome = await this.#command('hold.expire', `hold:${row.hold_id}:expire`, { memberId: row.member_id, potId: row.pot_id }, { holdId: row.hold_id });
      if (outcome?.kind === 'applied') expired += 1;
    }
    return expired;
  }

  async read(paymentId: string): Promise<Payment | undefined> {
    const { rows } = await this.options.pool.query<PaymentRow>(`SELECT ${PAYMENT_COLUMNS} FROM payments WHERE payment_id = $1`, [paymentId]);
    const row = rows[0];
    return row === undefined ? undefined : this.#payment(row);
  }

  /** Payments in flight (not yet completed, refunded or rejected; those held for review too), oldest first. */
  async inFlight(limit: number, status?: PaymentStatus): Promise<Payment[]> {
    const { rows } = await this.options.pool.query<PaymentRow>(
      `SELECT ${PAYMENT_COLUMNS} FROM payments WHERE status IN ${UNFINISHED} AND ($2::text IS NULL OR status = $2) ORDER BY created_at, payment_id LIMIT $1`,
      [limit, status ?? null],
    );
    return rows.map((row) => this.#payment(row));
  }

  /** Takes the payment through its remaining steps; stops at a final status or a step without an outcome yet. */
  async drive(paymentId: string, known?: Payment): Promise<Payment> {
    let payment = known ?? (await this.read(paymentId));
    for (;;) {
      if (payment === undefined) throw new PaymentNotFoundError(paymentId);
      if (FINAL.includes(payment.status)) return payment;
      const step = await this.#step(payment);
      if (step === undefined) return payment;
      const advanced = await this.#advance(payment, step);
      if (advanced === 'stays') return payment;
      // Moved on by this call, or by another process driving it at the same time (then read afresh).
      payment = advanced === 'moved elsewhere' ? await this.read(paymentId) : advanced;
    }
  }

  async #step(payment: Payment): Promise<StepOutcome | undefined> {
    const kind = sagaKind(payment.kind);
    const step: SagaStep | undefined =
      payment.status === 'requested' ? kind.debit?.(payment) : payment.status === 'in-flight' ? kind.credit(payment) : payment.status === 'refunding' ? kind.refund(payment) : undefined;
    if (step === undefined) return undefined;
    const stepName = payment.status === 'requested' ? 'debit' : payment.status === 'in-flight' ? 'credit' : 'refund';
    return this.#command(step.process, `payment:${payment.paymentId}:${stepName}`, step.party === 'payer' ? payment.payer : payment.payee, step.payload);
  }

  /** Moves the payment on after a step: the payment as it now is, or why there is none to return. */
  async #advance(payment: Payment, step: StepOutcome): Promise<Payment | 'stays' | 'moved elsewhere'> {
    if (payment.status === 'refunding' && step.kind === 'rejected') {
      // The payer's pot refused its own money back (closed since): it stays `refunding`, in the list of
      // payments in flight, with the amount in clearing, for an operator; never dropped.
      this.options.log.error({ paymentId: payment.paymentId, reason: step.reason }, 'a payment refund was refused; the amount stays in clearing');
      return 'stays';
    }
    const debited: PaymentStatus = payment.review !== undefined && payment.review.decision === undefined ? 'review' : 'in-flight';
    const next: { status: PaymentStatus; reason?: string } =
      payment.status === 'requested'
        ? step.kind === 'applied' ? { status: debited } : { status: 'rejected', reason: step.reason }
        : payment.status === 'in-flight'
          ? step.kind === 'applied' ? { status: 'completed' } : { status: 'refunding', reason: step.reason }
          : { status: 'refunded' };
    const { rows } = await this.options.pool.query<PaymentRow>(
      `UPDATE payments SET status = $3, reason = coalesce($4, reason), updated_at = now() WHERE payment_id = $1 AND status = $2 RETURNING ${PAYMENT_COLUMNS}`,
      [payment.paymentId, payment.status, next.status, next.reason ?? null],
    );
    const row = rows[0];
    return row === undefined ? 'moved elsewhere' : this.#payment(row);
  }

  async #command(process: string, commandId: string, pot: { memberId: string; potId: string }, payload: unknown): Promise<StepOutcome | undefined> {
    const sent = await this.options.publisher.submit(process, { commandId, memberId: pot.memberId, potId: pot.potId, payload, source: 'payments-desk' });
    const notice = await sent.outcome(this.options.stepTimeoutMs ?? STEP_TIMEOUT_MS).catch((error: unknown) => {
      this.options.log.warn({ err: error, commandId }, 'a payment step has no outcome yet; the payment is resumed later');
      return undefined;
    });
    if (notice === undefined) return undefined;
    // The step's id was used by another command: nothing of this payment was applied under it.
    if (notice.status === 'conflict') return { kind: 'rejected', reason: `${commandId} was used by another command` };
    const outcome = notice.outcome as { kind: string; reason?: string; code?: string };
    return outcome.kind === 'rejected' ? { kind: 'rejected', reason: `${outcome.code ?? 'rejected'}: ${outcome.reason ?? ''}` } : { kind: 'applied' };
  }

  #payment(row: PaymentRow): Payment {
    const scale = this.#scale(row.currency, row.payment_id);
    return {
      paymentId: row.payment_id,
      kind: row.kind,
      detail: row.detail,
      payer: { memberId: row.payer_member, potId: row.payer_pot },
      payee: { memberId: row.payee_member, potId: row.payee_pot },
      amount: formatAmount(row.amount_minor, scale),
      currency: row.currency,
      ...(row.hold_id === null ? {} : { holdId: row.hold_id }),
      ...(row.from_currency === null || row.rate === null || row.rate_day === null || row.cost_minor === null
        ? {}
        : { exchange: { fromCurrency: row.from_currency, rate: row.rate, rateDay: row.rate_day, cost: formatAmount(row.cost_minor, this.#scale(row.from_currency, row.payment_id)) } }),
      ...(row.review_reason === null
        ? {}
        : {
            review: {
              reason: row.review_reason,
              ...(row.review_decision === null ? {} : { decision: row.review_decision }),
              ...(row.reviewed_by === null ? {} : { decidedBy: row.reviewed_by }),
              ...(row.reviewed_at === null ? {} : { decidedAt: row.reviewed_at.toISOString() }),
              ...(row.review_note === null ? {} : { note: row.review_note }),
            },
          }),
      status: row.status,
      ...(row.reason === null ? {} : { reason: row.reason }),
      createdAt: row.created_at.toISOString(),
      updatedAt: row.updated_at.toISOString(),
    };
  }

  #scale(currency: string, paymentId: string): number {
    const scale = this.options.assets.find(currency)?.scale;
    if (scale === undefined) throw new Error(`payment ${paymentId}: unknown currency ${currency}`);
    return scale;
  }
}
