import type pg from 'pg';
import { formatAmount, parseAmount, type AssetCatalog } from '../ledger/index.js';
import type { LedgerPublisher } from '../sdk/publisher.js';
import type { Log } from '../shards/log.js';
import { findOpenHold } from './holds.js';

export type PaymentStatus = 'requested' | 'in-flight' | 'completed' | 'refunding' | 'refunded' | 'rejected';

/** A payment as asked: from one pot to another, an amount of a currency. */
export interface PaymentRequest {
  readonly paymentId: string;
  readonly payer: { readonly memberId: string; readonly potId: string };
  readonly payee: { readonly memberId: string; readonly potId: string };
  readonly amount: string;
  readonly currency: string;
}

export interface Payment extends PaymentRequest {
  /** The hold this payment posts, if it is a hold's post. */
  readonly holdId?: string;
  readonly status: PaymentStatus;
  /** Why it was rejected or refunded. */
  readonly reason?: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** The same payment id asked again with another payment. */
export class PaymentConflictError extends Error {
  constructor(readonly paymentId: string) {
    super(`payment ${paymentId} exists with other details`);
    this.name = 'PaymentConflictError';
  }
}

/** An amount or currency the ledger cannot take (before anything is recorded). */
export class PaymentRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PaymentRequestError';
  }
}

export interface PaymentsDeskOptions {
  readonly pool: pg.Pool;
  readonly publisher: LedgerPublisher;
  readonly assets: AssetCatalog;
  readonly log: Log;
  /** How long one step waits for its outcome before the payment is left for `resume`. */
  readonly stepTimeoutMs?: number;
}

const FINAL: readonly PaymentStatus[] = ['completed', 'refunded', 'rejected'];
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
  created_at: Date;
  updated_at: Date;
}

type StepOutcome = { readonly kind: 'applied' } | { readonly kind: 'rejected'; readonly reason: string };

