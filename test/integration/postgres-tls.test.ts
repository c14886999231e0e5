import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { createPool, urlAsRole } from '../../src/journal/database.js';
import { ensureReaderRole, ensureServiceRole, migrate } from '../../src/journal/migrate.js';
import { makeCertificates, PrivatePostgres } from '../support/servers.js';

/*
 * TLS to Postgres (issue 8): the service reaches Postgres through DATABASE_URL, whose `sslmode` and
 * `sslrootcert` node-postgres honours. On a Postgres of its own that refuses every connection that is
 * not TLS, the owner migrates and the service and reader roles (whose URLs are derived from
 * DATABASE_URL) connect over TLS, verifying the server against the CA; a plain connection is refused,
 * and so is one that trusts another CA.
 */

let certificates: string;
let other: string;
let postgres: PrivatePostgres;

beforeAll(async () => {
  certificates = await mkdtemp(join(tmpdir(), 'potledger-pg-tls-'));
  other = join(certificates, 'other');
  await makeCertificates(certificates);
  await makeCertificates(other);
  postgres = await PrivatePostgres.create('tls', { tlsOnly: { dir: certificates } });
});

afterAll(async () => {
  await postgres?.destroy();
  await rm(certificates, { recursive: true, force: true });
});

const overTls = 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()';

describe('TLS to Postgres, configured in DATABASE_URL', () => {
  it('migrates and serves the service and reader roles over verified TLS', async () => {
    const url = `${postgres.url()}?sslmode=verify-full&sslrootcert=${join(certificates, 'ca.pem')}`;
    // The configuration accepts it (the root certificate exists), and every role's URL keeps the TLS settings.
    const config = loadConfig({ DATABASE_URL: url });
    const owner = createPool(config.DATABASE_URL, { max: 1 });
    try {
      await migrate(owner);
      await ensureServiceRole(owner, config.DATABASE_SERVICE_ROLE, undefined);
      await ensureReaderRole(owner, config.DATABASE_READER_ROLE, undefined);
      for (const role of [config.DATABASE_SERVICE_ROLE, config.DATABASE_READER_ROLE]) {
        const pool = createPool(urlAsRole(config.DATABASE_URL, role, undefined), { max: 1 });
        try {
          expect((await pool.query<{ ssl: boolean }>(overTls)).rows[0], role).toEqual({ ssl: true });
          expect((await pool.query<{ role: string }>('SELECT current_user AS role')).rows[0]).toEqual({ role });
        } finally {
          await pool.end();
        }
      }
    } finally {
      await owner.end();
    }
  });

  it('refuses a connection without TLS', async () => {
    const pool = createPool(`${postgres.url()}?sslmode=disable`, { max: 1 });
    try {
      await expect(pool.query('SELECT 1')).rejects.toThrow(/no encryption|pg_hba\.conf rejects/);
    } finally {
      await pool.end();
    }
  });

  it('refuses a server its CA did not sign', async () => {
    const pool = createPool(`${postgres.url()}?sslmode=verify-full&sslrootcert=${join(other, 'ca.pem')}`, { max: 1 });
    try {
      await expect(pool.query('SELECT 1')).rejects.toThrow(/certificate/i);
    } finally {
      await pool.end();
    }
  });

  it('fails at start-up, by name, when the root certificate is missing', () => {
    expect(() => loadConfig({ DATABASE_URL: `${postgres.url()}?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem` })).toThrow(/sslrootcert=\/nonexistent\/ca\.pem/);
  });
});
