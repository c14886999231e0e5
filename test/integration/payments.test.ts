import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyLedger } from '../../src/journal/verify.js';
import { assetCatalog, DEFAULT_ASSETS, ledgerProcesses } from '../../src/ledger/index.js';
import { PaymentsDesk } from '../../src/payments/desk.js';
import { LedgerPublisher } from '../../src/sdk/publisher.js';
import { applyCommand, bearer, json, membersInThreePartitions, PARTITIONS, startApiStack, type ApiStack } from '../support/api.js';
import { stringContaining } from '../support/matchers.js';

/**
 * Payments between pots through the running system (API, payments desk, JetStream, a shard worker,
 * Postgres): completed across partitions, idempotent, rejected for want of funds, refunded when the
 * payee is closed, resumed after a crash at any step; the clearing accounts back at zero and `verify`
 * (which checks them against the payments in flight) passing.
 */
let stack: ApiStack;

/** Two members whose pots live in different partitions, and a third whose pot gets closed. */
const members = membersInThreePartitions('PM');
const pot = (member: string) => `${member}-pot`;
const party = (member: string) => ({ memberId: member, potId: pot(member) });

const command = (process: string, member: string, payload: unknown, key: string) => applyCommand(stack, process, member, payload, key);

async function pay(paymentId: string, from: string, to: string, amount: string) {
  return stack.app.inject({
    method: 'POST',
    url: '/payments',
    headers: bearer(stack.keys.service),
    payload: { paymentId, payer: party(from), payee: party(to), amount, currency: 'GBP' },
  });
}

async function cash(member: string): Promise<bigint> {
  const { rows } = await stack.db.owner.query<{ balance_minor: bigint }>("SELECT balance_minor FROM balances WHERE account_id = $1", [`pot:${pot(member)}:cash:GBP`]);
  return rows[0]?.balance_minor ?? 0n;
}

async function clearing(): Promise<bigint> {
  const { rows } = await stack.db.owner.query<{ total: bigint | null }>("SELECT sum(balance_minor)::bigint AS total FROM balances WHERE kind = 'payments.clearing'");
  return rows[0]?.total ?? 0n;
}

beforeAll(async () => {
  stack = await startApiStack('payments');
  for (const member of Object.values(members)) await command('pot.open', member, {}, `open-${member}`);
  await command('cash.deposit', members.payer, { amount: '100.00', currency: 'GBP' }, 'fund-payer');
  await command('pot.close', members.closed, {}, 'close-closed');
});
afterAll(async () => {
  await stack?.stop();
});

