import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BODY_LIMIT_BYTES } from '../../src/api/app.js';
import { bearer, json, startApiStack, type ApiStack } from '../support/api.js';

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
