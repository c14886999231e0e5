import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createPool } from '../../src/journal/database.js';
import { ensureReaderRole, ensureServiceRole } from '../../src/journal/migrate.js';
import { TEST_READER_ROLE, TEST_SERVICE_ROLE } from './database.js';
import { TEST_PREFIX } from './nats.js';

/** Test streams older than this are leftovers of an interrupted run (each reserves JetStream storage). */
const LEFTOVER_STREAM_AGE_MS = 30 * 60 * 1000;

async function removeLeftoverStreams(url: string): Promise<void> {
  const nc = await connect({ servers: url, name: 'potledger-test-setup' });
  try {
    const jsm = await jetstreamManager(nc);
    const pattern = new RegExp(`^(KV_)?${TEST_PREFIX}`);
    for await (const stream of jsm.streams.list()) {
      const age = Date.now() - Date.parse(stream.created);
      if (pattern.test(stream.config.name) && age > LEFTOVER_STREAM_AGE_MS) await jsm.streams.delete(stream.config.name).catch(() => false);
    }
  } finally {
    await nc.close();
  }
}

/**
 * Roles are cluster-wide: create them once before the test files run in parallel, so no two files race
 * to create the same role. Also removes test databases and NATS streams left behind by an interrupted
 * earlier run.
 */
export default async function setup(): Promise<void> {
  const natsUrl = process.env.NATS_URL;
  if (natsUrl !== undefined && natsUrl !== '') await removeLeftoverStreams(natsUrl);
  const url = process.env.DATABASE_URL;
  if (url === undefined || url === '') return;
  const pool = createPool(url, { max: 1 });
  try {
    for (const role of ['potledger_writer', 'potledger_reader']) {
      const { rowCount } = await pool.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
      if (rowCount === 0) await pool.query(`CREATE ROLE ${role} NOLOGIN`);
    }
    await ensureServiceRole(pool, TEST_SERVICE_ROLE, process.env.DATABASE_SERVICE_PASSWORD);
    await ensureReaderRole(pool, TEST_READER_ROLE, process.env.DATABASE_READER_PASSWORD);
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
