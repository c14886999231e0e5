import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rebalancer } from '../../src/dealing/rebalancer.js';
import { findTrade } from '../../src/dealing/trades.js';
import { verifyLedger } from '../../src/journal/verify.js';
import { DEFAULT_PROFILES } from '../../src/ledger/index.js';
import { assets, DealingStack } from '../support/dealing.js';

/*
 * The dealing desk's and the rebalancer's fan-outs as sagas of the engine, through the running system:
 * the saga rows they keep in the generic `sagas` table, a trade priced before its saga existed (as
 * before the upgrade), and a repeated report answered from the journal.
 */
let stack: DealingStack;
beforeAll(async () => {
  stack = await DealingStack.start('dealing-sagas');
});
afterAll(async () => {
  await stack?.stop();
});

async function sagaRow(saga: string, id: string): Promise<{ state: string; data: Record<string, unknown>; attempts: number; finished: boolean } | undefined> {
  const { rows } = await stack.db.owner.query<{ state: string; data: Record<string, unknown>; attempts: number; finished: boolean }>(
    'SELECT state, data, attempts, finished_at IS NOT NULL AS finished FROM sagas WHERE saga = $1 AND id = $2',
    [saga, id],
  );
  return rows[0];
}

async function movementsOf(prefix: string): Promise<bigint> {
  const { rows } = await stack.db.owner.query<{ n: bigint }>('SELECT count(*) AS n FROM movements WHERE starts_with(command_id, $1)', [prefix]);
  return rows[0]?.n ?? 0n;
}

