import { createPool } from '../../src/journal/database.js';
import { ensureServiceRole } from '../../src/journal/migrate.js';
import { TEST_SERVICE_ROLE } from './database.js';

/**
 * Roles are cluster-wide: create them once before the test files run in parallel, so no two files race
 * to create the same role. Also removes test databases left behind by an interrupted earlier run.
 */
export default async function setup(): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (url === undefined || url === '') return;
  const pool = createPool(url, { max: 1 });
  try {
    for (const role of ['potledger_writer', 'potledger_reader']) {
      const { rowCount } = await pool.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
      if (rowCount === 0) await pool.query(`CREATE ROLE ${role} NOLOGIN`);
    }
    await ensureServiceRole(pool, TEST_SERVICE_ROLE, process.env.DATABASE_SERVICE_PASSWORD);
    const { rows } = await pool.query<{ datname: string }>(
      `SELECT datname FROM pg_database d WHERE datname LIKE 'potledger_test_%'
          AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)`,
    );
    // Another run may be creating its databases right now: one still in use is left alone.
    for (const { datname } of rows) await pool.query(`DROP DATABASE IF EXISTS ${datname}`).catch(() => {});
  } finally {
    await pool.end();
  }
}
