import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SQLSTATE, sqlState } from '../../src/journal/database.js';
import { createExecutor } from '../../src/journal/executor.js';
import { verifyLedger } from '../../src/journal/verify.js';
import { assetCatalog, DEFAULT_ASSETS, ledgerProcesses, ReferenceLedger, type Command } from '../../src/ledger/index.js';
import { createTestDatabase, TEST_READER_ROLE, type TestDatabase } from '../support/database.js';

const assets = assetCatalog(DEFAULT_ASSETS);
const PARTITIONS = 8;
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('journal');
});
afterAll(async () => {
  await db?.drop();
});

let sequence = 0;
function command(process: string, payload: unknown, potId = 'P-1', memberId = 'M-1'): Command {
  sequence += 1;
  return { commandId: `journal-${sequence}`, process, memberId, potId, payload, effectiveDate: '2026-11-22', producedAt: '2026-11-22T09:00:00Z' };
}

async function balancesOf(potId: string): Promise<Record<string, string>> {
  const { rows } = await db.service.query<{ account_id: string; balance_minor: bigint }>(
    'SELECT account_id, balance_minor FROM balances WHERE pot_id = $1 AND balance_minor <> 0 ORDER BY account_id',
    [potId],
  );
  return Object.fromEntries(rows.map((row) => [row.account_id, row.balance_minor.toString()]));
}

