import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/api/keys.js';
import { checkProperty } from '../support/fast-check.js';
import { json, startApiStack, type ApiStack } from '../support/api.js';

/**
 * The negative space of the API: random and malformed bodies, headers, path parameters and query
 * strings at every documented route, with keys of every role and forged ones. Every answer must be
 * below 500, and every error a problem document whose status matches the response.
 */
let stack: ApiStack;
let routes: { method: string; path: string }[];
let keys: string[];

beforeAll(async () => {
  stack = await startApiStack('apifuzz', { API_WAIT_TIMEOUT_MS: 2000 });
  const spec = json(await stack.app.inject({ method: 'GET', url: '/openapi.json' }));
  routes = Object.entries(spec.paths as Record<string, Record<string, unknown>>).flatMap(([path, methods]) =>
    Object.keys(methods).map((method) => ({ method: method.toUpperCase(), path })),
  );
  const member = await createApiKey(stack.db.service, { role: 'member', memberId: 'M-fuzz' });
  keys = [stack.keys.service.key, stack.keys.operator.key, member.key];
});
afterAll(async () => {
  await stack?.stop();
});

const hostileText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    "' OR 1=1 --",
    '"; DROP TABLE movements; --',
    '../../etc/passwd',
    '%00',
    '\u0000',
    '${7*7}',
    '<script>alert(1)</script>',
    'P-own',
    'M-own',
    '9'.repeat(40),
    '-1',
    '2026-02-30',
  ),
);

const body = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.record({ memberId: hostileText, potId: hostileText, payload: fc.jsonValue({ maxDepth: 3 }), effectiveDate: hostileText }, { requiredKeys: [] }),
  fc.record({ memberId: fc.constant('M-fuzz'), potId: fc.constant('P-fuzz'), payload: fc.record({ amount: hostileText, currency: hostileText }) }),
  fc.record({ name: hostileText, email: hostileText, address: hostileText, riskProfile: hostileText, memberId: hostileText }, { requiredKeys: [] }),
);

/** JSON nested thousands deep, as text (as a value it would overflow the test's own stack). */
const deepJson = fc.integer({ min: 1, max: 30_000 }).map((depth) => ({ payload: `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`, contentType: 'application/json' }));

const rawBody = fc.oneof(
  body.map((value) => ({ payload: JSON.stringify(value), contentType: 'application/json' })),
  fc.string({ unit: 'binary', maxLength: 200 }).map((text) => ({ payload: text, contentType: 'application/json' })),
  fc.string({ maxLength: 50 }).map((text) => ({ payload: text, contentType: 'text/plain' })),
  fc.integer({ min: 65 * 1024, max: 200 * 1024 }).map((size) => ({ payload: `{"x":"${'a'.repeat(size)}"}`, contentType: 'application/json' })),
  deepJson,
  fc.constant({ payload: '', contentType: 'application/json' }),
  fc.constant(undefined),
);

const authorization = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 2 }).map((index) => ({ authorization: `Bearer ${keys[index] ?? ''}` })), weight: 8 },
  hostileText.map((text) => ({ authorization: `Bearer ${text}` })),
  fc.constant({ authorization: 'Bearer plk_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }),
  fc.constant({}),
);

const printable = fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((code) => String.fromCharCode(code)), minLength: 1, maxLength: 200 });

/** Headers a hostile client forges: proxies, hosts, our own NATS header names, odd content negotiation. */
const forgedHeaders = fc.dictionary(
  fc.constantFrom(
    'x-forwarded-for', 'x-real-ip', 'forwarded', 'host', 'accept', 'accept-encoding', 'x-http-method-override',
    'potledger-principal', 'potledger-source', 'potledger-reply', 'nats-msg-id', 'cookie', 'origin',
  ),
  fc.oneof(printable, fc.constantFrom('127.0.0.1', 'key:operator', 'payments-desk', 'ptest.cmd.0', 'DELETE', 'evil.example', '*/*;q=0.1, application/xml')),
  { maxKeys: 5 },
);

