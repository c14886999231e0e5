import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyLedger } from '../../src/journal/verify.js';
import { bearer, json, startApiStack, type ApiStack } from '../support/api.js';
import { stringContaining } from '../support/matchers.js';

/**
 * Investment pools through the running system (API, pools service, payments desk, JetStream, a shard
 * worker, Postgres): subscriptions issue units at par, S5 distributions pay each investor its largest
 * remainder share (ties to the lowest pot id), redemptions cancel units (refunded to the pool when the
 * investor lacks them), a distribution asked twice pays once, the top-investors report, and at the end
 * the clearing accounts at zero and `verify` passing.
 */
let stack: ApiStack;

const investor = (i: number) => ({ memberId: `PI-${i}`, potId: `PI-${i}-pot` });
const call = (method: 'GET' | 'POST', url: string, payload?: unknown, key: 'operator' | 'service' = 'operator') =>
  stack.app.inject({ method, url, headers: bearer(stack.keys[key]), ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }) });

async function command(process: string, party: { memberId: string; potId: string }, payload: unknown, key: string) {
  const response = await stack.app.inject({
    method: 'POST',
    url: `/commands/${process}?wait=true`,
    headers: { ...bearer(stack.keys.service), 'idempotency-key': key },
    payload: { ...party, payload },
  });
  expect(response.statusCode, response.body).toBe(200);
}

async function balance(potId: string, kind: string, asset: string): Promise<bigint> {
  const { rows } = await stack.db.owner.query<{ balance_minor: bigint }>('SELECT balance_minor FROM balances WHERE account_id = $1', [`pot:${potId}:${kind}:${asset}`]);
  return rows[0]?.balance_minor ?? 0n;
}

const subscribe = (pool: string, id: string, i: number, amount: string) => call('POST', `/pools/${pool}/subscriptions`, { id, investor: investor(i), amount }, 'service');

beforeAll(async () => {
  stack = await startApiStack('pools');
  for (let i = 0; i < 7; i += 1) {
    await command('pot.open', investor(i), {}, `open-${i}`);
    await command('cash.deposit', investor(i), { amount: '1000.00', currency: 'GBP' }, `fund-${i}`);
  }
});
afterAll(async () => {
  await stack?.stop();
});

