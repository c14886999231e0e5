import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type pg from 'pg';
import { z } from 'zod';
import { POOL_ID, type AssetCatalog } from '../../ledger/index.js';
import { PaymentConflictError, PaymentRequestError, PaymentsDesk, type PaymentSettings } from '../../payments/desk.js';
import { PoolRequestError, PoolsService, topInvestors } from '../../pools/pools.js';
import type { LedgerPublisher } from '../../sdk/publisher.js';
import type { Log } from '../../shards/log.js';
import { principalOf } from '../auth.js';
import { notFound, ProblemCode, ProblemError, problemSchema } from '../problems.js';
import { memberIdSchema, potIdSchema } from '../schemas.js';
import { paymentOf, paymentSchema } from './payments.js';

const poolId = z.string().regex(POOL_ID, 'upper-case letters and digits, 1 to 27 characters');
const requestId = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . and - only, 1 to 64 characters');
const distributionId = z.string().regex(/^[A-Za-z0-9_.-]{1,40}$/, 'letters, digits, _ . and - only, 1 to 40 characters');
const party = z.strictObject({ memberId: memberIdSchema, potId: potIdSchema });
const party$ = z.object({ memberId: z.string(), potId: z.string() });

const poolSchema = z
  .object({
    poolId: z.string(),
    currency: z.string(),
    name: z.string(),
    pot: party$.describe("The pool's own pot: its cash"),
    createdAt: z.string(),
    investors: z.number().int().optional().describe('Pots holding its units now'),
    unitsIssued: z.string().optional().describe('Units held by its investors (at par: one per 1.00 of its currency)'),
  })
  .meta({ id: 'Pool' });

const distributionSchema = z
  .object({
    distributionId: z.string(),
    poolId: z.string(),
    amount: z.string(),
    currency: z.string(),
    status: z.enum(['recorded', 'paying', 'paid', 'rejected']),
    reason: z.string().optional(),
    shares: z
      .array(
        z.object({
          ordinal: z.number().int(),
          potId: z.string(),
          memberId: z.string(),
          holding: z.string().describe('Units held at the record point'),
          share: z.string().describe('Its pro-rata share (largest remainder, ties to the lowest pot id)'),
          paymentId: z.string().optional(),
          paymentStatus: z.string().optional(),
        }),
      )
      .readonly(),
  })
  .meta({ id: 'Distribution' });

