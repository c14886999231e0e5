import type pg from 'pg';
import type { CustodianAdapter, CustodianReport } from '../custodian/messages.js';
import {
  addBusinessDays,
  allocateTrade,
  dealingDateAt,
  dealingOf,
  formatAmount,
  parseAmount,
  parseRate,
  type AssetCatalog,
  type Rate,
} from '../ledger/index.js';
import type { LedgerPublisher } from '../sdk/publisher.js';
import type { Log } from '../shards/log.js';
import { FAN_OUT_TIMEOUT_MS, fanOut, type FanOut, type FanOutCommand, type FanOutOptions } from './fan-out.js';
import { closingPrice } from './prices.js';
import { rebalancesSellingIn, releasedSwitches, switchesAwaitingSales } from './switches.js';
import {
  ACME_MEMBER,
  ACME_ROUNDING_POT,
  allocationCommands,
  releaseCommands,
  releasedSwitchCommands,
  residueCommands,
  settlementCommands,
  switchCommands,
  type TradeScales,
} from './trade-steps.js';
import {
  aggregateCycle,
  findTrade,
  recordPricing,
  recordRejection,
  recordSettlement,
  tradeBasis,
  tradeExecution,
  tradesInStatus,
  type Trade,
} from './trades.js';

export { ACME_MEMBER, ACME_ROUNDING_POT };

export interface DeskOptions {
  readonly pool: pg.Pool;
  readonly publisher: LedgerPublisher;
  readonly custodian: CustodianAdapter;
  readonly assets: AssetCatalog;
  readonly log: Log;
  /** How long a fan-out may take before its report is left for redelivery (and how long `start` waits for ACME's pot). */
  readonly outcomeTimeoutMs?: number;
}

export type { FanOut } from './fan-out.js';

/** How often a report being handled is marked in progress (its ack wait is 60 s). */
const REPORT_WORKING_EVERY_MS = 20_000;

/**
 * The dealing desk: at each fund's cut-off it aggregates the cycle's orders into one external trade and
 * sends it to the custodian; it follows the custodian's reports, and turns a priced trade into one
 * allocation per order (and ACME's residue), a rejected trade into released reservations, a settled
 * trade into one settlement per order, each a command through the orders' own pots. Every command id is
 * derived from the order or trade (`allocate:<order>`, `settle:<order>`, …), so a fan-out repeated
 * after a crash or a repeated report applies nothing twice; a report is acknowledged only once all its
 * commands have their outcomes.
 */
export class DealingDesk {
  #loop: Promise<void> = Promise.resolve();
  #stopping = false;
  readonly #handled = new Set<(report: CustodianReport, fanOut: FanOut | undefined) => void>();

  constructor(private readonly options: DeskOptions) {}

