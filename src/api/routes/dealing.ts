import type { FastifyError, FastifyInstance, FastifyPluginAsync, FastifyPluginCallback } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type pg from 'pg';
import { z } from 'zod';
import { csvPlace } from '../../csv/index.js';
import { loadPrices, parsePricesCsv, priceProblems, pricesOn, type PriceLoad, type PriceProblem, type PriceRow } from '../../dealing/prices.js';
import { traceOrder, traceTrade, TRADE_TRACE_ORDERS_MAX, type OrderTrace, type TradeView } from '../../dealing/trace.js';
import { isoDate, type AssetCatalog } from '../../ledger/index.js';
import { assertMayRead, principalOf } from '../auth.js';
import { notFound, ProblemCode, ProblemError, problemSchema, type Problem } from '../problems.js';
import {
  commandIdSchema,
  idParams,
  orderTraceSchema,
  pricesCsvSchema,
  pricesLoadedSchema,
  pricesLoadSchema,
  pricesOnSchema,
  tradeIdSchema,
  tradeTraceSchema,
} from '../schemas/index.js';

export interface DealingDeps {
  readonly pool: pg.Pool;
  readonly assets: AssetCatalog;
}

/** Most bytes of a prices body, JSON or CSV: 10,000 prices fit with room to spare. */
export const PRICES_BODY_LIMIT_BYTES = 1024 * 1024;

/** Most problems one rejected load lists (the detail says how many there were). */
export const PRICE_ERRORS_MAX = 1000;

/** The source recorded with every price loaded through the API. */
const API_SOURCE = 'api';

const READ = ['service', 'operator'] as const;

/**
 * The dealing cycle over HTTP: closing prices in (JSON or CSV, all or nothing) and out, and the
 * traceability reads: an order with its movements, trade and price; a trade with its allocation
 * basis, residue and the totals that prove allocated + residue = executed.
 */
export const dealingRoutes: FastifyPluginAsync<DealingDeps> = async (app, deps) => {
  // The prices routes take bodies larger than the app's limit; a too-large body names their limit.
  app.setErrorHandler((error: FastifyError) => {
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') throw new ProblemError(413, ProblemCode.bodyTooLarge, `the body is larger than ${PRICES_BODY_LIMIT_BYTES} bytes`);
    throw error;
  });
  priceRoutes(app, deps);
  await app.register(csvPriceRoute, deps);
  traceRoutes(app, deps);
};

function priceRoutes(app: FastifyInstance, deps: DealingDeps): void {
  const typed = app.withTypeProvider<ZodTypeProvider>();

  typed.post(
    '/prices',
    {
      config: { roles: ['operator'] },
      bodyLimit: PRICES_BODY_LIMIT_BYTES,
      schema: {
        operationId: 'loadPrices', tags: ['dealing'],
        summary: 'Loads closing prices, all or nothing',
        description: 'A price once loaded is never changed: the same price again is counted as unchanged, a different one is refused.',
        body: pricesLoadSchema,
        response: { 200: pricesLoadedSchema, 413: problemSchema, 422: problemSchema },
      },
    },
    async (request) => {
      const rows = request.body.prices;
      return answer(await load(deps, rows, (index) => index + 1), (problem) => jsonErrors(rows, problem));
    },
  );

  typed.get(
    '/prices/:date',
    {
      config: { roles: READ },
      schema: {
        operationId: 'getPrices', description: 'The closing price of every fund loaded for the date; an empty list when none is loaded.', tags: ['dealing'],
        summary: "Every fund's closing price of a day",
        params: z.strictObject({ date: isoDate }),
        response: { 200: pricesOnSchema },
      },
    },
    async (request) => {
      const { date } = request.params;
      const prices = await pricesOn(deps.pool, date);
      return { date, prices: prices.map((row) => ({ fund: row.fund, price: row.price })) };
    },
  );
}

/** `POST /prices/csv` in a plugin of its own, so that text/csv is the one body it parses. */
const csvPriceRoute: FastifyPluginCallback<DealingDeps> = (app, deps, done) => {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('text/csv', { parseAs: 'string', bodyLimit: PRICES_BODY_LIMIT_BYTES }, (_request, body, done) => done(null, body));
  app.setErrorHandler((error: FastifyError) => {
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') throw new ProblemError(415, ProblemCode.unsupportedMediaType, 'the body must be text/csv');
    throw error;
  });
  app.withTypeProvider<ZodTypeProvider>().post(
    '/prices/csv',
    {
      config: { roles: ['operator'] },
      bodyLimit: PRICES_BODY_LIMIT_BYTES,
      schema: {
        operationId: 'loadPricesCsv', tags: ['dealing'],
        summary: 'Loads closing prices from a CSV file, all or nothing',
        description:
          'The header fund,date,price, then one price per line; comma, semicolon or tab separated (detected from the header), quoted fields, LF or CRLF, a BOM. ' +
          'Every problem is listed by line, and by column when it is one field\'s (docs/DEALING.md); nothing is loaded when there is any.',
        consumes: ['text/csv'],
        body: pricesCsvSchema,
        response: { 200: pricesLoadedSchema, 413: problemSchema, 415: problemSchema, 422: problemSchema },
      },
    },
    async (request) => {
      const parsed = parsePricesCsv(request.body);
      const lineOf = (index: number) => parsed.lines[index] ?? index + 2;
      const toErrors = (problem: PriceProblem) => [{ path: csvPlace(problem), message: problem.problem }];
      if (parsed.problems.length > 0) {
        const problems = [...parsed.problems, ...priceProblems(parsed.rows, deps.assets, lineOf)];
        return answer({ ok: false, problems: byLine(problems) }, toErrors);
      }
      if (parsed.rows.length === 0) return answer({ ok: false, problems: [{ line: 1, problem: 'no prices after the header' }] }, toErrors);
      return answer(await load(deps, parsed.rows, lineOf), toErrors);
    },
  );
  done();
};