/**
 * The payments desk drives each payment as a saga of ledger commands, each through its own pot's
 * partition, with ids derived from the payment so that every step applies at most once however often
 * it is sent:
 *   requested  → payment.send on the payer    (payment:<id>:debit)  → in-flight, or rejected
 *   in-flight  → payment.credit on the payee  (payment:<id>:credit) → completed, or refunding
 *   refunding  → payment.refund on the payer  (payment:<id>:refund) → refunded
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
    const scale = this.options.assets.find(request.currency);
    if (scale?.kind !== 'currency') throw new PaymentRequestError(`${request.currency} is not a currency`);
    const amount = parseAmount(request.amount, scale.scale);
    if (!amount.ok) throw new PaymentRequestError(`amount: ${amount.reason}`);
    if (request.payer.potId === request.payee.potId) throw new PaymentRequestError('a payment goes to another pot');
    await this.options.pool.query(
      `INSERT INTO payments (payment_id, payer_member, payer_pot, payee_member, payee_pot, amount_minor, currency, status, hold_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, 'requested', $8) ON CONFLICT (payment_id) DO NOTHING`,
      [request.paymentId, request.payer.memberId, request.payer.potId, request.payee.memberId, request.payee.potId, amount.value, request.currency, holdId ?? null],
    );
    const recorded = await this.read(request.paymentId);
    if (recorded === undefined) throw new Error(`payment ${request.paymentId} was recorded and cannot be read back`);
    const same =
      recorded.payer.memberId === request.payer.memberId && recorded.payer.potId === request.payer.potId &&
      recorded.payee.memberId === request.payee.memberId && recorded.payee.potId === request.payee.potId &&
      recorded.currency === request.currency && recorded.amount === formatAmount(amount.value, scale.scale) && recorded.holdId === holdId;
    if (!same) throw new PaymentConflictError(request.paymentId);
    return this.drive(request.paymentId);
  }

  /** Drives every payment that has not finished (after a crash, at start-up), and expires the holds whose time has passed. */
  async resume(): Promise<number> {
    const { rows } = await this.options.pool.query<{ payment_id: string }>("SELECT payment_id FROM payments WHERE status IN ('requested', 'in-flight', 'refunding') ORDER BY created_at");
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
    const { rows } = await this.options.pool.query<PaymentRow>('SELECT * FROM payments WHERE payment_id = $1', [paymentId]);
    const row = rows[0];
    return row === undefined ? undefined : this.#payment(row);
  }

  /** Payments in flight (debited from the payer, not yet credited or refunded), oldest first. */
  async inFlight(limit: number): Promise<Payment[]> {
    const { rows } = await this.options.pool.query<PaymentRow>(
      "SELECT * FROM payments WHERE status IN ('requested', 'in-flight', 'refunding') ORDER BY created_at, payment_id LIMIT $1",
      [limit],
    );
    return rows.map((row) => this.#payment(row));
  }

  /** Takes the payment through its remaining steps; stops at a final status or a step without an outcome yet. */
  async drive(paymentId: string): Promise<Payment> {
    for (;;) {
      const payment = await this.read(paymentId);
      if (payment === undefined) throw new Error(`no payment ${paymentId}`);
      if (FINAL.includes(payment.status)) return payment;
      const step = await this.#step(payment);
      if (step === undefined || !(await this.#advance(payment, step))) return payment;
    }
  }

  async #step(payment: Payment): Promise<StepOutcome | undefined> {
    const money = { amount: payment.amount, currency: payment.currency };
    switch (payment.status) {
      case 'requested':
        return payment.holdId === undefined
          ? this.#command('payment.send', `payment:${payment.paymentId}:debit`, payment.payer, { paymentId: payment.paymentId, payee: payment.payee, ...money })
          : this.#command('hold.post', `payment:${payment.paymentId}:debit`, payment.payer, { holdId: payment.holdId, paymentId: payment.paymentId, amount: payment.amount });
      case 'in-flight':
        return this.#command('payment.credit', `payment:${payment.paymentId}:credit`, payment.payee, { paymentId: payment.paymentId, payer: payment.payer, ...money });
      case 'refunding':
        return this.#command('payment.refund', `payment:${payment.paymentId}:refund`, payment.payer, { paymentId: payment.paymentId, ...money, reason: payment.reason ?? 'the payee refused the payment' });
      default:
        return undefined;
    }
  }

  /** Moves the payment on after a step; false when it cannot move (it stays where it is). */
  async #advance(payment: Payment, step: StepOutcome): Promise<boolean> {
    if (payment.status === 'refunding' && step.kind === 'rejected') {
      // The payer's pot refused its own money back (closed since): it stays `refunding`, in the list of
      // payments in flight, with the amount in clearing, for an operator; never dropped.
      this.options.log.error({ paymentId: payment.paymentId, reason: step.reason }, 'a payment refund was refused; the amount stays in clearing');
      return false;
    }
    const next: { status: PaymentStatus; reason?: string } =
      payment.status === 'requested'
        ? step.kind === 'applied' ? { status: 'in-flight' } : { status: 'rejected', reason: step.reason }
        : payment.status === 'in-flight'
          ? step.kind === 'applied' ? { status: 'completed' } : { status: 'refunding', reason: step.reason }
          : { status: 'refunded' };
    await this.options.pool.query('UPDATE payments SET status = $3, reason = coalesce($4, reason), updated_at = now() WHERE payment_id = $1 AND status = $2', [
      payment.paymentId,
      payment.status,
      next.status,
      next.reason ?? null,
    ]);
    return true;
  }

  async #command(process: string, commandId: string, pot: { memberId: string; potId: string }, payload: unknown): Promise<StepOutcome | undefined> {
    const sent = await this.options.publisher.submit(process, { commandId, memberId: pot.memberId, potId: pot.potId, payload });
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
    const scale = this.options.assets.find(row.currency)?.scale;
    if (scale === undefined) throw new Error(`payment ${row.payment_id}: unknown currency ${row.currency}`);
    return {
      paymentId: row.payment_id,
      payer: { memberId: row.payer_member, potId: row.payer_pot },
      payee: { memberId: row.payee_member, potId: row.payee_pot },
      amount: formatAmount(row.amount_minor, scale),
      currency: row.currency,
      ...(row.hold_id === null ? {} : { holdId: row.hold_id }),
      status: row.status,
      ...(row.reason === null ? {} : { reason: row.reason }),
      createdAt: row.created_at.toISOString(),
      updatedAt: row.updated_at.toISOString(),
    };
  }
}
