import type { Queryable } from './database.js';

/**
 * The saga rows the saga engine (src/sagas/engine.ts) reads and moves, behind one store interface:
 * the generic `sagas` table (migration 0020) for sagas without a table of their own, and the `payments`
 * table, whose `status` is a payment saga's state (no second bookkeeping).
 *
 * Contract of every store:
 * - `move` is a compare-and-set on the state: it changes the row only while it is still in `from`, so of
 *   two processes driving the same saga at once one moves it and the other learns it moved. A move
 *   clears the step's failed attempts and error. Forward-only is the definition's to assert, not the store's.
 * - `fail` counts a failed attempt of the step of `state` (no outcome yet, an error, a refusal the saga
 *   stays on) only while the row is still in that state.
 * - `unfinished` lists the ids in the given states with fewer attempts than the bound, oldest first,
 *   at most `limit`: a saga past the bound stays in its state, marked, for an operator, never dropped.
 * Nothing here locks beyond the single-row UPDATE.
 */
export interface SagaRecord<S extends string, D> {
  readonly id: string;
  readonly state: S;
  readonly data: D;
  readonly attempts: number;
  /** Why the last attempt of the current step failed. */
  readonly error?: string;
}

/** An operator's decision, as the row keeps it. */
export interface DecisionRecord {
  readonly decision: string;
  readonly by: string;
  readonly note?: string | undefined;
}

export interface SagaMove {
  /** Why it moved (a refusal's reason): kept on the row; the row's reason is left as it was when absent. */
  readonly reason?: string | undefined;
  readonly decision?: DecisionRecord;
  /** Whether `to` is final (the generic row records when it finished). */
  readonly final: boolean;
}

export interface SagaCount<S extends string> {
  readonly state: S;
  readonly sagas: number;
  /** Of them, the ones past the retry bound. */
  readonly exhausted: number;
}

export interface SagaStore<S extends string, D> {
  load(id: string): Promise<SagaRecord<S, D> | undefined>;
  /** The saga after the move, or undefined when it was no longer in `from` (moved by another process). */
  move(id: string, from: S, to: S, change: SagaMove): Promise<SagaRecord<S, D> | undefined>;
  /** The attempts counted now, or undefined when the saga is no longer in `state`. */
  fail(id: string, state: S, error: string): Promise<number | undefined>;
  unfinished(states: readonly S[], attemptsMax: number, limit: number): Promise<readonly string[]>;
  /** How many sagas are in each of `states` (for the metrics). */
  count(states: readonly S[], attemptsMax: number): Promise<readonly SagaCount<S>[]>;
}

/** Which saga a store serves: its name and its states (a row read back is checked against them). */
export interface SagaShape<S extends string> {
  readonly name: string;
  has(state: string): state is S;
}

/** An error text as stored: one line, bounded (the full error goes to the log). */
const SAGA_ERROR_CHARS_MAX = 500;

function storedError(error: string): string {
  return error.length <= SAGA_ERROR_CHARS_MAX ? error : `${error.slice(0, SAGA_ERROR_CHARS_MAX - 1)}…`;
}

function checkedState<S extends string>(saga: SagaShape<S>, id: string, state: string): S {
  if (!saga.has(state)) throw new Error(`saga ${saga.name} ${id} is in ${state}, which is not one of its states`);
  return state;
}

interface GenericRow {
  id: string;
  state: string;
  data: unknown;
  attempts: number;
  error: string | null;
}

/** A saga kept in the generic `sagas` table; `decode` reads its `data` (a zod schema's parse, say). */
export interface GenericSagaStore<S extends string, D> extends SagaStore<S, D> {
  /** Records the saga in `state` with `data` the first time; true when this call recorded it. */
  start(id: string, state: S, data: D): Promise<boolean>;
  /** Why it moved last (a refusal), if it did for a reason. */
  reason(id: string): Promise<string | undefined>;
}

