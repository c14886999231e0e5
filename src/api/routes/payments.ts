import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type pg from 'pg';
import { z } from 'zod';
import type { AssetCatalog } from '../../ledger/index.js';
import { PaymentConflictError, PaymentRequestError, PaymentsDesk } from '../../payments/desk.js';
import type { LedgerPublisher } from '../../sdk/publisher.js';
import type { Log } from '../../shards/log.js';
import { notFound, ProblemCode, ProblemError, problemSchema } from '../problems.js';
import { memberIdSchema, potIdSchema } from '../schemas.js';

const SENDERS = ['service', 'operator'] as const;
const paymentId = z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'letters, digits, _ . : and - only, 1 to 128 characters');
const party = z.strictObject({ memberId: memberIdSchema, potId: potIdSchema });

const paymentSchema = z
  .object({
    paymentId: z.string(),
    payer: z.object({ memberId: z.string(), potId: z.string() }),
    payee: z.object({ memberId: z.string(), potId: z.string() }),
    amount: z.string(),
    currency: z.string(),
    status: z.enum(['requested', 'in-flight', 'completed', 'refunding', 'refunded', 'rejected']),
    reason: z.string().optional().describe('Why it was rejected or refunded'),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'Payment' });

/** Payments between pots: send one (a saga the payments desk drives), read its state, list those in flight. */
export function paymentRoutes(app: FastifyInstance, deps: { readonly pool: pg.Pool; readonly publisher: LedgerPublisher | undefined; readonly assets: AssetCatalog; readonly waitTimeoutMs: number; readonly log: Log }): void {
  const typed = app.withTypeProvider<ZodTypeProvider>();
  const desk = deps.publisher === undefined ? undefined : new PaymentsDesk({ pool: deps.pool, publisher: deps.publisher, assets: deps.assets, log: deps.log, stepTimeoutMs: deps.waitTimeoutMs });
  const reader = (): PaymentsDesk => {
    if (desk === undefined) throw new ProblemError(503, ProblemCode.unavailable, 'this process does not publish commands');
    return desk;
  };

  typed.post(
    '/payments',
    {
      config: { roles: SENDERS },
      schema: {
        tags: ['payments'],
        summary: 'Pay from one pot to another',
        description:
          'The payer is debited into its partition\'s clearing, then the payee credited out of its own (or, when the payee refuses, the payer refunded). The paymentId makes it idempotent: the same request again is the same payment; another request under the same id is 409. 200 once it has finished (completed, refunded or rejected), 202 while it is in flight (GET it later).',
        body: z.strictObject({ paymentId, payer: party, payee: party, amount: z.string().max(40), currency: z.string().regex(/^[A-Z]{3}$/, 'a currency code') }),
        response: { 200: paymentSchema, 202: paymentSchema, 400: problemSchema, 409: problemSchema, 422: problemSchema, 503: problemSchema },
      },
    },
    async (request, reply) => {
      const payment = await reader()
        .send(request.body)
        .catch((error: unknown) => {
          if (error instanceof PaymentConflictError) throw new ProblemError(409, ProblemCode.idempotencyKeyReused, error.message);
          if (error instanceof PaymentRequestError) throw new ProblemError(422, ProblemCode.validationFailed, error.message, { errors: [{ path: 'body', message: error.message }] });
          throw error;
        });
      const finished = payment.status === 'completed' || payment.status === 'refunded' || payment.status === 'rejected';
      return reply.code(finished ? 200 : 202).send(payment);
    },
  );

  typed.get(
    '/payments/:paymentId',
    { config: { roles: SENDERS }, schema: { tags: ['payments'], summary: "A payment's state", params: z.strictObject({ paymentId }), response: { 200: paymentSchema, 400: problemSchema, 404: problemSchema } } },
    async (request) => {
      const payment = await reader().read(request.params.paymentId);
      if (payment === undefined) throw notFound(`payment ${request.params.paymentId}`);
      return payment;
    },
  );

  typed.get(
    '/payments',
    {
      config: { roles: ['operator'] as const },
      schema: {
        tags: ['payments'],
        summary: 'Payments in flight (debited from the payer, not yet credited or refunded), oldest first',
        querystring: z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).default(100) }),
        response: { 200: z.object({ payments: z.array(paymentSchema).readonly() }), 400: problemSchema },
      },
    },
    async (request) => ({ payments: await reader().inFlight(request.query.limit) }),
  );
}
