import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/api/keys.js';
import { verifyLedger } from '../../src/journal/verify.js';
import { ledgerProcesses } from '../../src/ledger/index.js';
import { bearer, json, PARTITIONS, startApiStack, type ApiStack } from '../support/api.js';
import { closeDay } from '../support/close-day.js';

let stack: ApiStack;
beforeAll(async () => {
  stack = await startApiStack('apiroutes');
});
afterAll(async () => {
  await stack?.stop();
});

const member = { name: 'Ada Lovelace', email: 'ada@example.com', address: '12 St James Square, London', riskProfile: 'balanced' };

async function post(url: string, body: unknown, key = stack.keys.service, idempotencyKey = `k-${Math.random()}`) {
  return stack.app.inject({ method: 'POST', url, headers: { ...bearer(key), 'idempotency-key': idempotencyKey }, payload: body as object });
}

async function createMember(memberId: string) {
  const response = await post('/members', { ...member, memberId });
  expect(response.statusCode).toBe(201);
  return json(response);
}

async function openPot(memberId: string, potId: string) {
  const response = await post(`/members/${memberId}/pots?wait=true`, { potId });
  expect(response.statusCode, response.body).toBe(200);
}

async function deposit(memberId: string, potId: string, amount: string, effectiveDate?: string) {
  const response = await post('/commands/cash.deposit?wait=true', {
    memberId,
    potId,
    payload: { amount, currency: 'GBP' },
    ...(effectiveDate === undefined ? {} : { effectiveDate }),
  });
  expect(response.statusCode, response.body).toBe(200);
  return json(response);
}

describe('members', () => {
  it('creates, reads, updates and erases a member; the ledger stays whole', async () => {
    const created = await createMember('M-ada');
    expect(created).toMatchObject({ memberId: 'M-ada', ...member, version: 1 });
    const read = await stack.app.inject({ method: 'GET', url: '/members/M-ada', headers: bearer(stack.keys.operator) });
    expect(json(read)).toMatchObject({ memberId: 'M-ada', email: member.email });

    const started = performance.now();
    const edited = await stack.app.inject({
      method: 'PATCH',
      url: '/members/M-ada',
      headers: bearer(stack.keys.service),
      payload: { email: 'ada@analytical.engine', riskProfile: 'adventurous' },
    });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(json(edited)).toMatchObject({ email: 'ada@analytical.engine', riskProfile: 'adventurous', name: member.name, version: 2 });

    await openPot('M-ada', 'P-ada');
    await deposit('M-ada', 'P-ada', '10.00');
    const erased = await stack.app.inject({ method: 'DELETE', url: '/members/M-ada/personal-data', headers: bearer(stack.keys.operator) });
    expect(erased.statusCode).toBe(200);
    expect(json(erased)).not.toHaveProperty('email');
    expect(json(erased)).toHaveProperty('erasedAt');
    const balances = await stack.app.inject({ method: 'GET', url: '/pots/P-ada/balances', headers: bearer(stack.keys.operator) });
    expect(json(balances).balances).toEqual([expect.objectContaining({ account: 'pot:P-ada:cash:GBP', balance: '10.00' })]);
    const again = await stack.app.inject({ method: 'PATCH', url: '/members/M-ada', headers: bearer(stack.keys.service), payload: { name: 'Someone' } });
    expect(again.statusCode).toBe(409);
    expect(json(again).code).toBe('API_ERR_MEMBER_ERASED');
    expect((await verifyLedger(stack.db.owner)).ok).toBe(true);
  });

  it('answers a retried create with the first answer, and a reused key with 409', async () => {
    const first = await post('/members', { ...member, memberId: 'M-retry' }, stack.keys.service, 'same-key');
    const retry = await post('/members', { ...member, memberId: 'M-retry' }, stack.keys.service, 'same-key');
    expect(retry.statusCode).toBe(201);
    expect(json(retry)).toEqual(json(first));
    const other = await post('/members', { ...member, memberId: 'M-other' }, stack.keys.service, 'same-key');
    expect(other.statusCode).toBe(409);
    expect(json(other)).toMatchObject({ status: 409, code: 'API_ERR_IDEMPOTENCY_KEY_REUSED', type: 'urn:potledger:problem:API_ERR_IDEMPOTENCY_KEY_REUSED' });
    const taken = await post('/members', { ...member, memberId: 'M-retry' });
    expect(json(taken).code).toBe('API_ERR_MEMBER_EXISTS');
  });

  it('lists field paths when a body does not fit', async () => {
    const response = await post('/members', { name: '', email: 'not-an-email', riskProfile: 'Balanced!', extra: 1 });
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toMatch(/application\/problem\+json/);
    const paths = (json(response).errors as { path: string }[]).map((error) => error.path);
    expect(paths).toEqual(expect.arrayContaining(['body.name', 'body.email', 'body.riskProfile', 'body.address']));
  });
});

