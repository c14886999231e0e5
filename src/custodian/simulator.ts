import { jetstream, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { divideByRate, divideRounded, formatAmount, multiplyByRate, parseAmount, parseRate, type AssetCatalog } from '../ledger/index.js';
import type { CustodianStatement } from '../recon/statements.js';
import type { CustodianReport, TradeInstruction } from './messages.js';
import { tradeInstructionSchema } from './messages.js';
import { custodianNames, durableMessages, parseJson, provisionCustodianStream } from './nats.js';

/** A fraction of a leg the custodian fills: numerator / denominator, 0 ≤ n ≤ d. */
export interface Fill {
  readonly numerator: bigint;
  readonly denominator: bigint;
}

/** The simulator's knobs, read at each step so that a test can turn them between steps. */
export interface SimulatorKnobs {
  /** Delay before each report is published. */
  reportDelayMs: number;
  /** Trades the custodian refuses (by trade id). */
  readonly rejectTrades: Set<string>;
  /** Trades it fills only in part (by trade id); every other trade is filled in full. */
  readonly partialFills: Map<string, { readonly buy: Fill; readonly sell: Fill }>;
}

export interface SimulatorOptions {
  readonly nc: NatsConnection;
  readonly prefix: string;
  readonly assets: AssetCatalog;
  /** The closing price of a fund on a business day, as a decimal string; undefined while unknown. */
  readonly closingPrice: (fund: string, businessDate: string) => Promise<string | undefined>;
  readonly knobs?: Partial<SimulatorKnobs>;
  readonly onMalformed?: (message: JsMsg, problem: string) => void;
}

type Held = TradeInstruction & {
  status: 'placed' | 'priced' | 'rejected' | 'settled';
  /** Once priced: the units it delivers net (bought − sold), in the fund's minor units. */
  netUnitsMinor?: bigint;
  /** Once priced: the cash the Trust pays net (invested − sale proceeds), in the currency's minor units. */
  netCashMinor?: bigint;
};

/**
 * A custodian simulator over NATS: it takes trade instructions (idempotent by trade id), prices the
 * trades of a dealing day at that day's closing price when told to strike (the valuation point), and
 * settles priced trades whose settlement date has come. It rebuilds what it holds from its durable
 * consumer after a restart. The prices and fills are exact: a partial fill is a fraction of a leg,
 * rounded down to the leg's scale.
 */
export class CustodianSimulator {
  readonly knobs: SimulatorKnobs;
  readonly #trades = new Map<string, Held>();
  readonly #js: JetStreamClient;
  readonly #names: ReturnType<typeof custodianNames>;
  #messages: Awaited<ReturnType<typeof durableMessages>> | undefined;
  #loop: Promise<void> = Promise.resolve();
  readonly #waiters = new Set<() => void>();

  private constructor(
    private readonly options: SimulatorOptions,
    private readonly jsm: JetStreamManager,
  ) {
    this.#js = jetstream(options.nc);
    this.#names = custodianNames(options.prefix);
    this.knobs = { reportDelayMs: 0, rejectTrades: new Set(), partialFills: new Map(), ...options.knobs };
  }

  static async start(options: SimulatorOptions): Promise<CustodianSimulator> {
    const jsm = await provisionCustodianStream(options.nc, options.prefix);
    const simulator = new CustodianSimulator(options, jsm);
    simulator.#messages = await durableMessages(simulator.#js, jsm, simulator.#names.stream, simulator.#names.custodianConsumer, simulator.#names.instructionSubject);
    simulator.#loop = simulator.#receive();
    return simulator;
  }

  async stop(): Promise<void> {
    await this.#messages?.close();
    await this.#loop;
  }

  /** The trades it holds, by id. */
  trades(): ReadonlyMap<string, Readonly<Held>> {
    return this.#trades;
  }

  /** Resolves once it holds every one of these trades. */
  async received(tradeIds: readonly string[], timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!tradeIds.every((id) => this.#trades.has(id))) {
      if (Date.now() > deadline) throw new Error(`the custodian did not receive ${tradeIds.filter((id) => !this.#trades.has(id)).join(', ')}`);
      await new Promise<void>((resolve) => {
        this.#waiters.add(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  async #receive(): Promise<void> {
    const messages = this.#messages;
    if (messages === undefined) return;
    for await (const message of messages) {
      const parsed = parseJson(message, tradeInstructionSchema);
      if (!parsed.ok) {
        this.options.onMalformed?.(message, parsed.problem);
        message.term();
        continue;
      }
      if (!this.#trades.has(parsed.value.tradeId)) this.#trades.set(parsed.value.tradeId, { ...parsed.value, status: 'placed' });
      message.ack();
      for (const wake of this.#waiters) wake();
      this.#waiters.clear();
    }
  }

  /**
   * The valuation point of `dealingDate`: prices every placed trade of that day (or earlier) at the
   * fund's closing price, or refuses it. A trade whose price is not known yet waits. Returns the
   * reports it published.
   */
  async strike(dealingDate: string): Promise<CustodianReport[]> {
    const reports: CustodianReport[] = [];
    for (const trade of [...this.#trades.values()].filter((t) => t.status === 'placed' && t.dealingDate <= dealingDate)) {
      if (this.knobs.rejectTrades.has(trade.tradeId)) {
        reports.push({ kind: 'rejected', tradeId: trade.tradeId, reason: 'refused by the custodian (simulated)' });
        trade.status = 'rejected';
        continue;
      }
      const price = await this.options.closingPrice(trade.fund, trade.dealingDate);
      if (price === undefined) continue;
      const fill = this.knobs.partialFills.get(trade.tradeId);
      const buyCashFilled = this.#filled(trade.buyCash, trade.currency, fill?.buy);
      const sellUnitsFilled = this.#filled(trade.sellUnits, trade.fund, fill?.sell);
      reports.push({ kind: 'priced', tradeId: trade.tradeId, price, buyCashFilled, sellUnitsFilled });
      trade.status = 'priced';
      trade.netUnitsMinor = this.#bought(buyCashFilled, trade, price) - this.#minor(sellUnitsFilled, trade.fund);
      trade.netCashMinor = this.#minor(buyCashFilled, trade.currency) - this.#proceeds(sellUnitsFilled, trade, price);
    }
    await this.#publish(reports);
    return reports;
  }

  /** Settles every priced trade due on or before `businessDate`. */
  async settle(businessDate: string): Promise<CustodianReport[]> {
    const reports: CustodianReport[] = [];
    for (const trade of [...this.#trades.values()].filter((t) => t.status === 'priced' && t.settlementDate <= businessDate)) {
      reports.push({ kind: 'settled', tradeId: trade.tradeId, settlementDate: trade.settlementDate });
      trade.status = 'settled';
    }
    await this.#publish(reports);
    return reports;
  }

  /** Publishes a report again, as a custodian that repeats itself would (tests of idempotence). */
  async repeat(report: CustodianReport): Promise<void> {
    await this.options.nc.flush();
    this.options.nc.publish(this.#names.reportSubject, JSON.stringify(report));
    await this.options.nc.flush();
  }

  /**
   * Its holdings statement at the close of `asOf`: settled units per fund (what settled trades
   * delivered net, on top of `opening` holdings), and the trades priced and not yet settled.
   */
  statement(asOf: string, opening: ReadonlyMap<string, bigint> = new Map()): CustodianStatement {
    const holdings = new Map(opening);
    const openTrades: CustodianStatement['openTrades'][number][] = [];
    for (const trade of this.#trades.values()) {
      if (trade.netUnitsMinor === undefined || trade.dealingDate > asOf) continue;
      if (trade.settlementDate <= asOf && trade.status === 'settled') holdings.set(trade.fund, (holdings.get(trade.fund) ?? 0n) + trade.netUnitsMinor);
      else if (trade.settlementDate > asOf) openTrades.push({ tradeId: trade.tradeId, fund: trade.fund, unitsMinor: trade.netUnitsMinor });
    }
    return { asOf, holdings, openTrades };
  }

  #bought(cash: string, trade: Held, price: string): bigint {
    const rate = parseRate(price);
    if (!rate.ok) throw new Error(`simulator: ${rate.reason}`);
    return divideByRate(this.#minor(cash, trade.currency), this.#scale(trade.currency), rate.value, this.#scale(trade.fund), 'down');
  }

  #proceeds(units: string, trade: Held, price: string): bigint {
    const rate = parseRate(price);
    if (!rate.ok) throw new Error(`simulator: ${rate.reason}`);
    return multiplyByRate(this.#minor(units, trade.fund), this.#scale(trade.fund), rate.value, this.#scale(trade.currency), 'down');
  }

  #scale(code: string): number {
    const scale = this.options.assets.find(code)?.scale;
    if (scale === undefined) throw new Error(`simulator: unknown asset ${code}`);
    return scale;
  }

  #minor(amount: string, code: string): bigint {
    const parsed = parseAmount(amount, this.#scale(code), { zero: true });
    if (!parsed.ok) throw new Error(`simulator: ${parsed.reason}`);
    return parsed.value;
  }

  #filled(amount: string, assetCode: string, fraction: Fill | undefined): string {
    if (fraction === undefined) return amount;
    const scale = this.options.assets.find(assetCode)?.scale;
    if (scale === undefined) throw new Error(`simulator: unknown asset ${assetCode}`);
    const parsed = parseAmount(amount, scale, { zero: true });
    if (!parsed.ok) throw new Error(`simulator: ${parsed.reason}`);
    return formatAmount(divideRounded(parsed.value * fraction.numerator, fraction.denominator, 'down'), scale);
  }

  async #publish(reports: readonly CustodianReport[]): Promise<void> {
    for (const report of reports) {
      if (this.knobs.reportDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.knobs.reportDelayMs));
      await this.#js.publish(this.#names.reportSubject, JSON.stringify(report), { msgID: `${report.kind}:${report.tradeId}` });
    }
  }
}