describe('the dealing fan-outs as sagas', () => {
  it("keeps a trade's saga in the sagas table: priced waits for the settlement, settled is final; the pricing as reported", async () => {
    stack.now = new Date('2026-06-01T08:00:00Z');
    for (const i of ['1', '2']) {
      await stack.openPotWithCash(`M-a${i}`, `P-a${i}`, '500.00');
      await stack.send('order.buy', `M-a${i}`, `P-a${i}`, { fund: 'FUND-A', amount: i === '1' ? '100.00' : '33.33', currency: 'GBP' }, `buy-a${i}`);
    }
    await stack.price('FUND-A', '2026-06-01', '1.2345');
    const tradeId = await stack.cutoff('FUND-A', '2026-06-01');
    expect(await sagaRow('trade-dealing', tradeId)).toBeUndefined();
    const [allocated] = await stack.strike('2026-06-01');
    // Two allocations and ACME's residue of one unit (100.00 and 33.33 at 1.2345).
    expect(allocated).toEqual({ commands: 3, applied: 3, rejected: [] });
    expect(await sagaRow('trade-dealing', tradeId)).toEqual({
      state: 'priced', data: { pricing: { price: '1.23450000', buyCashFilled: '133.33', sellUnitsFilled: '0.000000' } }, attempts: 0, finished: false,
    });
    const [settled] = await stack.settle('2026-06-03');
    expect(settled).toEqual({ commands: 3, applied: 3, rejected: [] });
    expect(await sagaRow('trade-dealing', tradeId)).toMatchObject({ state: 'settled', attempts: 0, finished: true });
    expect((await findTrade(stack.db.owner, tradeId))?.status).toBe('settled');
  });

  it('settles a trade priced before its saga existed with the same ids, and answers a repeated report from the journal', async () => {
    stack.now = new Date('2026-06-04T08:00:00Z');
    await stack.openPotWithCash('M-b', 'P-b', '500.00');
    await stack.send('order.buy', 'M-b', 'P-b', { fund: 'FUND-B', amount: '40.00', currency: 'GBP' }, 'buy-b');
    await stack.price('FUND-B', '2026-06-04', '2.00');
    const tradeId = await stack.cutoff('FUND-B', '2026-06-04');
    const [allocated] = await stack.strike('2026-06-04');
    expect(allocated).toEqual({ commands: 1, applied: 1, rejected: [] });
    // As a trade priced before the upgrade: no saga row.
    await stack.db.owner.query("DELETE FROM sagas WHERE saga = 'trade-dealing' AND id = $1", [tradeId]);
    const [settled] = await stack.settle('2026-06-05');
    expect(settled).toEqual({ commands: 1, applied: 1, rejected: [] });
    expect(await sagaRow('trade-dealing', tradeId)).toMatchObject({ state: 'settled', data: {}, finished: true });
    // The settlement again, and the pricing again after it: nothing applies twice.
    expect(await stack.repeat({ kind: 'settled', tradeId, settlementDate: '2026-06-05' })).toEqual({ commands: 1, applied: 1, rejected: [] });
    expect(await stack.repeat({ kind: 'priced', tradeId, price: '2.00', buyCashFilled: '40.00', sellUnitsFilled: '0' })).toBeUndefined();
    expect(await movementsOf('allocate:buy-b')).toBe(1n);
    expect(await movementsOf('settle:buy-b')).toBe(1n);
    expect((await stack.balances()).get('pot:P-b:units:FUND-B')).toBe(20_000_000n);
  });

  it("ends a rejected trade's saga in rejected, every reservation released", async () => {
    stack.now = new Date('2026-06-08T08:00:00Z');
    await stack.openPotWithCash('M-c', 'P-c', '100.00');
    await stack.send('order.buy', 'M-c', 'P-c', { fund: 'FUND-C', amount: '60.00', currency: 'GBP' }, 'buy-c');
    await stack.price('FUND-C', '2026-06-08', '1.00');
    const tradeId = await stack.cutoff('FUND-C', '2026-06-08');
    stack.simulator.knobs.rejectTrades.add(tradeId);
    const [released] = await stack.strike('2026-06-08');
    // The release (allocate with nothing filled) and the close (settle) of the one order.
    expect(released).toEqual({ commands: 2, applied: 2, rejected: [] });
    expect(await sagaRow('trade-dealing', tradeId)).toMatchObject({ state: 'rejected', data: {}, finished: true });
    expect((await stack.balances()).get('pot:P-c:cash:GBP')).toBe(10_000n);
  });

  it("keeps each batch of a re-balance run as a saga, placed once its orders are; a repeated run sends the same ids", async () => {
    stack.now = new Date('2026-06-09T08:00:00Z');
    for (const pot of ['P-r1', 'P-r2', 'P-r3']) {
      await stack.send('pot.open', `M-${pot}`, pot, {});
      await stack.send('pot.import', `M-${pot}`, pot, { cash: [], units: [{ fund: 'FUND-A', units: '600' }, { fund: 'FUND-B', units: '400' }] });
      await stack.send('pot.set-profile', `M-${pot}`, pot, { profile: 'balanced' });
    }
    await stack.price('FUND-A', '2026-06-09', '1.25');
    await stack.price('FUND-B', '2026-06-09', '1.00');
    stack.now = new Date('2026-06-09T18:00:00Z');
    const rebalancer = new Rebalancer({ pool: stack.db.service, publisher: stack.publisher, profiles: DEFAULT_PROFILES, assets, log: pino({ level: 'warn' }), batch: 2 });
    const run = await rebalancer.run('2026-06-09');
    expect(run).toMatchObject({ pots: 3, rebalanced: 3, sells: 3, switches: 3, legsRefused: {} });
    const { rows } = await stack.db.owner.query<{ id: string; state: string; data: unknown }>("SELECT id, state, data FROM sagas WHERE saga = 'rebalance-batch' ORDER BY id");
    expect(rows).toEqual([
      { id: '2026-06-09::P-r2', state: 'placed', data: { date: '2026-06-09', after: '', last: 'P-r2' } },
      { id: '2026-06-09:P-r2:P-r3', state: 'placed', data: { date: '2026-06-09', after: 'P-r2', last: 'P-r3' } },
    ]);
    expect(await rebalancer.run('2026-06-09')).toMatchObject({ rebalanced: 3, sells: 3 });
    expect(await movementsOf('rebalance:P-r1:2026-06-09')).toBe(2n);
    expect((await verifyLedger(stack.db.owner)).ok).toBe(true);
  });
});
