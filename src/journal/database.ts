import pg from 'pg';

/**
 * Postgres pools with exact types: int8 comes back as bigint (never a rounded number), numeric as its
 * decimal text, and dates as 'YYYY-MM-DD' text (never a JS Date shifted by a time zone).
 */
const INT8_OID = 20;
const NUMERIC_OID = 1700;
const DATE_OID = 1082;

function exactTypeParser(oid: number, format?: 'text' | 'binary'): unknown {
  if (oid === INT8_OID) return (value: string) => BigInt(value);
  if (oid === NUMERIC_OID || oid === DATE_OID) return (value: string) => value;
  return pg.types.getTypeParser(oid, format ?? 'text') as unknown;
}

const exactTypes: pg.CustomTypesConfig = { getTypeParser: exactTypeParser as pg.CustomTypesConfig['getTypeParser'] };

export interface PoolOptions {
  readonly max?: number;
  readonly applicationName?: string;
  readonly statementTimeoutMs?: number;
  /**
   * Ends a session that sits idle inside a transaction this long, releasing its locks. The shard
   * workers set it so that a worker frozen in the middle of a commit cannot hold a partition's row
   * lock (and so block the next owner's claim) for longer than this.
   */
  readonly idleInTransactionTimeoutMs?: number;
}

export const POOL_SIZE_DEFAULT = 10;

export function createPool(connectionString: string, options: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? POOL_SIZE_DEFAULT,
    types: exactTypes,
    application_name: options.applicationName ?? 'potledger',
    ...(options.statementTimeoutMs === undefined ? {} : { statement_timeout: options.statementTimeoutMs }),
    ...(options.idleInTransactionTimeoutMs === undefined ? {} : { idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs }),
  });
  // An idle client that loses its connection emits 'error' on the pool; without a listener that would
  // crash the process. The next query on the pool reconnects.
  pool.on('error', () => {});
  return pool;
}

/** Anything that runs a query: a pool or a client inside a transaction. */
export type Queryable = Pick<pg.PoolClient, 'query'>;

/**
 * A query run as a named prepared statement: Postgres parses and plans it once per connection instead
 * of at every call. For the hot paths only; the text under one name must never change.
 */
export function prepared(db: Queryable, name: string) {
  return <R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[]) => db.query<R>({ name, text, values });
}

/**
 * How a transaction begins. `generic-plans` also has the transaction's prepared statements run on their
 * generic plan (SET LOCAL plan_cache_mode, sent with BEGIN: no extra round trip). Left to choose, Postgres
 * re-plans a statement over unnest($n) arrays at every call (a custom plan knows the arrays' lengths, so
 * it always looks cheaper): for the journal's balance write, 0.23 ms of planning per commit against
 * 0.02 ms for the generic plan, the same plan by index on the primary key.
 */
export type TransactionStart = 'plain' | 'generic-plans';

const BEGIN: Record<TransactionStart, string> = {
  plain: 'BEGIN',
  'generic-plans': 'BEGIN; SET LOCAL plan_cache_mode = force_generic_plan',
};

/**
 * Runs `work` in one transaction on one client; rolls back on any error and rethrows it. A client whose
 * ROLLBACK fails is broken (its server process ended, the network dropped it) or in a state no one
 * knows: it is released with that error, which makes the pool close it instead of handing it out again.
 */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>, start: TransactionStart = 'plain'): Promise<T> {
  const client = await pool.connect();
  // A connection the server ends while we hold it (idle-in-transaction timeout, restart) emits 'error'
  // between queries; unheard, that would crash the process. The next query fails instead, and rolls back.
  const ignore = () => undefined;
  client.on('error', ignore);
  let broken: Error | undefined;
  try {
    await client.query(BEGIN[start]);
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    broken = await client.query('ROLLBACK').then(
      () => undefined,
      (rollbackError: unknown) => (rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError))),
    );
    throw error;
  } finally {
    client.off('error', ignore);
    client.release(broken);
  }
}

/** The same server and database as `url`, reached as another role (password from the argument, if any). */
export function urlAsRole(url: string, role: string, password?: string): string {
  const parsed = new URL(url);
  parsed.username = encodeURIComponent(role);
  parsed.password = password === undefined ? '' : encodeURIComponent(password);
  return parsed.toString();
}

/** The same server as `url`, another database. */
export function urlWithDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

/** Text Postgres can store: it refuses the NUL character in text and in jsonb. */
export function storableText(text: string): string {
  return text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text;
}

/** SQLSTATE of a pg error, if any. */
export function sqlState(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

export const SQLSTATE = {
  uniqueViolation: '23505',
  duplicateObject: '42710',
  insufficientPrivilege: '42501',
  serializationFailure: '40001',
  deadlockDetected: '40P01',
} as const;
