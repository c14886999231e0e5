import type pg from 'pg';
import { DomainError, ErrorCode } from '../errors.js';
import { formatAmount, parseAmount, type AssetCatalog } from '../ledger/index.js';
import type { LedgerPublisher } from '../sdk/publisher.js';
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
export class ConversionConflictError extends DomainError {
  readonly code = ErrorCode.idempotencyKeyReused;
  readonly status = 409;
  constructor(readonly conversionId: string) {
    super(`conversion ${conversionId} exists with other details`);
    this.name = 'ConversionConflictError';
  }
}

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
  deps: { readonly pool: pg.Pool; readonly publisher: LedgerPublisher; readonly assets: AssetCatalog; readonly rateMaxAgeDays?: number; readonly waitMs: number },
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
  await deps.pool.query(
    `INSERT INTO conversions (conversion_id, member_id, pot_id, amount_minor, currency, from_currency, rate, rate_day, cost_minor)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (conversion_id) DO NOTHING`,
    [request.conversionId, request.memberId, request.potId, amount.value, request.currency, request.fromCurrency, priced.rate, priced.rateDay, priced.costMinor],
  );
  const { rows } = await deps.pool.query<ConversionRow>('SELECT *, rate_day::text AS rate_day FROM conversions WHERE conversion_id = $1', [request.conversionId]);
  const row = rows[0];
  if (row === undefined) throw new Error(`conversion ${request.conversionId} was recorded and cannot be read back`);
  if (row.member_id !== request.memberId || row.pot_id !== request.potId || row.amount_minor !== amount.value || row.currency !== request.currency || row.from_currency !== request.fromCurrency) {
    throw new ConversionConflictError(request.conversionId);
  }
  const sold = deps.assets.find(row.from_currency);
  const exchange = { fromCurrency: row.from_currency, rate: row.rate, rateDay: row.rate_day, cost: formatAmount(row.cost_minor, sold?.scale ?? 0) };
  const answer = { conversionId: request.conversionId, memberId: row.member_id, potId: row.pot_id, amount: formatAmount(row.amount_minor, bought.scale), currency: row.currency, exchange };
  const sent = await deps.publisher.submit('fx.convert', {
    commandId: `conversion:${request.conversionId}`,
    memberId: row.member_id,
    potId: row.pot_id,
    payload: { amount: answer.amount, currency: row.currency, fromCurrency: row.from_currency, rate: row.rate },
    ...(principal === undefined ? {} : { principal }),
    source: 'api',
  });
  const notice = await sent.outcome(deps.waitMs).catch(() => undefined);
  if (notice === undefined) return { ...answer, status: 'pending' };
  if (notice.status === 'conflict') throw new ConversionConflictError(request.conversionId);
  const outcome = notice.outcome as { kind: string; code?: string; reason?: string };
  return outcome.kind === 'rejected' ? { ...answer, status: 'rejected', reason: `${outcome.code ?? 'rejected'}: ${outcome.reason ?? ''}` } : { ...answer, status: 'applied' };
}
