import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rebalancer } from '../../src/dealing/rebalancer.js';
import { verifyLedger } from '../../src/journal/verify.js';
import { DEFAULT_PROFILES, type RiskProfile } from '../../src/ledger/index.js';
import { assets, DealingStack } from '../support/dealing.js';

/** S4 through the running system: closing prices, the re-balancing fan-out, the cycle that deals its orders. */
let stack: DealingStack;
let rebalancer: Rebalancer;
const relative: RiskProfile = {
  id: 's4-relative',
  currency: 'GBP',
  targets: [{ fund: 'FUND-A', weight: '60.00' }, { fund: 'FUND-B', weight: '40.00' }],
  band: { relative: '20.00' },
  minimumTrade: '1.00',
  cashBuffer: '0.00',
};
const progress: [number, number][] = [];

beforeAll(async () => {
  stack = await DealingStack.start('rebalance');
  rebalancer = new Rebalancer({
    pool: stack.db.service,
    publisher: stack.publisher,
    profiles: [...DEFAULT_PROFILES, relative],
    assets,
    log: pino({ level: 'warn' }),
    batch: 2,
    onProgress: (done, total) => progress.push([done, total]),
  });
  stack.now = new Date('2026-06-01T08:00:00Z');
  const pots = [
    ['M-abs', 'P-abs', 'balanced', '600', '400'],
    ['M-rel', 'P-rel', 's4-relative', '600', '400'],
    ['M-min', 'P-min', 'balanced', '6', '4'],
    // With 20.00 of cash: B is bought with it at once and with the sale's proceeds once priced.
    ['M-cash', 'P-cash', 'balanced', '600', '380'],
  ] as const;
  for (const [member, pot, profile, a, b] of pots) {
    await stack.send('pot.open', member, pot, {});
    const cash = pot === 'P-cash' ? [{ amount: '20.00', currency: 'GBP' }] : [];
    expect(await stack.send('pot.import', member, pot, { cash, units: [{ fund: 'FUND-A', units: a }, { fund: 'FUND-B', units: b }] })).toMatchObject({ kind: 'applied' });
    expect(await stack.send('pot.set-profile', member, pot, { profile })).toMatchObject({ kind: 'applied' });
  }
  await stack.price('FUND-A', '2026-06-01', '1.25');
  await stack.price('FUND-B', '2026-06-01', '1.00');
});
afterAll(async () => {
  await stack?.stop();
});

