import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, type CreatedKey } from '../../src/api/keys.js';
import { ledgerProcesses } from '../../src/ledger/index.js';
import { closeDay } from '../support/close-day.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { answerChecker, type Answer, type OpenApiDocument } from '../support/api.js';
import { createTestNats, type TestNats } from '../support/nats.js';
import { WorkerProcess, workerEnvironment } from '../support/workers.js';

/**
 * The API of a running service (the real process, over HTTP): every route once, and the README's
 * quick-start commands exactly as written there.
 */
let db: TestDatabase;
let nats: TestNats;
let service: WorkerProcess;
let base: string;
let operator: CreatedKey;
let serviceKey: CreatedKey;
/** Every answer is checked against the service's own /openapi.json (status, media type, headers, body). */
let checkAnswer: (answer: Answer) => string[];

beforeAll(async () => {
  db = await createTestDatabase('apiservice');
  nats = await createTestNats('apiservice');
  const environment = workerEnvironment(db, nats.prefix, 4);
  service = await WorkerProcess.start('api', environment);
  base = String(service.logged('potledger is up')?.http);
  expect(base).toMatch(/^http:\/\//);
  operator = await createApiKey(db.service, { role: 'operator' });
  serviceKey = await createApiKey(db.service, { role: 'service' });
  checkAnswer = answerChecker((await (await fetch(`${base}/openapi.json`)).json()) as OpenApiDocument);
});
afterAll(async () => {
  await service?.stop();
  await nats?.cleanup();
  await db?.drop();
});

async function call(method: string, path: string, key: CreatedKey | undefined, body?: unknown, idempotencyKey?: string) {
  const headers: Record<string, string> = {};
  if (key !== undefined) headers.authorization = `Bearer ${key.key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
  const response = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await response.text();
  expect(checkAnswer({ method, path, status: response.status, header: (name) => response.headers.get(name) ?? undefined, text })).toEqual([]);
  return {
    status: response.status,
    type: response.headers.get('content-type') ?? '',
    body: text === '' ? undefined : (JSON.parse(text.startsWith('{') || text.startsWith('[') ? text : 'null') as Record<string, unknown> | null),
    text,
  };
}

describe('the running service', () => {
  it('answers every route over HTTP', async () => {
    expect((await call('GET', '/health/live', undefined)).status).toBe(200);
    expect((await call('GET', '/health/ready', undefined)).status).toBe(200);
    expect((await call('GET', '/metrics', undefined)).text).toContain('potledger_http_request_duration_seconds');
    const spec = await call('GET', '/openapi.json', undefined);
    expect(spec.body?.openapi).toMatch(/^3\./);
    expect((await fetch(`${base}/docs/`)).status).toBe(200);

    const created = await call('POST', '/members', serviceKey, {
      memberId: 'M-svc',
      name: 'Mary Somerville',
      email: 'mary@example.com',
      address: '1 Road',
      riskProfile: 'cautious',
    }, 'svc-member');
    expect(created.status).toBe(201);
    expect((await call('GET', '/members/M-svc', operator)).body).toMatchObject({ riskProfile: 'cautious' });
    expect((await call('PATCH', '/members/M-svc', serviceKey, { riskProfile: 'balanced' })).body).toMatchObject({ riskProfile: 'balanced', version: 2 });
    expect((await call('POST', '/members/M-svc/pots?wait=true', serviceKey, { potId: 'P-svc' }, 'svc-pot')).status).toBe(200);
    expect((await call('GET', '/members/M-svc/pots', operator)).body).toMatchObject({ pots: [{ potId: 'P-svc', status: 'open' }] });
    expect((await call('GET', '/pots/P-svc', operator)).body).toMatchObject({ memberId: 'M-svc' });

    // Every process callers may send has its route; each answers (a rejection is an answer too).
    for (const process of ledgerProcesses.list().filter((p) => p.drivenBy === undefined)) {
      const answer = await call('POST', `/commands/${process.name}`, serviceKey, { memberId: 'M-svc', potId: 'P-none', payload: {} }, `svc-${process.name}`);
      expect([202, 400], `${process.name}: ${answer.text}`).toContain(answer.status);
    }
    const deposit = await call('POST', '/commands/cash.deposit?wait=true', serviceKey, {
      memberId: 'M-svc',
      potId: 'P-svc',
      payload: { amount: '7.50', currency: 'GBP' },
      effectiveDate: '2026-03-02',
    }, 'svc-dep');
    expect(deposit.status).toBe(200);
    const commandId = String(deposit.body?.commandId);
    expect((await call('GET', `/commands/${commandId}`, serviceKey)).body).toMatchObject({ status: 'applied' });
    const movementId = String((deposit.body?.outcome as { movement: { movementId: string } }).movement.movementId);
    expect((await call('GET', `/movements/${movementId}`, operator)).body).toMatchObject({ movement: { movementId } });
    await closeDay(db.service, nats.nc, nats.prefix, 4, '2026-03-02');
    expect((await call('GET', '/pots/P-svc/balances?asOf=2026-03-02', operator)).body).toMatchObject({ balances: [{ balance: '7.50' }] });
    expect((await call('GET', '/pots/P-svc/statement?from=2026-03-01&to=2026-03-31', operator)).body).toMatchObject({ lines: [{ movement: { movementId } }] });
    expect((await call('GET', '/balance-sheet', operator)).body).toMatchObject({ netByAsset: { GBP: '0.00' } });
    expect((await call('POST', '/prices', operator, { prices: [{ fund: 'FUND-A', date: '2026-03-02', price: '1.25' }] })).body).toEqual({ inserted: 1, unchanged: 0 });
    expect((await call('GET', '/prices/2026-03-02', serviceKey)).body).toMatchObject({ prices: [{ fund: 'FUND-A' }] });
    const buy = await call('POST', '/commands/order.buy?wait=true', serviceKey, {
      memberId: 'M-svc',
      potId: 'P-svc',
      payload: { fund: 'FUND-A', amount: '1.00', currency: 'GBP' },
    }, 'svc-buy');
    expect(buy.status).toBe(200);
    expect((await call('GET', `/orders/${String(buy.body?.commandId)}`, operator)).body).toMatchObject({ order: { status: 'open' } });
    expect((await call('GET', '/trades/T-FUND-A-2026-03-02', operator)).status).toBe(404);
    const recon = await call('POST', '/recon', operator, {
      custodian: { asOf: '2026-03-02', holdings: [], openTrades: [] },
      bank: { asOf: '2026-03-02', balances: [{ currency: 'GBP', balance: '7.50' }] },
    });
    expect(recon.body).toMatchObject({ breaks: [] });
    expect((await call('GET', `/recon/${String(recon.body?.runId)}`, operator)).status).toBe(200);
    const cancel = await call('POST', '/commands/order.cancel?wait=true', serviceKey, {
      memberId: 'M-svc',
      potId: 'P-svc',
      payload: { orderId: String(buy.body?.commandId) },
    }, 'svc-cancel');
    expect(cancel.status).toBe(200);

    const withdraw = await call('POST', '/commands/cash.withdraw?wait=true', serviceKey, {
      memberId: 'M-svc',
      potId: 'P-svc',
      payload: { amount: '7.50', currency: 'GBP' },
    }, 'svc-wd');
    expect(withdraw.status).toBe(200);
    expect((await call('POST', '/pots/P-svc/close?wait=true', serviceKey, undefined, 'svc-close')).status).toBe(200);
    const erased = await call('DELETE', '/members/M-svc/personal-data', operator);
    expect(erased.body).not.toHaveProperty('email');

    const unknown = await call('GET', '/no/such/route', operator);
    expect(unknown.status).toBe(404);
    expect(unknown.type).toContain('application/problem+json');
  });

  it("runs the README's quick-start commands as written", async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const block = /<!-- quick-start-api -->\s*```sh\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block, 'README.md has a ```sh block after <!-- quick-start-api -->').toBeDefined();
    const { stdout } = await promisify(execFile)('bash', ['-euo', 'pipefail', '-c', block ?? ''], {
      env: { ...process.env, API: base, DATABASE_URL: workerEnvironment(db, nats.prefix, 4).databaseUrl },
      timeout: 60_000,
    });
    expect(stdout).toContain('"potId":"P-quickstart"');
    expect(stdout).toMatch(/"account":"pot:P-quickstart:cash:GBP"[^}]*"balance":"100.00"/);
  });
});
