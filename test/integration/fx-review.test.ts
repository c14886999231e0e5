import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertAlerts } from '../../src/alerts/store.js';
import { verifyLedger } from '../../src/journal/verify.js';
import { applyCommand, bearer, json, membersInThreePartitions, startApiStack, type ApiStack } from '../support/api.js';
import { anyOf, stringContaining } from '../support/matchers.js';

/**
 * Cross-currency payments, conversions and the fraud review hook through the running system (API,
 * payments desk, JetStream, a shard worker, Postgres): S10 end to end, a refund undoing both
 * currencies, conversions applied once, payments held for review released or rejected by an operator,
 * and at the end every clearing account at zero and `verify` passing.
 */
let stack: ApiStack;

const members = membersInThreePartitions('FX');
const pot = (member: string) => `${member}-pot`;
const party = (member: string) => ({ memberId: member, potId: pot(member) });
const today = () => new Date().toISOString().slice(0, 10);

const command = (process: string, member: string, payload: unknown, key: string) => applyCommand(stack, process, member, payload, key);

async function cash(member: string, currency: string): Promise<bigint> {
  const { rows } = await stack.db.owner.query<{ balance_minor: bigint }>('SELECT balance_minor FROM balances WHERE account_id = $1', [`pot:${pot(member)}:cash:${currency}`]);
  return rows[0]?.balance_minor ?? 0n;
}

async function systemTotals(kind: string): Promise<Record<string, bigint>> {
  const { rows } = await stack.db.owner.query<{ asset: string; total: bigint }>(
    'SELECT asset, sum(balance_minor)::bigint AS total FROM balances WHERE kind = $1 GROUP BY asset ORDER BY asset',
    [kind],
  );
  return Object.fromEntries(rows.map((row) => [row.asset, row.total]));
}

const pay = (paymentId: string, from: string, to: string, amount: string, currency: string, fromCurrency?: string) =>
  stack.app.inject({
    method: 'POST',
    url: '/payments',
    headers: bearer(stack.keys.service),
    payload: { paymentId, payer: party(from), payee: party(to), amount, currency, ...(fromCurrency === undefined ? {} : { fromCurrency }) },
  });

const setRate = (base: string, quote: string, rate: string, day = today()) =>
  stack.app.inject({ method: 'PUT', url: `/fx-rates/${day}/${base}/${quote}`, headers: bearer(stack.keys.operator), payload: { rate } });

const decide = (paymentId: string, decision: 'release' | 'rejection', key = stack.keys.operator, note?: string) =>
  stack.app.inject({ method: 'POST', url: `/payments/${paymentId}/${decision}`, headers: bearer(key), payload: note === undefined ? {} : { note } });

beforeAll(async () => {
  // Review rules: over 5,000.00 GBP, or from a pot with an open alert.
  stack = await startApiStack('fx_review', {}, { review: { overMinor: new Map([['GBP', 500_000n]]), openAlerts: true }, rateMaxAgeDays: 4 });
  for (const member of Object.values(members)) await command('pot.open', member, {}, `open-${member}`);
  await command('cash.deposit', members.payer, { amount: '20000.00', currency: 'GBP' }, 'fund-payer');
  await command('pot.close', members.closed, {}, 'close-closed');
});
afterAll(async () => {
  await stack?.stop();
});

describe('daily FX rates', () => {
  it('are recorded once per day and pair by operators; the same rate again is fine, another is refused', async () => {
    const first = await setRate('GBP', 'EUR', '1.17000000');
    expect(first.statusCode, first.body).toBe(201);
    expect(json(first)).toMatchObject({ base: 'GBP', quote: 'EUR', rate: '1.17000000', day: today() });
    expect((await setRate('GBP', 'EUR', '1.17000000')).statusCode).toBe(200);
    expect((await setRate('GBP', 'EUR', '1.18')).statusCode).toBe(409);
    expect((await setRate('GBP', 'XYZ', '1.1')).statusCode).toBe(422);
    expect((await setRate('GBP', 'GBP', '1')).statusCode).toBe(422);
    expect((await setRate('GBP', 'USD', '0.00')).statusCode).toBe(400);
    const service = await stack.app.inject({ method: 'PUT', url: `/fx-rates/${today()}/GBP/USD`, headers: bearer(stack.keys.service), payload: { rate: '1.27' } });
    expect(service.statusCode).toBe(403);
    const listed = await stack.app.inject({ method: 'GET', url: `/fx-rates/${today()}`, headers: bearer(stack.keys.service) });
    expect(json(listed).rates).toEqual([expect.objectContaining({ base: 'GBP', quote: 'EUR', rate: '1.17000000' })]);
  });
});

