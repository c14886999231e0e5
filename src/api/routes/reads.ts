import type { FastifyPluginCallback } from 'fastify';
import type pg from 'pg';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { balanceSheet, findPot, isBusinessDayClosed, movementDetail, potAudit, potBalancesAtClose, potBalancesNow, potStatement } from '../../journal/reads.js';
import { assertMayRead, principalOf } from '../auth.js';
import { movementDetailForMember, statementLineForMember } from '../member-views.js';
import { notFound, ProblemCode, ProblemError, problemSchema } from '../problems.js';
import {
  balanceSheetSchema,
  balancesQuerySchema,
  balancesSchema,
  idParams,
  movementDetailSchema,
  movementIdSchema,
  potIdSchema,
  statementQuerySchema,
  statementSchema,
} from '../schemas/index.js';
import type { CommandDeps } from './commands.js';

const READ = ['service', 'operator', 'member'] as const;
const potParams = idParams('potId', potIdSchema);

/**
 * Reads of the ledger: balances, statements, movements and the Trust's balance sheet. `reports` is the
 * read-only pool the balance sheet and the audit trail read through (the service pool when there is none).
 */
export const readRoutes: FastifyPluginCallback<Pick<CommandDeps, 'pool' | 'assets'> & { readonly reports: pg.Pool }> = (app, deps, done) => {
  const typed = app.withTypeProvider<ZodTypeProvider>();

  /** The pot, if the caller may read it (someone else's pot answers 404, like a missing one). */
  async function readablePot(request: Parameters<typeof assertMayRead>[0], potId: string) {
    const pot = await findPot(deps.pool, potId);
    if (pot === undefined) throw notFound(`pot ${potId}`);
    assertMayRead(request, pot.memberId, `pot ${potId}`);
    return pot;
  }

  typed.get(
    '/pots/:potId/balances',
    {
      config: { roles: READ },
      schema: {
        operationId: 'getPotBalances', tags: ['reads'],
        summary: "A pot's balances, now or at the close of a business day",
        description: 'With asOf, from the end-of-day snapshots of that closed business day (never a replay).',
        params: potParams,
        querystring: balancesQuerySchema,
        response: { 200: balancesSchema, 404: problemSchema, 409: problemSchema },
      },
    },
    async (request) => {
      const { potId } = request.params;
      await readablePot(request, potId);
      const { asOf } = request.query;
      if (asOf === undefined) return { potId, asOf: 'now', balances: await potBalancesNow(deps.pool, potId, deps.assets) };
      if (!(await isBusinessDayClosed(deps.pool, asOf))) {
        throw new ProblemError(409, ProblemCode.businessDayNotClosed, `business day ${asOf} is not closed`, {
          detail: 'balances as of a date are those at the close of a closed business day',
        });
      }
      return { potId, asOf, balances: await potBalancesAtClose(deps.pool, potId, asOf, deps.assets) };
    },
  );

  typed.get(
    '/pots/:potId/statement',
    {
      config: { roles: READ },
      schema: {
        operationId: 'getPotStatement',
        description:
          "The pot's committed movements with effective dates from `from` to `to` inclusive, in commit order, at most `limit` per page; " +
          'pass nextCursor as cursor for the next page.',
        tags: ['reads'],
        summary: "A pot's movements over a range of effective dates, a page at a time",
        params: potParams,
        querystring: statementQuerySchema,
        response: { 200: statementSchema, 400: problemSchema, 404: problemSchema },
      },
    },
    async (request) => {
      const { potId } = request.params;
      const { from, to, cursor, limit } = request.query;
      if (from > to) {
        throw new ProblemError(400, ProblemCode.validationFailed, 'from is after to', { errors: [{ path: 'querystring.from', message: 'must not be after to' }] });
      }
      await readablePot(request, potId);
      const page = await potStatement(deps.pool, { potId, from, to, afterSeq: BigInt(cursor ?? '0'), limit }, deps.assets);
      if (principalOf(request).role === 'member') return { potId, from, to, ...page, lines: page.lines.map(statementLineForMember) };
      return { potId, from, to, ...page };
    },
  );

  typed.get(
    '/movements/:movementId',
    {
      config: { roles: READ },
      schema: {
        operationId: 'getMovement', tags: ['reads'],
        summary: 'One movement with its entries and the balances after them',
        description:
          "A member key reads its own movements only, and sees the balance after each posting and the account's version for its own pot's accounts only: " +
          'a posting on a system account (shared by every member of the partition) shows the account and the amount. ' +
          "A hold's payee is left out for a member key.",
        params: idParams('movementId', movementIdSchema),
        response: { 200: movementDetailSchema, 404: problemSchema },
      },
    },
    async (request) => {
      const { movementId } = request.params;
      const detail = await movementDetail(deps.pool, movementId, deps.assets);
      if (detail === undefined) throw notFound(`movement ${movementId}`);
      assertMayRead(request, detail.movement.memberId, `movement ${movementId}`);
      const shown = principalOf(request).role === 'member' ? movementDetailForMember(detail) : detail;
      const orderId = detail.movement.orderChange?.orderId;
      return orderId === undefined ? shown : { ...shown, orderId };
    },
  );

  typed.get(
    '/balance-sheet',
    {
      config: { roles: ['operator'] },
      schema: {
        operationId: 'getBalanceSheet', tags: ['reads'],
        summary: "The Trust's real-time balance sheet: totals per account kind and asset",
        description: 'From the partition totals every commit keeps in the same transaction; verify proves them equal to the balances.',
        response: { 200: balanceSheetSchema },
      },
    },
    async () => balanceSheet(deps.reports, deps.assets),
  );

  typed.get(
    '/pots/:potId/audit',
    {
      config: { roles: ['operator'] },
      schema: {
        operationId: 'getPotAudit', tags: ['reads'],
        summary: "Who did what to a pot: its commands, newest first, with who asked, through what and when",
        description:
          'From the append-only record of every command\'s outcome: the principal (an API key as key:<id>) and source (api, payments-desk, dealing-desk, rebalancer, pools, sdk) ' +
          'its publisher declared, when it was produced and recorded, and its movement or rejection. Page with ?before=<seq of the last line>.',
        params: z.strictObject({ potId: potIdSchema }),
        querystring: z.strictObject({ limit: z.coerce.number().int().min(1).max(500).default(100), before: z.string().regex(/^[1-9][0-9]{0,18}$/, 'a sequence number').optional() }),
        response: {
          200: z.object({
            potId: z.string(),
            lines: z
              .array(
                z.object({
                  seq: z.string(),
                  commandId: z.string(),
                  process: z.string(),
                  status: z.enum(['applied', 'corrected', 'rejected']),
                  movementId: z.string().nullable(),
                  rejectionCode: z.string().nullable(),
                  principal: z.string().nullable(),
                  source: z.string().nullable(),
                  producedAt: z.string().nullable(),
                  recordedAt: z.string(),
                }),
              )
              .readonly(),
          }),
          400: problemSchema,
        },
      },
    },
    async (request) => ({
      potId: request.params.potId,
      lines: await potAudit(deps.reports, request.params.potId, request.query.limit, request.query.before === undefined ? undefined : BigInt(request.query.before)),
    }),
  );
  done();
};
