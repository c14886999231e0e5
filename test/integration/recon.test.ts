import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerPositions, reconcile, runReconciliation } from '../../src/recon/reconcile.js';
import { breaksCsv, readRun, resolveBreak } from '../../src/recon/runs.js';
import type { BankStatement, CustodianStatement } from '../../src/recon/statements.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { urlWithDatabase } from '../../src/journal/database.js';
import { formatAmount } from '../../src/ledger/index.js';
import { bearer, buildTestApp, json } from '../support/api.js';
import { runPotledger } from '../support/cli.js';
import { ownerUrl } from '../support/database.js';
import { assets, DealingStack } from '../support/dealing.js';

/** Reconciliation of the running system's closes against statements derived from the custodian simulator. */
let stack: DealingStack;
const deposited = 300_000n; // three pots of 1,000.00

beforeAll(async () => {
  stack = await DealingStack.start('recon');
  stack.now = new Date('2026-06-01T08:00:00Z');
  for (const [i, cash] of [['1', '100.00'], ['2', '250.00'], ['3', '33.33']] as const) {
    await stack.openPotWithCash(`M-${i}`, `P-${i}`, '1000.00');
    await stack.send('order.buy', `M-${i}`, `P-${i}`, { fund: 'FUND-A', amount: cash, currency: 'GBP' });
  }
  await stack.price('FUND-A', '2026-06-01', '1.2345');
  await stack.days.run('2026-06-01');
});
afterAll(async () => {
  await stack?.stop();
});

const bank = (asOf: string, balance: bigint): BankStatement => ({ asOf, balances: new Map([['GBP', balance]]) });