describe('payments between pots', () => {
  it('debits the payer and credits the payee in another partition, once however often it is asked', async () => {
    const first = await pay('pay-1', members.payer, members.payee, '30.00');
    expect(first.statusCode, first.body).toBe(200);
    expect(json(first)).toMatchObject({ paymentId: 'pay-1', status: 'completed', amount: '30.00', payer: party(members.payer), payee: party(members.payee) });
    const again = await pay('pay-1', members.payer, members.payee, '30.00');
    expect(json(again)).toMatchObject({ status: 'completed' });
    expect([await cash(members.payer), await cash(members.payee), await clearing()]).toEqual([7_000n, 3_000n, 0n]);
    const other = await pay('pay-1', members.payer, members.payee, '31.00');
    expect(other.statusCode).toBe(409);
    const read = await stack.app.inject({ method: 'GET', url: '/payments/pay-1', headers: bearer(stack.keys.service) });
    expect(json(read)).toMatchObject({ status: 'completed' });
  });

  it('is rejected, with nothing moved, when the payer lacks the funds', async () => {
    const response = await pay('pay-2', members.payer, members.payee, '70.01');
    expect(json(response)).toMatchObject({ status: 'rejected', reason: stringContaining('LEDGER_ERR_INSUFFICIENT_FUNDS') });
    expect([await cash(members.payer), await cash(members.payee), await clearing()]).toEqual([7_000n, 3_000n, 0n]);
  });

  it('is refunded when the payee refuses it (a closed pot)', async () => {
    const response = await pay('pay-3', members.payer, members.closed, '10.00');
    expect(json(response)).toMatchObject({ status: 'refunded', reason: stringContaining('closed') });
    expect([await cash(members.payer), await clearing()]).toEqual([7_000n, 0n]);
    const { rows } = await stack.db.owner.query<{ command_id: string }>("SELECT command_id FROM command_outcomes WHERE command_id LIKE 'payment:pay-3:%' ORDER BY command_id");
    expect(rows.map((row) => row.command_id)).toEqual(['payment:pay-3:credit', 'payment:pay-3:debit', 'payment:pay-3:refund']);
  });

  it('refuses bad requests with problems, before anything is recorded', async () => {
    expect((await pay('pay-4', members.payer, members.payee, '1.001')).statusCode).toBe(422);
    expect((await pay('pay-5', members.payer, members.payer, '1.00')).statusCode).toBe(422);
    expect((await pay('pay 6', members.payer, members.payee, '1.00')).statusCode).toBe(400);
    const { rows } = await stack.db.owner.query("SELECT 1 FROM payments WHERE payment_id IN ('pay-4', 'pay-5')");
    expect(rows).toEqual([]);
  });

  it('resumes a payment left at any step by a crash, applying each step once', async () => {
    const publisher = await LedgerPublisher.connect({ nc: stack.nats.nc, prefix: stack.nats.prefix, registry: ledgerProcesses, partitionCount: PARTITIONS });
    const desk = new PaymentsDesk({ pool: stack.db.service, publisher, assets: assetCatalog(DEFAULT_ASSETS), log: pino({ level: 'silent' }) });
    // Recorded, nothing sent; and recorded with the debit applied but the status not moved on.
    const row = (id: string) => [id, members.payer, pot(members.payer), members.payee, pot(members.payee), 500, 'GBP'];
    const insert = `INSERT INTO payments (payment_id, payer_member, payer_pot, payee_member, payee_pot, amount_minor, currency, status)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, 'requested')`;
    await stack.db.service.query(insert, row('pay-crash-1'));
    await stack.db.service.query(insert, row('pay-crash-2'));
    const debit = await publisher.submit('payment.send', {
      commandId: 'payment:pay-crash-2:debit',
      memberId: members.payer,
      potId: pot(members.payer),
      payload: { paymentId: 'pay-crash-2', payee: party(members.payee), amount: '5.00', currency: 'GBP' },
    });
    expect((await debit.outcome()).outcome).toMatchObject({ kind: 'applied' });
    expect(await clearing()).toBe(500n);
    const inFlight = await stack.app.inject({ method: 'GET', url: '/payments', headers: bearer(stack.keys.operator) });
    expect((json(inFlight).payments as { paymentId: string }[]).map((p) => p.paymentId).sort()).toEqual(['pay-crash-1', 'pay-crash-2']);
    expect(await desk.resume()).toBe(2);
    expect([(await desk.read('pay-crash-1'))?.status, (await desk.read('pay-crash-2'))?.status]).toEqual(['completed', 'completed']);
    // 30.00 + 5.00 + 5.00 paid in all, each debited once.
    expect([await cash(members.payer), await cash(members.payee), await clearing()]).toEqual([6_000n, 4_000n, 0n]);
    await publisher.close();
  });

  it('leaves the clearing at zero with verify passing, and lists in-flight payments for operators only', async () => {
    expect(await clearing()).toBe(0n);
    expect((await verifyLedger(stack.db.owner)).checks.filter((check) => !check.ok)).toEqual([]);
    expect((await stack.app.inject({ method: 'GET', url: '/payments', headers: bearer(stack.keys.service) })).statusCode).toBe(403);
  });
});