export function genericSagaStore<S extends string, D>(db: Queryable, saga: SagaShape<S>, decode: (data: unknown) => D): GenericSagaStore<S, D> {
  const record = (row: GenericRow): SagaRecord<S, D> => ({
    id: row.id,
    state: checkedState(saga, row.id, row.state),
    data: decode(row.data),
    attempts: row.attempts,
    ...(row.error === null ? {} : { error: row.error }),
  });
  return {
    async start(id, state, data) {
      const { rowCount } = await db.query('INSERT INTO sagas (saga, id, state, data) VALUES ($1, $2, $3, $4) ON CONFLICT (saga, id) DO NOTHING', [
        saga.name, id, state, JSON.stringify(data),
      ]);
      return rowCount === 1;
    },
    async load(id) {
      const { rows } = await db.query<GenericRow>('SELECT id, state, data, attempts, error FROM sagas WHERE saga = $1 AND id = $2', [saga.name, id]);
      return rows[0] === undefined ? undefined : record(rows[0]);
    },
    async reason(id) {
      const { rows } = await db.query<{ reason: string | null }>('SELECT reason FROM sagas WHERE saga = $1 AND id = $2', [saga.name, id]);
      return rows[0]?.reason ?? undefined;
    },
    async move(id, from, to, change) {
      const { rows } = await db.query<GenericRow>(
        `UPDATE sagas SET state = $4, reason = coalesce($5, reason), attempts = 0, error = NULL, updated_at = now(),
                data = CASE WHEN $6::jsonb IS NULL THEN data ELSE data || jsonb_build_object('decision', $6::jsonb) END,
                finished_at = CASE WHEN $7 THEN now() END
          WHERE saga = $1 AND id = $2 AND state = $3 RETURNING id, state, data, attempts, error`,
        [saga.name, id, from, to, change.reason ?? null, change.decision === undefined ? null : JSON.stringify(change.decision), change.final],
      );
      return rows[0] === undefined ? undefined : record(rows[0]);
    },
    async fail(id, state, error) {
      const { rows } = await db.query<{ attempts: number }>(
        'UPDATE sagas SET attempts = attempts + 1, error = $4, updated_at = now() WHERE saga = $1 AND id = $2 AND state = $3 RETURNING attempts',
        [saga.name, id, state, storedError(error)],
      );
      return rows[0]?.attempts;
    },
    async unfinished(states, attemptsMax, limit) {
      const { rows } = await db.query<{ id: string }>(
        'SELECT id FROM sagas WHERE saga = $1 AND finished_at IS NULL AND state = ANY($2::text[]) AND attempts < $3 ORDER BY started_at, id LIMIT $4',
        [saga.name, states, attemptsMax, limit],
      );
      return rows.map((row) => row.id);
    },
    async count(states, attemptsMax) {
      const { rows } = await db.query<{ state: string; sagas: number; exhausted: number }>(
        `SELECT state, count(*)::int AS sagas, count(*) FILTER (WHERE attempts >= $3)::int AS exhausted
           FROM sagas WHERE saga = $1 AND finished_at IS NULL AND state = ANY($2::text[]) GROUP BY state`,
        [saga.name, states, attemptsMax],
      );
      return rows.map((row) => ({ state: checkedState(saga, row.state, row.state), sagas: row.sagas, exhausted: row.exhausted }));
    },
  };
}

/** A row of `payments`: a payment saga's row (its `status` is the state, its `kind` the saga's name). */
export interface PaymentRow {
  payment_id: string;
  payer_member: string;
  payer_pot: string;
  payee_member: string;
  payee_pot: string;
  amount_minor: bigint;
  currency: string;
  status: string;
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
  attempts: number;
  error: string | null;
  created_at: Date;
  updated_at: Date;
}

const PAYMENT_COLUMNS = '*, rate_day::text AS rate_day';

/** A payment as first recorded (`requested`); the columns the desk fills. */
export interface NewPaymentRow {
  readonly paymentId: string;
  readonly kind: string;
  readonly detail: Readonly<Record<string, unknown>>;
  readonly payer: { readonly memberId: string; readonly potId: string };
  readonly payee: { readonly memberId: string; readonly potId: string };
  readonly amountMinor: bigint;
  readonly currency: string;
  readonly holdId: string | undefined;
  readonly exchange: { readonly fromCurrency: string; readonly rate: string; readonly rateDay: string; readonly costMinor: bigint } | undefined;
  readonly reviewReason: string | undefined;
}

/** Records a payment `requested`, the first time it is asked: the row, or undefined when it existed. */
export async function insertPayment(db: Queryable, payment: NewPaymentRow): Promise<PaymentRow | undefined> {
  const { rows } = await db.query<PaymentRow>(
    `INSERT INTO payments (payment_id, payer_member, payer_pot, payee_member, payee_pot, amount_minor, currency, status, hold_id, kind,
                           from_currency, rate, rate_day, cost_minor, review_reason, detail)
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'requested', $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT (payment_id) DO NOTHING
     RETURNING ${PAYMENT_COLUMNS}`,
    [
      payment.paymentId, payment.payer.memberId, payment.payer.potId, payment.payee.memberId, payment.payee.potId, payment.amountMinor, payment.currency,
      payment.holdId ?? null, payment.kind, payment.exchange?.fromCurrency ?? null, payment.exchange?.rate ?? null, payment.exchange?.rateDay ?? null,
      payment.exchange?.costMinor ?? null, payment.reviewReason ?? null, JSON.stringify(payment.detail),
    ],
  );
  return rows[0];
}

