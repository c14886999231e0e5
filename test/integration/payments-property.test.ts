import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyLedger } from '../../src/journal/verify.js';
import { bearer, json, startApiStack, type ApiStack } from '../support/api.js';
import { checkProperty } from '../support/fast-check.js';

/**
 * Random interleavings of payments and holds across pots in several partitions, sent concurrently, some
 * twice and out of order, through the running system (API, payments desk, JetStream, a shard worker,
 * Postgres). Once quiet: every pot's cash is what the finished payments say, cash is conserved, the
 * clearing accounts are back at zero, no reservation is left but the open holds', and `verify` passes.
 */
const POTS = 5;
/** Each run costs real commands; FC_NUM_RUNS overrides. */
const RUNS = 6;

let stack: ApiStack;
beforeAll(async () => {
  stack = await startApiStack('payprop');
});
afterAll(async () => {
  await stack?.stop();
});

type Op =
  | { readonly kind: 'pay'; readonly from: number; readonly to: number; readonly pence: number }
  | { readonly kind: 'hold'; readonly from: number; readonly to: number; readonly pence: number; readonly end: 'post' | 'void' | 'open'; readonly postPence: number };

const pot = fc.integer({ min: 0, max: POTS - 1 });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('pay' as const), from: pot, to: pot, pence: fc.integer({ min: 1, max: 6_000 }) }),
  fc.record({ kind: fc.constant('hold' as const), from: pot, to: pot, pence: fc.integer({ min: 1, max: 6_000 }), end: fc.constantFrom('post' as const, 'void' as const, 'open' as const), postPence: fc.integer({ min: 1, max: 6_000 }) }),
);
/** Ops, each with how often it is sent (a duplicate is sent again, concurrently). */
const scenario = fc.array(fc.record({ op, copies: fc.integer({ min: 1, max: 2 }) }), { minLength: 1, maxLength: 16 });

const pence = (value: number) => `${Math.floor(value / 100)}.${String(value % 100).padStart(2, '0')}`;

describe('payments and holds, randomly interleaved', () => {
  it('conserve cash, leave the clearing at zero once quiet, and keep verify passing', async () => {
    let run = 0;
    await checkProperty(
      'payments and holds through the running system',
      fc.asyncProperty(scenario, async (ops) => {
        run += 1;
        const members = Array.from({ length: POTS }, (_, i) => `R${run}-M${i}`);
        const party = (i: number) => ({ memberId: members[i] ?? '', potId: `${members[i]}-P` });
        const inject = (method: 'POST' | 'GET', url: string, payload?: Record<string, unknown>, key?: string) =>
          stack.app.inject({ method, url, headers: { ...bearer(stack.keys.service), ...(key === undefined ? {} : { 'idempotency-key': key }) }, ...(payload === undefined ? {} : { payload }) });
        for (const [i, member] of members.entries()) {
          expect((await inject('POST', '/commands/pot.open?wait=true', { memberId: member, potId: party(i).potId, payload: {} }, `${member}-open`)).statusCode).toBe(200);
          expect((await inject('POST', '/commands/cash.deposit?wait=true', { memberId: member, potId: party(i).potId, payload: { amount: '100.00', currency: 'GBP' } }, `${member}-fund`)).statusCode).toBe(200);
        }
        // Every op, each copy at once, all ops concurrently: the ledger serialises per pot.
        await Promise.all(
          ops.flatMap(({ op: o, copies }, index) =>
            Array.from({ length: copies }, async () => {
              const id = `r${run}-${index}`;
              if (o.kind === 'pay') {
                const response = await inject('POST', '/payments', { paymentId: id, payer: party(o.from), payee: party(o.to), amount: pence(o.pence), currency: 'GBP' });
                expect([200, 202, 422]).toContain(response.statusCode);
                return;
              }
              const placed = await inject('POST', '/holds', { holdId: id, payer: party(o.from), payee: party(o.to), amount: pence(o.pence), currency: 'GBP', expiresAt: new Date(Date.now() + 3_600_000).toISOString() });
              expect([201, 422]).toContain(placed.statusCode);
              if (placed.statusCode !== 201) return;
              if (o.end === 'post') expect([200, 202, 409, 422]).toContain((await inject('POST', `/holds/${id}/post`, { paymentId: `${id}-post`, amount: pence(Math.min(o.postPence, o.pence)) })).statusCode);
              if (o.end === 'void') expect([200, 409]).toContain((await inject('POST', `/holds/${id}/void`)).statusCode);
            }),
          ),
        );
        // Quiet: nothing in flight, then the books.
        const inFlight = await stack.app.inject({ method: 'GET', url: '/payments', headers: bearer(stack.keys.operator) });
        expect(json(inFlight).payments).toEqual([]);
        const { rows } = await stack.db.owner.query<{ pot_id: string; kind: string; balance_minor: bigint }>(
          "SELECT pot_id, kind, balance_minor FROM balances WHERE pot_id = ANY($1::text[]) AND kind IN ('cash', 'cash.reserved')",
          [members.map((_, i) => party(i).potId)],
        );
        const totalCash = rows.filter((r) => r.kind === 'cash').reduce((sum, r) => sum + r.balance_minor, 0n);
        expect(totalCash).toBe(BigInt(POTS) * 10_000n);
        // What is still reserved is exactly the open holds'.
        const holds = await stack.db.owner.query<{ pot_id: string; held: bigint | null }>(
          "SELECT pot_id, (SELECT sum((value->>'amountMinor')::bigint) FROM jsonb_each(holds))::bigint AS held FROM pots WHERE pot_id = ANY($1::text[])",
          [members.map((_, i) => party(i).potId)],
        );
        const held = new Map(holds.rows.map((r) => [r.pot_id, r.held ?? 0n]));
        for (const r of rows.filter((row) => row.kind === 'cash.reserved')) expect(r.balance_minor, `${r.pot_id} reserved`).toBe(held.get(r.pot_id) ?? 0n);
        for (const r of rows) expect(r.balance_minor >= 0n, `${r.pot_id} ${r.kind}`).toBe(true);
        // Each pot's cash is its deposit plus what the completed payments (hold posts among them) say.
        const paid = await stack.db.owner.query<{ payer_pot: string; payee_pot: string; amount_minor: bigint }>(
          "SELECT payer_pot, payee_pot, amount_minor FROM payments WHERE status = 'completed' AND payer_pot = ANY($1::text[])",
          [members.map((_, i) => party(i).potId)],
        );
        const expected = new Map(members.map((_, i) => [party(i).potId, 10_000n]));
        for (const p of paid.rows) {
          expected.set(p.payer_pot, (expected.get(p.payer_pot) ?? 0n) - p.amount_minor);
          expected.set(p.payee_pot, (expected.get(p.payee_pot) ?? 0n) + p.amount_minor);
        }
        expect(new Map(rows.filter((r) => r.kind === 'cash').map((r) => [r.pot_id, r.balance_minor]))).toEqual(new Map([...expected].filter(([, v]) => v !== 0n)));
        const clearing = await stack.db.owner.query<{ total: bigint | null }>("SELECT sum(balance_minor)::bigint AS total FROM balances WHERE kind = 'payments.clearing'");
        expect(clearing.rows[0]?.total ?? 0n).toBe(0n);
        const verified = await verifyLedger(stack.db.owner);
        expect(verified.checks.filter((check) => !check.ok)).toEqual([]);
      }),
      { numRuns: RUNS },
    );
  }, 240_000);
});
