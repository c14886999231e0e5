import type pg from 'pg';
import { z } from 'zod';
import { genericSagaStore } from '../journal/sagas.js';
import { formatAmount, parseAmount, type AssetCatalog } from '../ledger/index.js';
import { defineSaga, refusalReason, SagaEngine } from '../sagas/index.js';
import type { LedgerPublisher } from '../sdk/publisher.js';
import type { Log } from '../shards/log.js';
import { scaleOf } from './payment.js';
import { ExchangeRequestError, priceExchange, RATE_MAX_AGE_DAYS_DEFAULT, type PricedExchange } from './rates.js';

/**
 * A conversion between two currencies of one pot (`fx.convert`). The rate is the latest recorded for
 * the pair, fixed in `conversions` when the conversion is first asked, so the same conversion id sent
 * again (even on a later day) is the same command and applies once.
 */
export interface ConversionRequest {
  readonly conversionId: string;
  readonly memberId: string;
  readonly potId: string;
  /** What the pot buys, in `currency`. */
  readonly amount: string;
  readonly currency: string;
  readonly fromCurrency: string;
}

export interface Conversion extends Omit<ConversionRequest, 'fromCurrency'> {
  readonly exchange: Omit<PricedExchange, 'costMinor'>;
  readonly status: 'applied' | 'rejected' | 'pending';
  readonly reason?: string;
}

/** The same conversion id asked again with other details. */
export class ConversionConflictError extends Error {
  constructor(readonly conversionId: string) {
    super(`conversion ${conversionId} exists with other details`);
    this.name = 'ConversionConflictError';
  }
}

/** What a conversion's one command needs, fixed when it is first asked (its row in `sagas`). */
const conversionData = z.strictObject({ memberId: z.string(), potId: z.string(), amount: z.string(), currency: z.string(), fromCurrency: z.string(), rate: z.string() });
type ConversionData = z.output<typeof conversionData>;

const final = { final: true } as const;

/**
 * A conversion as a saga of one step: `fx.convert` on the pot, under the id it has always had
 * (`conversion:<id>`). It is driven when asked (the API waits for it), not swept: a conversion asked
 * again carries on from where it was.
 */
export const conversionSaga = defineSaga<ConversionData>()({
  name: 'conversion',
  describe: 'A conversion between two currencies of one pot (POST /conversions), at the rate fixed when it was first asked',
  commandId: ({ id }) => `conversion:${id}`,
  states: {
    requested: {
      step: 'convert',
      process: 'fx.convert',
      command: (data: ConversionData) => ({
        pot: { memberId: data.memberId, potId: data.potId }, payload: { amount: data.amount, currency: data.currency, fromCurrency: data.fromCurrency, rate: data.rate },
      }),
      to: ['applied', 'rejected', 'conflict'],
      on: (outcome) => (outcome.kind === 'applied' ? { to: 'applied' } : { to: outcome.kind === 'conflict' ? 'conflict' : 'rejected', reason: refusalReason(outcome) }),
    },
    applied: final,
    rejected: final,
    conflict: { final: true, describe: 'its id was used by another command first: nothing of it applied (409)' },
  },
  examples: [{ memberId: 'member', potId: 'member-pot', amount: '10.00', currency: 'EUR', fromCurrency: 'GBP', rate: '1.25' }],
});

/** What the engine logs through when the caller gives no log. */
const quiet: Log = { info: () => undefined, warn: () => undefined, error: () => undefined };

interface ConversionRow {
  member_id: string;
  pot_id: string;
  amount_minor: bigint;
  currency: string;
  from_currency: string;
  rate: string;
  rate_day: string;
  cost_minor: bigint;
}

export async function convert(
  deps: {
    readonly pool: pg.Pool; readonly publisher: LedgerPublisher; readonly assets: AssetCatalog; readonly rateMaxAgeDays?: number; readonly waitMs: number; readonly log?: Log;
  },
  request: ConversionRequest,
  principal?: string,
): Promise<Conversion> {
  const bought = deps.assets.find(request.currency);
  if (bought?.kind !== 'currency') throw new ExchangeRequestError(`currency: ${request.currency} is not a currency`);
  const amount = parseAmount(request.amount, bought.scale);
  if (!amount.ok) throw new ExchangeRequestError(`amount: ${amount.reason}`);
  if (amount.value === 0n) throw new ExchangeRequestError('amount: a conversion buys more than zero');
  const priced = await priceExchange(deps.pool, deps.assets, {
    sold: request.fromCurrency,
    bought: request.currency,
    amountMinor: amount.value,
    today: deps.publisher.now().toISOString().slice(0, 10),
    maxAgeDays: deps.rateMaxAgeDays ?? RATE_MAX_AGE_DAYS_DEFAULT,
  });
  const row = await recordConversion(deps.pool, request, amount.value, priced);
  const same = row.member_id === request.memberId && row.pot_id === request.potId && row.amount_minor === amount.value && row.currency === request.currency;
  if (!same || row.from_currency !== request.fromCurrency) {
    throw new ConversionConflictError(request.conversionId);
  }
  const cost = formatAmount(row.cost_minor, scaleOf(deps.assets, row.from_currency, `conversion ${request.conversionId}`));
  const exchange = { fromCurrency: row.from_currency, rate: row.rate, rateDay: row.rate_day, cost };
  const amountText = formatAmount(row.amount_minor, bought.scale);
  const answer = { conversionId: request.conversionId, memberId: row.member_id, potId: row.pot_id, amount: amountText, currency: row.currency, exchange };
  const store = genericSagaStore(deps.pool, conversionSaga, (data) => conversionData.parse(data));
  const data = { memberId: row.member_id, potId: row.pot_id, amount: amountText, currency: row.currency, fromCurrency: row.from_currency, rate: row.rate };
  await store.start(request.conversionId, 'requested', data);
  const engine = new SagaEngine({ pool: deps.pool, publisher: deps.publisher, log: deps.log ?? quiet, source: 'api' });
  const driven = await engine.drive(conversionSaga, store, request.conversionId, { timeoutMs: deps.waitMs, ...(principal === undefined ? {} : { principal }) });
  switch (driven?.state) {
    case undefined:
      throw new Error(`conversion ${request.conversionId} was recorded and cannot be read back`);
    case 'requested':
      return { ...answer, status: 'pending' };
    case 'conflict':
      throw new ConversionConflictError(request.conversionId);
    case 'applied':
      return { ...answer, status: 'applied' };
    case 'rejected':
      return { ...answer, status: 'rejected', reason: (await store.reason(request.conversionId)) ?? 'rejected' };
  }
}

/** Records the conversion with its rate the first time it is asked; the row as recorded (the first time's). */
async function recordConversion(pool: pg.Pool, request: ConversionRequest, amountMinor: bigint, priced: PricedExchange): Promise<ConversionRow> {
  await pool.query(
    `INSERT INTO conversions (conversion_id, member_id, pot_id, amount_minor, currency, from_currency, rate, rate_day, cost_minor)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (conversion_id) DO NOTHING`,
    [request.conversionId, request.memberId, request.potId, amountMinor, request.currency, request.fromCurrency, priced.rate, priced.rateDay, priced.costMinor],
  );
  const { rows } = await pool.query<ConversionRow>('SELECT *, rate_day::text AS rate_day FROM conversions WHERE conversion_id = $1', [request.conversionId]);
  const row = rows[0];
  if (row === undefined) throw new Error(`conversion ${request.conversionId} was recorded and cannot be read back`);
  return row;
}
