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
  type RebalanceLeg,
  type TradeAllocation,
} from '../ledger/index.js';
import type { LedgerPublisher } from '../sdk/publisher.js';
import type { Log } from '../shards/log.js';
import { FAN_OUT_TIMEOUT_MS, fanOut, type FanOut, type FanOutCommand, type FanOutOptions } from './fan-out.js';
import { closingPrice } from './prices.js';
import {
  aggregateCycle,
  findTrade,
  recordPricing,
  recordRejection,
  recordSettlement,
  tradeBasis,
  tradeExecution,
  tradesInStatus,
  type BasisOrder,
  type Trade,
} from './trades.js';

/** ACME's own pot that keeps the rounding residues of every trade. */
export const ACME_MEMBER = 'ACME';
export const ACME_ROUNDING_POT = 'ACME-ROUNDING';

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

/** The funding sales not yet settled of a switch purchase `o` (its re-balance's sells, `…:sell:<fund>`). */
const UNSETTLED_SALES_OF_SWITCH = `SELECT 1 FROM orders s
  WHERE s.pot_id = o.pot_id AND starts_with(s.order_id, regexp_replace(o.order_id, ':switch:[^:]+$', '') || ':sell:') AND s.status <> 'settled'`;

/** A re-balance that sold in a priced trade, with its legs and where its sales stand. */
interface SwitchRow {
  readonly command_id: string;
  readonly member_id: string;
  readonly pot_id: string;
  readonly legs: readonly RebalanceLeg[];
  readonly sells_open: number;
  readonly sales_settle: string;
}

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
    const allocation = allocateTrade(basis, { price, buyCashFilledMinor: filled.buyCashMinor, sellUnitsFilledMinor: filled.sellUnitsMinor }, {
      fund: this.#scale(trade.fund),
      currency: this.#scale(trade.currency),
    });
    if (trade.status === 'placed') await recordPricing(this.options.pool, trade.tradeId, report.price, filled, allocation);
    const allocated = await this.#fanOut([...this.#allocations(trade, basis, allocation, report.price), ...this.#residue('trade.residue', 'residue', trade, allocation)]);
    await this.#switches(trade);
    return allocated;
  }

  /**
   * The switches a priced trade releases: a re-balance that sold in it (`rebalance:<pot>:<day>:sell:<fund>`)
   * and decided to buy with the proceeds has those buys placed once every sale of that re-balance is
   * priced, each as an `order.buy` funded by the proceeds, up to its amount, under an id of its own
   * (`…:switch:<fund>`, apart from a cash buy of the same fund), so that a repeated report places
   * nothing twice. A buy the pot refuses (nothing was sold, so there
   * are no proceeds) is logged, not a break.
   */
  async #switches(trade: Trade): Promise<void> {
    const { rows } = await this.options.pool.query<SwitchRow>(
      `SELECT r.command_id, r.member_id, r.pot_id, r.pot_change->'legs' AS legs,
              (SELECT count(*)::int FROM orders s
                WHERE s.pot_id = r.pot_id AND starts_with(s.order_id, r.command_id || ':sell:')
                  AND s.status NOT IN ('allocated', 'settled')) AS sells_open,
              (SELECT max(x.settlement_date)::text FROM orders s JOIN external_trades x ON x.trade_id = s.trade_id
                WHERE s.pot_id = r.pot_id AND starts_with(s.order_id, r.command_id || ':sell:')) AS sales_settle
         FROM (SELECT DISTINCT regexp_replace(order_id, ':sell:[^:]+$', '') AS rebalance_id
                 FROM trade_orders WHERE trade_id = $1 AND side = 'sell' AND order_id LIKE 'rebalance:%:sell:%') t
         JOIN movements r ON r.command_id = t.rebalance_id AND r.process = 'pot.rebalance'`,
      [trade.tradeId],
    );
    const commands: FanOutCommand[] = rows.flatMap((row) =>
      row.sells_open > 0
        ? []
        : row.legs.flatMap((leg) =>
            leg.side === 'buy' && leg.funding === 'proceeds' && this.#settlesAfter(leg.fund, row.sales_settle)
              ? [
                  {
                    process: 'order.buy',
                    request: {
                      commandId: `${row.command_id}:switch:${leg.fund}`,
                      memberId: row.member_id,
                      potId: row.pot_id,
                      payload: { fund: leg.fund, amount: leg.amount, currency: dealingOf(this.options.assets, leg.fund)?.currency ?? trade.currency, funding: 'proceeds' },
                    },
                  },
                ]
              : [],
          ),
    );
    if (commands.length === 0) return;
    const placed = await fanOut(this.#fanOutOptions(), commands);
    this.options.log.info({ tradeId: trade.tradeId, switches: placed.applied, refused: placed.rejected.length }, 'switch buys placed out of priced sale proceeds');
    if (placed.rejected.length > 0) this.options.log.warn({ tradeId: trade.tradeId, refused: placed.rejected.slice(0, 20) }, 'switch buys refused (no proceeds to invest)');
  }

  async #rejected(trade: Trade): Promise<FanOut | undefined> {
    if (trade.status !== 'placed' && trade.status !== 'rejected') return undefined;
    if (trade.status === 'placed') await recordRejection(this.options.pool, trade.tradeId);
    const basis = await tradeBasis(this.options.pool, trade.tradeId);
    const released = await this.#fanOut(
      basis.map((order) => ({
        process: 'order.allocate',
        request: {
          commandId: `allocate:${order.orderId}`,
          memberId: order.memberId,
          potId: order.potId,
          effectiveDate: trade.dealingDate,
          payload: { orderId: order.orderId, tradeId: trade.tradeId, filled: '0' },
        },
      })),
    );
    const closed = await this.#fanOut(this.#settlements(trade, basis));
    return { commands: released.commands + closed.commands, applied: released.applied + closed.applied, rejected: [...released.rejected, ...closed.rejected] };
  }

  async #settled(trade: Trade): Promise<FanOut | undefined> {
    if (trade.status === 'placed') throw new Error(`trade ${trade.tradeId} settled before it was priced here; waiting for the pricing`);
    if (trade.status === 'rejected') return undefined;
    if (trade.status === 'priced') await recordSettlement(this.options.pool, trade.tradeId);
    const basis = await tradeBasis(this.options.pool, trade.tradeId);
    const execution = await tradeExecution(this.options.pool, trade.tradeId);
    const residue =
      execution === undefined
        ? []
        : this.#residue('trade.settle-residue', 'settle-residue', trade, { residueUnitsMinor: execution.residueUnitsMinor, residueCashMinor: execution.residueCashMinor });
    // A switch's purchase settles after the sales that fund it (the Trust pays the custodian out of
    // their proceeds); one whose sales settle later today waits for them (see #releasedSwitches).
    const waiting = await this.#switchesAwaitingSales(trade.tradeId);
    const settled = await this.#fanOut([...this.#settlements(trade, basis.filter((order) => !waiting.has(order.orderId))), ...residue]);
    const released = await this.#releasedSwitches();
    return { commands: settled.commands + released.commands, applied: settled.applied + released.applied, rejected: [...settled.rejected, ...released.rejected] };
  }

  /** The switch purchases of a trade whose funding sales (their re-balance's sells) have not all settled. */
  async #switchesAwaitingSales(tradeId: string): Promise<Set<string>> {
    const { rows } = await this.options.pool.query<{ order_id: string }>(
      `SELECT o.order_id FROM orders o
        WHERE o.trade_id = $1 AND o.funding = 'proceeds' AND o.order_id LIKE 'rebalance:%:switch:%'
          AND EXISTS (${UNSETTLED_SALES_OF_SWITCH})`,
      [tradeId],
    );
    return new Set(rows.map((row) => row.order_id));
  }

  /**
   * Settles the switch purchases left waiting: their trade has settled and now so have their funding
   * sales. Ids are the usual `settle:<order>`, so a repeat applies nothing twice.
   */
  async #releasedSwitches(): Promise<FanOut> {
    const { rows } = await this.options.pool.query<{ order_id: string; member_id: string; pot_id: string; trade_id: string; settlement_date: string }>(
      `SELECT o.order_id, o.member_id, o.pot_id, o.trade_id, x.settlement_date::text AS settlement_date
         FROM orders o JOIN external_trades x ON x.trade_id = o.trade_id
        WHERE o.funding = 'proceeds' AND o.status = 'allocated' AND x.status = 'settled' AND o.order_id LIKE 'rebalance:%:switch:%'
          AND NOT EXISTS (${UNSETTLED_SALES_OF_SWITCH})`,
    );
    if (rows.length === 0) return { commands: 0, applied: 0, rejected: [] };
    return this.#fanOut(
      rows.map((row) => ({
        process: 'order.settle',
        request: {
          commandId: `settle:${row.order_id}`,
          memberId: row.member_id,
          potId: row.pot_id,
          effectiveDate: row.settlement_date,
          payload: { orderId: row.order_id, tradeId: row.trade_id },
        },
      })),
    );
  }

  #allocations(trade: Trade, basis: readonly BasisOrder[], allocation: TradeAllocation, price: string) {
    const byOrder = new Map(allocation.orders.map((order) => [order.orderId, order]));
    return basis.map((order) => {
      const share = byOrder.get(order.orderId);
      const filledMinor = share?.filledMinor ?? 0n;
      const filled = formatAmount(filledMinor, this.#scale(order.side === 'buy' ? trade.currency : trade.fund));
      return {
        process: 'order.allocate',
        request: {
          commandId: `allocate:${order.orderId}`,
          memberId: order.memberId,
          potId: order.potId,
          effectiveDate: trade.dealingDate,
          payload: { orderId: order.orderId, tradeId: trade.tradeId, price, filled },
        },
      };
    });
  }

  #settlements(trade: Trade, basis: readonly BasisOrder[]) {
    return basis.map((order) => ({
      process: 'order.settle',
      request: {
        commandId: `settle:${order.orderId}`,
        memberId: order.memberId,
        potId: order.potId,
        effectiveDate: trade.settlementDate,
        payload: { orderId: order.orderId, tradeId: trade.tradeId },
      },
    }));
  }

  #residue(process: string, prefix: string, trade: Trade, residue: Pick<TradeAllocation, 'residueUnitsMinor' | 'residueCashMinor'>) {
    if (residue.residueUnitsMinor === 0n && residue.residueCashMinor === 0n) return [];
    return [
      {
        process,
        request: {
          commandId: `${prefix}:${trade.tradeId}`,
          memberId: ACME_MEMBER,
          potId: ACME_ROUNDING_POT,
          effectiveDate: process === 'trade.residue' ? trade.dealingDate : trade.settlementDate,
          payload: {
            tradeId: trade.tradeId,
            fund: trade.fund,
            units: formatAmount(residue.residueUnitsMinor, this.#scale(trade.fund)),
            cash: formatAmount(residue.residueCashMinor, this.#scale(trade.currency)),
          },
        },
      },
    ];
  }

  #fanOutOptions(): FanOutOptions {
    const { pool, publisher, log, outcomeTimeoutMs } = this.options;
    return { pool, publisher, log, timeoutMs: outcomeTimeoutMs ?? FAN_OUT_TIMEOUT_MS, source: 'dealing-desk' };
  }

  /** A fan-out of dealing commands: each rejection is a break, logged with its reason. */
  async #fanOut(commands: readonly FanOutCommand[]): Promise<FanOut> {
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
