import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { createPool, urlAsRole, urlWithDatabase } from '../../src/journal/database.js';
import { ensureReaderRole, ensureServiceRole, migrate } from '../../src/journal/migrate.js';

/** The role integration tests write with: the same kind of role the service uses. */
export const TEST_SERVICE_ROLE = 'potledger_service';
/** The role reports are read with: the same kind of role the service's reports use. */
export const TEST_READER_ROLE = 'potledger_reports';

export function ownerUrl(): string {
  const url = process.env.DATABASE_URL;
  if (url === undefined || url === '') {
    throw new Error('DATABASE_URL is not set: run the tests with `./dev test` (it starts or finds Postgres and sets it)');
  }
  return url;
}

export interface TestDatabase {
  readonly name: string;
  /** The schema owner (migrations, superuser-only checks). */
  readonly owner: pg.Pool;
  /** The service role: may insert into the journal, never change it. */
  readonly service: pg.Pool;
  readonly serviceUrl: string;
  /** The reader role: may only SELECT (the API's reports read with it). */
  readonly reports: pg.Pool;
  drop(): Promise<void>;
}

/**
 * A fresh database of its own for one test file, migrated, with the service role granted. Its name is
 * unique, so tests never touch a running system's data and can run twice in a row; `drop` removes it.
 */
export async function createTestDatabase(label: string): Promise<TestDatabase> {
  const name = `potledger_test_${label.replace(/[^a-z0-9]/g, '_')}_${randomBytes(4).toString('hex')}`;
  const admin = createPool(ownerUrl(), { max: 1 });
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = urlWithDatabase(ownerUrl(), name);
  const owner = createPool(url, { max: 4, applicationName: 'potledger-test-owner' });
  await migrate(owner);
  const password = process.env.DATABASE_SERVICE_PASSWORD;
  await ensureServiceRole(owner, TEST_SERVICE_ROLE, password);
  const serviceUrl = urlAsRole(url, TEST_SERVICE_ROLE, password);
  const service = createPool(serviceUrl, { max: 8, applicationName: 'potledger-test-service' });
  const readerPassword = process.env.DATABASE_READER_PASSWORD;
  await ensureReaderRole(owner, TEST_READER_ROLE, readerPassword);
  const reports = createPool(urlAsRole(url, TEST_READER_ROLE, readerPassword), { max: 2, applicationName: 'potledger-test-reports' });
  return {
    name,
    owner,
    service,
    serviceUrl,
    reports,
    async drop() {
      await service.end();
      await reports.end();
      await owner.end();
      const cleanup = createPool(ownerUrl(), { max: 1 });
      await cleanup.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await cleanup.end();
    },
  };
}
