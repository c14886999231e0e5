import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rebalancer } from '../../src/dealing/rebalancer.js';
import { verifyLedger } from '../../src/journal/verify.js';
import { DEFAULT_PROFILES, type RiskProfile } from '../../src/ledger/index.js';
import { assets, DealingStack } from '../support/dealing.js';

/** S4 through the running system: closing prices, the re-balancing fan-out, the cycle that deals its orders. */
let stack: DealingStack;
let rebalancer: Rebalancer;
const relative: RiskProfile = { id: 's4-relative', currency: 'GBP', targets: [{ fund: 'FUND-A', weight: '60.00' }, { fund: 'FUND-B', weight: '40.00' }], band: { relative: '20.00' }, minimumTrade: '1.00', cashBuffer: '0.00' };
const progress: [number, number][] = [];

beforeAll(async () => {
  stack = await DealingStack.start('rebalance');
  rebalancer = new Rebalancer({ pool: stack.db.service, publisher: stack.publisher, profiles: [...DEFAULT_PROFILES, relative], assets, log: pino({ level: 'warn' }), batch: 2, onProgress: (done, total) => progress.push([done, total]) });
  stack.now = new Date('2026-06-01T08:00:00Z');
  const pots = [
    ['M-abs', 'P-abs', 'balanced', '600', '400'],
    ['M-rel', 'P-rel', 's4-relative', '600', '400'],
    ['M-min', 'P-min', 'balanced', '6', '4'],
  ] as const;
  for (const [member, pot, profile, a, b] of pots) {
    await stack.send('pot.open', member, pot, {});
    expect(await stack.send('pot.import', member, pot, { cash: [], units: [{ fund: 'FUND-A', units: a }, { fund: 'FUND-B', units: b }] })).toMatchObject({ kind: 'applied' });
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
    expect(run).toMatchObject({ pots: 3, screened: 2, rebalanced: 1, sells: 1, buys: 0, legsRefused: {} });
    expect(progress.at(-1)).toEqual([3, 3]);
    const { rows } = await stack.db.owner.query<{ pot_id: string; pot_change: { legs: unknown[] } }>(
      "SELECT pot_id, pot_change FROM movements WHERE process = 'pot.rebalance' ORDER BY pot_id",
    );
    expect(rows.map((r) => [r.pot_id, r.pot_change.legs])).toEqual([['P-abs', [{ side: 'sell', fund: 'FUND-A', units: '48.000000', value: '60.00' }]]]);
    expect((await stack.balances()).get('pot:P-abs:units.reserved:FUND-A')).toBe(48_000_000n);
  });

  it('re-balances a pot at most once a day, however often the run is repeated', async () => {
    // A repeated run sends P-abs's re-balance and its sell again (both answered from their outcomes).
    const again = await rebalancer.run('2026-06-01');
    expect(again).toMatchObject({ screened: 2, rebalanced: 1, sells: 1, buys: 0 });
    const { rows } = await stack.db.owner.query<{ n: bigint }>("SELECT count(*) AS n FROM orders WHERE pot_id = 'P-abs'");
    expect(rows[0]?.n).toBe(1n);
    const movements = await stack.db.owner.query<{ n: bigint }>("SELECT count(*) AS n FROM movements WHERE process = 'pot.rebalance'");
    expect(movements.rows[0]?.n).toBe(1n);
    // A run for an earlier day skips the pot re-balanced for a later one.
    expect(await rebalancer.run('2026-05-29')).toMatchObject({ later: 1, rebalanced: 0, sells: 0 });
  });

  it('once the sale has dealt and settled, the next re-balance buys B with the proceeds', async () => {
    await stack.price('FUND-A', '2026-06-02', '1.25');
    await stack.price('FUND-B', '2026-06-02', '1.00');
    await stack.days.run('2026-06-02');
    expect((await stack.balances()).get('pot:P-abs:cash.pending:GBP')).toBe(6_000n);
    for (const date of ['2026-06-03', '2026-06-04']) {
      await stack.price('FUND-A', date, '1.25');
      await stack.price('FUND-B', date, '1.00');
      await stack.days.run(date);
    }
    const settled = await stack.balances();
    expect(settled.get('pot:P-abs:cash:GBP')).toBe(6_000n);
    expect(settled.get('pot:P-abs:units:FUND-A')).toBe(552_000_000n);
    stack.now = new Date('2026-06-04T18:00:00Z');
    const run = await rebalancer.run('2026-06-04');
    expect(run).toMatchObject({ buys: 1, sells: 0, legsRefused: {} });
    const { rows } = await stack.db.owner.query<{ pot_change: { legs: unknown[] } }>("SELECT pot_change FROM movements WHERE command_id = 'rebalance:P-abs:2026-06-04'");
    expect(rows[0]?.pot_change.legs).toEqual([{ side: 'buy', fund: 'FUND-B', amount: '60.00' }]);
    expect((await stack.balances()).get('pot:P-abs:cash.reserved:GBP')).toBe(6_000n);
    expect((await verifyLedger(stack.db.owner)).ok).toBe(true);
  });
});
