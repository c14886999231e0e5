import type pg from 'pg';
import type { Registry } from 'prom-client';
import { readPrices, type AssetCatalog, type RiskProfile } from '../ledger/index.js';
import { SagaEngine, type FanOutOutcome } from '../sagas/index.js';
import type { LedgerPublisher } from '../sdk/publisher.js';
import type { Log } from '../shards/log.js';
import { FAN_OUT_TIMEOUT_MS } from './fan-out.js';
import { pricesOn } from './prices.js';
import { legCommands, rebalanceBatchSaga, switchLegs, type RebalanceBatch, type RebalanceBatchRow, type RebalanceBatchState } from './rebalance-saga.js';
import { batchIdOf, REBALANCE_BATCH_MAX, rebalanceBatchStore, type RebalanceBatchStore } from './rebalance-store.js';
import { SagaRun } from './saga-run.js';
export interface RebalancerOptions {
  readonly pool: pg.Pool;
  readonly publisher: LedgerPublisher;
  readonly profiles: readonly RiskProfile[];
  readonly assets: AssetCatalog;
  readonly log: Log;
  /** Pots read and screened per batch. */
  readonly batch?: number;
  /** Batches whose commands are in flight at once. */
  readonly concurrency?: number;
  /** How long one batch's fan-out may take. */
  readonly outcomeTimeoutMs?: number;
  /** Called as batches finish: pots done so far, of how many. */
  readonly onProgress?: (done: number, total: number) => void;
  /** Where the saga engine's metrics go (src/sagas/metrics.ts: once per registry). */
  readonly metrics?: Registry;
}

export interface RebalanceRun {
  readonly date: string;
  /** Pots that follow a profile, open. */
  readonly pots: number;
  /** Pots the snapshot shows within their band (or with every leg under the minimum): no command sent. */
  readonly screened: number;
  /** Pots that were already re-balanced for a later day: no command sent. */
  readonly later: number;
  /** Pots re-balanced for the day (`pot.rebalance` applied, or answered from the outcome it had). */
  readonly rebalanced: number;
  /** Pots whose re-balance was refused (orders in flight, no price…), by code. */
  readonly deferred: Readonly<Record<string, number>>;
  readonly sells: number;
  readonly buys: number;
  /** Buys the pots decided to make out of their sales' proceeds, placed by the dealing desk once the sales are priced. */
  readonly switches: number;
  /** Orders the pots refused to place (a break to look at), by code. */
  readonly legsRefused: Readonly<Record<string, number>>;
}

const BATCH_DEFAULT = 2000;
const CONCURRENCY_DEFAULT = 4;
/** The most pots one run pages through: four times the Trust's 5 million members (a bound on its loop, checked as it pages). */
export const REBALANCE_POTS_MAX = 20_000_000;

/**
 * The re-balancing fan-out, after a day's closing prices, over every open pot that follows a profile,
 * in batches of pots read in pot order, each batch a saga of the engine (rebalance-saga.ts):
 * 1. **Screening**: each pot's balance snapshot (as committed) goes through the same pure
 *    `rebalanceDecision` the pot itself runs; a pot within its band, or whose every leg is under the
 *    minimum, gets no command. The pot is the single writer and decides again on its live state; a
 *    pot that moves out of its band after it was screened is re-balanced on the next day's run.
 * 2. One `pot.rebalance` per remaining pot through its own partition, then the orders each pot decided
 *    (its movement's `rebalance` change), as `order.sell` and `order.buy`; each step waits on the
 *    journal for its outcomes (`fanOut`). A few batches are in flight at once.
 *
 * Every id derives from the pot and the day (`rebalance:<pot>:<day>`, `…:sell:<fund>`), so a run resumed
 * after a crash — or run twice — sends the same commands, which the ledger answers from their recorded
 * outcomes: a pot already re-balanced for the day is sent again (its legs are placed once), one
 * re-balanced for a later day is skipped, and no pot is re-balanced twice for a day. A batch whose saga
 * finished in an earlier run has its steps sent again the same way.
 */
export class Rebalancer {
  readonly #engine: SagaEngine;
  readonly #batches: RebalanceBatchStore;

  constructor(private readonly options: RebalancerOptions) {
    const batch = options.batch ?? BATCH_DEFAULT;
    if (!Number.isInteger(batch) || batch < 1 || batch > REBALANCE_BATCH_MAX) throw new RangeError(`a re-balance batch holds 1 to ${REBALANCE_BATCH_MAX} pots`);
    const { pool, publisher, log, outcomeTimeoutMs, metrics } = options;
    const fanOutTimeoutMs = outcomeTimeoutMs ?? FAN_OUT_TIMEOUT_MS;
    this.#engine = new SagaEngine({ pool, publisher, log, source: 'rebalancer', fanOutTimeoutMs, ...(metrics === undefined ? {} : { metrics }) });
    this.#batches = rebalanceBatchStore({ pool, profiles: new Map(options.profiles.map((profile) => [profile.id, profile])), assets: options.assets });
  }

