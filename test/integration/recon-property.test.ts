import fc from 'fast-check';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rebalancer } from '../../src/dealing/rebalancer.js';
import { verifyLedger } from '../../src/journal/verify.js';
import { addBusinessDays, DEFAULT_PROFILES, formatAmount, isBusinessDay, UK_CALENDAR } from '../../src/ledger/index.js';
import { ledgerPositions, reconcile } from '../../src/recon/reconcile.js';
import type { BankStatement, CustodianStatement } from '../../src/recon/statements.js';
import { checkProperty } from '../support/fast-check.js';
import { assets, DealingStack } from '../support/dealing.js';

/**
 * Random multi-day runs with re-balancing through the running system (JetStream, a worker, the desk,
 * the custodian simulator, Postgres): at every close, reconciliation against the statements derived
 * from the simulator (and the known cash flows for the bank) finds zero breaks; then any single
 * difference injected into a statement is found, as exactly one break of the right kind.
 *
 * Runs share a ledger, custodian and bank, and their business days follow each other, so trades priced
 * in one run settle in a later one: a run is one or two days and the multi-day history builds up over
 * the runs. Every RUNS_PER_LEDGER runs the ledger is verified and a fresh one started: the re-balancer
 * trades every earlier pot again each day, so on one ever-growing ledger a run would cost more than the
 * one before, and `npm run test:long` (1,000 runs) would never end.
 */
/** Each run costs two business days at most through the whole system; `npm run test:long` runs 1,000. */
const RUNS = 8;
/** Runs on one ledger before it is verified and replaced by a fresh one (bounds the cost of a run). */
const RUNS_PER_LEDGER = 20;
const FUNDS = ['FUND-A', 'FUND-B', 'FUND-C'] as const;

let stack: DealingStack;
let rebalancer: Rebalancer;
/** What every run imported so far: the custodian's opening holdings and the bank's opening cash. */
const opening = new Map<string, bigint>();
let importedCash = 0n;

async function startLedger(): Promise<void> {
  stack = await DealingStack.start('reconprop');
  rebalancer = new Rebalancer({ pool: stack.db.service, publisher: stack.publisher, profiles: DEFAULT_PROFILES, assets, log: pino({ level: 'warn' }) });
  opening.clear();
  importedCash = 0n;
}

const settledTrades = () => [...stack.simulator.trades().values()].filter((t) => t.status === 'settled').length;

beforeAll(startLedger);
afterAll(async () => {
  await stack?.stop();
});

const pot = fc.record({
  cashPence: fc.bigInt(0n, 500_000n),
  units: fc.tuple(...FUNDS.map(() => fc.oneof(fc.constant(0n), fc.bigInt(1n, 2_000_000_000n)))),
  profile: fc.constantFrom(...DEFAULT_PROFILES.map((p) => p.id)),
});
/** A price per fund and day, 0.5000 to 3.0000 in ten-thousandths; one or two days per run. */
const prices = fc.array(fc.tuple(...FUNDS.map(() => fc.integer({ min: 5_000, max: 30_000 }))), { minLength: 1, maxLength: 2 });
const injection = fc.oneof(
  fc.record({ kind: fc.constant('units' as const), fund: fc.constantFrom(...FUNDS), delta: fc.bigInt(1n, 10_000_000n), sign: fc.boolean() }),
  fc.record({ kind: fc.constant('cash' as const), delta: fc.bigInt(1n, 100_000n), sign: fc.boolean() }),
  fc.record({ kind: fc.constant('phantom-trade' as const), units: fc.bigInt(1n, 10_000_000n) }),
);

function bankAt(asOf: string): BankStatement {
  let cash = importedCash;
  for (const trade of stack.simulator.trades().values()) {
    if (trade.status === 'settled' && trade.settlementDate <= asOf) cash -= trade.netCashMinor ?? 0n;
  }
  return { asOf, balances: new Map([['GBP', cash]]) };
}

