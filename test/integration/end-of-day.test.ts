import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeBusinessDayOffline, potBalancesAsOf } from '../../src/journal/end-of-day.js';
import { createExecutor, PARTITION_LOCK_CLASS } from '../../src/journal/executor.js';
import { commitItems, loadPot } from '../../src/journal/store.js';
import { urlWithDatabase } from '../../src/journal/database.js';
import { verifyLedger } from '../../src/journal/verify.js';
import { admit, assetCatalog, DEFAULT_ASSETS, isRejection, ledgerProcesses, partitionOf, postEntries, run, type Command } from '../../src/ledger/index.js';
import { waitFor } from '../support/wait.js';
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
const command = (process: string, payload: unknown, effectiveDate: string, memberId = 'M-E', potId = 'P-E'): Command => {
  n += 1;
  return { commandId: `eod-${n}`, process, memberId, potId, payload, effectiveDate, producedAt: `${effectiveDate}T09:00:00Z` };
};

/** Each asset's sum over every account's balance at the close of `businessDate` (the balance sheet at the close). */
async function netAtClose(businessDate: string): Promise<Map<string, bigint>> {
  const { rows } = await db.owner.query<{ asset: string; total: bigint }>(
    `SELECT b.asset, sum(d.balance_minor)::bigint AS total
       FROM balances b JOIN LATERAL (SELECT d.balance_minor FROM balances_eod d WHERE d.account_id = b.account_id AND d.business_date <= $1::date
                                      ORDER BY d.business_date DESC LIMIT 1) d ON true
      GROUP BY b.asset`,
    [businessDate],
  );
  return new Map(rows.map((row) => [row.asset, row.total]));
}

/**
 * Runs `command` the executor's way in a transaction of its own that holds the partition's lock and is
 * left open: the caller commits it (or rolls it back) once something else is waiting behind it.
 */
async function applyUncommitted(next: Command): Promise<{ commit(): Promise<void> }> {
  const partition = partitionOf(next.memberId, 8);
  const client = await db.service.connect();
  await client.query('BEGIN');
  await client.query('SELECT pg_advisory_xact_lock($1, $2)', [PARTITION_LOCK_CLASS, partition]);
  const admitted = admit(next);
  if (isRejection(admitted)) throw new Error(admitted.reason);
  const snapshot = await loadPot(client, next.potId, partition);
  const outcome = run(ledgerProcesses, next, { pot: snapshot.pot, balances: snapshot.balances, movements: new Map(), orders: new Map() }, {
    assets,
    partitionCount: 8,
    movementId: `mv-${next.commandId}`,
  });
  if (outcome.kind === 'rejected') throw new Error(outcome.reason);
  const postings = postEntries(outcome.movement.entries, snapshot.balances, snapshot.versions).postings;
  await commitItems(client, [{ command: next, fingerprint: admitted.fingerprint, partition, outcome, postings }], assets);
  return {
    async commit() {
      await client.query('COMMIT');
      client.release();
    },
  };
}

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

describe('the offline close', () => {
  it('is a cut while a movement commits: an account it changes and one it creates are both in the close, or neither', async () => {
    const executor = createExecutor(db.service, { registry: ledgerProcesses, assets, partitionCount: 8 });
    await executor.execute(command('pot.open', {}, '2026-11-23', 'M-C', 'P-C'));
    await executor.execute(command('cash.deposit', { amount: '100.00', currency: 'GBP' }, '2026-11-23', 'M-C', 'P-C'));
    // A movement in flight: it takes 40.00 out of cash:GBP (changed since the last close) into cash.prepaid:GBP (a new account).
    const inFlight = await applyUncommitted(command('cash.transfer', { amount: '40.00', currency: 'GBP', source: 'cash', target: 'cash.prepaid' }, '2026-11-23', 'M-C', 'P-C'));
    const closing = closeBusinessDayOffline(db.service, '2026-11-23', 8);
    await waitFor('the close waiting behind the movement in flight', async () => {
      const { rows } = await db.owner.query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'");
      return rows.length > 0;
    });
    await inFlight.commit();
    await closing;
    expect(await potBalancesAsOf(db.service, 'P-C', '2026-11-23')).toEqual(new Map([['pot:P-C:cash:GBP', 6000n], ['pot:P-C:cash.prepaid:GBP', 4000n]]));
    for (const [asset, total] of await netAtClose('2026-11-23')) expect(total, asset).toBe(0n);
    expect((await verifyLedger(db.owner)).checks.filter((check) => !check.ok)).toEqual([]);
  });
});

