import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { inTransaction, sqlState, SQLSTATE } from './database.js';

export const MIGRATIONS_DIRECTORY = fileURLToPath(new URL('../../migrations/', import.meta.url));

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
  readonly checksum: string;
}

/** Migration files are `NNNN_name.sql`, applied in version order, each once, each in its own transaction. */
export async function readMigrations(directory = MIGRATIONS_DIRECTORY): Promise<Migration[]> {
  const files = (await readdir(directory)).filter((file) => /^\d{4}_[a-z0-9_]+\.sql$/.test(file)).sort();
  return Promise.all(
    files.map(async (file) => {
      const sql = await readFile(new URL(file, `file://${directory}`), 'utf8');
      return {
        version: Number(file.slice(0, 4)),
        name: file.slice(5, -4),
        sql,
        checksum: createHash('sha256').update(sql).digest('hex'),
      };
    }),
  );
}

/** A fixed advisory lock key, so two services starting at once migrate one after the other. */
const MIGRATION_LOCK_KEY = 7_301_000_001;

/**
 * Applies the migrations not yet applied, under an advisory lock. Refuses to start when an applied
 * migration's file changed since (its checksum differs): migrations are never edited once shipped.
 * Returns the versions applied now.
 */
export async function migrate(ownerPool: pg.Pool, migrations?: readonly Migration[]): Promise<number[]> {
  const all = migrations ?? (await readMigrations());
  return inTransaction(ownerPool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const applied = new Map<number, string>();
    const { rows } = await client.query<{ version: number; checksum: string }>('SELECT version, checksum FROM schema_migrations');
    for (const row of rows) applied.set(row.version, row.checksum);
    const done: number[] = [];
    for (const migration of all) {
      const checksum = applied.get(migration.version);
      if (checksum !== undefined) {
        if (checksum !== migration.checksum) {
          throw new Error(`migration ${migration.version}_${migration.name} was changed after it was applied; add a new migration instead`);
        }
        continue;
      }
      await client.query(migration.sql);
      await client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
        migration.version,
        migration.name,
        migration.checksum,
      ]);
      done.push(migration.version);
    }
    return done;
  });
}

/** True when every migration file is applied (for readiness checks). */
export async function migrationsApplied(pool: pg.Pool, migrations?: readonly Migration[]): Promise<boolean> {
  const all = migrations ?? (await readMigrations());
  const { rows } = await pool.query<{ version: number }>(
    "SELECT version FROM schema_migrations WHERE to_regclass('schema_migrations') IS NOT NULL",
  ).catch(() => ({ rows: [] as { version: number }[] }));
  const applied = new Set(rows.map((row) => row.version));
  return all.every((migration) => applied.has(migration.version));
}

const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Makes sure the service's login role exists and is a member of potledger_writer (and nothing more).
 * Run with the owner's connection at start-up. The role name comes from the service URL.
 */
export async function ensureServiceRole(ownerPool: pg.Pool, role: string, password: string | undefined): Promise<void> {
  await ensureLoginRole(ownerPool, role, password, 'potledger_writer', 'service');
}

/**
 * Makes sure the reports' login role exists and is a member of potledger_reader (and nothing more):
 * it may read every table and write none. Run with the owner's connection at start-up.
 */
export async function ensureReaderRole(ownerPool: pg.Pool, role: string, password: string | undefined): Promise<void> {
  await ensureLoginRole(ownerPool, role, password, 'potledger_reader', 'reader');
}

async function ensureLoginRole(ownerPool: pg.Pool, role: string, password: string | undefined, group: 'potledger_writer' | 'potledger_reader', what: string): Promise<void> {
  if (!ROLE_NAME.test(role)) throw new Error(`${what} role "${role}" must be lower-case letters, digits and _`);
  if (role === 'potledger_writer' || role === 'potledger_reader') throw new Error(`the ${what} role must be a login role of its own, not the group ${role}`);
  const client = await ownerPool.connect();
  try {
    const { rows } = await client.query<{ owner: string }>('SELECT current_user AS owner');
    if (rows[0]?.owner === role) throw new Error(`the ${what} role must not be the schema owner (${role})`);
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
    const passwordSql = password === undefined ? '' : ` PASSWORD ${await literal(client, password)}`;
    if (exists.rowCount === 0) {
      // Another database on the same server may create the role at the same moment.
      await client.query(`CREATE ROLE ${role} LOGIN${passwordSql}`).catch((error: unknown) => {
        if (sqlState(error) !== SQLSTATE.duplicateObject && sqlState(error) !== SQLSTATE.uniqueViolation) throw error;
      });
    }
    else if (password !== undefined) await client.query(`ALTER ROLE ${role}${passwordSql}`);
    await client.query(`GRANT ${group} TO ${role}`);
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => {});
    client.release();
  }
}

async function literal(client: pg.PoolClient, value: string): Promise<string> {
  const { rows } = await client.query<{ quoted: string }>('SELECT quote_literal($1) AS quoted', [value]);
  return rows[0]?.quoted ?? "''";
}