/** Investment pools: create, subscribe, redeem, distribute pro rata, and the top-investors report. */
export function poolRoutes(
  app: FastifyInstance,
  deps: { readonly pool: pg.Pool; readonly reports: pg.Pool; readonly publisher: LedgerPublisher | undefined; readonly assets: AssetCatalog; readonly waitTimeoutMs: number; readonly settings: PaymentSettings; readonly log: Log },
): void {
  const typed = app.withTypeProvider<ZodTypeProvider>();
  const service =
    deps.publisher === undefined
      ? undefined
      : new PoolsService({
          pool: deps.pool,
          publisher: deps.publisher,
          assets: deps.assets,
          log: deps.log,
          waitMs: deps.waitTimeoutMs,
          desk: new PaymentsDesk({ ...deps.settings, pool: deps.pool, publisher: deps.publisher, assets: deps.assets, log: deps.log, stepTimeoutMs: deps.waitTimeoutMs }),
        });
  const pools = (): PoolsService => {
    if (service === undefined) throw new ProblemError(503, ProblemCode.unavailable, 'this process does not publish commands');
    return service;
  };
  /** The caller's mistakes as problems; a failure of NATS or Postgres as 503 (the same request is safe to resend). */
  const problem = (error: unknown): never => {
    if (error instanceof ProblemError) throw error;
    if (error instanceof PoolRequestError) throw error.status === 404 ? notFound(error.message.replace(/^no /, '')) : new ProblemError(error.status, error.status === 409 ? ProblemCode.idempotencyKeyReused : ProblemCode.validationFailed, error.message, error.status === 422 ? { errors: [{ path: 'body', message: error.message }] } : {});
    if (error instanceof PaymentConflictError) throw new ProblemError(409, ProblemCode.idempotencyKeyReused, error.message);
    if (error instanceof PaymentRequestError) throw new ProblemError(422, ProblemCode.validationFailed, error.message, { errors: [{ path: 'body', message: error.message }] });
    deps.log.warn({ err: error }, 'a pool request could not be carried out now');
    throw new ProblemError(503, ProblemCode.unavailable, 'the request could not be carried out now; send the same request again');
  };
  const finished = (status: string): boolean => status === 'completed' || status === 'refunded' || status === 'rejected';

  typed.post(
    '/pools',
    {
      config: { roles: ['operator'] as const },
      schema: {
        operationId: 'createPool', tags: ['pools'],
        summary: 'Create an investment pool (and open its pot)',
        description: 'Idempotent by poolId: the same pool again answers it; another currency or name under the same id is 409.',
        body: z.strictObject({ poolId, currency: z.string().regex(/^[A-Z]{3}$/, 'a currency code'), name: z.string().min(1).max(200) }),
        response: { 201: poolSchema, 400: problemSchema, 409: problemSchema, 422: problemSchema, 503: problemSchema },
      },
    },
    async (request, reply) => reply.code(201).send(await pools().create({ ...request.body, by: principalOf(request).keyId }).catch(problem)),
  );

  typed.get(
    '/pools/:poolId',
    { config: { roles: ['service', 'operator'] as const }, schema: { operationId: 'getPool', description: "The pool's currency, name and pot, the number of investors holding its units and the units issued.", tags: ['pools'], summary: 'A pool, with its investors and units issued', params: z.strictObject({ poolId }), response: { 200: poolSchema, 400: problemSchema, 404: problemSchema } } },
    async (request) => {
      const pool = await pools().summary(request.params.poolId);
      if (pool === undefined) throw notFound(`pool ${request.params.poolId}`);
      return pool;
    },
  );

  for (const [path, operationId, summary, act] of [
    ['subscriptions', 'subscribeToPool', "An investor subscribes: its cash buys the pool's units at par", (s: PoolsService, body: { id: string; poolId: string; investor: { memberId: string; potId: string }; amount: string }) => s.subscribe({ poolId: body.poolId, subscriptionId: body.id, investor: body.investor, amount: body.amount })],
    ['redemptions', 'redeemFromPool', 'An investor redeems units at par: the pool pays it', (s: PoolsService, body: { id: string; poolId: string; investor: { memberId: string; potId: string }; amount: string }) => s.redeem({ poolId: body.poolId, redemptionId: body.id, investor: body.investor, amount: body.amount })],
  ] as const) {
    typed.post(
      `/pools/:poolId/${path}`,
      {
        config: { roles: ['service', 'operator'] as const },
        schema: {
          operationId,
          tags: ['pools'],
          summary,
          description: 'A payment of its own kind between the investor\'s pot and the pool\'s, driven by the payments desk; idempotent by id. 200 once finished, 202 while in flight.',
          params: z.strictObject({ poolId }),
          body: z.strictObject({ id: requestId, investor: party, amount: z.string().max(40) }),
          response: { 200: paymentSchema, 202: paymentSchema, 400: problemSchema, 404: problemSchema, 409: problemSchema, 422: problemSchema, 503: problemSchema },
        },
      },
      async (request, reply) => {
        const payment = await act(pools(), { ...request.body, poolId: request.params.poolId }).catch(problem);
        return reply.code(finished(payment.status) ? 200 : 202).send(paymentOf(payment));
      },
    );
  }

  typed.post(
    '/pools/:poolId/distributions',
    {
      config: { roles: ['operator'] as const },
      schema: {
        operationId: 'distributePool', tags: ['pools'],
        summary: "Distribute the pool's cash to its investors pro rata to their holdings",
        description:
          'The holdings are read once (the record point) and every share is stored before money moves (largest remainder, ties to the lowest pot id); the whole amount leaves the pool pot in one movement, then each investor is paid. Idempotent by distributionId. 422 when the pool has no investors or not enough cash.',
        params: z.strictObject({ poolId }),
        body: z.strictObject({ distributionId, amount: z.string().max(40) }),
        response: { 200: distributionSchema, 400: problemSchema, 404: problemSchema, 409: problemSchema, 422: problemSchema, 503: problemSchema },
      },
    },
    async (request) => {
      const distribution = await pools().distribute({ poolId: request.params.poolId, ...request.body, by: principalOf(request).keyId }).catch(problem);
      if (distribution.status === 'rejected') throw new ProblemError(422, ProblemCode.rejectedByLedger, 'the ledger rejected the distribution', { detail: distribution.reason ?? '' });
      return distribution;
    },
  );

  typed.get(
    '/pools/:poolId/distributions/:distributionId',
    {
      config: { roles: ['service', 'operator'] as const },
      schema: { operationId: 'getDistribution', description: "The distribution's status and every share: the holding at the record point, the share and the payment that paid it.", tags: ['pools'], summary: 'A distribution with every share and its payment', params: z.strictObject({ poolId, distributionId }), response: { 200: distributionSchema, 400: problemSchema, 404: problemSchema } },
    },
    async (request) => {
      const distribution = await pools().distribution(request.params.distributionId);
      if (distribution === undefined || distribution.poolId !== request.params.poolId) throw notFound(`distribution ${request.params.distributionId}`);
      return distribution;
    },
  );

  typed.get(
    '/reports/top-investors',
    {
      config: { roles: ['operator'] as const },
      schema: {
        operationId: 'listTopInvestors', description: 'From the read-only reports pool: the investor pots holding units of the most distinct pools, with their investment per currency.', tags: ['pools'],
        summary: 'The top N investor pots by the number of distinct pools they hold units of, with what they invested per currency',
        querystring: z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).default(10) }),
        response: {
          200: z.object({ investors: z.array(z.object({ potId: z.string(), memberId: z.string().nullable(), pools: z.number().int(), invested: z.record(z.string(), z.string()) })).readonly() }),
          400: problemSchema,
        },
      },
    },
    async (request) => ({ investors: await topInvestors(deps.reports, deps.assets, request.query.limit) }),
  );
}
