import { Validator } from '@seriousme/openapi-schema-validator';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, type CreatedKey } from '../../src/api/keys.js';
import { ledgerProcesses } from '../../src/ledger/index.js';
import { bearer, json, PARTITIONS, startApiStack, type ApiStack } from '../support/api.js';
import { closeDay } from '../support/close-day.js';

let stack: ApiStack;
let memberKey: CreatedKey;
const movementOf: Record<string, string> = {};

async function post(url: string, body: unknown, idempotencyKey: string) {
  const response = await stack.app.inject({ method: 'POST', url, headers: { ...bearer(stack.keys.service), 'idempotency-key': idempotencyKey }, payload: body as object });
  expect(response.statusCode, response.body).toBeLessThan(300);
  return json(response);
}

beforeAll(async () => {
  stack = await startApiStack('apicontract');
  for (const who of ['own', 'other']) {
    await post('/members', { memberId: `M-${who}`, name: 'A Member', email: `${who}@example.com`, address: '1 Road', riskProfile: 'balanced' }, `member-${who}`);
    await post(`/members/M-${who}/pots?wait=true`, { potId: `P-${who}` }, `pot-${who}`);
    const deposited = await post('/commands/cash.deposit?wait=true', {
      memberId: `M-${who}`,
      potId: `P-${who}`,
      payload: { amount: '5.00', currency: 'GBP' },
      effectiveDate: '2026-02-02',
    }, `dep-${who}`);
    movementOf[who] = (deposited.outcome as { movement: { movementId: string } }).movement.movementId;
  }
  await closeDay(stack.db.service, stack.nats.nc, stack.nats.prefix, PARTITIONS, '2026-02-02');
  memberKey = await createApiKey(stack.db.service, { role: 'member', memberId: 'M-own' });
});
afterAll(async () => {
  await stack?.stop();
});

describe('the OpenAPI document', () => {
  it('is a valid OpenAPI 3 document listing every route and process', async () => {
    const response = await stack.app.inject({ method: 'GET', url: '/openapi.json' });
    const spec = json(response);
    const validator = new Validator();
    const result = await validator.validate(spec);
    expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(spec.openapi).toMatch(/^3\./);
    const documented = Object.entries(spec.paths as Record<string, object>).flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`));
    const routes = stack.app.printRoutes({ commonPrefix: false });
    for (const process of ledgerProcesses.list()) {
      if (process.drivenBy === undefined) expect(documented).toContain(`POST /commands/${process.name}`);
      else expect(documented).not.toContain(`POST /commands/${process.name}`);
    }
    for (const route of ['POST /members', 'GET /members/{memberId}', 'PATCH /members/{memberId}', 'DELETE /members/{memberId}/personal-data', 'GET /members/{memberId}/pots',
      'POST /members/{memberId}/pots', 'GET /pots/{potId}', 'POST /pots/{potId}/close', 'GET /pots/{potId}/balances', 'GET /pots/{potId}/statement',
      'GET /movements/{movementId}', 'GET /balance-sheet', 'GET /commands/{commandId}', 'GET /health/live', 'GET /health/ready', 'GET /metrics']) {
      expect(documented).toContain(route);
    }
    expect(routes).toContain('openapi.json');
    const docs = await stack.app.inject({ method: 'GET', url: '/docs/' });
    expect(docs.statusCode).toBe(200);
    expect(docs.headers['content-type']).toMatch(/text\/html/);
  });
});

describe('/metrics', () => {
  it('passes a Prometheus exposition-format parser and holds the signals operators watch', async () => {
    await stack.app.inject({ method: 'GET', url: '/health/live' });
    const response = await stack.app.inject({ method: 'GET', url: '/metrics' });
    expect(response.headers['content-type']).toMatch(/text\/plain/);
    const families = parsePrometheusTextFormat(response.body);
    const names = new Set(families.map((family) => family.name));
    for (const name of ['potledger_http_request_duration_seconds', 'potledger_outcomes_total', 'potledger_lag_seconds', 'potledger_owned_partitions',
      'potledger_consumer_pending', 'potledger_live_actors']) {
      expect(names, name).toContain(name);
    }
    const lags = families.find((family) => family.name === 'potledger_lag_seconds');
    expect(lags?.type).toBe('HISTOGRAM');
    expect(lags?.metrics.length).toBeGreaterThan(0);
  });
});

describe('a member key', () => {
  const reads = (pot: string, member: string, movement: () => string) => [
    `/members/${member}`,
    `/members/${member}/pots`,
    `/pots/${pot}`,
    `/pots/${pot}/balances`,
    `/pots/${pot}/balances?asOf=2026-02-02`,
    `/pots/${pot}/statement?from=2026-01-01&to=2026-12-31`,
    `/movements/${movement()}`,
  ];

  it('reads its own pots on every read route', async () => {
    for (const url of reads('P-own', 'M-own', () => movementOf.own ?? '')) {
      const response = await stack.app.inject({ method: 'GET', url, headers: bearer(memberKey) });
      expect(response.statusCode, `${url}: ${response.body}`).toBe(200);
    }
  });

  it("reads nothing of another member's on every read route (404, as if it did not exist)", async () => {
    for (const url of reads('P-other', 'M-other', () => movementOf.other ?? '')) {
      const response = await stack.app.inject({ method: 'GET', url, headers: bearer(memberKey) });
      expect(response.statusCode, url).toBe(404);
      expect(JSON.stringify(json(response))).not.toContain('other@example.com');
    }
  });

  it('may not publish commands, manage members or read operator views', async () => {
    const denied = [
      { method: 'POST', url: '/commands/cash.deposit', payload: { memberId: 'M-own', potId: 'P-own', payload: { amount: '1.00', currency: 'GBP' } } },
      { method: 'POST', url: '/members', payload: { name: 'x', email: 'x@example.com', address: 'x', riskProfile: 'x' } },
      { method: 'PATCH', url: '/members/M-own', payload: { name: 'x' } },
      { method: 'DELETE', url: '/members/M-own/personal-data' },
      { method: 'POST', url: '/members/M-own/pots', payload: {} },
      { method: 'POST', url: '/pots/P-own/close' },
      { method: 'GET', url: '/balance-sheet' },
      { method: 'GET', url: '/commands/anything' },
    ] as const;
    for (const request of denied) {
      const response = await stack.app.inject({ ...request, headers: { ...bearer(memberKey), 'idempotency-key': 'k' } });
      expect(response.statusCode, `${request.method} ${request.url}`).toBe(403);
      expect(json(response).code).toBe('API_ERR_FORBIDDEN');
    }
  });
});