describe('commands', () => {
  it('has one route per registered process but those a service drives', async () => {
    const spec = json(await stack.app.inject({ method: 'GET', url: '/openapi.json' }));
    const paths = Object.keys(spec.paths as object);
    const driven = ledgerProcesses.list().filter((p) => p.drivenBy !== undefined);
    for (const process of ledgerProcesses.list().filter((p) => p.drivenBy === undefined)) expect(paths).toContain(`/commands/${process.name}`);
    // A payment's credit or a conversion at a caller's own rate cannot be sent from outside its desk.
    expect(driven.map((p) => p.name)).toEqual(expect.arrayContaining(['payment.send', 'payment.credit', 'payment.refund', 'fx.convert', 'order.allocate', 'order.settle']));
    for (const process of driven) {
      const response = await stack.app.inject({
        method: 'POST',
        url: `/commands/${process.name}`,
        headers: { ...bearer(stack.keys.operator), 'idempotency-key': `driven-${process.name}` },
        payload: { memberId: 'M-x', potId: 'P-x', payload: {} },
      });
      expect(response.statusCode, process.name).toBe(404);
    }
  });

  it('answers 202 once stored, the outcome with wait=true, and the first answer to a retry', async () => {
    await createMember('M-cmd');
    await openPot('M-cmd', 'P-cmd');
    const body = { memberId: 'M-cmd', potId: 'P-cmd', payload: { amount: '25.50', currency: 'GBP' } };
    const accepted = await post('/commands/cash.deposit', body, stack.keys.service, 'dep-1');
    expect(accepted.statusCode).toBe(202);
    const { commandId } = json(accepted) as { commandId: string };
    expect(accepted.headers.location).toBe(`/commands/${commandId}`);

    const waited = await post('/commands/cash.deposit?wait=true', body, stack.keys.service, 'dep-1');
    expect(waited.statusCode).toBe(200);
    expect(json(waited)).toMatchObject({ commandId, status: 'applied', outcome: { kind: 'applied', movement: { entries: [{ amount: '25.50' }] } } });
    const again = await post('/commands/cash.deposit?wait=true', body, stack.keys.service, 'dep-1');
    expect(json(again)).toEqual(json(waited));

    const looked = await stack.app.inject({ method: 'GET', url: `/commands/${commandId}`, headers: bearer(stack.keys.operator) });
    expect(json(looked)).toMatchObject({ commandId, status: 'applied' });
    const balances = json(await stack.app.inject({ method: 'GET', url: '/pots/P-cmd/balances', headers: bearer(stack.keys.service) }));
    expect(balances.balances).toEqual([expect.objectContaining({ balance: '25.50' })]);

    const conflict = await post('/commands/cash.deposit', { ...body, payload: { amount: '99.00', currency: 'GBP' } }, stack.keys.service, 'dep-1');
    expect(conflict.statusCode).toBe(409);
  });

  it('answers 422 with the outcome when the ledger rejects a command', async () => {
    await createMember('M-rej');
    await openPot('M-rej', 'P-rej');
    const response = await post('/commands/cash.withdraw?wait=true', { memberId: 'M-rej', potId: 'P-rej', payload: { amount: '5.00', currency: 'GBP' } });
    expect(response.statusCode).toBe(422);
    expect(json(response)).toMatchObject({ code: 'API_ERR_REJECTED_BY_LEDGER', outcome: { kind: 'rejected' } });
    const close = await stack.app.inject({ method: 'POST', url: '/pots/P-rej/close?wait=true', headers: { ...bearer(stack.keys.service), 'idempotency-key': 'close-rej' } });
    expect(close.statusCode, close.body).toBe(200);
    const pot = json(await stack.app.inject({ method: 'GET', url: '/pots/P-rej', headers: bearer(stack.keys.operator) }));
    expect(pot.status).toBe('closed');
  });

  it('refuses to close a pot that holds money', async () => {
    await createMember('M-full');
    await openPot('M-full', 'P-full');
    await deposit('M-full', 'P-full', '1.00');
    const close = await stack.app.inject({ method: 'POST', url: '/pots/P-full/close?wait=true', headers: { ...bearer(stack.keys.service), 'idempotency-key': 'close-full' } });
    expect(close.statusCode).toBe(422);
    expect(json(close).outcome).toMatchObject({ code: 'LEDGER_ERR_POT_NOT_EMPTY' });
  });

  it('requires an Idempotency-Key and a known command id', async () => {
    const missing = await stack.app.inject({
      method: 'POST',
      url: '/commands/cash.deposit',
      headers: bearer(stack.keys.service),
      payload: { memberId: 'M', potId: 'P', payload: { amount: '1.00', currency: 'GBP' } },
    });
    expect(missing.statusCode).toBe(400);
    expect(json(missing).errors).toEqual([expect.objectContaining({ path: 'headers.idempotency-key' })]);
    const unknown = await stack.app.inject({ method: 'GET', url: '/commands/no-such-command', headers: bearer(stack.keys.operator) });
    expect(unknown.statusCode).toBe(404);
  });
});