describe('the Postgres journal', () => {
  it('commits movements, balances and outcomes that match the reference ledger, and verify passes', async () => {
    const executor = createExecutor(db.service, { registry: ledgerProcesses, assets, partitionCount: PARTITIONS, movementId: (c) => `mv-${c.commandId}` });
    const reference = new ReferenceLedger(ledgerProcesses, assets, PARTITIONS);
    const commands = [
      command('pot.open', {}),
      command('cash.deposit', { amount: '200.00', currency: 'GBP' }),
      command('charge.assess', { amount: '100.00', currency: 'GBP' }),
      command('charge.repay', { amount: '150.00', currency: 'GBP' }),
      command('cash.withdraw', { amount: '60.00', currency: 'GBP' }),
      command('cash.transfer', { amount: '10.00', currency: 'GBP', source: 'cash.prepaid', target: 'cash' }),
      command('cash.deposit', { amount: '1.001', currency: 'GBP' }),
    ];
    for (const c of commands) {
      const stored = await executor.execute(c);
      const expected = reference.execute(c, `mv-${c.commandId}`);
      expect(stored).toEqual(expected);
    }
    const reversal = command('movement.reverse', { movementId: `mv-${commands[4]?.commandId}` });
    expect((await executor.execute(reversal)).kind).toBe('answered');
    reference.execute(reversal, `mv-${reversal.commandId}`);

    const expected = Object.fromEntries(
      [...reference.balances()].filter(([account]) => account.startsWith('pot:P-1:')).map(([account, balance]) => [account, balance.toString()]),
    );
    expect(await balancesOf('P-1')).toEqual(expected);
    expect(expected).toEqual({ 'pot:P-1:cash:GBP': '6000', 'pot:P-1:cash.prepaid:GBP': '4000' });
    const report = await verifyLedger(db.owner);
    expect(report.checks.filter((check) => !check.ok)).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it('answers a repeated commandId from its first outcome and refuses a reuse with another payload', async () => {
    const executor = createExecutor(db.service, { registry: ledgerProcesses, assets, partitionCount: PARTITIONS });
    const open = command('pot.open', {}, 'P-2', 'M-2');
    await executor.execute(open);
    const deposit = command('cash.deposit', { amount: '5.00', currency: 'GBP' }, 'P-2', 'M-2');
    const first = await executor.execute(deposit);
    const again = await executor.execute({ ...deposit, producedAt: '2026-11-22T10:00:00Z' });
    expect(first.kind === 'answered' && !first.replayed).toBe(true);
    expect(again).toEqual({ ...first, replayed: true });
    const conflict = await executor.execute({ ...deposit, payload: { amount: '6.00', currency: 'GBP' } });
    expect(conflict.kind === 'conflict' && conflict.rejection.code).toBe('LEDGER_ERR_IDEMPOTENCY_CONFLICT');
    expect(await balancesOf('P-2')).toEqual({ 'pot:P-2:cash:GBP': '500' });
  });

  it('records a rejection as the outcome of its commandId', async () => {
    const executor = createExecutor(db.service, { registry: ledgerProcesses, assets, partitionCount: PARTITIONS });
    const overdraw = command('cash.withdraw', { amount: '1000.00', currency: 'GBP' }, 'P-2', 'M-2');
    const answer = await executor.execute(overdraw);
    expect(answer.kind === 'answered' && answer.outcome.kind === 'rejected' && answer.outcome.code).toBe('LEDGER_ERR_INSUFFICIENT_FUNDS');
    const { rows } = await db.service.query('SELECT status, rejection_code FROM command_outcomes WHERE command_id = $1', [overdraw.commandId]);
    expect(rows).toEqual([{ status: 'rejected', rejection_code: 'LEDGER_ERR_INSUFFICIENT_FUNDS' }]);
  });
});

describe('a cross-currency payment in the journal (S10)', () => {
  // The two currencies of an exchange are entries of one movement, written in one transaction: a
  // failure writing the second leg (here a trigger refusing any EUR entry, as a fault of the database
  // would) leaves no trace of the first, and the same command applies whole once the fault is gone.
  it('posts neither leg when writing the second fails, and both once it can', async () => {
    const executor = createExecutor(db.service, { registry: ledgerProcesses, assets, partitionCount: PARTITIONS, movementId: (c) => `mv-${c.commandId}` });
    await executor.execute(command('pot.open', {}, 'P-FX', 'M-FX'));
    await executor.execute(command('cash.deposit', { amount: '200.00', currency: 'GBP' }, 'P-FX', 'M-FX'));
    const before = await balancesOf('P-FX');
    const send = command('payment.send', {
      paymentId: 'PAY-FX',
      payee: { memberId: 'M-EUR', potId: 'P-EUR' },
      amount: '100.00',
      currency: 'EUR',
      exchange: { fromCurrency: 'GBP', rate: '1.17000000' },
    }, 'P-FX', 'M-FX');
    await db.owner.query(`CREATE FUNCTION test_refuse_eur() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected: the EUR leg cannot be written'; END $$`);
    await db.owner.query(`CREATE TRIGGER test_refuse_eur BEFORE INSERT ON entries FOR EACH ROW WHEN (NEW.asset = 'EUR') EXECUTE FUNCTION test_refuse_eur()`);
    try {
      await expect(executor.execute(send)).rejects.toThrow(/the EUR leg cannot be written/);
    } finally {
      await db.owner.query('DROP TRIGGER test_refuse_eur ON entries');
      await db.owner.query('DROP FUNCTION test_refuse_eur()');
    }
    expect(await balancesOf('P-FX')).toEqual(before);
    const written = await db.owner.query("SELECT count(*)::int AS n FROM entries WHERE movement_id = $1", [`mv-${send.commandId}`]);
    expect(written.rows[0]).toEqual({ n: 0 });
    const outcome = await db.owner.query('SELECT count(*)::int AS n FROM command_outcomes WHERE command_id = $1', [send.commandId]);
    expect(outcome.rows[0]).toEqual({ n: 0 });

    const answer = await executor.execute(send);
    expect(answer.kind === 'answered' && answer.outcome.kind).toBe('applied');
    expect(await balancesOf('P-FX')).toEqual({ 'pot:P-FX:cash:GBP': '11452' });
    const { rows } = await db.owner.query<{ asset: string; total: string }>(
      `SELECT asset, sum(balance_minor)::text AS total FROM balances
        WHERE account_id LIKE 'system:%fx.liquidity%' OR account_id LIKE 'system:%payments.clearing:EUR'
        GROUP BY asset ORDER BY asset`,
    );
    expect(rows).toEqual([{ asset: 'EUR', total: '0' }, { asset: 'GBP', total: '8548' }]);
    // Refunded (the payee refused it): both legs undone in one movement, the payer whole again.
    const refund = command('payment.refund', {
      paymentId: 'PAY-FX',
      amount: '100.00',
      currency: 'EUR',
      exchange: { fromCurrency: 'GBP', rate: '1.17000000' },
      reason: 'payee refused',
    }, 'P-FX', 'M-FX');
    expect(await executor.execute(refund)).toMatchObject({ kind: 'answered', outcome: { kind: 'applied' } });
    expect(await balancesOf('P-FX')).toEqual(before);
    const report = await verifyLedger(db.owner);
    expect(report.checks.filter((check) => !check.ok)).toEqual([]);
  });
});

describe('the journal is append-only', () => {
  const statements = {
    'UPDATE movements': "UPDATE movements SET process = 'x'",
    'DELETE movements': 'DELETE FROM movements',
    'TRUNCATE movements': 'TRUNCATE movements CASCADE',
    'UPDATE entries': 'UPDATE entries SET amount_minor = amount_minor + 1',
    'DELETE entries': 'DELETE FROM entries',
    'TRUNCATE entries': 'TRUNCATE entries',
    'UPDATE command_outcomes': "UPDATE command_outcomes SET status = 'rejected'",
    'DELETE command_outcomes': 'DELETE FROM command_outcomes',
    'DELETE balances': 'DELETE FROM balances',
    'UPDATE poison_messages': "UPDATE poison_messages SET code = 'x'",
    // Nor may it change the schema: no new columns, no dropped triggers or tables, nothing new.
    'ALTER TABLE movements': 'ALTER TABLE movements ADD COLUMN note text',
    'DISABLE TRIGGER on entries': 'ALTER TABLE entries DISABLE TRIGGER USER',
    'DROP TABLE balances': 'DROP TABLE balances',
    'CREATE TABLE': 'CREATE TABLE shadow_journal (id int)',
    'CREATE FUNCTION': "CREATE FUNCTION shadow() RETURNS int LANGUAGE sql AS 'SELECT 1'",
  };

  for (const [name, sql] of Object.entries(statements)) {
    it(`refuses ${name} to the service role`, async () => {
      const error = await db.service.query(sql).then(() => undefined, (caught: unknown) => caught);
      expect(sqlState(error)).toBe(SQLSTATE.insufficientPrivilege);
    });
  }

  it('cannot grant itself what it lacks (Postgres grants nothing, with a warning)', async () => {
    await db.service.query('GRANT UPDATE ON movements TO CURRENT_USER');
    const error = await db.service.query("UPDATE movements SET process = 'x'").then(() => undefined, (caught: unknown) => caught);
    expect(sqlState(error)).toBe(SQLSTATE.insufficientPrivilege);
  });

  it('gives the reports login role (what the API reads reports with) reads and nothing else', async () => {
    expect((await db.reports.query('SELECT current_user AS role')).rows[0]).toEqual({ role: TEST_READER_ROLE });
    expect((await db.reports.query('SELECT count(*) FROM movements')).rowCount).toBe(1);
    for (const sql of [
      "INSERT INTO pools (pool_id, currency, name, member_id, pot_id, created_by) VALUES ('X', 'GBP', 'x', 'pool-X', 'pool-X', 'r')",
      "UPDATE pots SET status = 'closed'",
      'UPDATE balances SET balance_minor = 0',
      'DELETE FROM payments',
      "INSERT INTO command_outcomes (command_id, fingerprint, process, member_id, pot_id, status, rejection_code) VALUES ('x', 'x', 'x', 'x', 'x', 'rejected', 'x')",
      "INSERT INTO fx_rates (day, base, quote, rate, recorded_by) VALUES ('2026-01-01', 'GBP', 'EUR', '1', 'r')",
      'CREATE TABLE reports_scratch (x int)',
      'SET ROLE potledger_writer',
    ]) {
      const error = await db.reports.query(sql).then(() => undefined, (caught: unknown) => caught);
      expect(sqlState(error), sql).toBe(SQLSTATE.insufficientPrivilege);
    }
  });

  it('refuses UPDATE and DELETE of journal rows even to the schema owner (triggers)', async () => {
    for (const sql of ["UPDATE movements SET process = 'x'", 'DELETE FROM entries', 'TRUNCATE command_outcomes CASCADE']) {
      const error = await db.owner.query(sql).then(() => undefined, (caught: unknown) => caught);
      expect(error).toBeInstanceOf(Error);
      expect(String((error as Error).message)).toMatch(/append-only/);
    }
  });
});

describe('verify', () => {
  it('names a balance changed behind the journal, and an entry changed with its triggers disabled', async () => {
    const executor = createExecutor(db.service, { registry: ledgerProcesses, assets, partitionCount: PARTITIONS });
    await executor.execute(command('pot.open', {}, 'P-9', 'M-9'));
    await executor.execute(command('cash.deposit', { amount: '70.00', currency: 'GBP' }, 'P-9', 'M-9'));
    expect((await verifyLedger(db.owner)).ok).toBe(true);

    await db.owner.query("UPDATE balances SET balance_minor = balance_minor + 1 WHERE account_id = 'pot:P-9:cash:GBP'");
    const tampered = await verifyLedger(db.owner);
    expect(tampered.ok).toBe(false);
    const broken = tampered.checks.filter((check) => !check.ok).map((check) => check.name);
    expect(broken).toEqual(expect.arrayContaining(['balances-equal-entries', 'asset-sums-to-zero']));
    expect(tampered.checks.find((check) => check.name === 'balances-equal-entries')?.examples.join()).toContain('pot:P-9:cash:GBP');
    await db.owner.query("UPDATE balances SET balance_minor = balance_minor - 1 WHERE account_id = 'pot:P-9:cash:GBP'");
    expect((await verifyLedger(db.owner)).ok).toBe(true);

    await db.owner.query('ALTER TABLE entries DISABLE TRIGGER USER');
    await db.owner.query("UPDATE entries SET amount_minor = amount_minor + 5 WHERE account_id = 'pot:P-9:cash:GBP'");
    await db.owner.query('ALTER TABLE entries ENABLE TRIGGER USER');
    const names = (await verifyLedger(db.owner)).checks.filter((check) => !check.ok).map((check) => check.name);
    expect(names).toEqual(expect.arrayContaining(['movement-balances', 'entry-pairs', 'balances-equal-entries', 'movement-hash-chain']));
  });

  it('names, through the hash chain, a movement rewritten consistently behind the service (every other check satisfied)', async () => {
    const fresh = await createTestDatabase('journal_chain');
    try {
      const executor = createExecutor(fresh.service, { registry: ledgerProcesses, assets, partitionCount: PARTITIONS, movementId: (c) => `mv-${c.commandId}` });
      await executor.execute(command('pot.open', {}, 'P-C', 'M-C'));
      const first = command('cash.deposit', { amount: '70.00', currency: 'GBP' }, 'P-C', 'M-C');
      await executor.execute(first);
      await executor.execute(command('cash.withdraw', { amount: '20.00', currency: 'GBP' }, 'P-C', 'M-C'));
      expect((await verifyLedger(fresh.owner)).ok).toBe(true);
      const { rows } = await fresh.owner.query<{ prev_hash: string; hash: string }>('SELECT prev_hash, hash FROM movements WHERE pot_id = $1 ORDER BY seq', ['P-C']);
      expect(rows.map((r) => r.prev_hash)).toEqual(['', rows[0]?.hash, rows[1]?.hash]);

      // A superuser makes the deposit 80.00 everywhere it shows (both entry sides and every balance after
      // it, the balances, the partition totals): the books still add up, only the chain can tell.
      await fresh.owner.query('ALTER TABLE entries DISABLE TRIGGER USER');
      await fresh.owner.query("UPDATE entries SET amount_minor = amount_minor + 1000 WHERE movement_id = $1", [`mv-${first.commandId}`]);
      await fresh.owner.query("UPDATE entries SET balance_after_minor = balance_after_minor + 1000 WHERE account_id = 'pot:P-C:cash:GBP'");
      await fresh.owner.query(
        `UPDATE entries SET balance_after_minor = balance_after_minor - 1000
          WHERE account_id LIKE 'system:%:external.bank:GBP' AND movement_id IN (SELECT movement_id FROM movements WHERE pot_id = 'P-C')`,
      );
      await fresh.owner.query('ALTER TABLE entries ENABLE TRIGGER USER');
      await fresh.owner.query("UPDATE balances SET balance_minor = balance_minor + 1000 WHERE account_id = 'pot:P-C:cash:GBP'");
      await fresh.owner.query("UPDATE balances SET balance_minor = balance_minor - 1000 WHERE account_id LIKE 'system:%:external.bank:GBP'");
      await fresh.owner.query("UPDATE partition_totals SET balance_minor = balance_minor + 1000 WHERE kind = 'cash' AND asset = 'GBP'");
      await fresh.owner.query("UPDATE partition_totals SET balance_minor = balance_minor - 1000 WHERE kind = 'external.bank' AND asset = 'GBP'");
      const report = await verifyLedger(fresh.owner);
      const broken = report.checks.filter((check) => !check.ok);
      expect(broken.map((check) => check.name)).toEqual(['movement-hash-chain']);
      expect(broken[0]?.examples).toEqual([`movement mv-${first.commandId} of pot P-C does not hash to its recorded hash (changed since it was written)`]);
    } finally {
      await fresh.drop();
    }
  });
});