  /** Opens ACME's rounding pot if needed, re-sends trades placed but maybe not sent, and follows the reports. */
  async start(): Promise<void> {
    const opening = { commandId: 'acme:rounding-pot', memberId: ACME_MEMBER, potId: ACME_ROUNDING_POT, payload: {}, source: 'dealing-desk' };
    const sent = await this.options.publisher.submit('pot.open', opening);
    await sent.outcome(this.options.outcomeTimeoutMs);
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
    const currencyScale = this.#scale(trade.currency);
    const fundScale = this.#scale(trade.fund);
    await this.options.custodian.placeTrade({
      tradeId: trade.tradeId,
      fund: trade.fund,
      currency: trade.currency,
      dealingDate: trade.dealingDate,
      settlementDate: trade.settlementDate,
      buyCash: formatAmount(trade.buyCashMinor, currencyScale),
      sellUnits: formatAmount(trade.sellUnitsMinor, fundScale),
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

  async #priced(trade: Trade, report: Extract<CustodianReport, { kind: 'priced' }>): Promise<FanOut | undefined> {
    if (trade.status === 'settled' || trade.status === 'rejected') return undefined;
    const price = readRate(report.price);
    const ours = await closingPrice(this.options.pool, trade.fund, trade.dealingDate);
    if (ours !== undefined && !samePrice(ours, price)) {
      throw new Error(`trade ${trade.tradeId}: the custodian priced it at ${report.price}, the closing price loaded is ${ours}`);
    }
    const basis = await tradeBasis(this.options.pool, trade.tradeId);
    const filled = {
      buyCashMinor: this.#amount(report.buyCashFilled, trade.currency),
      sellUnitsMinor: this.#amount(report.sellUnitsFilled, trade.fund),
    };
    const scales = this.#scales(trade);
    const allocation = allocateTrade(basis, { price, buyCashFilledMinor: filled.buyCashMinor, sellUnitsFilledMinor: filled.sellUnitsMinor }, scales);
    if (trade.status === 'placed') await recordPricing(this.options.pool, trade.tradeId, report.price, filled, allocation);
    const allocated = await this.#fanOut([...allocationCommands(trade, basis, allocation, report.price, scales), ...residueCommands('residue', trade, allocation, scales)]);
    await this.#switches(trade);
    return allocated;
  }

  /**
   * The switches a priced trade releases (see `switchCommands`). A buy the pot refuses (nothing was
   * sold, so there are no proceeds) is logged, not a break.
   */
  async #switches(trade: Trade): Promise<void> {
    const terms = {
      currencyOf: (fund: string) => dealingOf(this.options.assets, fund)?.currency,
      settlesAfter: (fund: string, salesSettle: string) => this.#settlesAfter(fund, salesSettle),
    };
    const commands = switchCommands(await rebalancesSellingIn(this.options.pool, trade.tradeId), terms, trade.currency);
    if (commands.length === 0) return;
    const placed = await fanOut(this.#fanOutOptions(), commands);
    this.options.log.info({ tradeId: trade.tradeId, switches: placed.applied, refused: placed.rejected.length }, 'switch buys placed out of priced sale proceeds');
    if (placed.rejected.length > 0) this.options.log.warn({ tradeId: trade.tradeId, refused: placed.rejected.slice(0, 20) }, 'switch buys refused (no proceeds to invest)');
  }

  async #rejected(trade: Trade): Promise<FanOut | undefined> {
    if (trade.status !== 'placed' && trade.status !== 'rejected') return undefined;
    if (trade.status === 'placed') await recordRejection(this.options.pool, trade.tradeId);
    const basis = await tradeBasis(this.options.pool, trade.tradeId);
    const released = await this.#fanOut(releaseCommands(trade, basis));
    const closed = await this.#fanOut(settlementCommands(trade, basis));
    return sum(released, closed);
  }

  async #settled(trade: Trade): Promise<FanOut | undefined> {
    if (trade.status === 'placed') throw new Error(`trade ${trade.tradeId} settled before it was priced here; waiting for the pricing`);
    if (trade.status === 'rejected') return undefined;
    if (trade.status === 'priced') await recordSettlement(this.options.pool, trade.tradeId);
    const basis = await tradeBasis(this.options.pool, trade.tradeId);
    const execution = await tradeExecution(this.options.pool, trade.tradeId);
    const residue = execution === undefined ? [] : residueCommands('settle-residue', trade, execution, this.#scales(trade));
    // A switch's purchase settles after the sales that fund it (the Trust pays the custodian out of
    // their proceeds); one whose sales settle later today waits for them (see releasedSwitches).
    const waiting = await switchesAwaitingSales(this.options.pool, trade.tradeId);
    const settled = await this.#fanOut([...settlementCommands(trade, basis.filter((order) => !waiting.has(order.orderId))), ...residue]);
    const released = await this.#fanOut(releasedSwitchCommands(await releasedSwitches(this.options.pool)));
    return sum(settled, released);
  }

  #fanOutOptions(): FanOutOptions {
    const { pool, publisher, log, outcomeTimeoutMs } = this.options;
    return { pool, publisher, log, timeoutMs: outcomeTimeoutMs ?? FAN_OUT_TIMEOUT_MS, source: 'dealing-desk' };
  }

  /** A fan-out of dealing commands: each rejection is a break, logged with its reason. */
  async #fanOut(commands: readonly FanOutCommand[]): Promise<FanOut> {
    if (commands.length === 0) return { commands: 0, applied: 0, rejected: [] };
    const done = await fanOut(this.#fanOutOptions(), commands);
    if (done.rejected.length > 0) {
      this.options.log.error({ rejected: done.rejected.slice(0, 20), count: done.rejected.length }, 'dealing commands were rejected: breaks to investigate');
    }
    return done;
  }

  /**
   * A switch's purchase must not settle before the sales that fund it (the Trust would pay the
   * custodian before being paid): placed now, it deals at its fund's next cut-off (forward pricing)
   * and settles its settlement period later, which must reach the sales' settlement. One that does
   * not is left to the re-balance after the sales settle, which buys with cash.
   */
  #settlesAfter(fund: string, salesSettle: string): boolean {
    const dealing = dealingOf(this.options.assets, fund);
    if (dealing === undefined) return false;
    const dealt = dealingDateAt(dealing.calendar, dealing.cutoff, this.options.publisher.now().toISOString());
    return addBusinessDays(dealing.calendar, dealt, dealing.settlementDays) >= salesSettle;
  }

  #scales(trade: Trade): TradeScales {
    return { fund: this.#scale(trade.fund), currency: this.#scale(trade.currency) };
  }

  #scale(code: string): number {
    const scale = this.options.assets.find(code)?.scale;
    if (scale === undefined) throw new Error(`unknown asset ${code}`);
    return scale;
  }

  #amount(text: string, code: string): bigint {
    const parsed = parseAmount(text, this.#scale(code), { zero: true });
    if (!parsed.ok) throw new Error(`${code}: ${parsed.reason}`);
    return parsed.value;
  }
}

/** Two fan-outs of one report, counted as one. */
function sum(first: FanOut, second: FanOut): FanOut {
  return { commands: first.commands + second.commands, applied: first.applied + second.applied, rejected: [...first.rejected, ...second.rejected] };
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