describe('investment pools', () => {
  it('are created by operators, with a pot of their own, once', async () => {
    const created = await call('POST', '/pools', { poolId: 'S5', currency: 'GBP', name: 'S5 pool' });
    expect(created.statusCode, created.body).toBe(201);
    expect(json(created)).toMatchObject({ poolId: 'S5', currency: 'GBP', pot: { memberId: 'pool-S5', potId: 'pool-S5' } });
    expect((await call('POST', '/pools', { poolId: 'S5', currency: 'GBP', name: 'S5 pool' })).statusCode).toBe(201);
    expect((await call('POST', '/pools', { poolId: 'S5', currency: 'EUR', name: 'S5 pool' })).statusCode).toBe(409);
    expect((await call('POST', '/pools', { poolId: 'S5', currency: 'GBP', name: 'S5 pool' }, 'service')).statusCode).toBe(403);
    expect((await call('POST', '/pools', { poolId: 'bad id', currency: 'GBP', name: 'x' })).statusCode).toBe(400);
    expect((await call('GET', '/pools/NOPE')).statusCode).toBe(404);
    // A member cannot take a pool's pot id.
    const hijack = await stack.app.inject({
      method: 'POST',
      url: '/commands/pot.open?wait=true',
      headers: { ...bearer(stack.keys.service), 'idempotency-key': 'hijack' },
      payload: { memberId: 'PI-0', potId: 'pool-LATER', payload: {} },
    });
    expect(hijack.statusCode).toBe(422);
    expect(json(hijack).detail).toContain('kept for investment pools');
  });

  it('issue units at par to subscribers: 310/350/200/140', async () => {
    for (const [i, amount] of [[0, '310.00'], [1, '350.00'], [2, '200.00'], [3, '140.00']] as const) {
      const response = await subscribe('S5', `sub-${i}`, i, amount);
      expect(response.statusCode, response.body).toBe(200);
      expect(json(response)).toMatchObject({ kind: 'subscription', status: 'completed', detail: { poolId: 'S5' } });
    }
    expect(json(await subscribe('S5', 'sub-0', 0, '310.00'))).toMatchObject({ status: 'completed' });
    expect((await subscribe('S5', 'sub-0', 0, '311.00')).statusCode).toBe(409);
    expect(await balance(investor(0).potId, 'pool.units', 'POOL-S5')).toBe(31_000n);
    expect(await balance(investor(0).potId, 'cash', 'GBP')).toBe(69_000n);
    expect(await balance('pool-S5', 'cash', 'GBP')).toBe(100_000n);
    expect(json(await call('GET', '/pools/S5', undefined, 'service'))).toMatchObject({ investors: 4, unitsIssued: '1000.00' });
    expect((await subscribe('S5', 'sub-poor', 4, '5000.00')).statusCode).toBe(200); // rejected: insufficient funds, nothing issued
    expect(await balance(investor(4).potId, 'pool.units', 'POOL-S5')).toBe(0n);
  });

  it('S5: distributes 1,234.56 as 382.71, 432.10, 246.91 and 172.84, once however often asked', async () => {
    await command('cash.deposit', { memberId: 'pool-S5', potId: 'pool-S5' }, { amount: '234.56', currency: 'GBP' }, 'pool-income');
    const response = await call('POST', '/pools/S5/distributions', { distributionId: 'd1', amount: '1234.56' });
    expect(response.statusCode, response.body).toBe(200);
    const distribution = json(response) as { status: string; shares: { potId: string; share: string; paymentStatus: string }[] };
    expect(distribution.status).toBe('paid');
    expect(distribution.shares.map((s) => [s.potId, s.share, s.paymentStatus])).toEqual([
      [investor(0).potId, '382.71', 'completed'],
      [investor(1).potId, '432.10', 'completed'],
      [investor(2).potId, '246.91', 'completed'],
      [investor(3).potId, '172.84', 'completed'],
    ]);
    expect((await call('POST', '/pools/S5/distributions', { distributionId: 'd1', amount: '1234.56' })).statusCode).toBe(200);
    expect((await call('POST', '/pools/S5/distributions', { distributionId: 'd1', amount: '1.00' })).statusCode).toBe(409);
    expect([await balance(investor(0).potId, 'cash', 'GBP'), await balance(investor(1).potId, 'cash', 'GBP'), await balance('pool-S5', 'cash', 'GBP')]).toEqual([
      69_000n + 38_271n,
      65_000n + 43_210n,
      0n,
    ]);
    const refused = await call('POST', '/pools/S5/distributions', { distributionId: 'd2', amount: '0.01' });
    expect(refused.statusCode).toBe(422);
    expect(json(refused).detail).toContain('INSUFFICIENT_FUNDS');
    expect(json(await call('GET', '/pools/S5/distributions/d1', undefined, 'service'))).toMatchObject({ status: 'paid', amount: '1234.56' });
    expect((await call('GET', '/pools/S5/distributions/nope')).statusCode).toBe(404);
  });

  it('S5: 1,000.00 over three equal holdings gives 333.34, 333.33, 333.33, the extra penny to the lowest pot id', async () => {
    expect((await call('POST', '/pools', { poolId: 'EQUAL', currency: 'GBP', name: 'three equal' })).statusCode).toBe(201);
    for (const i of [6, 4, 5]) expect(json(await subscribe('EQUAL', `eq-${i}`, i, '100.00'))).toMatchObject({ status: 'completed' });
    await command('cash.deposit', { memberId: 'pool-EQUAL', potId: 'pool-EQUAL' }, { amount: '700.00', currency: 'GBP' }, 'equal-income');
    const response = await call('POST', '/pools/EQUAL/distributions', { distributionId: 'eq', amount: '1000.00' });
    expect((json(response) as { shares: { potId: string; share: string }[] }).shares.map((s) => [s.potId, s.share])).toEqual([
      [investor(4).potId, '333.34'],
      [investor(5).potId, '333.33'],
      [investor(6).potId, '333.33'],
    ]);
    expect((await call('POST', '/pools/NOPE/distributions', { distributionId: 'x', amount: '1.00' })).statusCode).toBe(404);
    expect((await call('POST', '/pools', { poolId: 'EMPTY', currency: 'GBP', name: 'no investors' })).statusCode).toBe(201);
    expect((await call('POST', '/pools/EMPTY/distributions', { distributionId: 'empty', amount: '1.00' })).statusCode).toBe(422);
  });

  it('redeems units at par, and refunds the pool when the investor lacks the units', async () => {
    const redeemed = await call('POST', '/pools/S5/redemptions', { id: 'red-1', investor: investor(0), amount: '100.00' }, 'service');
    expect(redeemed.statusCode, redeemed.body).toBe(200);
    expect(json(redeemed)).toMatchObject({ kind: 'redemption', status: 'rejected' }); // the pool's pot has no cash left: nothing moved
    await command('cash.deposit', { memberId: 'pool-S5', potId: 'pool-S5' }, { amount: '500.00', currency: 'GBP' }, 'pool-cash');
    expect(json(await call('POST', '/pools/S5/redemptions', { id: 'red-2', investor: investor(0), amount: '100.00' }, 'service'))).toMatchObject({ status: 'completed' });
    expect(await balance(investor(0).potId, 'pool.units', 'POOL-S5')).toBe(21_000n);
    const tooMany = await call('POST', '/pools/S5/redemptions', { id: 'red-3', investor: investor(3), amount: '140.01' }, 'service');
    expect(json(tooMany)).toMatchObject({ status: 'refunded', reason: stringContaining('INSUFFICIENT_FUNDS') });
    expect(await balance('pool-S5', 'cash', 'GBP')).toBe(40_000n);
  });

  it('reports the top investors by distinct pools, with what they invested', async () => {
    expect(json(await subscribe('EQUAL', 'eq-1', 1, '50.00'))).toMatchObject({ status: 'completed' });
    const report = await call('GET', '/reports/top-investors?limit=3');
    expect(report.statusCode, report.body).toBe(200);
    expect(json(report).investors).toEqual([
      { potId: investor(1).potId, memberId: investor(1).memberId, pools: 2, invested: { GBP: '400.00' } },
      { potId: investor(0).potId, memberId: investor(0).memberId, pools: 1, invested: { GBP: '210.00' } },
      { potId: investor(2).potId, memberId: investor(2).memberId, pools: 1, invested: { GBP: '200.00' } },
    ]);
    expect((await call('GET', '/reports/top-investors', undefined, 'service')).statusCode).toBe(403);
    // The summary the report reads agrees with the holdings themselves.
    const { rows } = await stack.db.owner.query(
      `SELECT coalesce(s.pot_id, h.pot_id) AS pot_id FROM pool_investors s
         FULL JOIN (SELECT pot_id, count(*)::int AS pools FROM balances WHERE kind = 'pool.units' AND balance_minor > 0 GROUP BY pot_id) h ON h.pot_id = s.pot_id
        WHERE coalesce(s.pools, 0) <> coalesce(h.pools, 0)`,
    );
    expect(rows).toEqual([]);
  });

  it('leaves the clearing at zero and verify passing', async () => {
    const { rows } = await stack.db.owner.query<{ total: bigint | null }>("SELECT sum(balance_minor)::bigint AS total FROM balances WHERE kind = 'payments.clearing'");
    expect(rows[0]?.total ?? 0n).toBe(0n);
    expect((await verifyLedger(stack.db.owner)).checks.filter((check) => !check.ok)).toEqual([]);
  });
});
