import type pg from 'pg';
import { allocateLargestRemainder, formatAmount, parseAmount, POOL_POT_PREFIX, poolUnits, type AssetCatalog } from '../ledger/index.js';
import type { PaymentsDesk } from '../payments/desk.js';
import { scaleOf } from '../payments/payment.js';
import type { Payment } from '../payments/sagas.js';
import { refusalReason, SagaEngine, type IdentifiedCommand } from '../sagas/index.js';
import { OutcomeTimeoutError, type LedgerPublisher } from '../sdk/publisher.js';
import type { Log } from '../shards/log.js';

/**
 * Investment pools (src/ledger/processes/pools.ts says how the money moves). A pool is a row here and a
 * pot of its own; who holds how many of its units is read from the ledger's balances (kind
 * `pool.units`). Subscriptions and redemptions are payments of their own saga kinds, driven by the
 * payments desk; a distribution reads the holdings once (its record point), stores every investor's
 * share (largest remainder, ties to the lowest pot id) before any money moves, takes the whole amount
 * from the pool's pot in one movement, then pays each share as a payment recorded in flight.
 */
export interface Pool {
  readonly poolId: string;
  readonly currency: string;
  readonly name: string;
  readonly pot: { readonly memberId: string; readonly potId: string };
  readonly createdAt: string;
}

export interface PoolSummary extends Pool {
  /** Pots holding its units now. */
  readonly investors: number;
  /** Units issued and not cancelled (at par: what the investors hold). */
  readonly unitsIssued: string;
}

export type DistributionStatus = 'recorded' | 'paying' | 'paid' | 'rejected';

export interface Distribution {
  readonly distributionId: string;
  readonly poolId: string;
  readonly amount: string;
  readonly currency: string;
  readonly status: DistributionStatus;
  readonly reason?: string;
  readonly shares: readonly DistributionShare[];
}

export interface DistributionShare {
  readonly ordinal: number;
  readonly potId: string;
  readonly memberId: string;
  readonly holding: string;
  readonly share: string;
  readonly paymentId?: string;
  readonly paymentStatus?: string;
}

export interface TopInvestor {
  readonly potId: string;
  readonly memberId: string | null;
  /** Distinct pools it holds units of. */
  readonly pools: number;
  /** What it has invested (its units at par), per currency. */
  readonly invested: Readonly<Record<string, string>>;
}

/** Bad input or a state that refuses the request: the caller's to fix (4xx). */
export class PoolRequestError extends Error {
  constructor(
    readonly status: 404 | 409 | 422,
    message: string,
  ) {
    super(message);
    this.name = 'PoolRequestError';
  }
}

export interface PoolsOptions {
  readonly pool: pg.Pool;
  readonly publisher: LedgerPublisher;
  readonly assets: AssetCatalog;
  readonly desk: PaymentsDesk;
  readonly log: Log;
  readonly waitMs: number;
}

interface PoolRow {
  pool_id: string;
  currency: string;
  name: string;
  member_id: string;
  pot_id: string;
  created_at: Date;
}

/** An investor's pot. */
type Investor = { memberId: string; potId: string };

/** How many share payments of a distribution are credited at once (the rest queue behind them; the desk's sweep takes up any left). */
const DISTRIBUTION_LANES = 16;

export class PoolsService {
  readonly #engine: SagaEngine;

  constructor(private readonly options: PoolsOptions) {
    this.#engine = new SagaEngine({ pool: options.pool, publisher: options.publisher, log: options.log, source: 'pools', stepTimeoutMs: options.waitMs });
  }

  /** Creates a pool and opens its pot; the same pool asked again is the same pool, another under its id is 409. */
  async create(request: { readonly poolId: string; readonly currency: string; readonly name: string; readonly by: string }): Promise<Pool> {
    if (this.options.assets.find(request.currency)?.kind !== 'currency') throw new PoolRequestError(422, `${request.currency} is not a currency the ledger knows`);
    const potId = `${POOL_POT_PREFIX}${request.poolId}`;
    await this.options.pool.query(
      'INSERT INTO pools (pool_id, currency, name, member_id, pot_id, created_by) VALUES ($1, $2, $3, $4, $4, $5) ON CONFLICT (pool_id) DO NOTHING',
      [request.poolId, request.currency, request.name, potId, request.by],
    );
    const pool = await this.read(request.poolId);
    if (pool === undefined) throw new Error(`pool ${request.poolId} was recorded and cannot be read back`);
    if (pool.currency !== request.currency || pool.name !== request.name) throw new PoolRequestError(409, `pool ${request.poolId} exists with another currency or name`);
    const outcome = await this.#command({ process: 'pot.open', commandId: `pool:${request.poolId}:open`, pot: pool.pot, payload: {} });
    // Open already (by an earlier attempt under another command id): it is the pool's pot all the same.
    if (outcome.kind === 'rejected' && !outcome.reason.startsWith('LEDGER_ERR_POT_EXISTS')) {
      throw new Error(`the pot of pool ${request.poolId} could not be opened: ${outcome.reason}`);
    }
    return pool;
  }

