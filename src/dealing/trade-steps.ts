/**
 * The commands of each step of a trade's dealing, built from the trade, its allocation basis and its
 * allocation: pure, no I/O. Every id is derived from the order or the trade (`allocate:<order>`,
 * `settle:<order>`, `residue:<trade>`, `settle-residue:<trade>`, `<re-balance>:switch:<fund>`), so a step
 * built again after a crash, or for a repeated report, sends the same ids and applies nothing twice.
 */
import { formatAmount, type RebalanceLeg, type TradeAllocation } from '../ledger/index.js';
import type { FanOutCommand } from './fan-out.js';
import type { BasisOrder, Trade } from './trades.js';

/** ACME's own pot that keeps the rounding residues of every trade. */
export const ACME_MEMBER = 'ACME';
export const ACME_ROUNDING_POT = 'ACME-ROUNDING';

/** The scales of a trade's two assets: its fund's units and its currency. */
export interface TradeScales {
  readonly fund: number;
  readonly currency: number;
}

/** What a trade's execution leaves to ACME: units not allocated to any buyer, proceeds to no seller. */
export type Residue = Pick<TradeAllocation, 'residueUnitsMinor' | 'residueCashMinor'>;

/** One `order.allocate` per order of the basis, at the trade's price, each with its share of the fill. */
export function allocationCommands(trade: Trade, basis: readonly BasisOrder[], allocation: TradeAllocation, price: string, scales: TradeScales): FanOutCommand[] {
  const byOrder = new Map(allocation.orders.map((order) => [order.orderId, order]));
  return basis.map((order) => {
    const filledMinor = byOrder.get(order.orderId)?.filledMinor ?? 0n;
    const filled = formatAmount(filledMinor, order.side === 'buy' ? scales.currency : scales.fund);
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

/** A rejected trade releases every reservation: one `order.allocate` with nothing filled per order. */
export function releaseCommands(trade: Trade, basis: readonly BasisOrder[]): FanOutCommand[] {
  return basis.map((order) => ({
    process: 'order.allocate',
    request: {
      commandId: `allocate:${order.orderId}`,
      memberId: order.memberId,
      potId: order.potId,
      effectiveDate: trade.dealingDate,
      payload: { orderId: order.orderId, tradeId: trade.tradeId, filled: '0' },
    },
  }));
}

/** One `order.settle` per order, at the trade's settlement date. */
export function settlementCommands(trade: Pick<Trade, 'tradeId' | 'settlementDate'>, basis: readonly Pick<BasisOrder, 'orderId' | 'memberId' | 'potId'>[]): FanOutCommand[] {
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

/**
 * ACME's residue of a trade, when there is one: `trade.residue` (pending, at the dealing date) when the
 * trade is priced, `trade.settle-residue` at its settlement.
 */
export function residueCommands(step: 'residue' | 'settle-residue', trade: Trade, residue: Residue, scales: TradeScales): FanOutCommand[] {
  if (residue.residueUnitsMinor === 0n && residue.residueCashMinor === 0n) return [];
  const pending = step === 'residue';
  return [
    {
      process: pending ? 'trade.residue' : 'trade.settle-residue',
      request: {
        commandId: `${step}:${trade.tradeId}`,
        memberId: ACME_MEMBER,
        potId: ACME_ROUNDING_POT,
        effectiveDate: pending ? trade.dealingDate : trade.settlementDate,
        payload: {
          tradeId: trade.tradeId,
          fund: trade.fund,
          units: formatAmount(residue.residueUnitsMinor, scales.fund),
          cash: formatAmount(residue.residueCashMinor, scales.currency),
        },
      },
    },
  ];
}

/** A re-balance that sold in a priced trade: its legs, its sells not yet priced, and when its sales settle. */
export interface SellingRebalance {
  readonly rebalanceId: string;
  readonly memberId: string;
  readonly potId: string;
  readonly legs: readonly RebalanceLeg[];
  /** Its sells neither allocated nor settled yet. */
  readonly sellsOpen: number;
  /** The latest settlement date of its sales. */
  readonly salesSettle: string;
}

/** What the switch buys need besides the re-balances: a fund's currency, and whether a buy placed now settles late enough. */
export interface SwitchTerms {
  readonly currencyOf: (fund: string) => string | undefined;
  /** A buy of `fund` placed now settles on or after `salesSettle` (the Trust pays out of the sales' proceeds). */
  readonly settlesAfter: (fund: string, salesSettle: string) => boolean;
}

/**
 * The switch buys a priced trade releases: a re-balance whose sells are all priced buys, with their
 * proceeds, each leg it decided to fund that way, up to its amount, under an id of its own
 * (`…:switch:<fund>`, apart from a cash buy of the same fund). A leg whose purchase would settle before
 * the sales is left to the re-balance after they settle, which buys with cash.
 */
export function switchCommands(rebalances: readonly SellingRebalance[], terms: SwitchTerms, fallbackCurrency: string): FanOutCommand[] {
  return rebalances.flatMap((rebalance) => {
    if (rebalance.sellsOpen > 0) return [];
    return rebalance.legs.flatMap((leg) => {
      if (leg.side !== 'buy' || leg.funding !== 'proceeds' || !terms.settlesAfter(leg.fund, rebalance.salesSettle)) return [];
      const command: FanOutCommand = {
        process: 'order.buy',
        request: {
          commandId: `${rebalance.rebalanceId}:switch:${leg.fund}`,
          memberId: rebalance.memberId,
          potId: rebalance.potId,
          payload: { fund: leg.fund, amount: leg.amount, currency: terms.currencyOf(leg.fund) ?? fallbackCurrency, funding: 'proceeds' },
        },
      };
      return [command];
    });
  });
}

/** The settlements of switch purchases left waiting for their funding sales: the usual `settle:<order>`, each at its own trade's date. */
export function releasedSwitchCommands(released: readonly (Pick<BasisOrder, 'orderId' | 'memberId' | 'potId'> & Pick<Trade, 'tradeId' | 'settlementDate'>)[]): FanOutCommand[] {
  return released.flatMap((order) => settlementCommands(order, [order]));
}