describe('reconciliation against the custodian simulator', () => {
  it('finds no break while the trade is open, nor once it has settled', async () => {
    const open = await ledgerPositions(stack.db.service, '2026-06-01');
    expect(reconcile(open, stack.simulator.statement('2026-06-01'), bank('2026-06-01', deposited), assets)).toEqual([]);
    await stack.days.run('2026-06-02');
    await stack.days.run('2026-06-03');
    const settled = await ledgerPositions(stack.db.service, '2026-06-03');
    expect(settled.settledUnits.get('FUND-A')).toBe(310_514_378n);
    // The bank paid the custodian the trade's cash at settlement.
    expect(reconcile(settled, stack.simulator.statement('2026-06-03'), bank('2026-06-03', deposited - 38_333n), assets)).toEqual([]);
  });

  it('finds and classifies every injected difference, stores the run, exports it, and takes resolution notes', async () => {
    const truth = stack.simulator.statement('2026-06-03');
    const short: CustodianStatement = { ...truth, holdings: new Map([['FUND-A', 310_014_378n]]), openTrades: [{ tradeId: 'T-FUND-A-2026-06-09', fund: 'FUND-A', unitsMinor: 7n }] };
    const run = await runReconciliation(stack.db.service, { custodian: short, bank: bank('2026-06-03', deposited - 38_333n - 7_890n), inputs: { test: 'injected' } }, assets);
    expect(run.breaks.map((b) => [b.kind, b.reference ?? b.asset, b.differenceMinor, b.classification])).toEqual([
      ['units-settled', 'FUND-A', -500_000n, 'unexplained'],
      ['open-trade', 'T-FUND-A-2026-06-09', 7n, 'missing-trade'],
      ['cash', 'GBP', -7_890n, 'unexplained'],
    ]);
    const stored = await readRun(stack.db.service, run.runId, assets);
    expect(stored?.breaks[0]).toMatchObject({ difference: '-0.500000', value: '-0.61', valueCurrency: 'GBP' });
    expect(await resolveBreak(stack.db.service, run.runId, 3, 'a bank fee booked late; corrected on 2026-06-04')).toBe(true);
    const csv = breaksCsv((await readRun(stack.db.service, run.runId, assets)) ?? { runId: '', asOf: '', startedAt: '', inputs: {}, checked: {}, breaks: [] });
    expect(csv.split('\n')[0]).toBe('seq,kind,asset,reference,ledger,statement,difference,value,valueCurrency,classification,explanation,resolution');
    expect(csv).toContain('3,cash,GBP,,2616.67,2537.77,-78.90,-78.90,GBP,unexplained');
    expect(csv).toContain('a bank fee booked late; corrected on 2026-06-04');
  });

  it('refuses a close that is not closed, and statements of different closes', async () => {
    await expect(ledgerPositions(stack.db.service, '2026-06-04')).rejects.toThrow(/not closed/);
    await expect(runReconciliation(stack.db.service, { custodian: stack.simulator.statement('2026-06-03'), bank: bank('2026-06-02', 0n), inputs: {} }, assets)).rejects.toThrow(/as of/);
  });

  it('runs through the API for operators and through `potledger recon`, exporting CSV', async () => {
    const { app, keys } = await buildTestApp(stack.db.service, undefined);
    const truth = stack.simulator.statement('2026-06-03');
    const custodian = { asOf: '2026-06-03', holdings: [...truth.holdings].map(([fund, units]) => ({ fund, units: formatAmount(units, 6) })), openTrades: [] };
    const bankJson = { asOf: '2026-06-03', balances: [{ currency: 'GBP', balance: '2616.67' }] };
    const clean = await app.inject({ method: 'POST', url: '/recon', headers: bearer(keys.operator), payload: { custodian, bank: bankJson } });
    expect(clean.statusCode, clean.body).toBe(200);
    expect(json(clean).breaks).toEqual([]);
    const short = await app.inject({
      method: 'POST',
      url: '/recon',
      headers: bearer(keys.operator),
      payload: { custodian, bank: { ...bankJson, balances: [{ currency: 'GBP', balance: '2537.77' }] } },
    });
    const runId = String(json(short).runId);
    expect(json(short).breaks).toEqual([expect.objectContaining({ kind: 'cash', difference: '-78.90', classification: 'unexplained' })]);
    const csv = await app.inject({ method: 'GET', url: `/recon/${runId}/breaks.csv`, headers: bearer(keys.operator) });
    expect(csv.headers['content-type']).toMatch(/text\/csv/);
    expect(csv.body).toContain('1,cash,GBP,,2616.67,2537.77,-78.90');
    expect((await app.inject({ method: 'POST', url: `/recon/${runId}/breaks/1/resolution`, headers: bearer(keys.operator), payload: { note: 'fee' } })).statusCode).toBe(200);
    // A note that a spreadsheet would run as a formula is written as text; the negative amounts stay numbers.
    const formula = '=HYPERLINK("http://evil.example","fee")';
    expect((await app.inject({ method: 'POST', url: `/recon/${runId}/breaks/1/resolution`, headers: bearer(keys.operator), payload: { note: formula } })).statusCode).toBe(200);
    const guarded = await app.inject({ method: 'GET', url: `/recon/${runId}/breaks.csv`, headers: bearer(keys.operator) });
    expect(guarded.body.split('\n')[1]).toMatch(/^1,cash,GBP,,2616\.67,2537\.77,-78\.90,-78\.90,GBP,unexplained,.*,"'=HYPERLINK\(""http:\/\/evil\.example"",""fee""\)"$/);
    expect((await app.inject({ method: 'GET', url: '/recon/R-2026-06-03-00000000', headers: bearer(keys.operator) })).statusCode).toBe(404);
    expect((await app.inject({ method: 'POST', url: '/recon', headers: bearer(keys.service), payload: { custodian, bank: bankJson } })).statusCode).toBe(403);
    const notClosed = await app.inject({
      method: 'POST',
      url: '/recon',
      headers: bearer(keys.operator),
      payload: { custodian: { ...custodian, asOf: '2026-06-05' }, bank: { ...bankJson, asOf: '2026-06-05' } },
    });
    expect(notClosed.statusCode).toBe(409);
    await app.close();

    const directory = await mkdtemp(join(tmpdir(), 'potledger-recon-'));
    try {
      const custodianFile = join(directory, 'custodian.csv');
      const bankFile = join(directory, 'bank.json');
      await writeFile(custodianFile, `as_of,record,fund,trade_id,units\n2026-06-03,holding,FUND-A,,310.014378\n`);
      await writeFile(bankFile, JSON.stringify(bankJson));
      const env = { DATABASE_URL: urlWithDatabase(ownerUrl(), stack.db.name) };
      const run = await runPotledger(['recon', 'run', '--custodian', custodianFile, '--bank', bankFile, '--json'], env);
      expect(run.status, run.stderr).toBe(1);
      const document = JSON.parse(run.stdout) as { runId: string; breaks: { kind: string; difference: string; value: string }[] };
      expect(document.breaks).toEqual([expect.objectContaining({ kind: 'units-settled', difference: '-0.500000', value: '-0.61' })]);
      const shown = await runPotledger(['recon', 'show', document.runId, '--csv'], env);
      expect(shown.stdout.split('\n')[1]).toMatch(/^1,units-settled,FUND-A,/);
      expect((await runPotledger(['recon', 'resolve', document.runId, '1', '--note', 'custodian corrected its statement'], env)).status).toBe(0);
      await writeFile(custodianFile, 'as_of;record;fund;trade_id;units\r\n2026-06-03;stock;FUND-A;;1\r\n2026-06-03;holding;"FUND-B";;"1,5"\r\n');
      const bad = await runPotledger(['recon', 'run', '--custodian', custodianFile, '--bank', bankFile], env);
      expect(bad.status).toBe(2);
      expect(bad.stderr).toContain('line 2, column 2 (record): record must be holding or open-trade');
      expect(bad.stderr).toContain('line 3, column 5 (units): "1,5" is not a decimal number');
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
