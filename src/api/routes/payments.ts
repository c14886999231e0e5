import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type pg from 'pg';
import { z } from 'zod';
import { HOLD_ID, PAYMENT_ID, type AssetCatalog, type WireOutcome } from '../../ledger/index.js';
import { PaymentConflictError, PaymentNotFoundError, PaymentNotInReviewError, PaymentRequestError, PaymentsDesk, PAYMENT_STATUSES, type Payment, type PaymentSettings } from '../../payments/desk.js';
import { readHold } from '../../payments/holds.js';
import type { LedgerPublisher } from '../../sdk/publisher.js';
import type { Log } from '../../shards/log.js';
import { principalOf } from '../auth.js';
import { notFound, ProblemCode, ProblemError, problemSchema } from '../problems.js';
import { memberIdSchema, outcomeOfWire, potIdSchema } from '../schemas.js';

const SENDERS = ['service', 'operator'] as const;
const paymentId = z.string().regex(PAYMENT_ID, 'letters, digits, _ . : and - only, 1 to 128 characters');
const party = z.strictObject({ memberId: memberIdSchema, potId: potIdSchema });

const currencyCode = z.string().regex(/^[A-Z]{3}$/, 'a currency code');
const holdId = z.string().regex(HOLD_ID, 'letters, digits, _ . and - only, 1 to 100 characters');
const holdSchema = z
  .object({
    holdId: z.string(),
    status: z.enum(['open', 'posted', 'voided', 'expired']),
    payer: z.object({ memberId: z.string(), potId: z.string() }).optional(),
    payee: z.object({ memberId: z.string(), potId: z.string() }).optional(),
    amount: z.string().optional().describe('What it holds, while open'),
    currency: z.string().optional(),
    expiresAt: z.string().optional(),
    paymentId: z.string().optional().describe('The payment that posted it'),
  })
  .meta({ id: 'Hold' });

export const paymentSchema = z
  .object({
    paymentId: z.string(),
    payer: z.object({ memberId: z.string(), potId: z.string() }),
    payee: z.object({ memberId: z.string(), potId: z.string() }),
    amount: z.string(),
    currency: z.string(),
    kind: z.string().describe('payment, hold (a hold\'s post), or a kind built on payments (pools)'),
    detail: z.record(z.string(), z.string()).describe("What the payment's kind records beyond the parties and the amount (a pool's id, the distribution it pays)"),
    holdId: z.string().optional().describe('The hold this payment posts, if it is a hold\'s post'),
    exchange: z
      .object({
        fromCurrency: z.string(),
        rate: z.string().describe('Payment currency per one fromCurrency'),
        rateDay: z.string().describe('The day of the rate used (the latest recorded when the payment was)'),
        cost: z.string().describe('What the payer paid in fromCurrency: amount ÷ rate, rounded up (against the payer)'),
      })
      .optional()
      .describe('A cross-currency payment: the payer pays in fromCurrency'),
    review: z
      .object({
        reason: z.string().describe('Which rules held it for review'),
        decision: z.enum(['released', 'rejected']).optional(),
        decidedBy: z.string().optional().describe('The key id of the operator who decided'),
        decidedAt: z.string().optional(),
        note: z.string().optional(),
      })
      .optional()
      .describe('Set when a fraud rule held the payment for an operator'),
    status: z.enum(PAYMENT_STATUSES),
    reason: z.string().optional().describe('Why it was rejected or refunded'),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'Payment' });

/**
 * A payment as the API declares it. The desk types a kind's detail as any JSON; every kind records
 * strings (src/payments/sagas.ts), and anything else would be written as its JSON text.
 */
export function paymentOf(payment: Payment): z.output<typeof paymentSchema> {
  return { ...payment, detail: Object.fromEntries(Object.entries(payment.detail).map(([key, value]) => [key, typeof value === 'string' ? value : JSON.stringify(value)])) };
}

