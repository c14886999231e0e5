import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyLedger } from '../../src/journal/verify.js';
import { findTrade } from '../../src/dealing/trades.js';
import { ACME_ROUNDING_POT } from '../../src/dealing/desk.js';
import { DealingStack } from '../support/dealing.js';

/** The dealing cycle end to end: orders through JetStream and the workers, the desk, the custodian simulator over NATS, Postgres. */
let stack: DealingStack;
beforeAll(async () => {
  stack = await DealingStack.start('dealing');
});
afterAll(async () => {
  await stack?.stop();
});

const at = (instant: string) => {
  stack.now = new Date(instant);
};

describe('the dealing cycle through the running system', () => {
  it('S1: an aggregated buy with a rounding residue, priced, then settled at T+2', async () => {
    at('2026-06-01T08:00:00Z');
    for (const [i, cash] of [['1', '100.00'], ['2', '250.00'], ['3', '33.33']] as const) {
      await stack.openPotWithCash(`M-s1-${i}`, `P-s1-${i}`, '1000.00');
      expect(await stack.send('order.buy', `M-s1-${i}`, `P-s1-${i}`, { fund: 'FUND-A', amount: cash, currency: 'GBP' })).toMatchObject({ kind: 'applied' });
    }
    await stack.price('FUND-A', '2026-06-01', '1.2345');
    const tradeId = await stack.cutoff('FUND-A', '2026-06-01');
    expect(await findTrade(stack.db.owner, tradeId)).toMatchObject({ buyCashMinor: 38_333n, sellUnitsMinor: 0n, orders: 3, status: 'placed', settlementDate: '2026-06-03' });
    const [allocated] = await stack.strike('2026-06-01');
    expect(allocated).toMatchObject({ commands: 4, applied: 4, rejected: [] });

    const priced = await stack.balances();
    expect(priced.get('pot:P-s1-1:units.pending:FUND-A')).toBe(81_004_455n);
    expect(priced.get('pot:P-s1-2:units.pending:FUND-A')).toBe(202_511_138n);
    expect(priced.get('pot:P-s1-3:units.pending:FUND-A')).toBe(26_998_784n);
    expect(priced.get(`pot:${ACME_ROUNDING_POT}:units.pending:FUND-A`)).toBe(1n);
    expect(await stack.systemTotal('custodian.pending', 'FUND-A')).toBe(-310_514_378n);
    expect(await stack.systemTotal('dealing.cash', 'GBP')).toBe(38_333n);
    expect(priced.get('pot:P-s1-3:cash:GBP')).toBe(100_000n - 3_333n);
    expect(priced.has('pot:P-s1-3:cash.reserved:GBP')).toBe(false);

    const [settled] = await stack.settle('2026-06-03');
    expect(settled).toMatchObject({ commands: 4, applied: 4, rejected: [] });
    const after = await stack.balances();
    expect(after.get('pot:P-s1-2:units:FUND-A')).toBe(202_511_138n);
    expect(after.get(`pot:${ACME_ROUNDING_POT}:units:FUND-A`)).toBe(1n);
    expect(after.has('pot:P-s1-2:units.pending:FUND-A')).toBe(false);
    expect(await stack.systemTotal('custodian.units', 'FUND-A')).toBe(-310_514_378n);
    expect(await stack.systemTotal('dealing.cash', 'GBP')).toBe(0n);
    expect((await findTrade(stack.db.owner, tradeId))?.status).toBe('settled');
    expect((await verifyLedger(stack.db.owner)).ok).toBe(true);
  });

  it('S2: buys and sells of one cycle net at the custodian; every clearing account nets to zero', async () => {
    // The sellers' units come from an earlier cycle at 1.00.
    at('2026-06-01T09:00:00Z');
    await stack.openPotWithCash('M-s2-s1', 'P-s2-s1', '1000.00');
    await stack.openPotWithCash('M-s2-s2', 'P-s2-s2', '2000.00');
    await stack.send('order.buy', 'M-s2-s1', 'P-s2-s1', { fund: 'FUND-B', amount: '1000.00', currency: 'GBP' });
    await stack.send('order.buy', 'M-s2-s2', 'P-s2-s2', { fund: 'FUND-B', amount: '2000.00', currency: 'GBP' });
    await stack.price('FUND-B', '2026-06-01', '1.00');
    await stack.cutoff('FUND-B', '2026-06-01');
    await stack.strike('2026-06-01');
    await stack.settle('2026-06-02');

    at('2026-06-02T09:00:00Z');
    await stack.openPotWithCash('M-s2-b1', 'P-s2-b1', '6000.00');
    await stack.openPotWithCash('M-s2-b2', 'P-s2-b2', '4000.00');
    await stack.send('order.buy', 'M-s2-b1', 'P-s2-b1', { fund: 'FUND-B', amount: '6000.00', currency: 'GBP' });
    await stack.send('order.buy', 'M-s2-b2', 'P-s2-b2', { fund: 'FUND-B', amount: '4000.00', currency: 'GBP' });
    expect(await stack.send('order.sell', 'M-s2-s1', 'P-s2-s1', { fund: 'FUND-B', units: 'all' })).toMatchObject({ kind: 'applied' });
    expect(await stack.send('order.sell', 'M-s2-s2', 'P-s2-s2', { fund: 'FUND-B', units: '2000' })).toMatchObject({ kind: 'applied' });
    await stack.price('FUND-B', '2026-06-02', '2.00000000');
    const tradeId = await stack.cutoff('FUND-B', '2026-06-02');
    expect(await findTrade(stack.db.owner, tradeId)).toMatchObject({ buyCashMinor: 1_000_000n, sellUnitsMinor: 3_000_000_000n });
    const bankBefore = await stack.systemTotal('external.bank', 'GBP');
    await stack.strike('2026-06-02');
    // The custodian moves only the net: 2,000 units for 4,000.00.
    expect(-(await stack.systemTotal('custodian.pending', 'FUND-B'))).toBe(5_000_000_000n);
    expect(await stack.systemTotal('dealing.cash', 'GBP')).toBe(400_000n);
    await stack.settle('2026-06-03');
    const balances = await stack.balances();
    expect(balances.get('pot:P-s2-s1:cash:GBP')).toBe(200_000n);
    expect(balances.get('pot:P-s2-s2:cash:GBP')).toBe(400_000n);
    expect(balances.get('pot:P-s2-b1:units:FUND-B')).toBe(3_000_000_000n);
    expect(balances.get('pot:P-s2-b2:units:FUND-B')).toBe(2_000_000_000n);
    expect(balances.has('pot:P-s2-s1:units:FUND-B')).toBe(false);
    expect(await stack.systemTotal('custodian.units', 'FUND-B')).toBe(-5_000_000_000n);
    expect((await stack.systemTotal('external.bank', 'GBP')) - bankBefore).toBe(400_000n);
    for (const clearing of ['dealing.cash', 'reservations']) expect(await stack.systemTotal(clearing, 'GBP'), clearing).toBe(0n);
    expect(await stack.systemTotal('reservations', 'FUND-B')).toBe(0n);
    expect(await stack.systemTotal('custodian.pending', 'FUND-B')).toBe(0n);
    expect((await verifyLedger(stack.db.owner)).ok).toBe(true);
  });

  it("S3: a buy at 10:59 deals on day D at D's price, one at 11:01 on D+1 at D+1's; both reserve cash at once", async () => {
    await stack.openPotWithCash('M-s3', 'P-s3', '100.00');
    at('2026-06-04T10:59:00Z');
    const early = await stack.send('order.buy', 'M-s3', 'P-s3', { fund: 'FUND-A', amount: '10.00', currency: 'GBP' }, 'buy-10-59');
    at('2026-06-04T11:01:00Z');
    await stack.send('order.buy', 'M-s3', 'P-s3', { fund: 'FUND-A', amount: '10.00', currency: 'GBP' }, 'buy-11-01');
    expect(early).toMatchObject({ kind: 'applied', movement: { orderChange: { dealingDate: '2026-06-04' } } });
    expect((await stack.balances()).get('pot:P-s3:cash.reserved:GBP')).toBe(2_000n);
    await stack.price('FUND-A', '2026-06-04', '2.00');
    await stack.price('FUND-A', '2026-06-05', '4.00');
    await stack.cutoff('FUND-A', '2026-06-04');
    await stack.strike('2026-06-04');
    expect((await stack.balances()).get('pot:P-s3:units.pending:FUND-A')).toBe(5_000_000n);
    await stack.cutoff('FUND-A', '2026-06-05');
    await stack.strike('2026-06-05');
    expect((await stack.balances()).get('pot:P-s3:units.pending:FUND-A')).toBe(7_500_000n);
    const { rows } = await stack.db.owner.query<{ order_id: string; trade_id: string }>("SELECT order_id, trade_id FROM orders WHERE pot_id = 'P-s3' ORDER BY order_id");
    expect(rows).toEqual([
      { order_id: 'buy-10-59', trade_id: 'T-FUND-A-2026-06-04' },
      { order_id: 'buy-11-01', trade_id: 'T-FUND-A-2026-06-05' },
    ]);
  });

  it('answers a repeated or late custodian report with no change', async () => {
    const pricing = stack.reports.find(({ report }) => report.kind === 'priced' && report.tradeId === 'T-FUND-A-2026-06-01')?.report;
    if (pricing === undefined) throw new Error('S1 ran first');
    const before = await stack.balances();
    // A priced report after the trade settled (late and repeated), and a repeated settlement.
    expect(await stack.repeat(pricing)).toBeUndefined();
    const settled = await stack.repeat({ kind: 'settled', tradeId: 'T-FUND-A-2026-06-01', settlementDate: '2026-06-03' });
    expect(settled?.applied).toBe(4);
    expect(await stack.balances()).toEqual(before);
    const { rows } = await stack.db.owner.query<{ n: bigint }>("SELECT count(*) AS n FROM movements WHERE command_id LIKE 'settle:%' OR command_id LIKE 'settle-residue:%'");
    // S1's three orders and residue, S2's two cycles of two and four orders: each settled once.
    expect(rows[0]?.n).toBe(BigInt(4 + 2 + 4));
  });

  it('releases the reservations of a rejected trade, and scales a partial fill by the same exact rules', async () => {
    at('2026-06-08T09:00:00Z');
    await stack.openPotWithCash('M-r1', 'P-r1', '300.00');
    await stack.openPotWithCash('M-r2', 'P-r2', '300.00');
    await stack.send('order.buy', 'M-r1', 'P-r1', { fund: 'FUND-C', amount: '100.00', currency: 'GBP' });
    await stack.send('order.buy', 'M-r2', 'P-r2', { fund: 'FUND-C', amount: '200.00', currency: 'GBP' });
    await stack.price('FUND-C', '2026-06-08', '1.00');
    const rejectedTrade = await stack.cutoff('FUND-C', '2026-06-08');
    stack.simulator.knobs.rejectTrades.add(rejectedTrade);
    await stack.strike('2026-06-08');
    let balances = await stack.balances();
    expect(balances.get('pot:P-r1:cash:GBP')).toBe(30_000n);
    expect(balances.has('pot:P-r1:cash.reserved:GBP')).toBe(false);
    expect((await findTrade(stack.db.owner, rejectedTrade))?.status).toBe('rejected');

    at('2026-06-09T09:00:00Z');
    await stack.send('order.buy', 'M-r1', 'P-r1', { fund: 'FUND-C', amount: '100.00', currency: 'GBP' });
    await stack.send('order.buy', 'M-r2', 'P-r2', { fund: 'FUND-C', amount: '200.01', currency: 'GBP' });
    await stack.price('FUND-C', '2026-06-09', '3.00');
    const partialTrade = await stack.cutoff('FUND-C', '2026-06-09');
    stack.simulator.knobs.partialFills.set(partialTrade, { buy: { numerator: 1n, denominator: 2n }, sell: { numerator: 1n, denominator: 1n } });
    await stack.strike('2026-06-09');
    balances = await stack.balances();
    // Half of 300.01 is 150.00 (rounded down), shared 100.00 : 200.01 by largest remainder: 4,999.83 and
    // 10,000.17 pence round down to 4,999 and 10,000, and the pence left goes to the larger remainder.
    expect(300_00n - (balances.get('pot:P-r1:cash:GBP') ?? 0n)).toBe(5_000n);
    expect(300_00n - (balances.get('pot:P-r2:cash:GBP') ?? 0n)).toBe(10_000n);
    expect(balances.get('pot:P-r1:units.pending:FUND-C')).toBe(16_666_666n);
    expect(balances.get('pot:P-r2:units.pending:FUND-C')).toBe(33_333_333n);
    expect(balances.get(`pot:${ACME_ROUNDING_POT}:units.pending:FUND-C`)).toBe(1n);
    expect(balances.has('pot:P-r2:cash.reserved:GBP')).toBe(false);
    expect((await verifyLedger(stack.db.owner)).ok).toBe(true);
  });

  it('verify names an order changed behind the ledger, and a trade whose basis was altered', async () => {
    expect((await verifyLedger(stack.db.owner)).ok).toBe(true);
    await stack.db.owner.query("UPDATE orders SET units_minor = units_minor + 1 WHERE pot_id = 'P-s1-1'");
    await stack.db.owner.query("UPDATE external_trades SET buy_cash_minor = buy_cash_minor + 1 WHERE trade_id = 'T-FUND-B-2026-06-02'");
    const report = await verifyLedger(stack.db.owner);
    const broken = report.checks.filter((check) => !check.ok).map((check) => check.name);
    expect(broken).toEqual(expect.arrayContaining(['order-allocations', 'trade-basis', 'trade-allocation-exact']));
  });

  it('leaves a trade without a closing price waiting, says so, and prices it once the price is loaded', async () => {
    at('2026-06-10T08:00:00Z');
    await stack.openPotWithCash('M-w', 'P-w', '50.00');
    await stack.send('order.buy', 'M-w', 'P-w', { fund: 'FUND-B', amount: '20.00', currency: 'GBP' });
    const day = await stack.days.run('2026-06-10');
    expect(day.waitingForPrice).toEqual(['T-FUND-B-2026-06-10: no closing price of FUND-B for 2026-06-10']);
    expect((await findTrade(stack.db.owner, 'T-FUND-B-2026-06-10'))?.status).toBe('placed');
    await stack.price('FUND-B', '2026-06-10', '4.00');
    await stack.strike('2026-06-10');
    expect((await stack.balances()).get('pot:P-w:units.pending:FUND-B')).toBe(5_000_000n);
  });
});
