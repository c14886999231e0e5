import type pg from 'pg';
import type { Registry } from 'prom-client';
import type { CustodianAdapter, CustodianReport } from '../custodian/messages.js';
import { dealingOf, formatAmount, parseRate, type AssetCatalog, type Rate } from '../ledger/index.js';
import { SagaEngine } from '../sagas/index.js';
import { OutcomeTimeoutError, type LedgerPublisher } from '../sdk/publisher.js';
import type { Log } from '../shards/log.js';
import { FAN_OUT_TIMEOUT_MS, type FanOut } from './fan-out.js';
import { closingPrice } from './prices.js';
import type { SagaRun } from './saga-run.js';
import { tradeRun } from './trade-run.js';
import type { TradeDealing, TradeDealingRow, TradeDealingState } from './trade-saga.js';
import { ACME_MEMBER, ACME_ROUNDING_POT, allocationOf, readPricing, scalesOf } from './trade-steps.js';
import { tradeDealingStore, type TradeDealingStore } from './trade-store.js';
import { aggregateCycle, findTrade, recordPricing, recordRejection, recordSettlement, tradeBasis, tradesInStatus, type Trade } from './trades.js';

export { ACME_MEMBER, ACME_ROUNDING_POT };

export interface DeskOptions {
  readonly pool: pg.Pool;
  readonly publisher: LedgerPublisher;
  readonly custodian: CustodianAdapter;
  readonly assets: AssetCatalog;
  readonly log: Log;
  /** How long a fan-out may take before its report is left for redelivery (and how long `start` waits for ACME's pot). */
  readonly outcomeTimeoutMs?: number;
  /** Where the saga engine's metrics go (src/sagas/metrics.ts: once per registry). */
  readonly metrics?: Registry;
}

export type { FanOut } from './fan-out.js';

/** How often a report being handled is marked in progress (its ack wait is 60 s). */
const REPORT_WORKING_EVERY_MS = 20_000;
/** The command that opens ACME's rounding pot, once. */
const ACME_POT_OPENING = 'acme:rounding-pot';
/** How long `start` waits for it by default: the publisher's own default wait for an outcome. */
const ACME_POT_TIMEOUT_MS = 60_000;

/**
 * The dealing desk: at each fund's cut-off it aggregates the cycle's orders into one external trade and
 * sends it to the custodian; it follows the custodian's reports, and moves each trade's dealing saga
 * (trade-saga.ts) on the saga engine: a priced trade becomes one allocation per order (and ACME's
 * residue) and the switch buys its sales fund, a rejected trade released reservations, a settled trade
 * one settlement per order, each a command through the orders' own pots. Every command id is derived
 * from the order or trade (`allocate:<order>`, `settle:<order>`, …), so a step repeated after a crash
 * or for a repeated report applies nothing twice; a report is acknowledged only once its saga's steps
 * have all their outcomes.
 */
export class DealingDesk {
  #loop: Promise<void> = Promise.resolve();
  #stopping = false;
  readonly #handled = new Set<(report: CustodianReport, fanOut: FanOut | undefined) => void>();

  readonly #engine: SagaEngine;
  readonly #sagas: TradeDealingStore;

  constructor(private readonly options: DeskOptions) {
    const { pool, publisher, log, assets, outcomeTimeoutMs, metrics } = options;
    const fanOutTimeoutMs = outcomeTimeoutMs ?? FAN_OUT_TIMEOUT_MS;
    this.#engine = new SagaEngine({ pool, publisher, log, source: 'dealing-desk', fanOutTimeoutMs, ...(metrics === undefined ? {} : { metrics }) });
    this.#sagas = tradeDealingStore({ pool, assets, now: () => publisher.now() });
  }

