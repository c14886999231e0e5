import type { FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { principalOf } from '../auth.js';
import { notFound, problemSchema } from '../problems.js';
import { currencyCodeSchema, holdIdSchema, holdSchema, partySchema, paymentIdSchema, paymentOf, paymentSchema } from '../schemas/payments.js';
import { PAYMENT_UNAVAILABLE, paymentStatusCode } from './payments.js';

const SENDERS = ['service', 'operator'] as const;

/** Holds: place one, post it as a payment (the payments desk), void it, read it. */
const holdRoutesPlugin: FastifyPluginCallback = (app, _options, done) => {
  const typed = app.withTypeProvider<ZodTypeProvider>();

  typed.post(
    '/holds',
    {
      config: { roles: SENDERS },
      schema: {
        operationId: 'placeHold',
        tags: ['holds'],
        summary: "Hold a buyer's cash for a payee until it is posted, voided or expires",
        description:
          'Idempotent by holdId (the same request again is the same hold). 201 with the open hold; 422 when the ledger refuses it (insufficient funds, an expiry in the past).',
        body: z.strictObject({
          holdId: holdIdSchema,
          payer: partySchema,
          payee: partySchema,
          amount: z.string().max(40),
          currency: currencyCodeSchema,
          expiresAt: z.iso.datetime({ offset: true }),
        }),
        response: { 201: holdSchema, 400: problemSchema, 409: problemSchema, 422: problemSchema, 503: problemSchema },
      },
    },
    async (request, reply) => reply.code(201).send(await app.holdCommands.place(request.body, principalOf(request).keyId)),
  );

  typed.post(
    '/holds/:holdId/post',
    {
      config: { roles: SENDERS, whenUnavailable: PAYMENT_UNAVAILABLE },
      schema: {
        operationId: 'postHold',
        tags: ['holds'],
        summary: 'Post an open hold, in full or in part, as a payment to its payee (the rest returns to the buyer)',
        description: 'Idempotent by paymentId. A hold posts once: posting a hold that is no longer open is 409.',
        params: z.strictObject({ holdId: holdIdSchema }),
        body: z.strictObject({ paymentId: paymentIdSchema, amount: z.string().max(40) }),
        response: { 200: paymentSchema, 202: paymentSchema, 400: problemSchema, 404: problemSchema, 409: problemSchema, 422: problemSchema, 503: problemSchema },
      },
    },
    async (request, reply) => {
      const { holdId } = request.params;
      const payment = await app.paymentsDesk.postHold({ paymentId: request.body.paymentId, holdId, amount: request.body.amount });
      if (payment === undefined) return app.holdCommands.whyNotPosted(holdId);
      return reply.code(paymentStatusCode(payment)).send(paymentOf(payment));
    },
  );

  typed.post(
    '/holds/:holdId/void',
    {
      config: { roles: SENDERS },
      schema: {
        operationId: 'voidHold',
        description: 'Publishes hold.void and waits for its outcome: the reserved cash returns to the buyer. A hold no longer open is 409; a ledger rejection is 422.',
        tags: ['holds'],
        summary: "Void an open hold: the buyer's cash is released",
        params: z.strictObject({ holdId: holdIdSchema }),
        response: { 200: holdSchema, 400: problemSchema, 404: problemSchema, 409: problemSchema, 422: problemSchema, 503: problemSchema },
      },
    },
    async (request) => app.holdCommands.void(request.params.holdId, principalOf(request).keyId),
  );

  typed.get(
    '/holds/:holdId',
    {
      config: { roles: SENDERS },
      schema: {
        operationId: 'getHold',
        description: "The hold's status and, while it is open, what it holds and until when; once posted, the payment that posted it.",
        tags: ['holds'],
        summary: "A hold's state",
        params: z.strictObject({ holdId: holdIdSchema }),
        response: { 200: holdSchema, 400: problemSchema, 404: problemSchema },
      },
    },
    async (request) => {
      const hold = await app.holdCommands.read(request.params.holdId);
      if (hold === undefined) throw notFound(`hold ${request.params.holdId}`);
      return hold;
    },
  );
  done();
};

export const holdRoutes = fp(holdRoutesPlugin, { name: 'hold-routes', encapsulate: true, dependencies: ['payments-area'] });