describe('S9: holds for buyer and seller protection', () => {
  const buyer = () => members.payer;
  const seller = () => members.payee;
  const hold = (holdId: string, amount: string, expiresInMs = 3_600_000) =>
    stack.app.inject({
      method: 'POST',
      url: '/holds',
      headers: bearer(stack.keys.service),
      payload: { holdId, payer: party(buyer()), payee: party(seller()), amount, currency: 'GBP', expiresAt: new Date(Date.now() + expiresInMs).toISOString() },
    });
  const post = (holdId: string, paymentId: string, amount: string) =>
    stack.app.inject({ method: 'POST', url: `/holds/${holdId}/post`, headers: bearer(stack.keys.service), payload: { paymentId, amount } });
  const voided = (holdId: string) => stack.app.inject({ method: 'POST', url: `/holds/${holdId}/void`, headers: bearer(stack.keys.service) });
  async function reserved(member: string): Promise<bigint> {
    const { rows } = await stack.db.owner.query<{ balance_minor: bigint }>('SELECT balance_minor FROM balances WHERE account_id = $1', [`pot:${pot(member)}:cash.reserved:GBP`]);
    return rows[0]?.balance_minor ?? 0n;
  }

  beforeAll(async () => {
    await command('cash.deposit', members.payer, { amount: '1000.00', currency: 'GBP' }, 'fund-buyer');
  });

  it('holds 500.00; posting 300.00 pays 300.00 and returns 200.00; a second post is refused', async () => {
    const [buyerBefore, sellerBefore] = [await cash(buyer()), await cash(seller())];
    const placed = await hold('hold-1', '500.00');
    expect(placed.statusCode, placed.body).toBe(201);
    expect(json(placed)).toMatchObject({ holdId: 'hold-1', status: 'open', amount: '500.00' });
    expect(await reserved(buyer())).toBe(50_000n);
    const posted = await post('hold-1', 'hold-1-pay', '300.00');
    expect(posted.statusCode, posted.body).toBe(200);
    expect(json(posted)).toMatchObject({ paymentId: 'hold-1-pay', holdId: 'hold-1', status: 'completed', amount: '300.00' });
    expect([await cash(buyer()), await reserved(buyer()), await cash(seller())]).toEqual([buyerBefore - 30_000n, 0n, sellerBefore + 30_000n]);
    // The same post asked again is the same payment; another post, or a void, finds the hold ended.
    expect(json(await post('hold-1', 'hold-1-pay', '300.00'))).toMatchObject({ status: 'completed' });
    const second = await post('hold-1', 'hold-1-pay-2', '100.00');
    expect(second.statusCode).toBe(409);
    expect(json(second)).toMatchObject({ code: 'API_ERR_HOLD_NOT_OPEN' });
    expect((await voided('hold-1')).statusCode).toBe(409);
    const read = await stack.app.inject({ method: 'GET', url: '/holds/hold-1', headers: bearer(stack.keys.service) });
    expect(json(read)).toMatchObject({ status: 'posted', paymentId: 'hold-1-pay' });
  });

  it('returns all 500.00 on a void, and on an expiry, which is itself a recorded movement', async () => {
    const before = await cash(buyer());
    expect((await hold('hold-2', '500.00')).statusCode).toBe(201);
    const voidedHold = await voided('hold-2');
    expect(voidedHold.statusCode, voidedHold.body).toBe(200);
    expect(json(voidedHold)).toMatchObject({ status: 'voided' });
    expect((await voided('hold-2')).statusCode).toBe(409);
    expect([await cash(buyer()), await reserved(buyer())]).toEqual([before, 0n]);

    expect((await hold('hold-3', '500.00', 1500)).statusCode).toBe(201);
    const publisher = await LedgerPublisher.connect({ nc: stack.nats.nc, prefix: stack.nats.prefix, registry: ledgerProcesses, partitionCount: PARTITIONS });
    const desk = new PaymentsDesk({ pool: stack.db.service, publisher, assets: assetCatalog(DEFAULT_ASSETS), log: pino({ level: 'silent' }) });
    expect(await desk.expireHolds()).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 1600));
    expect(await desk.expireHolds()).toBe(1);
    await publisher.close();
    expect(json(await stack.app.inject({ method: 'GET', url: '/holds/hold-3', headers: bearer(stack.keys.service) }))).toMatchObject({ status: 'expired' });
    const { rows } = await stack.db.owner.query<{ process: string }>(
      `SELECT m.process FROM command_outcomes o JOIN movements m ON m.movement_id = o.movement_id
        WHERE o.command_id = 'hold:hold-3:expire'`,
    );
    expect(rows).toEqual([{ process: 'hold.expire' }]);
    expect([await cash(buyer()), await reserved(buyer())]).toEqual([before, 0n]);
    // An expired hold cannot be posted.
    expect((await post('hold-3', 'hold-3-pay', '1.00')).statusCode).toBe(409);
  });

  it('refuses a hold beyond the buyer\'s funds, and keeps every clearing at zero with verify passing', async () => {
    const refused = await hold('hold-4', '1000000.00');
    expect(refused.statusCode).toBe(422);
    expect(json(refused)).toMatchObject({ code: 'API_ERR_REJECTED_BY_LEDGER' });
    expect(await clearing()).toBe(0n);
    expect((await verifyLedger(stack.db.owner)).checks.filter((check) => !check.ok)).toEqual([]);
  });
});