describe('S10: a cross-currency payment', () => {
  it('sends 100.00 EUR from a GBP pot for 85.48 GBP; the payee gets 100.00 EUR; each currency balances', async () => {
    const response = await pay('fx-pay-1', members.payer, members.payee, '100.00', 'EUR', 'GBP');
    expect(response.statusCode, response.body).toBe(200);
    expect(json(response)).toMatchObject({
      status: 'completed',
      amount: '100.00',
      currency: 'EUR',
      exchange: { fromCurrency: 'GBP', rate: '1.17000000', rateDay: today(), cost: '85.48' },
    });
    expect([await cash(members.payer, 'GBP'), await cash(members.payer, 'EUR'), await cash(members.payee, 'EUR')]).toEqual([1_991_452n, 0n, 10_000n]);
    expect(await systemTotals('fx.liquidity')).toEqual({ EUR: -10_000n, GBP: 8_548n });
    expect(await systemTotals('payments.clearing')).toEqual({ EUR: 0n });
    // Asked again: the same payment, nothing moves twice.
    expect(json(await pay('fx-pay-1', members.payer, members.payee, '100.00', 'EUR', 'GBP'))).toMatchObject({ status: 'completed' });
    expect((await pay('fx-pay-1', members.payer, members.payee, '100.00', 'EUR')).statusCode).toBe(409);
    expect(await cash(members.payer, 'GBP')).toBe(1_991_452n);
  });

  it('is refunded whole when the payee refuses it: the payer gets back the 85.48 GBP, both currencies undone in one movement', async () => {
    const response = await pay('fx-pay-2', members.payer, members.closed, '100.00', 'EUR', 'GBP');
    expect(json(response)).toMatchObject({ status: 'refunded', exchange: { cost: '85.48' } });
    expect(await cash(members.payer, 'GBP')).toBe(1_991_452n);
    expect(await systemTotals('fx.liquidity')).toEqual({ EUR: -10_000n, GBP: 8_548n });
    const { rows } = await stack.db.owner.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM entries
        WHERE movement_id = (SELECT movement_id FROM command_outcomes WHERE command_id = 'payment:fx-pay-2:refund')`,
    );
    expect(rows[0]?.n).toBe(4); // two entries (EUR back into liquidity, GBP back to the pot), a debit and a credit row each
  });

  it('is refused before anything is recorded when no rate of the pair is recorded (the inverse is not derived)', async () => {
    const response = await pay('fx-pay-3', members.payee, members.payer, '10.00', 'GBP', 'EUR');
    expect(response.statusCode).toBe(422);
    expect(json(response).detail ?? json(response).title).toContain('EUR→GBP');
    expect((await stack.db.owner.query("SELECT 1 FROM payments WHERE payment_id = 'fx-pay-3'")).rows).toEqual([]);
  });
});

describe('conversions', () => {
  const convert = (conversionId: string, amount: string) =>
    stack.app.inject({
      method: 'POST',
      url: '/conversions',
      headers: bearer(stack.keys.service),
      payload: { conversionId, ...party(members.payer), amount, currency: 'EUR', fromCurrency: 'GBP' },
    });

  it("convert a pot's GBP into EUR at the day's rate, once however often asked", async () => {
    const first = await convert('conv-1', '117.00');
    expect(first.statusCode, first.body).toBe(200);
    expect(json(first)).toMatchObject({ status: 'applied', amount: '117.00', exchange: { rate: '1.17000000', cost: '100.00' } });
    expect(json(await convert('conv-1', '117.00'))).toMatchObject({ status: 'applied' });
    expect([await cash(members.payer, 'GBP'), await cash(members.payer, 'EUR')]).toEqual([1_981_452n, 11_700n]);
    expect((await convert('conv-1', '118.00')).statusCode).toBe(409);
  });

  it('answers 422 when the pot cannot pay for it, with nothing moved', async () => {
    const response = await convert('conv-2', '99999999.00');
    expect(response.statusCode).toBe(422);
    expect(json(response).code).toBe('API_ERR_REJECTED_BY_LEDGER');
    expect(await cash(members.payer, 'GBP')).toBe(1_981_452n);
  });
});

describe('the fraud rules hook: payments held for review', () => {
  it('holds a payment over the limit, debited but not credited, until an operator releases it', async () => {
    const held = await pay('review-1', members.payer, members.payee, '6000.00', 'GBP');
    expect(held.statusCode, held.body).toBe(202);
    expect(json(held)).toMatchObject({ status: 'review', review: { reason: stringContaining('over the review limit of 5000.00 GBP') } });
    expect([await cash(members.payer, 'GBP'), await cash(members.payee, 'GBP')]).toEqual([1_381_452n, 0n]);
    expect(await systemTotals('payments.clearing')).toMatchObject({ GBP: 600_000n });
    const listed = await stack.app.inject({ method: 'GET', url: '/payments?status=review', headers: bearer(stack.keys.operator) });
    expect((json(listed).payments as { paymentId: string }[]).map((p) => p.paymentId)).toEqual(['review-1']);
    // The resume sweep leaves it waiting.
    expect(json(await pay('review-1', members.payer, members.payee, '6000.00', 'GBP'))).toMatchObject({ status: 'review' });

    expect((await decide('review-1', 'release', stack.keys.service)).statusCode).toBe(403);
    const released = await decide('review-1', 'release', stack.keys.operator, 'called the member');
    expect(released.statusCode, released.body).toBe(200);
    expect(json(released)).toMatchObject({ status: 'completed', review: { decision: 'released', note: 'called the member', decidedBy: anyOf(String) } });
    expect([await cash(members.payer, 'GBP'), await cash(members.payee, 'GBP')]).toEqual([1_381_452n, 600_000n]);
    expect((await decide('review-1', 'release')).statusCode).toBe(200);
    expect((await decide('review-1', 'rejection')).statusCode).toBe(409);
  });

  it('refunds a payment an operator rejects', async () => {
    expect(json(await pay('review-2', members.payer, members.payee, '5000.01', 'GBP'))).toMatchObject({ status: 'review' });
    const rejected = await decide('review-2', 'rejection', stack.keys.operator, 'not the member');
    expect(json(rejected)).toMatchObject({ status: 'refunded', reason: stringContaining('rejected in review'), review: { decision: 'rejected' } });
    expect([await cash(members.payer, 'GBP'), await cash(members.payee, 'GBP')]).toEqual([1_381_452n, 600_000n]);
    expect((await decide('no-such-payment', 'release')).statusCode).toBe(404);
    expect((await decide('review-1', 'rejection')).statusCode).toBe(409);
  });

  it('lets 5,000.00 through (the limit is exclusive), and holds any payment from a pot with an open alert until it is acknowledged', async () => {
    expect(json(await pay('review-3', members.payer, members.payee, '5000.00', 'GBP'))).toMatchObject({ status: 'completed' });
    await insertAlerts(stack.db.service, [
      {
        kind: 'threshold',
        alertId: 'threshold:test:GBP',
        movementId: 'test',
        potId: pot(members.payer),
        asset: 'GBP',
        amountMinor: 2_000_000n,
        thresholdMinor: 1_000_000n,
        atMs: Date.now(),
      },
    ]);
    const held = await pay('review-4', members.payer, members.payee, '1.00', 'GBP');
    expect(json(held)).toMatchObject({ status: 'review', review: { reason: stringContaining('open alert (threshold:test:GBP)') } });
    const ack = await stack.app.inject({ method: 'POST', url: '/alerts/threshold:test:GBP/acknowledgement', headers: bearer(stack.keys.operator), payload: { note: 'checked' } });
    expect(ack.statusCode, ack.body).toBe(200);
    expect(json(await pay('review-5', members.payer, members.payee, '1.00', 'GBP'))).toMatchObject({ status: 'completed' });
    expect(json(await decide('review-4', 'release'))).toMatchObject({ status: 'completed' });
  });
});

describe('at the end', () => {
  it('leaves every clearing account at zero and verify passing', async () => {
    expect(Object.values(await systemTotals('payments.clearing')).every((total) => total === 0n)).toBe(true);
    expect((await verifyLedger(stack.db.owner)).checks.filter((check) => !check.ok)).toEqual([]);
  });
});