  /** Opens ACME's rounding pot if needed, re-sends trades placed but maybe not sent, and follows the reports. */
  async start(): Promise<void> {
    const opening = { process: 'pot.open', commandId: ACME_POT_OPENING, pot: { memberId: ACME_MEMBER, potId: ACME_ROUNDING_POT }, payload: {} } as const;
    const timeoutMs = this.options.outcomeTimeoutMs ?? ACME_POT_TIMEOUT_MS;
    if ((await this.#engine.send(opening, { timeoutMs })) === undefined) throw new OutcomeTimeoutError(ACME_POT_OPENING, timeoutMs);
    for (const trade of await tradesInStatus(this.options.pool, 'placed')) await this.#send(trade);
    this.#loop = this.#follow();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await this.options.custodian.close();
    await this.#loop;
  }

  /** Called after each report is handled (tests and the demo wait on it). */
  onHandled(listener: (report: CustodianReport, fanOut: FanOut | undefined) => void): () => void {
    this.#handled.add(listener);
    return () => this.#handled.delete(listener);
  }

  /**
   * The cut-off of `fund` for `dealingDate`: aggregates and sends the trade. The caller makes sure every
   * order placed before the cut-off is committed first (`waitUntilCommitted`).
   */
  async cutoff(fund: string, dealingDate: string): Promise<Trade | undefined> {
    const trade = await aggregateCycle(this.options.pool, fund, dealingDate, this.options.assets);
    if (trade !== undefined && trade.status === 'placed') await this.#send(trade);
    return trade;
  }

  async #send(trade: Trade): Promise<void> {
    const scales = scalesOf(this.options.assets, trade);
    await this.options.custodian.placeTrade({
      tradeId: trade.tradeId,
      fund: trade.fund,
      currency: trade.currency,
      dealingDate: trade.dealingDate,
      settlementDate: trade.settlementDate,
      buyCash: formatAmount(trade.buyCashMinor, scales.currency),
      sellUnits: formatAmount(trade.sellUnitsMinor, scales.fund),
    });
    this.options.log.info({ tradeId: trade.tradeId, orders: trade.orders }, 'trade sent to the custodian');
  }

  async #follow(): Promise<void> {
    try {
      for await (const delivery of this.options.custodian.reports()) {
        const report = delivery.report;
        let fanOut: FanOut | undefined;
        // A fan-out of a million commands takes minutes: the report is kept from redelivery meanwhile.
        const keepAlive = setInterval(() => delivery.working(), REPORT_WORKING_EVERY_MS);
        try {
          fanOut = await this.handle(report);
        } catch (error) {
          // Not acknowledged: JetStream redelivers it after its ack wait, and the handling is idempotent.
          this.options.log.error({ err: error, report }, 'a custodian report could not be handled; it will be redelivered');
          continue;
        } finally {
          clearInterval(keepAlive);
        }
        delivery.ack();
        for (const listener of this.#handled) listener(report, fanOut);
      }
    } catch (error) {
      if (!this.#stopping) this.options.log.error({ err: error }, 'the custodian reports stopped');
    }
  }

  /** Handles one report; a report that finds its step done already changes nothing. */
  async handle(report: CustodianReport): Promise<FanOut | undefined> {
    const trade = await findTrade(this.options.pool, report.tradeId);
    if (trade === undefined) {
      this.options.log.error({ report }, 'a report for an unknown trade; ignored');
      return undefined;
    }
    switch (report.kind) {
      case 'priced':
        return this.#priced(trade, report);
      case 'rejected':
        return this.#rejected(trade);
      case 'settled':
        return this.#settled(trade);
    }
  }

  /** A priced trade: its pricing recorded once, then its saga allocates its orders and places the switch buys its sales fund. */
  async #priced(trade: Trade, report: Extract<CustodianReport, { kind: 'priced' }>): Promise<FanOut | undefined> {
    if (trade.status === 'settled' || trade.status === 'rejected') return undefined;
    const ours = await closingPrice(this.options.pool, trade.fund, trade.dealingDate);
    if (ours !== undefined && !samePrice(ours, readRate(report.price))) {
      throw new Error(`trade ${trade.tradeId}: the custodian priced it at ${report.price}, the closing price loaded is ${ours}`);
    }
    const pricing = { price: report.price, buyCashFilled: report.buyCashFilled, sellUnitsFilled: report.sellUnitsFilled };
    if (trade.status === 'placed') {
      const scales = scalesOf(this.options.assets, trade);
      const read = readPricing(pricing, scales);
      const allocation = allocationOf(await tradeBasis(this.options.pool, trade.tradeId), pricing, scales);
      await recordPricing(this.options.pool, trade.tradeId, report.price, { buyCashMinor: read.buyCashFilledMinor, sellUnitsMinor: read.sellUnitsFilledMinor }, allocation);
    }
    // A trade priced before its saga existed (or a crash between the two) starts it here: the same ids again.
    await this.#sagas.start(trade.tradeId, 'allocating', { pricing });
    const run = this.#run(trade.tradeId, { pricing });
    await run.drive('priced');
    const allocated = await run.answer(['allocating']);
    await run.answer(['switching']);
    return allocated;
  }

  /** A rejected trade: recorded once, then its saga releases every reservation and closes the orders. */
  async #rejected(trade: Trade): Promise<FanOut | undefined> {
    if (trade.status !== 'placed' && trade.status !== 'rejected') return undefined;
    if (trade.status === 'placed') await recordRejection(this.options.pool, trade.tradeId);
    await this.#sagas.start(trade.tradeId, 'unreserving', {});
    const run = this.#run(trade.tradeId);
    await run.drive('rejected');
    return run.answer(['unreserving', 'closing']);
  }

  /**
   * A settled trade: its saga, allocated (an allocation left unfinished is finished first), takes the
   * custodian's settlement, settles every order (a switch's purchase once its funding sales have) and
   * ACME's residue, then the switch purchases left waiting that are now free.
   */
  async #settled(trade: Trade): Promise<FanOut | undefined> {
    if (trade.status === 'placed') throw new Error(`trade ${trade.tradeId} settled before it was priced here; waiting for the pricing`);
    if (trade.status === 'rejected') return undefined;
    // A trade priced before its saga existed was allocated then: its saga starts waiting for the settlement.
    await this.#sagas.start(trade.tradeId, 'priced', {});
    const run = this.#run(trade.tradeId);
    await run.drive('priced');
    if (trade.status === 'priced') await recordSettlement(this.options.pool, trade.tradeId);
    await run.decide({ decision: 'settled', by: 'custodian' }, 'settled');
    return run.answer(['settling', 'releasing']);
  }

  #run(tradeId: string, report: TradeDealingRow = {}): SagaRun<TradeDealingState, TradeDealing> {
    return tradeRun(this.#engine, this.#sagas, this.options.log, tradeId, report);
  }
}

function readRate(text: string): Rate {
  const parsed = parseRate(text);
  if (!parsed.ok) throw new Error(`price: ${parsed.reason}`);
  return parsed.value;
}

/** Two decimal prices are equal as numbers (1.2345 = 1.23450000). */
function samePrice(a: string, b: Rate): boolean {
  const other = readRate(a);
  return other.mantissa * 10n ** BigInt(b.scale) === b.mantissa * 10n ** BigInt(other.scale);
}

/** The funds that deal, from the catalogue. */
export function dealingFunds(assets: AssetCatalog): string[] {
  return assets.list().flatMap((asset) => (dealingOf(assets, asset.code) === undefined ? [] : [asset.code]));
}
