import type pg from 'pg';
import { costOf, formatAmount, parseRate, type AssetCatalog } from '../ledger/index.js';

/**
 * Daily FX rates (table `fx_rates`): `rate` units of `quote` per one `base` on a day, recorded once by an
 * operator. A pair is quoted one way only: buying EUR with GBP needs a GBP→EUR rate; the inverse is not
 * derived (1 ÷ 1.17 has no exact decimal).
 */
export const RATE_MAX_AGE_DAYS_DEFAULT = 4;

/** A currency bought with another at a recorded rate: what it costs, rounded up against the payer. */
export interface PricedExchange {
  readonly fromCurrency: string;
  readonly rate: string;
  readonly rateDay: string;
  readonly cost: string;
  readonly costMinor: bigint;
}

/** Bad input for an exchange (an unknown currency, no recent rate): the caller's to fix. */
export class ExchangeRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExchangeRequestError';
  }
}

/**
 * Prices buying `amountMinor` of `bought` with `sold` at the latest rate of the pair recorded on or
 * before `today` and less than `maxAgeDays` old.
 */
export async function priceExchange(
  db: pg.Pool,
  assets: AssetCatalog,
  request: { readonly sold: string; readonly bought: string; readonly amountMinor: bigint; readonly today: string; readonly maxAgeDays: number },
): Promise<PricedExchange> {
  const { sold, bought } = request;
  const soldAsset = assets.find(sold);
  const boughtAsset = assets.find(bought);
  if (soldAsset?.kind !== 'currency') throw new ExchangeRequestError(`fromCurrency: ${sold} is not a currency`);
  if (boughtAsset?.kind !== 'currency') throw new ExchangeRequestError(`currency: ${bought} is not a currency`);
  if (sold === bought) throw new ExchangeRequestError('fromCurrency: the same as the currency bought; leave it out');
  const { rows } = await db.query<{ rate: string; day: string }>(
    'SELECT rate, day::text AS day FROM fx_rates WHERE base = $1 AND quote = $2 AND day <= $3::date AND day > $3::date - $4::int ORDER BY day DESC LIMIT 1',
    [sold, bought, request.today, request.maxAgeDays],
  );
  const row = rows[0];
  if (row === undefined) throw new ExchangeRequestError(`no ${sold}→${bought} rate (${bought} per ${sold}) recorded in the ${request.maxAgeDays} days to ${request.today}`);
  const rate = parseRate(row.rate);
  if (!rate.ok) throw new Error(`fx_rates ${sold}/${bought} ${row.day}: ${rate.reason}`);
  const costMinor = costOf(request.amountMinor, boughtAsset, soldAsset, rate.value);
  return { fromCurrency: sold, rate: row.rate, rateDay: row.day, cost: formatAmount(costMinor, soldAsset.scale), costMinor };
}

export type RecordRateResult = 'recorded' | 'recorded already' | 'conflict';

/** Records a day's rate for a pair; the same rate again is fine, another one for that day is refused. */
export async function recordRate(
  db: pg.Pool,
  rate: { readonly day: string; readonly base: string; readonly quote: string; readonly rate: string; readonly by: string },
): Promise<RecordRateResult> {
  const inserted = await db.query('INSERT INTO fx_rates (day, base, quote, rate, recorded_by) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING', [
    rate.day, rate.base, rate.quote, rate.rate, rate.by,
  ]);
  if (inserted.rowCount === 1) return 'recorded';
  const { rows } = await db.query<{ rate: string }>('SELECT rate FROM fx_rates WHERE day = $1 AND base = $2 AND quote = $3', [rate.day, rate.base, rate.quote]);
  return rows[0]?.rate === rate.rate ? 'recorded already' : 'conflict';
}

export interface RecordedRate {
  readonly day: string;
  readonly base: string;
  readonly quote: string;
  readonly rate: string;
  readonly recordedBy: string;
  readonly recordedAt: string;
}

/** The rates recorded for a day, by pair. */
export async function ratesOf(db: pg.Pool, day: string): Promise<RecordedRate[]> {
  const { rows } = await db.query<{ day: string; base: string; quote: string; rate: string; recorded_by: string; recorded_at: Date }>(
    'SELECT day::text AS day, base, quote, rate, recorded_by, recorded_at FROM fx_rates WHERE day = $1 ORDER BY base, quote',
    [day],
  );
  return rows.map((row) => ({ day: row.day, base: row.base, quote: row.quote, rate: row.rate, recordedBy: row.recorded_by, recordedAt: row.recorded_at.toISOString() }));
}
