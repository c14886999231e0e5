import type { FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Payment } from '../../payments/desk.js';
import { principalOf } from '../auth.js';
import { notFound, problemSchema, type RouteFailure } from '../problems.js';
import { currencyCodeSchema, partySchema, paymentIdSchema, paymentOf, paymentSchema } from '../schemas/payments.js';

const SENDERS = ['service', 'operator'] as const;

/**
 * NATS or Postgres failed while a payment was being driven: what was recorded is resumed by the
 * service, and the same request (same paymentId) is safe to send again.
 */
export const PAYMENT_UNAVAILABLE: RouteFailure = {
  title: 'the payment could not be driven now; send the same request again, or GET it later',
  log: 'a payment could not be driven now',
  component: 'payments',
};

/** 200 once a payment has finished (completed, refunded or rejected), 202 while it is in flight or in review. */
export function paymentStatusCode(payment: Payment): 200 | 202 {
  return payment.status === 'completed' || payment.status === 'refunded' || payment.status === 'rejected' ? 200 : 202;
}

/** Payments between pots: send one (a saga the payments desk drives), read its state, list those in flight, decide a review. */
const paymentRoutesPlugin: FastifyPluginCallback = (app, _options, done) => {
  const typed = app.withTypeProvider<ZodTypeProvider>();

  typed.post(
    '/payments',
    {
      config: { roles: SENDERS, whenUnavailable: PAYMENT_UNAVAILABLE },
      schema: {
        operationId: 'sendPayment',
        tags: ['payments'],
        summary: 'Pay from one pot to another',
        description:
          "The payer is debited into its partition's clearing, then the payee credited out of its own (or, when the payee refuses, the payer refunded). " +
          "With fromCurrency the payer pays in that currency at the latest recorded rate of the pair (amount ÷ rate, rounded up against the payer), " +
          "both currencies moving in the debit's one movement; 422 when no rate is recorded. " +
          "A payment a review rule flags is debited and waits in `review` for an operator. " +
          "The paymentId makes it idempotent: the same request again is the same payment; another request under the same id is 409. " +
          "200 once it has finished (completed, refunded or rejected), 202 while it is in flight or in review (GET it later).",
        body: z.strictObject({
          paymentId: paymentIdSchema,
          payer: partySchema,
          payee: partySchema,
          amount: z.string().max(40),
          currency: currencyCodeSchema,
          fromCurrency: currencyCodeSchema.optional().describe("The payer pays in this currency (a cross-currency payment)"),
        }),
        response: { 200: paymentSchema, 202: paymentSchema, 400: problemSchema, 409: problemSchema, 422: problemSchema, 503: problemSchema },
      },
    },
    async (request, reply) => {
      const payment = await app.paymentsDesk.send(request.body);
      return reply.code(paymentStatusCode(payment)).send(paymentOf(payment));
    },
  );

  typed.get(
    '/payments/:paymentId',
    {
      config: { roles: SENDERS },
      schema: {
        operationId: 'getPayment',
        description: "The payment's parties, amount, status, review and, for a cross-currency payment, the rate used.",
        tags: ['payments'],
        summary: "A payment's state",
        params: z.strictObject({ paymentId: paymentIdSchema }),
        response: { 200: paymentSchema, 400: problemSchema, 404: problemSchema },
      },
    },
    async (request) => {
      const payment = await app.paymentsDesk.read(request.params.paymentId);
      if (payment === undefined) throw notFound(`payment ${request.params.paymentId}`);
      return paymentOf(payment);
    },
  );

  typed.get(
    '/payments',
    {
      config: { roles: ['operator'] as const },
      schema: {
        operationId: 'listUnfinishedPayments',
        description: 'Payments still moving or waiting for an operator, oldest first, at most `limit`; ?status narrows to one state.',
        tags: ['payments'],
        summary: 'Payments not yet finished (requested, in flight, in review or refunding), oldest first; ?status=review for those waiting for an operator',
        querystring: z.strictObject({
          limit: z.coerce.number().int().min(1).max(1000).default(100),
          status: z.enum(['requested', 'in-flight', 'review', 'refunding']).optional(),
        }),
        response: { 200: z.object({ payments: z.array(paymentSchema).readonly() }), 400: problemSchema },
      },
    },
    async (request) => ({ payments: (await app.paymentsDesk.inFlight(request.query.limit, request.query.status)).map(paymentOf) }),
  );

  for (const [path, decision, summary, operationId] of [
    ['release', 'released', "Release a payment held for review: the payee is credited", 'releasePayment'],
    ['rejection', 'rejected', 'Reject a payment held for review: the payer is refunded', 'rejectPayment'],
  ] as const) {
    typed.post(
      `/payments/:paymentId/${path}`,
      {
        config: { roles: ['operator'] as const, whenUnavailable: PAYMENT_UNAVAILABLE },
        schema: {
          operationId,
          tags: ['payments'],
          summary,
          description:
            'Recorded with the operator\'s key id and note. The same decision again answers the payment; the other decision, or a payment not in review, is 409.',
          params: z.strictObject({ paymentId: paymentIdSchema }),
          body: z.strictObject({ note: z.string().min(1).max(2000).optional() }),
          response: { 200: paymentSchema, 202: paymentSchema, 400: problemSchema, 404: problemSchema, 409: problemSchema, 503: problemSchema },
        },
      },
      async (request, reply) => {
        const payment = await app.paymentsDesk.decideReview(request.params.paymentId, decision, principalOf(request).keyId, request.body.note);
        return reply.code(paymentStatusCode(payment)).send(paymentOf(payment));
      },
    );
  }
  done();
};

export const paymentRoutes = fp(paymentRoutesPlugin, { name: 'payment-routes', encapsulate: true, dependencies: ['payments-area'] });