/** Loads the rows all or nothing. */
async function load(deps: DealingDeps, rows: readonly PriceRow[], lineOf: (index: number) => number): Promise<PriceLoad> {
  return loadPrices(deps.pool, rows, API_SOURCE, deps.assets, lineOf);
}

function byLine(problems: readonly PriceProblem[]): PriceProblem[] {
  return [...problems].sort((a, b) => a.line - b.line || (a.column ?? 0) - (b.column ?? 0));
}

type ErrorItem = NonNullable<Problem['errors']>[number];

/** 200 with the counts, or a 422 listing every problem (nothing was loaded). */
function answer(load: PriceLoad, toErrors: (problem: PriceProblem) => ErrorItem[]): { inserted: number; unchanged: number } {
  if (load.ok) return { inserted: load.inserted, unchanged: load.unchanged };
  const errors = load.problems.flatMap(toErrors);
  const listed = errors.length > PRICE_ERRORS_MAX ? `; the first ${PRICE_ERRORS_MAX} are listed` : '';
  throw new ProblemError(422, ProblemCode.pricesRejected, 'the prices were not loaded', {
    detail: `nothing was loaded: ${errors.length} problem(s)${listed}; correct them and send every price again`,
    errors: errors.slice(0, PRICE_ERRORS_MAX),
  });
}

/**
 * A problem of the JSON body at its path. The loader counts positions from 1 (`line`); a second price
 * for the same fund and day names the first "(first on line N)": here it names its path, and the first
 * gets an error of its own, so both paths are listed.
 */
function jsonErrors(rows: readonly PriceRow[], problem: PriceProblem): ErrorItem[] {
  const index = problem.line - 1;
  const path = `body.prices.${index}`;
  const twin = /\(first on line (\d+)\)/.exec(problem.problem);
  if (twin === null) return [{ path, message: problem.problem }];
  const first = Number(twin[1]) - 1;
  const row = rows[first];
  return [
    { path, message: problem.problem.replace(twin[0], `(first at body.prices.${first})`) },
    { path: `body.prices.${first}`, message: `${row?.fund ?? 'this fund'} on ${row?.date ?? 'this day'} is given again at ${path}` },
  ];
}

function traceRoutes(app: FastifyInstance, deps: DealingDeps): void {
  const typed = app.withTypeProvider<ZodTypeProvider>();

  typed.get(
    '/orders/:orderId',
    {
      config: { roles: ['service', 'operator', 'member'] },
      schema: {
        operationId: 'getOrder', tags: ['dealing'],
        summary: 'An order with every movement that changed it, its trade and the closing price it was dealt at',
        description: "A member key reads the orders of its own pots (another's answers 404), without the trade's totals.",
        params: idParams('orderId', commandIdSchema),
        response: { 200: orderTraceSchema, 404: problemSchema },
      },
    },
    async (request) => {
      const { orderId } = request.params;
      const trace = await traceOrder(deps.pool, orderId, deps.assets);
      if (trace === undefined) throw notFound(`order ${orderId}`);
      assertMayRead(request, trace.order.memberId, `order ${orderId}`);
      return principalOf(request).role === 'member' ? forMember(trace) : trace;
    },
  );

  typed.get(
    '/trades/:tradeId',
    {
      config: { roles: READ },
      schema: {
        operationId: 'getTrade', tags: ['dealing'],
        summary: 'An external trade with its allocation basis, each order, the residue and the totals',
        description: 'The orders come a page at a time; the totals (allocated + residue = executed, per leg) cover every order.',
        params: idParams('tradeId', tradeIdSchema),
        querystring: z.strictObject({
          cursor: commandIdSchema.optional().describe('nextCursor of the previous page'),
          limit: z.coerce.number().int().min(1).max(TRADE_TRACE_ORDERS_MAX).default(100),
        }),
        response: { 200: tradeTraceSchema, 404: problemSchema },
      },
    },
    async (request) => {
      const { tradeId } = request.params;
      const { cursor, limit } = request.query;
      const trace = await traceTrade(deps.pool, tradeId, deps.assets, { limit, ...(cursor === undefined ? {} : { afterOrderId: cursor }) });
      if (trace === undefined) throw notFound(`trade ${tradeId}`);
      return trace;
    },
  );
}

/** A trade's totals are every member's orders together: a member sees its price, status and dates only. */
type MemberTradeView = Pick<TradeView, 'tradeId' | 'fund' | 'currency' | 'dealingDate' | 'settlementDate' | 'status' | 'price'>;

function forMember(trace: OrderTrace): OrderTrace | (Omit<OrderTrace, 'trade'> & { trade?: MemberTradeView }) {
  const { trade, ...rest } = trace;
  if (trade === undefined) return rest;
  const { tradeId, fund, currency, dealingDate, settlementDate, status, price } = trade;
  return { ...rest, trade: { tradeId, fund, currency, dealingDate, settlementDate, status, ...(price === undefined ? {} : { price }) } };
}