describe('verify', () => {
  it('fails on a snapshot that is not the journal replayed up to its partition\'s cut', async () => {
    const executor = createExecutor(db.service, { registry: ledgerProcesses, assets, partitionCount: 8 });
    await executor.execute(command('pot.open', {}, '2026-11-24', 'M-T', 'P-T'));
    await executor.execute(command('cash.deposit', { amount: '10.00', currency: 'GBP' }, '2026-11-24', 'M-T', 'P-T'));
    await closeBusinessDayOffline(db.service, '2026-11-24', 8);
    await executor.execute(command('cash.deposit', { amount: '5.00', currency: 'GBP' }, '2026-11-25', 'M-T', 'P-T'));
    expect((await verifyLedger(db.owner)).ok).toBe(true);
    // The snapshot of the 24th made to show the deposit of the 25th: a real entry's balance and version
    // (so each snapshot row still matches its entry), but from after the cut.
    const tamper = async (version: number, balanceMinor: number) => {
      await db.owner.query('ALTER TABLE balances_eod DISABLE TRIGGER balances_eod_append_only');
      await db.owner.query(
        "UPDATE balances_eod SET version = $1, balance_minor = $2 WHERE account_id = 'pot:P-T:cash:GBP' AND business_date = '2026-11-24'",
        [version, balanceMinor],
      );
      await db.owner.query('ALTER TABLE balances_eod ENABLE TRIGGER balances_eod_append_only');
    };
    await tamper(2, 1500);
    try {
      const report = await verifyLedger(db.owner);
      expect(report.checks.filter((check) => !check.ok).map((check) => check.name)).toEqual(['end-of-day-cut']);
      expect(report.checks.find((check) => check.name === 'end-of-day-cut')?.examples).toEqual([
        'pot:P-T:cash:GBP at the close of 2026-11-24: snapshot v2, the journal replayed up to the cut gives v1',
      ]);
    } finally {
      await tamper(1, 1000);
    }
    expect((await verifyLedger(db.owner)).ok).toBe(true);
  });
});

describe('verify on a ledger closed before close markers', () => {
  it('checks the cut from the first recorded close on, and leaves the snapshots of older closes to their own check', async () => {
    const legacyDb = await createTestDatabase('eodlegacy');
    try {
      await closedBeforeMarkers(legacyDb);
    } finally {
      await legacyDb.drop();
    }
  });
});

/** A ledger with a day closed before migration 0019 (no recorded cut), then a day closed with one. */
async function closedBeforeMarkers(ledger: TestDatabase): Promise<void> {
  const executor = createExecutor(ledger.service, { registry: ledgerProcesses, assets, partitionCount: 8 });
  for (const [member, pot] of [['M-L1', 'P-L1'], ['M-L9', 'P-L9']] as const) {
    await executor.execute(command('pot.open', {}, '2026-11-26', member, pot));
    await executor.execute(command('cash.deposit', { amount: '10.00', currency: 'GBP' }, '2026-11-26', member, pot));
  }
  // A close as migration 0019 found it: snapshots and the closed day, no request and no recorded cut.
  const legacy = await ledger.owner.query(
    `WITH changed AS (UPDATE balances SET closed_version = version WHERE version <> closed_version RETURNING account_id, balance_minor, version)
     INSERT INTO balances_eod (business_date, account_id, balance_minor, version) SELECT '2026-11-26', account_id, balance_minor, version FROM changed`,
  );
  await ledger.owner.query("INSERT INTO business_days_closed (business_date, accounts) VALUES ('2026-11-26', $1)", [legacy.rowCount]);
  // P-L9 (in P-L1's partition) does not move again: its deposit is the older close's, not the next one's.
  await executor.execute(command('cash.deposit', { amount: '5.00', currency: 'GBP' }, '2026-11-27', 'M-L1', 'P-L1'));
  await closeBusinessDayOffline(ledger.service, '2026-11-27', 8);
  expect((await verifyLedger(ledger.owner)).checks.filter((check) => !check.ok)).toEqual([]);
  expect(await potBalancesAsOf(ledger.service, 'P-L9', '2026-11-27')).toEqual(new Map([['pot:P-L9:cash:GBP', 1000n]]));
  // A snapshot of a day the partition did not close, once cuts are recorded, is a break.
  await ledger.owner.query("INSERT INTO balances_eod (business_date, account_id, balance_minor, version) VALUES ('2026-11-28', 'pot:P-L1:cash:GBP', 1500, 2)");
  expect((await verifyLedger(ledger.owner)).checks.find((check) => check.name === 'end-of-day-cut')?.examples).toEqual([
    'pot:P-L1:cash:GBP has a snapshot of 2026-11-28, a day its partition 0 did not close',
  ]);
}

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
