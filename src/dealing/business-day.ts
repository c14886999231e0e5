import type { JetStreamManager } from '@nats-io/jetstream';
import type pg from 'pg';
import type { CustodianReport } from '../custodian/messages.js';
import type { CustodianSimulator } from '../custodian/simulator.js';
import { cutoffInstant, dealingOf, type AssetCatalog } from '../ledger/index.js';
import { closeBusinessDay } from '../shards/close-day.js';
import { waitUntilCommitted } from '../shards/drain.js';
import type { Names } from '../shards/names.js';
import { dealingFunds, type DealingDesk, type FanOut } from './desk.js';
import { closingPrice } from './prices.js';
import type { Trade } from './trades.js';

/** A clock the tests and the demo set by hand; everything that stamps time (the SDK) reads it. */
export class BusinessClock {
  #now: Date;

  constructor(start: Date) {
    this.#now = start;
  }

  now(): Date {
    return this.#now;
  }

  set(instant: Date | string): void {
    this.#now = typeof instant === 'string' ? new Date(instant) : instant;
  }
}

export interface BusinessDayOptions {
  readonly pool: pg.Pool;
  readonly jsm: JetStreamManager;
  readonly names: Names;
  readonly partitionCount: number;
  readonly assets: AssetCatalog;
  readonly desk: DealingDesk;
  readonly simulator: CustodianSimulator;
  readonly clock: BusinessClock;
  /** How long to wait for the desk to handle the custodian's reports. */
  readonly timeoutMs?: number;
}

/** What one business day did. */
export interface DayReport {
  readonly date: string;
  readonly trades: readonly Trade[];
  readonly priced: readonly FanOut[];
  readonly settled: readonly FanOut[];
  /** Trades of the day the custodian could not price: no closing price was loaded for their fund. */
  readonly waitingForPrice: readonly string[];
  readonly snapshotAccounts: number;
}

/**
 * Drives business days by hand, for the tests and the demo: each fund's cut-off (the clock moves there,
 * every command before it commits, the desk aggregates and sends), the custodian's valuation point
 * (it prices the day's trades; the desk allocates), the settlement of what is due, and the end-of-day
 * snapshots. In production the custodian prices and settles on its own clock and the desk follows.
 */
export class BusinessDays {
  readonly #handled: { readonly report: CustodianReport; readonly fanOut: FanOut | undefined }[] = [];

  constructor(private readonly options: BusinessDayOptions) {
    options.desk.onHandled((report, fanOut) => this.#handled.push({ report, fanOut }));
  }

  /** The cut-off of one fund on `date`; undefined when no order deals. */
  async cutoff(fund: string, date: string): Promise<Trade | undefined> {
    const dealing = dealingOf(this.options.assets, fund);
    if (dealing === undefined) throw new RangeError(`${fund} is not a fund that deals`);
    this.options.clock.set(cutoffInstant(date, dealing.cutoff));
    await waitUntilCommitted(this.options.pool, this.options.jsm, this.options.names, this.options.partitionCount, { timeoutMs: this.options.timeoutMs ?? 120_000 });
    const trade = await this.options.desk.cutoff(fund, date);
    if (trade !== undefined) await this.options.simulator.received([trade.tradeId]);
    return trade;
  }

  /** The custodian prices the trades of `date`; resolves once the desk has allocated them. */
  async strike(date: string): Promise<FanOut[]> {
    return this.#await(await this.options.simulator.strike(date));
  }

  /** The custodian settles what is due on `date`; resolves once the desk has settled it. */
  async settle(date: string): Promise<FanOut[]> {
    return this.#await(await this.options.simulator.settle(date));
  }

  /** A whole business day: every fund's cut-off in cut-off order, the valuation, settlements, the close. */
  async run(date: string): Promise<DayReport> {
    const cutoffOf = (fund: string) => dealingOf(this.options.assets, fund)?.cutoff ?? '';
    const funds = dealingFunds(this.options.assets).sort((a, b) => cutoffOf(a).localeCompare(cutoffOf(b)));
    const trades: Trade[] = [];
    for (const fund of funds) {
      const trade = await this.cutoff(fund, date);
      if (trade !== undefined) trades.push(trade);
    }
    this.options.clock.set(`${date}T17:00:00.000Z`);
    const waitingForPrice: string[] = [];
    for (const trade of trades) {
      if ((await closingPrice(this.options.pool, trade.fund, date)) === undefined) waitingForPrice.push(`${trade.tradeId}: no closing price of ${trade.fund} for ${date}`);
    }
    const priced = await this.strike(date);
    const settled = await this.settle(date);
    this.options.clock.set(`${date}T22:00:00.000Z`);
    const { pool, jsm, names, partitionCount } = this.options;
    const closed = await closeBusinessDay({ pool, jsm, names, partitionCount, ...(this.options.timeoutMs === undefined ? {} : { timeoutMs: this.options.timeoutMs }) }, date);
    return { date, trades, priced, settled, waitingForPrice, snapshotAccounts: closed.accounts };
  }

  async #await(sent: readonly CustodianReport[]): Promise<FanOut[]> {
    const key = (report: CustodianReport) => `${report.kind}:${report.tradeId}`;
    const wanted = new Set(sent.map(key));
    const deadline = Date.now() + (this.options.timeoutMs ?? 120_000);
    while (![...wanted].every((k) => this.#handled.some(({ report }) => key(report) === k))) {
      if (Date.now() > deadline) throw new Error(`the desk did not handle ${[...wanted].join(', ')} in time`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return this.#handled.filter(({ report }) => wanted.has(key(report))).flatMap(({ fanOut }) => (fanOut === undefined ? [] : [fanOut]));
  }
}
