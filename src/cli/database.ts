import type pg from 'pg';
import { redactUrl, type Config } from '../config/config.js';
import { createPool, sqlState } from '../journal/database.js';
import { CliError } from './errors.js';

/** SQLSTATE undefined_table: the migrations have not run on this database. */
const UNDEFINED_TABLE = '42P01';

/**
 * Runs `work` with a small pool on DATABASE_URL and closes it after. A server out of reach and a
 * database without the ledger's tables become messages for the operator rather than stack traces.
 */
export async function withDatabase<T>(config: Config, work: (pool: pg.Pool) => Promise<T>): Promise<T> {
  const pool = createPool(config.DATABASE_URL, { max: 2, applicationName: 'potledger-cli' });
  try {
    await pool.query('SELECT 1').catch((error: unknown) => {
      const message = `potledger: cannot reach Postgres at ${redactUrl(config.DATABASE_URL)}: ${describe(error)}`;
      throw new CliError('CLI_ERR_DATABASE_UNREACHABLE', message, { cause: error });
    });
    return await work(pool).catch((error: unknown) => {
      if (sqlState(error) !== UNDEFINED_TABLE) throw error;
      throw new CliError(
        'CLI_ERR_NO_SCHEMA',
        `potledger: the database has no potledger schema yet (${describe(error)}): start the service or run migrations`,
        { cause: error },
      );
    });
  } finally {
    await pool.end();
  }
}

/** An error's message; a refused connection to a name with several addresses is an AggregateError with none. */
function describe(error: unknown): string {
  if (error instanceof AggregateError && error.message === '') return error.errors.map(describe).join('; ');
  return error instanceof Error ? error.message : String(error);
}
