import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocateTrade, ledgerProcesses, ReferenceLedger, type OrderSide } from '../../src/ledger/index.js';
import { checkProperty } from '../support/fast-check.js';
import { brokenInvariants, unbalancedAssets } from './ledger-checks.js';
import { ASSETS, dealingScenario, runDealingScenario, type DealingDriver } from './dealing-scenario.js';

const tradeOrders = fc.uniqueArray(
  fc.record({ orderId: fc.string({ minLength: 1, maxLength: 6 }), side: fc.constantFrom<OrderSide>('buy', 'sell'), amountMinor: fc.bigInt(1n, 10n ** 12n) }),
  { minLength: 1, maxLength: 40, selector: (order) => order.orderId },
);
const price = fc.record({ mantissa: fc.bigInt(1n, 10n ** 12n), scale: fc.integer({ min: 0, max: 8 }) });

describe('trade allocation', () => {
  it('allocated + residue = executed exactly, for any orders, price and fill', () => {
    checkProperty(
      'dealing: allocation is exact',
      fc.property(tradeOrders, price, fc.bigInt(0n, 1000n), fc.bigInt(0n, 1000n), (orders, rate, buyPermille, sellPermille) => {
        const buys = orders.filter((o) => o.side === 'buy').reduce((sum, o) => sum + o.amountMinor, 0n);
        const sells = orders.filter((o) => o.side === 'sell').reduce((sum, o) => sum + o.amountMinor, 0n);
        const execution = { price: rate, buyCashFilledMinor: (buys * buyPermille) / 1000n, sellUnitsFilledMinor: (sells * sellPermille) / 1000n };
        const allocation = allocateTrade(orders, execution, { fund: 6, currency: 2 });
        const side = new Map(orders.map((o) => [o.orderId, o]));
        const sum = (pick: (o: (typeof allocation.orders)[number]) => bigint, wanted: OrderSide) =>
          allocation.orders.filter((o) => side.get(o.orderId)?.side === wanted).reduce((total, o) => total + pick(o), 0n);
        expect(sum((o) => o.filledMinor, 'buy')).toBe(execution.buyCashFilledMinor);
        expect(sum((o) => o.filledMinor, 'sell')).toBe(execution.sellUnitsFilledMinor);
        expect(sum((o) => o.unitsMinor, 'buy') + allocation.residueUnitsMinor).toBe(allocation.buyUnitsExecutedMinor);
        expect(sum((o) => o.cashMinor, 'sell') + allocation.residueCashMinor).toBe(allocation.sellProceedsExecutedMinor);
        // Each order loses less than one minor unit to rounding, so the residue is below the order count.
        const buyers = BigInt(orders.filter((o) => o.side === 'buy').length);
        const sellers = BigInt(orders.filter((o) => o.side === 'sell').length);
        expect(allocation.residueUnitsMinor >= 0n && allocation.residueUnitsMinor <= buyers).toBe(true);
        expect(allocation.residueCashMinor >= 0n && allocation.residueCashMinor <= sellers).toBe(true);
        for (const share of allocation.orders) expect(share.filledMinor <= (side.get(share.orderId)?.amountMinor ?? 0n)).toBe(true);
      }),
    );
  });
});

describe('random multi-day dealing runs through the pure core', () => {
  it('never overdraw a pot, conserve every asset, and leave every clearing account at zero once settled', async () => {
    let dealt = 0;
    await checkProperty(
      'dealing: multi-day runs',
      fc.asyncProperty(dealingScenario, async (scenario) => {
        const ledger = new ReferenceLedger(ledgerProcesses, ASSETS, 4);
        let movement = 0;
        const driver: DealingDriver = {
          send: (command) => {
            const answer = ledger.execute(command, `m-${(movement += 1)}`);
            if (answer.kind === 'conflict') return Promise.reject(new Error(`conflict on ${command.commandId}`));
            return Promise.resolve(answer.outcome);
          },
          aggregate: (fund, date, tradeId) =>
            Promise.resolve(
              ledger.aggregate(fund, date, tradeId).map((order) => ({
                orderId: order.orderId,
                potId: order.potId,
                memberId: ledger.pots().get(order.potId)?.memberId ?? '',
                side: order.side,
                amountMinor: order.amountMinor,
              })),
            ),
        };
        const report = await runDealingScenario(driver, scenario, 'run', '2026-06-01', () => {
          expect(brokenInvariants(ledger.balances())).toEqual([]);
          expect(unbalancedAssets(ledger.balances())).toEqual(new Map());
          return Promise.resolve();
        });
        // Every command the desk would send applies: a refused allocation or settlement would be a break.
        const allocations = [...ledger.outcomes()].filter(([id]) => /^(allocate|settle|residue|settle-residue):/.test(id));
        for (const [id, outcome] of allocations) expect(outcome.kind, `${id}: ${JSON.stringify(outcome.kind === 'rejected' ? outcome : '')}`).not.toBe('rejected');
        dealt += allocations.filter(([id]) => id.startsWith('allocate:')).length;
        const clearing = (kinds: RegExp) => [...ledger.balances()].filter(([account]) => account.startsWith('system:') && kinds.test(account));
        expect(clearing(/:(dealing\.cash|custodian\.pending):/)).toEqual([]);
        // Reservations of orders still open (placed after the last cut-off) are all that may remain.
        if ([...ledger.orders().values()].every((o) => o.status !== 'open')) expect(clearing(/:reservations:/)).toEqual([]);
        for (const order of ledger.orders().values()) expect(['open', 'cancelled', 'settled']).toContain(order.status);
        for (const trade of report.trades) expect(trade.allocated + trade.allocation.residueUnitsMinor).toBe(trade.allocation.buyUnitsExecutedMinor);
      }),
      { numRuns: 500 },
    );
    // Not vacuous: the runs dealt orders (hundreds of them).
    expect(dealt).toBeGreaterThan(100);
  });
});