/** Payments between pots: send one (a saga the payments desk drives), read its state, list those in flight. */
export function paymentRoutes(
  app: FastifyInstance,
  deps: { readonly pool: pg.Pool; readonly publisher: LedgerPublisher | undefined; readonly assets: AssetCatalog; readonly waitTimeoutMs: number; readonly settings: PaymentSettings; readonly log: Log },
): void {
  const typed = app.withTypeProvider<ZodTypeProvider>();
  const desk = deps.publisher === undefined ? undefined : new PaymentsDesk({ ...deps.settings, pool: deps.pool, publisher: deps.publisher, assets: deps.assets, log: deps.log, stepTimeoutMs: deps.waitTimeoutMs });
  const reader = (): PaymentsDesk => {
    if (desk === undefined) throw new ProblemError(503, ProblemCode.unavailable, 'this process does not publish commands');
    return desk;
  };

  typed.post(
    '/payments',
    {
      config: { roles: SENDERS },
      schema: {
        operationId: 'sendPayment', tags: ['payments'],
        summary: 'Pay from one pot to another',
        description:
          "The payer is debited into its partition's clearing, then the payee credited out of its own (or, when the payee refuses, the payer refunded). With fromCurrency the payer pays in that currency at the latest recorded rate of the pair (amount ÷ rate, rounded up against the payer), both currencies moving in the debit's one movement; 422 when no rate is recorded. A payment a review rule flags is debited and waits in `review` for an operator. The paymentId makes it idempotent: the same request again is the same payment; another request under the same id is 409. 200 once it has finished (completed, refunded or rejected), 202 while it is in flight or in review (GET it later).",
        body: z.strictObject({
          paymentId,
          payer: party,
          payee: party,
          amount: z.string().max(40),
          currency: currencyCode,
          fromCurrency: currencyCode.optional().describe("The payer pays in this currency (a cross-currency payment)"),
        }),
        response: { 200: paymentSchema, 202: paymentSchema, 400: problemSchema, 409: problemSchema, 422: problemSchema, 503: problemSchema },
      },
    },
    async (request, reply) => {
      const payment = await reader()
        .send(request.body)
        .catch((error: unknown) => {
          if (error instanceof PaymentConflictError) throw new ProblemError(409, ProblemCode.idempotencyKeyReused, error.message);
          if (error instanceof PaymentRequestError) throw new ProblemError(422, ProblemCode.validationFailed, error.message, { errors: [{ path: 'body', message: error.message }] });
          throw unavailable(error, deps.log);
        });
      const finished = payment.status === 'completed' || payment.status === 'refunded' || payment.status === 'rejected';
      return reply.code(finished ? 200 : 202).send(paymentOf(payment));
    },
  );

  typed.get(
    '/payments/:paymentId',
    { config: { roles: SENDERS }, schema: { operationId: 'getPayment', description: "The payment's parties, amount, status, review and, for a cross-currency payment, the rate used.", tags: ['payments'], summary: "A payment's state", params: z.strictObject({ paymentId }), response: { 200: paymentSchema, 400: problemSchema, 404: problemSchema } } },
    async (request) => {
      const payment = await reader().read(request.params.paymentId);
      if (payment === undefined) throw notFound(`payment ${request.params.paymentId}`);
      return paymentOf(payment);
    },
  );

  typed.get(
    '/payments',
    {
      config: { roles: ['operator'] as const },
      schema: {
        operationId: 'listUnfinishedPayments', description: 'Payments still moving or waiting for an operator, oldest first, at most `limit`; ?status narrows to one state.', tags: ['payments'],
        summary: 'Payments not yet finished (requested, in flight, in review or refunding), oldest first; ?status=review for those waiting for an operator',
        querystring: z.strictObject({
          limit: z.coerce.number().int().min(1).max(1000).default(100),
          status: z.enum(['requested', 'in-flight', 'review', 'refunding']).optional(),
        }),
        response: { 200: z.object({ payments: z.array(paymentSchema).readonly() }), 400: problemSchema },
      },
    },
    async (request) => ({ payments: (await reader().inFlight(request.query.limit, request.query.status)).map(paymentOf) }),
  );

  for (const [path, decision, summary, operationId] of [
    ['release', 'released', "Release a payment held for review: the payee is credited", 'releasePayment'],
    ['rejection', 'rejected', 'Reject a payment held for review: the payer is refunded', 'rejectPayment'],
  ] as const) {
    typed.post(
      `/payments/:paymentId/${path}`,
      {
        config: { roles: ['operator'] as const },
        schema: {
          operationId,
          tags: ['payments'],
          summary,
          description: 'Recorded with the operator\'s key id and note. The same decision again answers the payment; the other decision, or a payment not in review, is 409.',
          params: z.strictObject({ paymentId }),
          body: z.strictObject({ note: z.string().min(1).max(2000).optional() }),
          response: { 200: paymentSchema, 202: paymentSchema, 400: problemSchema, 404: problemSchema, 409: problemSchema, 503: problemSchema },
        },
      },
      async (request, reply) => {
        const payment = await reader()
          .decideReview(request.params.paymentId, decision, principalOf(request).keyId, request.body.note)
          .catch((error: unknown) => {
            if (error instanceof PaymentNotFoundError) throw notFound(`payment ${request.params.paymentId}`);
            if (error instanceof PaymentNotInReviewError) throw new ProblemError(409, ProblemCode.paymentNotInReview, error.message);
            throw unavailable(error, deps.log);
          });
        const finished = payment.status === 'completed' || payment.status === 'refunded' || payment.status === 'rejected';
        return reply.code(finished ? 200 : 202).send(paymentOf(payment));
      },
    );
  }

  const holds = {
    read: (id: string) => readHold(deps.pool, deps.assets, id),
    /** A hold a command of this request has just changed. */
    async readBack(id: string) {
      const hold = await readHold(deps.pool, deps.assets, id);
      if (hold === undefined) throw new Error(`hold ${id} was changed and cannot be read back`);
      return hold;
    },
  };
  const publisher = (): LedgerPublisher => {
    if (deps.publisher === undefined) throw new ProblemError(503, ProblemCode.unavailable, 'this process does not publish commands');
    return deps.publisher;
  };
  /** Sends a hold command and waits for its outcome: a rejection is a 422 with the recorded outcome. */
  const holdCommand = async (process: string, commandId: string, pot: { memberId: string; potId: string }, payload: unknown, keyId: string): Promise<void> => {
    const sent = await publisher().submit(process, { commandId, ...pot, payload, principal: `key:${keyId}`, source: 'api' });
    const notice = await sent.outcome(deps.waitTimeoutMs);
    if (notice.status === 'conflict') throw new ProblemError(409, ProblemCode.commandIdConflict, `${commandId} was used by another request`);
    const outcome = notice.outcome as WireOutcome;
    if (outcome.kind === 'rejected') throw new ProblemError(422, ProblemCode.rejectedByLedger, `the ledger rejected the command: ${outcome.code}`, { detail: outcome.reason, commandId, outcome: outcomeOfWire(outcome) });
  };

  typed.post(
    '/holds',
    {
      config: { roles: SENDERS },
      schema: {
        operationId: 'placeHold', tags: ['holds'],
        summary: "Hold a buyer's cash for a payee until it is posted, voided or expires",
        description: 'Idempotent by holdId (the same request again is the same hold). 201 with the open hold; 422 when the ledger refuses it (insufficient funds, an expiry in the past).',
        body: z.strictObject({ holdId, payer: party, payee: party, amount: z.string().max(40), currency: z.string().regex(/^[A-Z]{3}$/, 'a currency code'), expiresAt: z.iso.datetime({ offset: true }) }),
        response: { 201: holdSchema, 400: problemSchema, 409: problemSchema, 422: problemSchema, 503: problemSchema },
      },
    },
    async (request, reply) => {
      const { holdId: id, payer, payee, amount, currency, expiresAt } = request.body;
      await holdCommand('hold.place', `hold:${id}:place`, payer, { holdId: id, payee, amount, currency, expiresAt }, principalOf(request).keyId);
      return reply.code(201).send(await holds.readBack(id));
    },
  );

  typed.post(
    '/holds/:holdId/post',
    {
      config: { roles: SENDERS },
      schema: {
        operationId: 'postHold', tags: ['holds'],
        summary: 'Post an open hold, in full or in part, as a payment to its payee (the rest returns to the buyer)',
        description: 'Idempotent by paymentId. A hold posts once: posting a hold that is no longer open is 409.',
        params: z.strictObject({ holdId }),
        body: z.strictObject({ paymentId, amount: z.string().max(40) }),
        response: { 200: paymentSchema, 202: paymentSchema, 400: problemSchema, 404: problemSchema, 409: problemSchema, 422: problemSchema, 503: problemSchema },
      },
    },
    async (request, reply) => {
      const payment = await reader()
        .postHold({ paymentId: request.body.paymentId, holdId: request.params.holdId, amount: request.body.amount })
        .catch((error: unknown) => {
          if (error instanceof PaymentConflictError) throw new ProblemError(409, ProblemCode.idempotencyKeyReused, error.message);
          if (error instanceof PaymentRequestError) throw new ProblemError(422, ProblemCode.validationFailed, error.message, { errors: [{ path: 'body', message: error.message }] });
          throw unavailable(error, deps.log);
        });
      if (payment === undefined) {
        const hold = await holds.read(request.params.holdId);
        if (hold === undefined) throw notFound(`hold ${request.params.holdId}`);
        throw new ProblemError(409, ProblemCode.holdNotOpen, `hold ${request.params.holdId} is ${hold.status}, not open`);
      }
      const finished = payment.status === 'completed' || payment.status === 'refunded' || payment.status === 'rejected';
      return reply.code(finished ? 200 : 202).send(paymentOf(payment));
    },
  );

  typed.post(
    '/holds/:holdId/void',
    {
      config: { roles: SENDERS },
      schema: {
        operationId: 'voidHold', description: 'Publishes hold.void and waits for its outcome: the reserved cash returns to the buyer. A hold no longer open is 409; a ledger rejection is 422.', tags: ['holds'],
        summary: "Void an open hold: the buyer's cash is released",
        params: z.strictObject({ holdId }),
        response: { 200: holdSchema, 400: problemSchema, 404: problemSchema, 409: problemSchema, 422: problemSchema, 503: problemSchema },
      },
    },
    async (request) => {
      const id = request.params.holdId;
      const hold = await holds.read(id);
      if (hold === undefined) throw notFound(`hold ${id}`);
      if (hold.status !== 'open' || hold.payer === undefined) throw new ProblemError(409, ProblemCode.holdNotOpen, `hold ${id} is ${hold.status}, not open`);
      await holdCommand('hold.void', `hold:${id}:void`, hold.payer, { holdId: id }, principalOf(request).keyId);
      return holds.readBack(id);
    },
  );

  typed.get(
    '/holds/:holdId',
    { config: { roles: SENDERS }, schema: { operationId: 'getHold', description: "The hold's status and, while it is open, what it holds and until when; once posted, the payment that posted it.", tags: ['holds'], summary: "A hold's state", params: z.strictObject({ holdId }), response: { 200: holdSchema, 400: problemSchema, 404: problemSchema } } },
    async (request) => {
      const hold = await holds.read(request.params.holdId);
      if (hold === undefined) throw notFound(`hold ${request.params.holdId}`);
      return hold;
    },
  );
}

/**
 * NATS or Postgres failed while a payment was being driven: what was recorded is resumed by the
 * service, and the same request (same paymentId) is safe to send again.
 */
function unavailable(error: unknown, log: Log): ProblemError {
  log.warn({ err: error }, 'a payment could not be driven now');
  return new ProblemError(503, ProblemCode.unavailable, 'the payment could not be driven now; send the same request again, or GET it later');
}