  async read(poolId: string): Promise<Pool | undefined> {
    const { rows } = await this.options.pool.query<PoolRow>('SELECT * FROM pools WHERE pool_id = $1', [poolId]);
    const row = rows[0];
    if (row === undefined) return undefined;
    return { poolId: row.pool_id, currency: row.currency, name: row.name, pot: { memberId: row.member_id, potId: row.pot_id }, createdAt: row.created_at.toISOString() };
  }

  async summary(poolId: string): Promise<PoolSummary | undefined> {
    const pool = await this.read(poolId);
    if (pool === undefined) return undefined;
    const { rows } = await this.options.pool.query<{ investors: number; units: bigint | null }>(
      "SELECT count(*)::int AS investors, sum(balance_minor)::bigint AS units FROM balances WHERE kind = 'pool.units' AND asset = $1 AND balance_minor > 0",
      [poolUnits(poolId)],
    );
    const units = rows[0]?.units ?? 0n;
    return { ...pool, investors: rows[0]?.investors ?? 0, unitsIssued: formatAmount(units, this.#scale(pool.currency)) };
  }

  /** An investor buys units at par: a payment of kind `subscription` from its pot to the pool's. */
  async subscribe(request: { readonly poolId: string; readonly subscriptionId: string; readonly investor: Investor; readonly amount: string }): Promise<Payment> {
    const pool = await this.#existing(request.poolId);
    return this.options.desk.sendAs(
      { paymentId: `pool:${pool.poolId}:sub:${request.subscriptionId}`, payer: request.investor, payee: pool.pot, amount: request.amount, currency: pool.currency },
      { kind: 'subscription', detail: { poolId: pool.poolId } },
    );
  }

  /** An investor sells units back at par: a payment of kind `redemption` from the pool's pot to the investor's. */
  async redeem(request: { readonly poolId: string; readonly redemptionId: string; readonly investor: Investor; readonly amount: string }): Promise<Payment> {
    const pool = await this.#existing(request.poolId);
    return this.options.desk.sendAs(
      { paymentId: `pool:${pool.poolId}:red:${request.redemptionId}`, payer: pool.pot, payee: request.investor, amount: request.amount, currency: pool.currency },
      { kind: 'redemption', detail: { poolId: pool.poolId } },
    );
  }

  /**
   * Distributes `amount` of the pool's cash pro rata to its investors' holdings now. Idempotent by
   * distribution id: asked again, it carries on from where it was (the shares fixed the first time).
   */
  async distribute(request: { readonly poolId: string; readonly distributionId: string; readonly amount: string; readonly by: string }): Promise<Distribution> {
    const pool = await this.#existing(request.poolId);
    const amount = parseAmount(request.amount, this.#scale(pool.currency));
    if (!amount.ok) throw new PoolRequestError(422, `amount: ${amount.reason}`);
    if (amount.value === 0n) throw new PoolRequestError(422, 'amount: a distribution pays more than zero');
    await this.#record(pool, request.distributionId, amount.value, request.by);
    const recorded = await this.distribution(request.distributionId);
    if (recorded === undefined) throw new Error(`distribution ${request.distributionId} was recorded and cannot be read back`);
    if (recorded.poolId !== pool.poolId || recorded.amount !== formatAmount(amount.value, this.#scale(pool.currency))) {
      throw new PoolRequestError(409, `distribution ${request.distributionId} exists with another pool or amount`);
    }
    if (recorded.status === 'recorded') {
      const outcome = await this.#command({
        process: 'pool.distribute',
        commandId: `pool:${pool.poolId}:dist:${request.distributionId}`,
        pot: pool.pot,
        payload: { distributionId: request.distributionId, poolId: pool.poolId, amount: recorded.amount, currency: pool.currency },
      });
      if (outcome.kind === 'rejected') {
        await this.#setStatus(request.distributionId, 'recorded', 'rejected', outcome.reason);
        return (await this.distribution(request.distributionId)) ?? recorded;
      }
      await this.#setStatus(request.distributionId, 'recorded', 'paying');
    }
    const current = await this.distribution(request.distributionId);
    if (current?.status === 'paying') {
      await this.options.desk.recordInFlight(
        current.shares
          .filter((share) => share.share !== formatAmount(0n, this.#scale(pool.currency)))
          .map((share) => ({
            paymentId: shareId(pool.poolId, request.distributionId, share.ordinal),
            debitedBy: `pool:${pool.poolId}:dist:${request.distributionId}`,
            kind: 'distribution',
            detail: { poolId: pool.poolId, distributionId: request.distributionId },
            payer: pool.pot,
            payee: { memberId: share.memberId, potId: share.potId },
            amountMinor: parseAmountOrThrow(share.share, this.#scale(pool.currency)),
            currency: pool.currency,
          })),
      );
      await this.#setStatus(request.distributionId, 'paying', 'paid');
      // Credit the investors now, a few at a time; what is left is taken up by the desk's sweep.
      const ids = current.shares.map((share) => shareId(pool.poolId, request.distributionId, share.ordinal));
      let next = 0;
      const lane = async (): Promise<void> => {
        for (let i = next++; i < ids.length; i = next++) {
          const id = ids[i];
          if (id !== undefined && (await this.options.desk.read(id)) !== undefined) await this.options.desk.drive(id);
        }
      };
      await Promise.all(Array.from({ length: DISTRIBUTION_LANES }, lane));
    }
    return (await this.distribution(request.distributionId)) ?? recorded;
  }

  async distribution(distributionId: string): Promise<Distribution | undefined> {
    const { rows } = await this.options.pool.query<{ pool_id: string; amount_minor: bigint; status: DistributionStatus; reason: string | null; currency: string }>(
      'SELECT d.pool_id, d.amount_minor, d.status, d.reason, p.currency FROM pool_distributions d JOIN pools p USING (pool_id) WHERE d.distribution_id = $1',
      [distributionId],
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    const scale = this.#scale(row.currency);
    type ShareRow = { ordinal: number; pot_id: string; member_id: string; holding_minor: bigint; share_minor: bigint; payment_id: string | null; status: string | null };
    const shares = await this.options.pool.query<ShareRow>(
      `SELECT s.ordinal, s.pot_id, s.member_id, s.holding_minor, s.share_minor, pay.payment_id, pay.status
         FROM pool_distribution_shares s
         LEFT JOIN payments pay ON pay.payment_id = s.payment_id
        WHERE s.distribution_id = $1 ORDER BY s.ordinal`,
      [distributionId],
    );
    return {
      distributionId,
      poolId: row.pool_id,
      amount: formatAmount(row.amount_minor, scale),
      currency: row.currency,
      status: row.status,
      ...(row.reason === null ? {} : { reason: row.reason }),
      shares: shares.rows.map((share) => ({
        ordinal: share.ordinal,
        ...(share.payment_id === null ? {} : { paymentId: share.payment_id }),
        potId: share.pot_id,
        memberId: share.member_id,
        holding: formatAmount(share.holding_minor, scale),
        share: formatAmount(share.share_minor, scale),
        ...(share.status === null ? {} : { paymentStatus: share.status }),
      })),
    };
  }


  /** Records the distribution and its shares in one transaction, the first time it is asked. */
  async #record(pool: Pool, distributionId: string, amountMinor: bigint, by: string): Promise<void> {
    const client = await this.options.pool.connect();
    try {
      await client.query('BEGIN');
      const inserted = await client.query(
        "INSERT INTO pool_distributions (distribution_id, pool_id, amount_minor, status, created_by) VALUES ($1, $2, $3, 'recorded', $4) ON CONFLICT (distribution_id) DO NOTHING",
        [distributionId, pool.poolId, amountMinor, by],
      );
      if (inserted.rowCount === 1) {
        const holdings = await client.query<{ pot_id: string; member_id: string; balance_minor: bigint }>(
          `SELECT b.pot_id, p.member_id, b.balance_minor FROM balances b JOIN pots p ON p.pot_id = b.pot_id
            WHERE b.kind = 'pool.units' AND b.asset = $1 AND b.balance_minor > 0 ORDER BY b.pot_id`,
          [poolUnits(pool.poolId)],
        );
        if (holdings.rows.length === 0) throw new PoolRequestError(422, `pool ${pool.poolId} has no investors to distribute to`);
        const shares = distributionShares(amountMinor, holdings.rows.map((row) => ({ potId: row.pot_id, holdingMinor: row.balance_minor })));
        await client.query(
          `INSERT INTO pool_distribution_shares (distribution_id, ordinal, payment_id, pot_id, member_id, holding_minor, share_minor)
           SELECT $1, r.ordinal, $6 || r.ordinal, r.pot_id, r.member_id, r.holding_minor, r.share_minor
             FROM (SELECT row_number() OVER (ORDER BY h.pot_id) AS ordinal, h.*
                     FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[]) AS h(pot_id, member_id, holding_minor, share_minor)) r`,
          [
            distributionId, holdings.rows.map((r) => r.pot_id), holdings.rows.map((r) => r.member_id), holdings.rows.map((r) => r.balance_minor.toString()),
            shares.map((s) => s.amountMinor.toString()), shareId(pool.poolId, distributionId, ''),
          ],
        );
        await client.query('UPDATE pool_distributions SET investors = $2 WHERE distribution_id = $1', [distributionId, holdings.rows.length]);
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async #setStatus(distributionId: string, from: DistributionStatus, to: DistributionStatus, reason?: string): Promise<void> {
    await this.options.pool.query('UPDATE pool_distributions SET status = $3, reason = coalesce($4, reason), updated_at = now() WHERE distribution_id = $1 AND status = $2', [
      distributionId, from, to, reason ?? null,
    ]);
  }

  async #existing(poolId: string): Promise<Pool> {
    const pool = await this.read(poolId);
    if (pool === undefined) throw new PoolRequestError(404, `no pool ${poolId}`);
    return pool;
  }

  #scale(currency: string): number {
    return scaleOf(this.options.assets, currency, 'pools');
  }

  /** Sends one command and waits for its outcome (an OutcomeTimeoutError when none comes in time, as the caller has always had). */
  async #command(command: IdentifiedCommand): Promise<{ kind: 'applied' } | { kind: 'rejected'; reason: string }> {
    const outcome = await this.#engine.send(command);
    if (outcome === undefined) throw new OutcomeTimeoutError(command.commandId, this.options.waitMs);
    return outcome.kind === 'applied' ? outcome : { kind: 'rejected', reason: refusalReason(outcome) };
  }
}

/**
 * The top `limit` investor pots by the number of distinct pools they hold units of (ties by pot id),
 * with what they invested (units at par) per currency: N rows of the `pool_investors` summary's index,
 * then their holdings.
 */
export async function topInvestors(db: pg.Pool, assets: AssetCatalog, limit: number): Promise<TopInvestor[]> {
  const { rows } = await db.query<{ pot_id: string; pools: number; member_id: string | null; currency: string | null; invested: bigint | null }>(
    `WITH top AS (SELECT pot_id, pools FROM pool_investors WHERE pools > 0 ORDER BY pools DESC, pot_id LIMIT $1)
     SELECT t.pot_id, t.pools, pt.member_id, pl.currency, sum(b.balance_minor)::bigint AS invested
       FROM top t
       LEFT JOIN pots pt ON pt.pot_id = t.pot_id
       LEFT JOIN balances b ON b.pot_id = t.pot_id AND b.kind = 'pool.units' AND b.balance_minor > 0
       LEFT JOIN pools pl ON b.asset = 'POOL-' || pl.pool_id
      GROUP BY t.pot_id, t.pools, pt.member_id, pl.currency
      ORDER BY t.pools DESC, t.pot_id, pl.currency`,
    [limit],
  );
  const investors = new Map<string, { potId: string; memberId: string | null; pools: number; invested: Record<string, string> }>();
  for (const row of rows) {
    const investor = investors.get(row.pot_id) ?? { potId: row.pot_id, memberId: row.member_id, pools: row.pools, invested: {} };
    if (row.currency !== null && row.invested !== null) investor.invested[row.currency] = formatAmount(row.invested, scaleOf(assets, row.currency, `pool investor ${row.pot_id}`));
    investors.set(row.pot_id, investor);
  }
  return [...investors.values()];
}

/** The payment that pays one investor's share of a distribution (by its place in pot id order: ids stay short). */
function shareId(poolId: string, distributionId: string, ordinal: number | ''): string {
  return `pool:${poolId}:dist:${distributionId}:${ordinal}`;
}

function parseAmountOrThrow(text: string, scale: number): bigint {
  const parsed = parseAmount(text, scale, { zero: true });
  if (!parsed.ok) throw new Error(`a stored share is not an amount: ${parsed.reason}`);
  return parsed.value;
}

/** Pro-rata shares of `totalMinor` over holdings, by largest remainder with ties to the lowest pot id (pure). */
export function distributionShares(totalMinor: bigint, holdings: readonly { readonly potId: string; readonly holdingMinor: bigint }[]): { potId: string; amountMinor: bigint }[] {
  const shares = allocateLargestRemainder(totalMinor, holdings.map((h) => ({ key: h.potId, weight: h.holdingMinor })));
  return shares.map((share) => ({ potId: share.key, amountMinor: share.amountMinor }));
}