describe('S4: threshold re-balancing', () => {
  it('sells 60.00 GBP of A (48 units) when A drifts to 65.217 % under a ±5 point band; nothing under a relative 20 % band; skips a leg under 1.00', async () => {
    stack.now = new Date('2026-06-01T18:00:00Z');
    const run = await rebalancer.run('2026-06-01');
    // P-rel is within its band and P-min's only leg is under the minimum: screened, no command sent.
    expect(run).toMatchObject({ pots: 4, screened: 2, rebalanced: 2, sells: 2, buys: 1, switches: 2, legsRefused: {} });
    expect(progress.at(-1)).toEqual([4, 4]);
    const { rows } = await stack.db.owner.query<{ pot_id: string; pot_change: { legs: unknown[] } }>(
      "SELECT pot_id, pot_change FROM movements WHERE process = 'pot.rebalance' ORDER BY pot_id",
    );
    expect(rows.map((r) => [r.pot_id, r.pot_change.legs])).toEqual([
      ['P-abs', [{ side: 'sell', fund: 'FUND-A', units: '48.000000', value: '60.00' }, { side: 'buy', fund: 'FUND-B', amount: '60.00', funding: 'proceeds' }]],
      [
        'P-cash',
        [
          { side: 'sell', fund: 'FUND-A', units: '48.000000', value: '60.00' },
          { side: 'buy', fund: 'FUND-B', amount: '20.00' },
          { side: 'buy', fund: 'FUND-B', amount: '60.00', funding: 'proceeds' },
        ],
      ],
    ]);
    expect((await stack.balances()).get('pot:P-abs:units.reserved:FUND-A')).toBe(48_000_000n);
  });

  it('re-balances a pot at most once a day, however often the run is repeated', async () => {
    // A repeated run sends P-abs's re-balance and its sell again (both answered from their outcomes).
    const again = await rebalancer.run('2026-06-01');
    expect(again).toMatchObject({ screened: 2, rebalanced: 2, sells: 2, buys: 1 });
    const { rows } = await stack.db.owner.query<{ n: bigint }>("SELECT count(*) AS n FROM orders WHERE pot_id = 'P-abs'");
    expect(rows[0]?.n).toBe(1n);
    const movements = await stack.db.owner.query<{ n: bigint }>("SELECT count(*) AS n FROM movements WHERE process = 'pot.rebalance'");
    expect(movements.rows[0]?.n).toBe(2n);
    // A run for an earlier day skips the pot re-balanced for a later one.
    expect(await rebalancer.run('2026-05-29')).toMatchObject({ later: 2, rebalanced: 0, sells: 0 });
  });

  it('once the sale is priced, buys B with its proceeds in the next cycle; the pot is never overdrawn', async () => {
    for (const date of ['2026-06-02', '2026-06-03', '2026-06-04']) {
      await stack.price('FUND-A', date, '1.25');
      await stack.price('FUND-B', date, '1.00');
    }
    // 2026-06-02: the sale deals at 1.25 (60.00 pending); the switch is placed out of those proceeds.
    await stack.days.run('2026-06-02');
    const priced = await stack.balances();
    expect(priced.get('pot:P-abs:cash.pending:GBP')).toBe(6_000n);
    expect(priced.get('pot:P-abs:cash.pending.reserved:GBP')).toBe(6_000n);
    expect(priced.get('pot:P-abs:cash:GBP')).toBeUndefined();
    const { rows } = await stack.db.owner.query<{ order_id: string; funding: string; dealing_date: string; amount_minor: bigint }>(
      "SELECT order_id, funding, dealing_date::text AS dealing_date, amount_minor FROM orders WHERE pot_id = 'P-abs' AND side = 'buy'",
    );
    expect(rows).toEqual([{ order_id: 'rebalance:P-abs:2026-06-01:switch:FUND-B', funding: 'proceeds', dealing_date: '2026-06-03', amount_minor: 6_000n }]);
    // 2026-06-03: B deals at 1.00, paid out of the pending proceeds; 2026-06-04: both settle (the sale first).
    await stack.days.run('2026-06-03');
    expect((await stack.balances()).get('pot:P-abs:units.pending:FUND-B')).toBe(60_000_000n);
    await stack.days.run('2026-06-04');
    const settled = await stack.balances();
    expect([settled.get('pot:P-abs:units:FUND-A'), settled.get('pot:P-abs:units:FUND-B'), settled.get('pot:P-abs:cash:GBP') ?? 0n]).toEqual([552_000_000n, 460_000_000n, 0n]);
    const pending = [...settled].filter(([account, balance]) => balance !== 0n && /^pot:P-(abs|cash):.*(reserved|pending)/.test(account));
    expect(pending).toEqual([]);
    // The pot with cash bought B twice: 20.00 at once and 60.00 out of the proceeds, each its own order.
    expect([settled.get('pot:P-cash:units:FUND-A'), settled.get('pot:P-cash:units:FUND-B'), settled.get('pot:P-cash:cash:GBP') ?? 0n]).toEqual([552_000_000n, 460_000_000n, 0n]);
    const buys = await stack.db.owner.query<{ order_id: string; funding: string }>(
      "SELECT order_id, funding FROM orders WHERE pot_id = 'P-cash' AND side = 'buy' ORDER BY order_id",
    );
    expect(buys.rows).toEqual([
      { order_id: 'rebalance:P-cash:2026-06-01:buy:FUND-B', funding: 'cash' },
      { order_id: 'rebalance:P-cash:2026-06-01:switch:FUND-B', funding: 'proceeds' },
    ]);
    // Back at 60/40: the next re-balance leaves the pot alone.
    stack.now = new Date('2026-06-04T18:00:00Z');
    expect(await rebalancer.run('2026-06-04')).toMatchObject({ screened: 4, rebalanced: 0, sells: 0, buys: 0 });
    expect((await verifyLedger(stack.db.owner)).ok).toBe(true);
  });
});
