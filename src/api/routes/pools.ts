import type { FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type pg from 'pg';
import { z } from 'zod';
import { POOL_ID, type AssetCatalog } from '../../ledger/index.js';
import { topInvestors, type PoolsService } from '../../pools/pools.js';
import { principalOf } from '../auth.js';
import { notFound, ProblemCode, ProblemError, problemSchema, type RouteFailure } from '../problems.js';
import { memberIdSchema, potIdSchema } from '../schemas/index.js';
import { paymentOf, paymentSchema } from '../schemas/payments.js';
import { paymentStatusCode } from './payments.js';

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

const topInvestorSchema = z.object({ potId: z.string(), memberId: z.string().nullable(), pools: z.number().int(), invested: z.record(z.string(), z.string()) });

/** A failure of NATS or Postgres while a pool request is carried out: the same request is safe to send again. */
const POOL_UNAVAILABLE: RouteFailure = {
  title: 'the request could not be carried out now; send the same request again',
  log: 'a pool request could not be carried out now',
  component: 'pools',
};

const READ = ['service', 'operator'] as const;

/** What a subscription or a redemption asks. */
interface InvestorRequest {
  readonly id: string;
  readonly poolId: string;
  readonly investor: { memberId: string; potId: string };
  readonly amount: string;
}

const INVESTOR_ROUTES = [
  {
    path: 'subscriptions',
    operationId: 'subscribeToPool',
    summary: "An investor subscribes: its cash buys the pool's units at par",
    act: (pools: PoolsService, body: InvestorRequest) => pools.subscribe({ poolId: body.poolId, subscriptionId: body.id, investor: body.investor, amount: body.amount }),
  },
  {
    path: 'redemptions',
    operationId: 'redeemFromPool',
    summary: 'An investor redeems units at par: the pool pays it',
    act: (pools: PoolsService, body: InvestorRequest) => pools.redeem({ poolId: body.poolId, redemptionId: body.id, investor: body.investor, amount: body.amount }),
  },
] as const;

/** Investment pools: create, subscribe, redeem, distribute pro rata, and the top-investors report. */
const poolRoutesPlugin: FastifyPluginCallback<{ readonly reports: pg.Pool; readonly assets: AssetCatalog }> = (app, deps, done) => {
  const typed = app.withTypeProvider<ZodTypeProvider>();

  typed.post(
    '/pools',
    {
      config: { roles: ['operator'] as const, whenUnavailable: POOL_UNAVAILABLE },
      schema: {
        operationId: 'createPool',
        tags: ['pools'],
        summary: 'Create an investment pool (and open its pot)',
        description: 'Idempotent by poolId: the same pool again answers it; another currency or name under the same id is 409.',
        body: z.strictObject({ poolId, currency: z.string().regex(/^[A-Z]{3}$/, 'a currency code'), name: z.string().min(1).max(200) }),
        response: { 201: poolSchema, 400: problemSchema, 409: problemSchema, 422: problemSchema, 503: problemSchema },
      },
    },
    async (request, reply) => reply.code(201).send(await app.poolsService.create({ ...request.body, by: principalOf(request).keyId })),
  );

  typed.get(
    '/pools/:poolId',
    {
      config: { roles: READ },
      schema: {
        operationId: 'getPool',
        description: "The pool's currency, name and pot, the number of investors holding its units and the units issued.",
        tags: ['pools'],
        summary: 'A pool, with its investors and units issued',
        params: z.strictObject({ poolId }),
        response: { 200: poolSchema, 400: problemSchema, 404: problemSchema },
      },
    },
    async (request) => {
      const pool = await app.poolsService.summary(request.params.poolId);
      if (pool === undefined) throw notFound(`pool ${request.params.poolId}`);
      return pool;
    },
  );

  for (const { path, operationId, summary, act } of INVESTOR_ROUTES) {
    typed.post(
      `/pools/:poolId/${path}`,
      {
        config: { roles: READ, whenUnavailable: POOL_UNAVAILABLE },
        schema: {
          operationId,
          tags: ['pools'],
          summary,
          description:
            'A payment of its own kind between the investor\'s pot and the pool\'s, driven by the payments desk; idempotent by id. 200 once finished, 202 while in flight.',
          params: z.strictObject({ poolId }),
          body: z.strictObject({ id: requestId, investor: party, amount: z.string().max(40) }),
          response: { 200: paymentSchema, 202: paymentSchema, 400: problemSchema, 404: problemSchema, 409: problemSchema, 422: problemSchema, 503: problemSchema },
        },
      },
      async (request, reply) => {
        const payment = await act(app.poolsService, { ...request.body, poolId: request.params.poolId });
        return reply.code(paymentStatusCode(payment)).send(paymentOf(payment));
      },
    );
  }

  typed.post(
    '/pools/:poolId/distributions',
    {
      config: { roles: ['operator'] as const, whenUnavailable: POOL_UNAVAILABLE },
      schema: {
        operationId: 'distributePool',
        tags: ['pools'],
        summary: "Distribute the pool's cash to its investors pro rata to their holdings",
        description:
          'The holdings are read once (the record point) and every share is stored before money moves (largest remainder, ties to the lowest pot id); ' +
          'the whole amount leaves the pool pot in one movement, then each investor is paid. ' +
          'Idempotent by distributionId. 422 when the pool has no investors or not enough cash.',
        params: z.strictObject({ poolId }),
        body: z.strictObject({ distributionId, amount: z.string().max(40) }),
        response: { 200: distributionSchema, 400: problemSchema, 404: problemSchema, 409: problemSchema, 422: problemSchema, 503: problemSchema },
      },
    },
    async (request) => {
      const distribution = await app.poolsService.distribute({ poolId: request.params.poolId, ...request.body, by: principalOf(request).keyId });
      if (distribution.status === 'rejected') {
        throw new ProblemError(422, ProblemCode.rejectedByLedger, 'the ledger rejected the distribution', { detail: distribution.reason ?? '' });
      }
      return distribution;
    },
  );

  typed.get(
    '/pools/:poolId/distributions/:distributionId',
    {
      config: { roles: READ },
      schema: {
        operationId: 'getDistribution',
        description: "The distribution's status and every share: the holding at the record point, the share and the payment that paid it.",
        tags: ['pools'],
        summary: 'A distribution with every share and its payment',
        params: z.strictObject({ poolId, distributionId }),
        response: { 200: distributionSchema, 400: problemSchema, 404: problemSchema },
      },
    },
    async (request) => {
      const distribution = await app.poolsService.distribution(request.params.distributionId);
      if (distribution === undefined || distribution.poolId !== request.params.poolId) throw notFound(`distribution ${request.params.distributionId}`);
      return distribution;
    },
  );

  typed.get(
    '/reports/top-investors',
    {
      config: { roles: ['operator'] as const },
      schema: {
        operationId: 'listTopInvestors',
        description: 'From the read-only reports pool: the investor pots holding units of the most distinct pools, with their investment per currency.',
        tags: ['pools'],
        summary: 'The top N investor pots by the number of distinct pools they hold units of, with what they invested per currency',
        querystring: z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).default(10) }),
        response: { 200: z.object({ investors: z.array(topInvestorSchema).readonly() }), 400: problemSchema },
      },
    },
    async (request) => ({ investors: await topInvestors(deps.reports, deps.assets, request.query.limit) }),
  );
  done();
};

export const poolRoutes = fp(poolRoutesPlugin, { name: 'pool-routes', encapsulate: true, dependencies: ['pools-area'] });