describe('reads', () => {
  it('gives balances as of a closed business day, statements page by page, and movements with entries', async () => {
    await createMember('M-read');
    await openPot('M-read', 'P-read');
    for (const [amount, date] of [['1.00', '2026-01-05'], ['2.00', '2026-01-05'], ['3.00', '2026-01-06']] as const) await deposit('M-read', 'P-read', amount, date);
    await closeDay(stack.db.service, stack.nats.nc, stack.nats.prefix, PARTITIONS, '2026-01-05');
    await deposit('M-read', 'P-read', '4.00', '2026-01-06');
    const operator = bearer(stack.keys.operator);
    const then = json(await stack.app.inject({ method: 'GET', url: '/pots/P-read/balances?asOf=2026-01-05', headers: operator }));
    expect(then).toMatchObject({ asOf: '2026-01-05', balances: [expect.objectContaining({ balance: '6.00' })] });
    const now = json(await stack.app.inject({ method: 'GET', url: '/pots/P-read/balances', headers: operator }));
    expect(now.balances).toEqual([expect.objectContaining({ balance: '10.00' })]);
    const notClosed = await stack.app.inject({ method: 'GET', url: '/pots/P-read/balances?asOf=2026-01-06', headers: operator });
    expect(json(notClosed).code).toBe('API_ERR_BUSINESS_DAY_NOT_CLOSED');

    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = json(await stack.app.inject({
        method: 'GET',
        url: `/pots/P-read/statement?from=2026-01-01&to=2026-01-31&limit=2${cursor === undefined ? '' : `&cursor=${cursor}`}`,
        headers: operator,
      }));
      for (const line of page.lines as { movement: { movementId: string; entries: { amount: string }[] } }[]) seen.push(line.movement.entries[0]?.amount ?? '');
      cursor = page.nextCursor as string | undefined;
    } while (cursor !== undefined);
    expect(seen).toEqual(['1.00', '2.00', '3.00', '4.00']);
    const only6th = json(await stack.app.inject({ method: 'GET', url: '/pots/P-read/statement?from=2026-01-06&to=2026-01-06', headers: operator }));
    expect((only6th.lines as unknown[]).length).toBe(2);

    const first = json(await stack.app.inject({ method: 'GET', url: '/pots/P-read/statement?from=2026-01-01&to=2026-01-31&limit=1', headers: operator }));
    const movementId = (first.lines as { movement: { movementId: string } }[])[0]?.movement.movementId;
    const movement = json(await stack.app.inject({ method: 'GET', url: `/movements/${movementId}`, headers: operator }));
    expect(movement.postings).toEqual([
      expect.objectContaining({ side: 'debit', account: 'pot:P-read:cash:GBP', amount: '1.00', balanceAfter: '1.00' }),
      expect.objectContaining({ side: 'credit', amount: '1.00', balanceAfter: '-1.00' }),
    ]);
  });

  it('serves the balance sheet from the partition totals, net zero per asset', async () => {
    const sheet = json(await stack.app.inject({ method: 'GET', url: '/balance-sheet', headers: bearer(stack.keys.operator) }));
    expect(sheet.netByAsset).toMatchObject({ GBP: '0.00' });
    const cash = (sheet.lines as { kind: string; asset: string; total: string }[]).find((line) => line.kind === 'cash' && line.asset === 'GBP');
    const { rows } = await stack.db.owner.query<{ total: bigint }>("SELECT sum(balance_minor)::bigint AS total FROM balances WHERE kind = 'cash' AND asset = 'GBP'");
    const total = rows[0]?.total ?? 0n;
    expect(cash?.total).toBe(`${total / 100n}.${String(total % 100n).padStart(2, '0')}`);
    expect((await verifyLedger(stack.db.owner)).ok).toBe(true);
  });
});

describe('access', () => {
  it('refuses a missing, malformed, unknown or revoked key with 401, and the wrong role with 403', async () => {
    const cases = [{}, { authorization: 'Basic abc' }, { authorization: 'Bearer plk_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }];
    for (const headers of cases) {
      const response = await stack.app.inject({ method: 'GET', url: '/balance-sheet', headers });
      expect(response.statusCode).toBe(401);
      expect(json(response).code).toBe('API_ERR_UNAUTHENTICATED');
    }
    const forbidden = await stack.app.inject({ method: 'GET', url: '/balance-sheet', headers: bearer(stack.keys.service) });
    expect(forbidden.statusCode).toBe(403);
    const revoked = await createApiKey(stack.db.service, { role: 'operator' });
    await stack.db.service.query('UPDATE api_keys SET revoked_at = now() WHERE key_id = $1', [revoked.keyId]);
    expect((await stack.app.inject({ method: 'GET', url: '/balance-sheet', headers: bearer(revoked) })).statusCode).toBe(401);
  });

  it('keeps personal data and keys out of the logs, with a request id on every line', async () => {
    await post('/members', { ...member, memberId: 'M-logs', name: 'Grace Hopper', email: 'grace@navy.example' });
    const text = JSON.stringify(stack.logs);
    expect(text).not.toContain('grace@navy.example');
    expect(text).not.toContain('Grace Hopper');
    expect(text).not.toContain(stack.keys.service.key);
    expect(stack.logs.filter((line) => line.msg === 'request completed').every((line) => typeof line.reqId === 'string')).toBe(true);
  });
});