describe('reconciliation after random multi-day runs with re-balancing', () => {
  it('finds zero breaks at every close, and any single injected difference as one break', async () => {
    let run = 0;
    let orders = 0;
    let settledOnEarlierLedgers = 0;
    let firstDay = '2026-06-01';
    await checkProperty(
      'recon: zero breaks, and every injected break found',
      fc.asyncProperty(fc.array(pot, { minLength: 1, maxLength: 4 }), prices, injection, async (pots, days, inject) => {
        run += 1;
        if (run % 100 === 0) console.log(`[recon-property] run ${run}: ${orders} re-balancing orders so far`);
        if (run > 1 && (run - 1) % RUNS_PER_LEDGER === 0) {
          expect((await verifyLedger(stack.db.owner)).ok).toBe(true);
          settledOnEarlierLedgers += settledTrades();
          await stack.stop();
          await startLedger();
          firstDay = '2026-06-01';
        }
        const dates = days.map((_, index) => addBusinessDays(UK_CALENDAR, firstDay, index));
        const eve = previousBusinessDay(firstDay);
        firstDay = addBusinessDays(UK_CALENDAR, firstDay, days.length + 4);
        stack.now = new Date(`${eve}T07:00:00Z`);
        // The pots are set up side by side (each pot's own commands in order).
        await Promise.all(
          pots.map(async (holding, i) => {
            const member = `R${run}-M${i}`;
            const potId = `R${run}-P${i}`;
            await stack.send('pot.open', member, potId, {});
            const units = FUNDS.flatMap((fund, f) => ((holding.units[f] ?? 0n) > 0n ? [{ fund, units: formatAmount(holding.units[f] ?? 0n, 6) }] : []));
            const cash = holding.cashPence > 0n ? [{ amount: formatAmount(holding.cashPence, 2), currency: 'GBP' }] : [];
            if (units.length + cash.length > 0) {
              expect(await stack.send('pot.import', member, potId, { cash, units })).toMatchObject({ kind: 'applied' });
              importedCash += holding.cashPence;
              for (const [f, fund] of FUNDS.entries()) opening.set(fund, (opening.get(fund) ?? 0n) + (holding.units[f] ?? 0n));
            }
            await stack.send('pot.set-profile', member, potId, { profile: holding.profile });
          }),
        );
        // Each day: re-balance at the previous close's prices (orders deal today), then the whole business day.
        let previous = eve;
        for (const [d, date] of dates.entries()) {
          for (const [f, fund] of FUNDS.entries()) {
            for (const day of d === 0 ? [previous, date] : [date]) await stack.price(fund, day, formatAmount(BigInt((days[d] ?? [])[f] ?? 10_000), 4));
          }
          stack.now = new Date(`${date}T08:00:00Z`);
          const rebalanced = await rebalancer.run(previous);
          expect(rebalanced.legsRefused).toEqual({});
          orders += rebalanced.sells + rebalanced.buys;
          await stack.days.run(date);
          const ledger = await ledgerPositions(stack.db.service, date);
          const breaks = reconcile(ledger, stack.simulator.statement(date, opening), bankAt(date), assets);
          expect(breaks, `close of ${date}`).toEqual([]);
          previous = date;
        }

        const asOf = dates[dates.length - 1] ?? firstDay;
        const ledger = await ledgerPositions(stack.db.service, asOf);
        const truth = stack.simulator.statement(asOf, opening);
        let custodian: CustodianStatement = truth;
        let bank = bankAt(asOf);
        let expected: { kind: string; classification: readonly string[] };
        if (inject.kind === 'units') {
          const delta = inject.sign ? inject.delta : -inject.delta;
          custodian = { ...truth, holdings: new Map([...truth.holdings, [inject.fund, (truth.holdings.get(inject.fund) ?? 0n) + delta]]) };
          expected = { kind: 'units-settled', classification: ['unexplained', 'timing'] };
        } else if (inject.kind === 'cash') {
          const delta = inject.sign ? inject.delta : -inject.delta;
          bank = { asOf, balances: new Map([['GBP', (bank.balances.get('GBP') ?? 0n) + delta]]) };
          expected = { kind: 'cash', classification: ['unexplained', 'timing'] };
        } else {
          custodian = { ...truth, openTrades: [...truth.openTrades, { tradeId: `T-PHANTOM-${run}`, fund: 'FUND-A', unitsMinor: inject.units }] };
          expected = { kind: 'open-trade', classification: ['missing-trade'] };
        }
        const found = reconcile(ledger, custodian, bank, assets);
        expect(found).toHaveLength(1);
        expect(found[0]?.kind).toBe(expected.kind);
        expect(expected.classification).toContain(found[0]?.classification);
      }),
      { numRuns: RUNS },
    );
    expect((await verifyLedger(stack.db.owner)).ok).toBe(true);
    // Not vacuous: the runs re-balanced into orders that dealt and settled.
    console.log(`[recon-property] ${orders} re-balancing orders, ${settledOnEarlierLedgers + settledTrades()} trades settled`);
    expect(orders).toBeGreaterThan(0);
  });
});

function previousBusinessDay(date: string): string {
  let day = Date.parse(`${date}T00:00:00Z`);
  do day -= 86_400_000;
  while (!isBusinessDay(UK_CALENDAR, new Date(day).toISOString().slice(0, 10)));
  return new Date(day).toISOString().slice(0, 10);
}
