import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BODY_LIMIT_BYTES } from '../../src/api/app.js';
import { createApiKey, type CreatedKey } from '../../src/api/keys.js';
import { bearer, buildTestApp, json, startApiStack, type ApiStack, type TestApp } from '../support/api.js';

let stack: ApiStack;
beforeAll(async () => {
  stack = await startApiStack('apilimits', { API_RATE_LIMIT_MAX: 5 });
});
afterAll(async () => {
  await stack?.stop();
});

describe('limits', () => {
  it('answers 429 with a problem and Retry-After once a key exceeds its rate, without slowing other keys', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 7; i += 1) statuses.push((await stack.app.inject({ method: 'GET', url: '/pots/P-none', headers: bearer(stack.keys.operator) })).statusCode);
    expect(statuses).toEqual([404, 404, 404, 404, 404, 429, 429]);
    const limited = await stack.app.inject({ method: 'GET', url: '/pots/P-none', headers: bearer(stack.keys.operator) });
    expect(limited.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(limited.headers['retry-after']).toBeDefined();
    expect(json(limited)).toMatchObject({ status: 429, code: 'API_ERR_RATE_LIMITED' });
    expect((await stack.app.inject({ method: 'GET', url: '/pots/P-none', headers: bearer(stack.keys.service) })).statusCode).toBe(404);
  });

  it(`refuses a body over ${BODY_LIMIT_BYTES} bytes with 413 before reading it`, async () => {
    const response = await stack.app.inject({
      method: 'POST',
      url: '/members',
      headers: { ...bearer(stack.keys.service), 'idempotency-key': 'big', 'content-type': 'application/json' },
      payload: JSON.stringify({ name: 'x'.repeat(BODY_LIMIT_BYTES) }),
    });
    expect(response.statusCode).toBe(413);
    expect(json(response).code).toBe('API_ERR_BODY_TOO_LARGE');
  });
});

/** The service pool, counting the queries that look up an API key (the real pool answers them). */
function countingKeyLookUps(pool: pg.Pool): { readonly pool: pg.Pool; readonly lookUps: () => number } {
  let lookUps = 0;
  const counted = new Proxy(pool, {
    get(target, property, receiver) {
      if (property !== 'query') return Reflect.get(target, property, receiver) as unknown;
      return (...args: unknown[]) => {
        if (typeof args[0] === 'string' && args[0].includes('FROM api_keys')) lookUps += 1;
        return (target.query as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { pool: counted, lookUps: () => lookUps };
}

/** A well-formed key nobody issued: a random key id and secret. */
function madeUpKey(): string {
  return `plk_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`;
}

describe('rate limits are keyed after authentication', () => {
  const ALLOWANCE = 5;
  let limited: TestApp;
  let counter: ReturnType<typeof countingKeyLookUps>;
  beforeAll(async () => {
    counter = countingKeyLookUps(stack.db.service);
    limited = await buildTestApp(counter.pool, undefined, { config: { API_RATE_LIMIT_MAX: ALLOWANCE } });
  });
  afterAll(async () => {
    await limited?.app.close();
  });

  const read = (authorization: string, remoteAddress: string) =>
    limited.app.inject({ method: 'GET', url: '/pots/P-none', headers: { authorization }, remoteAddress });

  it("answers 1,000 made-up keys from one address 429 once the address's allowance is spent, without a look-up each; a real key from there is unaffected", async () => {
    const address = '192.0.2.10';
    expect((await read(`Bearer ${limited.keys.operator.key}`, address)).statusCode).toBe(404);
    const lookUpsBefore = counter.lookUps();
    const statuses: number[] = [];
    for (let i = 0; i < 1000; i += 1) statuses.push((await read(`Bearer ${madeUpKey()}`, address)).statusCode);
    expect(statuses.slice(0, ALLOWANCE)).toEqual(Array<number>(ALLOWANCE).fill(401));
    expect(statuses.slice(ALLOWANCE).filter((status) => status !== 429)).toEqual([]);
    // Only the failures within the allowance reached the database.
    expect(counter.lookUps() - lookUpsBefore).toBe(ALLOWANCE);
    const refused = await read(`Bearer ${madeUpKey()}`, address);
    expect(refused.headers['retry-after']).toBeDefined();
    expect(json(refused)).toMatchObject({ status: 429, code: 'API_ERR_RATE_LIMITED' });
    // Requests without a key from that address are held too.
    expect((await read('Bearer not-a-key', address)).statusCode).toBe(429);
    expect((await limited.app.inject({ method: 'GET', url: '/pots/P-none', remoteAddress: address })).statusCode).toBe(429);
    // The real key, verified from this address before, still gets its own allowance.
    for (let i = 0; i < ALLOWANCE - 1; i += 1) expect((await read(`Bearer ${limited.keys.operator.key}`, address)).statusCode).toBe(404);
    // Another address is unaffected.
    expect((await read(`Bearer ${madeUpKey()}`, '192.0.2.11')).statusCode).toBe(401);
  });

  it("does not spend a real key's allowance on requests with its key id and a wrong secret", async () => {
    const victim: CreatedKey = await createApiKey(stack.db.service, { role: 'operator' });
    const forged = `Bearer plk_${victim.keyId}_${randomBytes(32).toString('base64url')}`;
    const statuses: number[] = [];
    for (let i = 0; i < 3 * ALLOWANCE; i += 1) statuses.push((await read(forged, '192.0.2.20')).statusCode);
    expect(statuses).toEqual([...Array<number>(ALLOWANCE).fill(401), ...Array<number>(2 * ALLOWANCE).fill(429)]);
    // The real key's whole allowance is left, from any address.
    const real: number[] = [];
    for (let i = 0; i < ALLOWANCE + 1; i += 1) real.push((await read(`Bearer ${victim.key}`, '192.0.2.21')).statusCode);
    expect(real).toEqual([...Array<number>(ALLOWANCE).fill(404), 429]);
  });
});