/** Records payments whose money one movement has taken into clearing already, `in-flight`; asked again, nothing changes. */
export async function insertPaymentsInFlight(db: Queryable, payments: readonly Omit<NewPaymentRow, 'holdId' | 'exchange' | 'reviewReason'>[]): Promise<void> {
  await db.query(
    `INSERT INTO payments (payment_id, kind, detail, payer_member, payer_pot, payee_member, payee_pot, amount_minor, currency, status)
     SELECT p.payment_id, p.kind, p.detail, p.payer_member, p.payer_pot, p.payee_member, p.payee_pot, p.amount_minor, p.currency, 'in-flight'
       FROM jsonb_to_recordset($1::jsonb)
            AS p(payment_id text, kind text, detail jsonb, payer_member text, payer_pot text, payee_member text, payee_pot text, amount_minor bigint, currency text)
     ON CONFLICT (payment_id) DO NOTHING`,
    [
      JSON.stringify(
        payments.map((p) => ({
          payment_id: p.paymentId, kind: p.kind, detail: p.detail, payer_member: p.payer.memberId, payer_pot: p.payer.potId,
          payee_member: p.payee.memberId, payee_pot: p.payee.potId, amount_minor: p.amountMinor.toString(), currency: p.currency,
        })),
      ),
    ],
  );
}

export async function readPaymentRow(db: Queryable, paymentId: string): Promise<PaymentRow | undefined> {
  const { rows } = await db.query<PaymentRow>(`SELECT ${PAYMENT_COLUMNS} FROM payments WHERE payment_id = $1`, [paymentId]);
  return rows[0];
}

/** Payments in `statuses` (or only `status`), oldest first, at most `limit`. */
export async function listPaymentRows(db: Queryable, statuses: readonly string[], limit: number, status: string | undefined): Promise<PaymentRow[]> {
  const { rows } = await db.query<PaymentRow>(
    `SELECT ${PAYMENT_COLUMNS} FROM payments WHERE status = ANY($3::text[]) AND ($2::text IS NULL OR status = $2) ORDER BY created_at, payment_id LIMIT $1`,
    [limit, status ?? null, statuses],
  );
  return rows;
}

/**
 * The store of one payment saga over `payments` (rows of its kind). `toData` reads a row as the saga's
 * data (the payment, its amounts formatted with the asset catalogue).
 */
export function paymentSagaStore<S extends string, D>(db: Queryable, saga: SagaShape<S>, toData: (row: PaymentRow) => D): SagaStore<S, D> {
  const record = (row: PaymentRow): SagaRecord<S, D> => {
    if (row.kind !== saga.name) throw new Error(`payment ${row.payment_id} is a ${row.kind}, not a ${saga.name}`);
    const state = checkedState(saga, row.payment_id, row.status);
    return { id: row.payment_id, state, data: toData(row), attempts: row.attempts, ...(row.error === null ? {} : { error: row.error }) };
  };
  return {
    async load(id) {
      const row = await readPaymentRow(db, id);
      return row === undefined ? undefined : record(row);
    },
    async move(id, from, to, change) {
      const decision = change.decision;
      const { rows } = await db.query<PaymentRow>(
        `UPDATE payments SET status = $3, reason = coalesce($4, reason), attempts = 0, error = NULL, updated_at = now(),
                review_decision = coalesce($5, review_decision), reviewed_by = coalesce($6, reviewed_by),
                reviewed_at = CASE WHEN $5::text IS NULL THEN reviewed_at ELSE now() END, review_note = CASE WHEN $5::text IS NULL THEN review_note ELSE $7 END
          WHERE payment_id = $1 AND status = $2 RETURNING ${PAYMENT_COLUMNS}`,
        [id, from, to, change.reason ?? null, decision?.decision ?? null, decision?.by ?? null, decision?.note ?? null],
      );
      return rows[0] === undefined ? undefined : record(rows[0]);
    },
    async fail(id, state, error) {
      const { rows } = await db.query<{ attempts: number }>(
        'UPDATE payments SET attempts = attempts + 1, error = $3 WHERE payment_id = $1 AND status = $2 RETURNING attempts',
        [id, state, storedError(error)],
      );
      return rows[0]?.attempts;
    },
    async unfinished(states, attemptsMax, limit) {
      const { rows } = await db.query<{ payment_id: string }>(
        'SELECT payment_id FROM payments WHERE status = ANY($2::text[]) AND kind = $1 AND attempts < $3 ORDER BY created_at, payment_id LIMIT $4',
        [saga.name, states, attemptsMax, limit],
      );
      return rows.map((row) => row.payment_id);
    },
    async count(states, attemptsMax) {
      const { rows } = await db.query<{ status: string; sagas: number; exhausted: number }>(
        `SELECT status, count(*)::int AS sagas, count(*) FILTER (WHERE attempts >= $3)::int AS exhausted
           FROM payments WHERE status = ANY($2::text[]) AND kind = $1 GROUP BY status`,
        [saga.name, states, attemptsMax],
      );
      return rows.map((row) => ({ state: checkedState(saga, row.status, row.status), sagas: row.sagas, exhausted: row.exhausted }));
    },
  };
}
