import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeBusinessDayOffline, potBalancesAsOf } from '../../src/journal/end-of-day.js';
import { createExecutor } from '../../src/journal/executor.js';
import { urlWithDatabase } from '../../src/journal/database.js';
import { verifyLedger } from '../../src/journal/verify.js';
import { assetCatalog, DEFAULT_ASSETS, ledgerProcesses, type Command } from '../../src/ledger/index.js';
import { createTestDatabase, ownerUrl, type TestDatabase } from '../support/database.js';

const assets = assetCatalog(DEFAULT_ASSETS);
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('eod');
});
afterAll(async () => {
  await db?.drop();
});

let n = 0;
const command = (process: string, payload: unknown, effectiveDate: string): Command => {
  n += 1;
  return { commandId: `eod-${n}`, process, memberId: 'M-E', potId: 'P-E', payload, effectiveDate, producedAt: `${effectiveDate}T09:00:00Z` };
};

describe('end-of-day snapshots', () => {
  it('give the balance of a past day without a replay, and verify checks them against the entries', async () => {
    const executor = createExecutor(db.service, { registry: ledgerProcesses, assets, partitionCount: 8 });
    await executor.execute(command('pot.open', {}, '2026-11-20'));
    await executor.execute(command('cash.deposit', { amount: '100.00', currency: 'GBP' }, '2026-11-20'));
    expect(await closeBusinessDayOffline(db.service, '2026-11-20', 8)).toEqual({ accounts: 2, alreadyClosed: false });
    await executor.execute(command('cash.deposit', { amount: '50.00', currency: 'GBP' }, '2026-11-21'));
    await executor.execute(command('cash.withdraw', { amount: '30.00', currency: 'GBP' }, '2026-11-21'));
    expect(await closeBusinessDayOffline(db.service, '2026-11-21', 8)).toEqual({ accounts: 2, alreadyClosed: false });
    // Nothing moved on the 22nd: closing it records no account, and closing it twice changes nothing.
    expect(await closeBusinessDayOffline(db.service, '2026-11-22', 8)).toEqual({ accounts: 0, alreadyClosed: false });
    expect(await closeBusinessDayOffline(db.service, '2026-11-22', 8)).toEqual({ accounts: 0, alreadyClosed: true });
    await expect(closeBusinessDayOffline(db.service, '2026-11-21', 8)).resolves.toEqual({ accounts: 2, alreadyClosed: true });
    await expect(closeBusinessDayOffline(db.service, '2026-11-19', 8)).rejects.toThrow(/after 2026-11-19 is closed/);

    expect(await potBalancesAsOf(db.service, 'P-E', '2026-11-19')).toEqual(new Map());
    expect(await potBalancesAsOf(db.service, 'P-E', '2026-11-20')).toEqual(new Map([['pot:P-E:cash:GBP', 10000n]]));
    expect(await potBalancesAsOf(db.service, 'P-E', '2026-11-21')).toEqual(new Map([['pot:P-E:cash:GBP', 12000n]]));
    expect(await potBalancesAsOf(db.service, 'P-E', '2026-11-30')).toEqual(new Map([['pot:P-E:cash:GBP', 12000n]]));
    expect((await verifyLedger(db.owner)).ok).toBe(true);
  });
});

describe('npm run verify', () => {
  const runVerify = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/potledger.ts', 'verify', ...args], {
      env: { ...process.env, DATABASE_URL: urlWithDatabase(ownerUrl(), db.name) },
      encoding: 'utf8',
      timeout: 60_000,
    });

  it('prints a JSON summary with --json and exits 0 on a sound ledger, 1 naming the break otherwise', async () => {
    const sound = runVerify('--json');
    expect(sound.status).toBe(0);
    const report = JSON.parse(sound.stdout.trim().split('\n').at(-1) ?? '{}') as { ok: boolean; counts: { movements: number } };
    expect(report.ok).toBe(true);
    expect(report.counts.movements).toBeGreaterThan(0);

    await db.owner.query("UPDATE balances SET balance_minor = balance_minor + 1 WHERE account_id = 'pot:P-E:cash:GBP'");
    const broken = runVerify();
    expect(broken.status).toBe(1);
    expect(broken.stdout).toMatch(/FAIL balances-equal-entries/);
    expect(broken.stdout).toContain('pot:P-E:cash:GBP');
    await db.owner.query("UPDATE balances SET balance_minor = balance_minor - 1 WHERE account_id = 'pot:P-E:cash:GBP'");
  });

  it('exits 2 with a clear message when it cannot run', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/potledger.ts', 'verify'], {
      env: { ...process.env, DATABASE_URL: 'not-a-url' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/DATABASE_URL is "not-a-url": expected a postgres:\/\/ URL/);
  });
});
