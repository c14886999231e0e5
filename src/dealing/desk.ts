import type pg from 'pg';
import type { CustodianAdapter, CustodianReport } from '../custodian/messages.js';
import {
  allocateTrade,
  dealingOf,
  formatAmount,
  parseAmount,
  parseRate,
  type AssetCatalog,
  type Rate,
  type TradeAllocation,
} from '../ledger/index.js';
import type { LedgerPublisher } from '../sdk/publisher.js';
import type { Log } from '../shards/log.js';
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
  /** How long the fan-out waits for each command's outcome. */
  readonly outcomeTimeoutMs?: number;
}

/** What one fan-out did: commands sent, and how their outcomes came out. */
export interface FanOut {
  readonly commands: number;
  readonly applied: number;
  /** Outcomes other than applied: each one a break to look at, logged with its reason. */
  readonly rejected: readonly { readonly commandId: string; readonly code: string; readonly reason: string }[];
}

/** The most commands one `submitMany` carries in a fan-out. */
const FAN_OUT_CHUNK = 5000;
/** How long a fan-out may take before its report is left for redelivery. */
const FAN_OUT_TIMEOUT_MS = 30 * 60 * 1000;
/** How long without a new outcome before the commands still without one are published again. */
const FAN_OUT_RESEND_AFTER_MS = 30_000;

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
    const sent = await this.options.publisher.submit('pot.open', { commandId: 'acme:rounding-pot', memberId: ACME_MEMBER, potId: ACME_ROUNDING_POT, payload: {} });
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
      for await (const { report, ack } of this.options.custodian.reports()) {
        let fanOut: FanOut | undefined;
        try {
          fanOut = await this.handle(report);
        } catch (error) {
          // Not acknowledged: JetStream redelivers it after its ack wait, and the handling is idempotent.
          this.options.log.error({ err: error, report }, 'a custodian report could not be handled; it will be redelivered');
          continue;
        }
        ack();
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
    return this.#fanOut([...this.#allocations(trade, basis, allocation, report.price), ...this.#residue('trade.residue', 'residue', trade, allocation)]);
  }

  async #rejected(trade: Trade): Promise<FanOut | undefined> {
    if (trade.status !== 'placed' && trade.status !== 'rejected') return undefined;
    if (trade.status === 'placed') await recordRejection(this.options.pool, trade.tradeId);
    const basis = await tradeBasis(this.options.pool, trade.tradeId);
    const released = await this.#fanOut(
      basis.map((order) => ({
        process: 'order.allocate',
        request: { commandId: `allocate:${order.orderId}`, memberId: order.memberId, potId: order.potId, effectiveDate: trade.dealingDate, payload: { orderId: order.orderId, tradeId: trade.tradeId, filled: '0' } },
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
    return this.#fanOut([...this.#settlements(trade, basis), ...residue]);
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

  /**
   * Publishes the commands in chunks (JetStream acknowledges each chunk), then waits on the journal
   * until every command has its outcome: one count per poll, whatever the size of the fan-out, rather
   * than one outcome notice (and, when late, one look-up) per command. Commands without an outcome
   * after a while without progress are published again under the same ids (a message lost by the
   * server is the only way to be missing; a repeat is answered from its recorded outcome).
   */
  async #fanOut(commands: readonly { process: string; request: { commandId: string; memberId: string; potId: string; effectiveDate: string; payload: unknown } }[]): Promise<FanOut> {
    const publish = async (batch: typeof commands) => {
      for (let i = 0; i < batch.length; i += FAN_OUT_CHUNK) await this.options.publisher.submitMany(batch.slice(i, i + FAN_OUT_CHUNK));
    };
    await publish(commands);
    const ids = commands.map(({ request }) => request.commandId);
    const deadline = Date.now() + (this.options.outcomeTimeoutMs ?? FAN_OUT_TIMEOUT_MS);
    let recorded = -1;
    let progressAt = Date.now();
    let pause = 20;
    for (;;) {
      const { rows } = await this.options.pool.query<{ n: bigint }>('SELECT count(*) AS n FROM command_outcomes WHERE command_id = ANY($1::text[])', [ids]);
      const count = Number(rows[0]?.n ?? 0n);
      if (count === ids.length) break;
      if (Date.now() > deadline) throw new Error(`${ids.length - count} of ${ids.length} dealing commands have no outcome yet; the report will be handled again`);
      if (count > recorded) {
        recorded = count;
        progressAt = Date.now();
      } else if (Date.now() - progressAt > FAN_OUT_RESEND_AFTER_MS) {
        const present = await this.options.pool.query<{ command_id: string }>('SELECT command_id FROM command_outcomes WHERE command_id = ANY($1::text[])', [ids]);
        const done = new Set(present.rows.map((row) => row.command_id));
        const missing = commands.filter(({ request }) => !done.has(request.commandId));
        this.options.log.warn({ missing: missing.length }, 'dealing commands without an outcome: publishing them again under the same ids');
        await publish(missing);
        progressAt = Date.now();
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(pause * 2, 500);
    }
    const { rows } = await this.options.pool.query<{ command_id: string; rejection_code: string; reason: string | null }>(
      "SELECT command_id, rejection_code, outcome->>'reason' AS reason FROM command_outcomes WHERE command_id = ANY($1::text[]) AND status = 'rejected'",
      [ids],
    );
    const rejected = rows.map((row) => ({ commandId: row.command_id, code: row.rejection_code, reason: row.reason ?? '' }));
    if (rejected.length > 0) this.options.log.error({ rejected: rejected.slice(0, 20), count: rejected.length }, 'dealing commands were rejected: breaks to investigate');
    return { commands: commands.length, applied: commands.length - rejected.length, rejected };
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
