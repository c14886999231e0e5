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