  async run(date: string): Promise<RebalanceRun> {
    const { pool } = this.options;
    const prices = readPrices(Object.fromEntries((await pricesOn(pool, date)).map((row) => [row.fund, row.price])));
    if (typeof prices === 'string') throw new Error(`the closing prices of ${date}: ${prices}`);
    const counted = await pool.query<{ n: bigint }>("SELECT count(*) AS n FROM pots WHERE risk_profile IS NOT NULL AND status = 'open'");
    const total = Number(counted.rows[0]?.n ?? 0n);
    const tally = new Tally(date, total);
    const inFlight = new Set<Promise<void>>();
    const concurrency = Math.max(1, this.options.concurrency ?? CONCURRENCY_DEFAULT);
    const batch = this.options.batch ?? BATCH_DEFAULT;
    let cursor = '';
    for (let paged = 0; ; paged += batch) {
      if (paged > REBALANCE_POTS_MAX) throw new Error(`a re-balance run of more than ${REBALANCE_POTS_MAX} pots`);
      const { rows } = await pool.query<{ pot_id: string }>(
        `SELECT pot_id FROM pots WHERE risk_profile IS NOT NULL AND status = 'open' AND pot_id > $1 ORDER BY pot_id LIMIT $2`,
        [cursor, batch],
      );
      const last = rows[rows.length - 1]?.pot_id;
      if (last === undefined) break;
      const pots = rows.length;
      const done = this.#deal({ date, after: cursor, last }, tally)
        .then(() => {
          tally.done += pots;
          this.options.onProgress?.(tally.done, total);
        })
        .finally(() => inFlight.delete(done));
      inFlight.add(done);
      cursor = last;
      if (inFlight.size >= concurrency) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    if (Object.keys(tally.legsRefused).length > 0) this.options.log.error({ date, legsRefused: tally.legsRefused }, 're-balancing orders were refused: breaks to investigate');
    return tally.report();
  }

  /** One batch's saga: its re-balances, then the orders the pots decided (both sent again when an earlier run finished it). */
  async #deal(row: RebalanceBatchRow, tally: Tally): Promise<void> {
    await this.#batches.start(row);
    const run = new SagaRun<RebalanceBatchState, RebalanceBatch>({
      engine: this.#engine,
      saga: rebalanceBatchSaga,
      store: this.#batches,
      id: batchIdOf(row),
      dataFor: (record, state) => this.#batches.dataFor(record, state),
      seen: (state, outcome, data) => tally.count(state, outcome, data),
    });
    await run.drive('placed');
    await run.answer(['rebalancing', 'placing']);
  }
}

/** What a run has done so far. */
class Tally {
  done = 0;
  screened = 0;
  later = 0;
  rebalanced = 0;
  sells = 0;
  buys = 0;
  switches = 0;
  readonly deferred: Record<string, number> = {};
  readonly legsRefused: Record<string, number> = {};

  constructor(
    readonly date: string,
    readonly pots: number,
  ) {}

  defer(code: string): void {
    this.deferred[code] = (this.deferred[code] ?? 0) + 1;
  }

  /** A batch's step, as its outcome came. */
  count(state: RebalanceBatchState, outcome: FanOutOutcome, batch: RebalanceBatch): void {
    if (state === 'rebalancing') {
      this.screened += batch.screening.screened;
      this.later += batch.screening.later;
      for (let i = 0; i < batch.screening.unknownProfile; i += 1) this.defer('UNKNOWN_PROFILE');
      for (const { code } of outcome.rejected) this.defer(code);
      this.rebalanced += outcome.commands - outcome.rejected.length;
      return;
    }
    if (state !== 'placing') return;
    this.switches += switchLegs(batch);
    const refused = new Set(outcome.rejected.map((rejection) => rejection.commandId));
    for (const { code } of outcome.rejected) this.legsRefused[code] = (this.legsRefused[code] ?? 0) + 1;
    for (const leg of legCommands(batch)) {
      if (refused.has(leg.key ?? '')) continue;
      if (leg.process === 'order.sell') this.sells += 1;
      else this.buys += 1;
    }
  }

  report(): RebalanceRun {
    const { date, pots, screened, later, rebalanced, deferred, sells, buys, switches, legsRefused } = this;
    return { date, pots, screened, later, rebalanced, deferred, sells, buys, switches, legsRefused };
  }
}
