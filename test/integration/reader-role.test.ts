import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { createPool, sqlState, SQLSTATE, urlAsRole, urlWithDatabase } from '../../src/journal/database.js';
import { ensureReaderRole } from '../../src/journal/migrate.js';
import { balanceSheet } from '../../src/journal/reads.js';
import { assetCatalog, DEFAULT_ASSETS } from '../../src/ledger/index.js';
import { topInvestors } from '../../src/pools/pools.js';
import { bearer, buildTestApp, type TestApp } from '../support/api.js';
import { createTestDatabase, ownerUrl, type TestDatabase } from '../support/database.js';

/**
 * The report routes read through a pool of their own whose role is a member of potledger_reader
 * (DATABASE_READER_ROLE): they answer as before, and that role cannot write the journal.
 */
const READER_ROLE = 'potledger_reports';
/** A login role with no grant at all: report routes given it fail, which shows they read through `reports`. */
const NOTHING_ROLE = 'potledger_test_nothing';

describe('the read-only reports pool', () => {
  let db: TestDatabase;
  let reports: pg.Pool;
  let nothing: pg.Pool;
  let withReports: TestApp;
  let withNothing: TestApp;
  const assets = assetCatalog(DEFAULT_ASSETS);

  beforeAll(async () => {
    db = await createTestDatabase('reader_role');
    const url = urlWithDatabase(ownerUrl(), db.name);
    const password = process.env.DATABASE_READER_PASSWORD;
    await ensureReaderRole(db.owner, READER_ROLE, password);
    await ensureReaderRole(db.owner, READER_ROLE, password); // idempotent
    await db.owner.query(`DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${NOTHING_ROLE}') THEN CREATE ROLE ${NOTHING_ROLE} LOGIN; END IF; END $$`);
    reports = createPool(urlAsRole(url, READER_ROLE, password), { max: 2 });
    nothing = createPool(urlAsRole(url, NOTHING_ROLE), { max: 2 });
    await db.owner.query("INSERT INTO partition_totals (partition, kind, asset, balance_minor) VALUES (0, 'pot.cash', 'GBP', 1234), (1, 'pot.cash', 'GBP', 66)");
    withReports = await buildTestApp(db.service, undefined, { reports });
    withNothing = await buildTestApp(db.service, undefined, { reports: nothing });
  }, 60_000);

  afterAll(async () => {
    await withReports?.app.close();
    await withNothing?.app.close();
    await reports?.end();
    await nothing?.end();
    await db?.drop();
    const admin = createPool(ownerUrl(), { max: 1 });
    await admin.query(`DROP ROLE IF EXISTS ${NOTHING_ROLE}`).catch(() => undefined);
    await admin.end();
  });

  it('serves the balance sheet and the top-investors report through the reader role', async () => {
    const sheet = await withReports.app.inject({ method: 'GET', url: '/balance-sheet', headers: bearer(withReports.keys.operator) });
    expect(sheet.statusCode).toBe(200);
    expect(sheet.json()).toEqual(await balanceSheet(db.owner, assets));
    expect(sheet.json()).toMatchObject({ netByAsset: { GBP: '13.00' } });
    const top = await withReports.app.inject({ method: 'GET', url: '/reports/top-investors?limit=5', headers: bearer(withReports.keys.operator) });
    expect(top.statusCode).toBe(200);
    expect(top.json()).toEqual({ investors: await topInvestors(db.owner, assets, 5) });
    const run = await withReports.app.inject({ method: 'GET', url: '/recon/R-2026-01-02-0000abcd', headers: bearer(withReports.keys.operator) });
    expect(run.statusCode).toBe(404);
  });

  it('reads them through that pool, not the service pool (a role that may read nothing fails them)', async () => {
    for (const url of ['/balance-sheet', '/reports/top-investors', '/recon/R-2026-01-02-0000abcd']) {
      const response = await withNothing.app.inject({ method: 'GET', url, headers: bearer(withNothing.keys.operator) });
      expect(response.statusCode, url).toBe(500);
    }
  });

  it.each([
    ['INSERT INTO balances (account_id, pot_id, kind, asset, balance_minor) VALUES ($1, NULL, $2, $3, 0)', ['x', 'pot.cash', 'GBP']],
    ['UPDATE balances SET balance_minor = balance_minor + 1', []],
    ["INSERT INTO movements (movement_id) VALUES ('m')", []],
    ["UPDATE movements SET effective_date = effective_date", []],
    ["INSERT INTO command_outcomes (command_id) VALUES ('c')", []],
    ["UPDATE command_outcomes SET command_id = command_id", []],
    ["DELETE FROM command_outcomes", []],
  ])('the reader role cannot write: %s', async (sql, values) => {
    const error = await reports.query(sql, values).then(() => undefined, (failure: unknown) => failure);
    expect(sqlState(error)).toBe(SQLSTATE.insufficientPrivilege);
  });
});