const request = fc.record({
  route: fc.nat(),
  params: fc.array(hostileText, { minLength: 3, maxLength: 3 }),
  query: fc.dictionary(fc.constantFrom('wait', 'asOf', 'from', 'to', 'cursor', 'limit', 'x', '__proto__'), hostileText, { maxKeys: 4 }),
  body: rawBody,
  authorization,
  idempotencyKey: fc.option(printable, { nil: undefined }),
  requestId: fc.option(printable, { nil: undefined }),
  forged: forgedHeaders,
});

describe('hostile input at every route', () => {
  it('is answered with 4xx problem details (or success), never a 5xx', async () => {
    const seen = new Map<number, number>();
    const heapBefore = process.memoryUsage().heapUsed;
    await checkProperty(
      'api: no input produces a 5xx',
      fc.asyncProperty(request, async (r) => {
        const route = routes[r.route % routes.length];
        if (route === undefined) return;
        let index = 0;
        const path = route.path.replace(/\{[^}]+\}/g, () => encodeURIComponent(r.params[index++] ?? ''));
        const query = new URLSearchParams(r.query).toString();
        const headers: Record<string, string> = { ...r.forged, ...r.authorization };
        if (r.idempotencyKey !== undefined) headers['idempotency-key'] = r.idempotencyKey;
        if (r.requestId !== undefined) headers['x-request-id'] = r.requestId;
        if (r.body !== undefined) headers['content-type'] = r.body.contentType;
        const response = await stack.app.inject({
          method: route.method as 'GET',
          url: `${path}${query === '' ? '' : `?${query}`}`,
          headers,
          ...(r.body === undefined ? {} : { payload: r.body.payload }),
        });
        seen.set(response.statusCode, (seen.get(response.statusCode) ?? 0) + 1);
        expect(response.statusCode, `${route.method} ${path}: ${response.body.slice(0, 300)}`).toBeLessThan(500);
        if (response.statusCode >= 400) {
          expect(response.headers['content-type']).toMatch(/application\/problem\+json/);
          const problem = json(response);
          expect(problem.status).toBe(response.statusCode);
          expect(typeof problem.code).toBe('string');
        }
      }),
      { numRuns: 1000 },
    );
    console.log(`[fuzz] answers by status: ${JSON.stringify(Object.fromEntries([...seen].sort(([a], [b]) => a - b)))}`);
    // The inputs reach past authentication into validation and look-ups, not only the front door.
    for (const status of [400, 401, 404]) expect(seen.has(status), `no ${status} seen`).toBe(true);
    // Bounded: a thousand hostile requests (bodies up to 200 KB among them) left nothing behind (a coarse bound).
    const grown = process.memoryUsage().heapUsed - heapBefore;
    console.log(`[fuzz] heap grew ${Math.round(grown / 1024 / 1024)} MB over the run`);
    expect(grown).toBeLessThan(200 * 1024 * 1024);
  });

  it("records the caller's key and the API as a command's principal and source, whatever headers it forges", async () => {
    const member = 'M-forger';
    const response = await stack.app.inject({
      method: 'POST',
      url: '/commands/pot.open?wait=true',
      headers: {
        authorization: `Bearer ${stack.keys.service.key}`,
        'idempotency-key': 'forged-audit-1',
        'potledger-principal': `key:${stack.keys.operator.keyId}`,
        'potledger-source': 'payments-desk',
        'x-forwarded-for': '10.0.0.1',
      },
      payload: { memberId: member, potId: `${member}-pot`, payload: {} },
    });
    expect(response.statusCode, response.body).toBe(200);
    const audit = await stack.app.inject({ method: 'GET', url: `/pots/${member}-pot/audit`, headers: { authorization: `Bearer ${stack.keys.operator.key}` } });
    expect(audit.statusCode, audit.body).toBe(200);
    expect(json(audit).lines).toEqual([expect.objectContaining({ process: 'pot.open', principal: `key:${stack.keys.service.keyId}`, source: 'api' })]);
  });
});