describe('the audit trail', () => {
  it("records who asked for each command of a pot and through what, listed for operators only", async () => {
    const response = await stack.app.inject({ method: 'GET', url: `/pots/${pot(members.payer)}/audit?limit=500`, headers: bearer(stack.keys.operator) });
    expect(response.statusCode, response.body).toBe(200);
    const lines = json(response).lines as { commandId: string; process: string; principal: string | null; source: string | null; producedAt: string | null; status: string }[];
    // Its opening and funding came through the API with the service key; the payments' debits through the desk.
    expect(lines.find((line) => line.process === 'pot.open')).toMatchObject({ principal: `key:${stack.keys.service.keyId}`, source: 'api', status: 'applied' });
    expect(lines.find((line) => line.commandId === 'payment:pay-1:debit')).toMatchObject({ process: 'payment.send', principal: null, source: 'payments-desk' });
    expect(lines.every((line) => line.producedAt !== null)).toBe(true);
    // Newest first, paged by sequence.
    const seqs = (json(response).lines as { seq: string }[]).map((line) => BigInt(line.seq));
    expect([...seqs].sort((a, b) => (a > b ? -1 : 1))).toEqual(seqs);
    const older = await stack.app.inject({ method: 'GET', url: `/pots/${pot(members.payer)}/audit?limit=2&before=${seqs[1]}`, headers: bearer(stack.keys.operator) });
    expect((json(older).lines as { seq: string }[]).every((line) => BigInt(line.seq) < (seqs[1] ?? 0n))).toBe(true);
    expect((await stack.app.inject({ method: 'GET', url: `/pots/${pot(members.payer)}/audit`, headers: bearer(stack.keys.service) })).statusCode).toBe(403);
  });
});

describe('outside the payments desk', () => {
  it('is not on the HTTP command route', async () => {
    const response = await stack.app.inject({
      method: 'POST',
      url: '/commands/payment.send?wait=true',
      headers: { ...bearer(stack.keys.service), 'idempotency-key': 'stray-http' },
      payload: { memberId: members.payer, potId: pot(members.payer), payload: { paymentId: 'stray-http', payee: party(members.payee), amount: '1.00', currency: 'GBP' } },
    });
    expect(response.statusCode).toBe(404);
  });

  it('a payment.send published directly on NATS is a break verify names, not money lost in silence', async () => {
    const publisher = await LedgerPublisher.connect({ nc: stack.nats.nc, prefix: stack.nats.prefix, registry: ledgerProcesses, partitionCount: PARTITIONS });
    const sent = await publisher.submit('payment.send', {
      commandId: 'stray-send',
      ...party(members.payer),
      payload: { paymentId: 'stray', payee: party(members.payee), amount: '1.00', currency: 'GBP' },
    });
    expect((await sent.outcome()).outcome).toMatchObject({ kind: 'applied' });
    await publisher.close();
    const verified = await verifyLedger(stack.db.owner);
    expect(verified.checks.find((check) => check.name === 'payments-clearing')).toMatchObject({ ok: false, examples: ['GBP: clearing holds 100, payments in flight 0'] });
  });
});
