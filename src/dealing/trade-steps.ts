/**
 * The commands of each step of a trade's dealing, built from the trade, its allocation basis and the
 * custodian's pricing: pure, no I/O. Every id is derived from the order or the trade (`allocate:<order>`,
 * `settle:<order>`, `residue:<trade>`, `settle-residue:<trade>`, `<re-balance>:switch:<fund>`), so a step
 * built again after a crash, or for a repeated report, sends the same ids and applies nothing twice. A
 * command's `key` is its whole id, as the dealing desk has always named it (trade-saga.ts).
 */
import { allocateTrade, formatAmount, parseAmount, parseRate, type AssetCatalog, type RebalanceLeg, type TradeAllocation, type TradeExecution } from '../ledger/index.js';
import type { CommandOf, StepCommand } from '../sagas/index.js';
import type { BasisOrder, Trade } from './trades.js';

/** ACME's own pot that keeps the rounding residues of every trade. */
export const ACME_MEMBER = 'ACME';
export const ACME_ROUNDING_POT = 'ACME-ROUNDING';
const ACME = { memberId: ACME_MEMBER, potId: ACME_ROUNDING_POT };

/** The scales of a trade's two assets: its fund's units and its currency. */
export interface TradeScales {
  readonly fund: number;
  readonly currency: number;
}

/** The scales of a trade's fund and currency, from the catalogue (an asset it does not know is a bug here). */
export function scalesOf(assets: AssetCatalog, trade: Pick<Trade, 'fund' | 'currency'>): TradeScales {
  const scale = (code: string): number => {
    const found = assets.find(code)?.scale;
    if (found === undefined) throw new Error(`unknown asset ${code}`);
    return found;
  };
  return { fund: scale(trade.fund), currency: scale(trade.currency) };
}

/** The custodian's pricing of a trade as it reported it: the texts go into the allocations as they came. */
export interface Pricing {
  readonly price: string;
  readonly buyCashFilled: string;
  readonly sellUnitsFilled: string;
}

/** What a trade's execution leaves to ACME: units not allocated to any buyer, proceeds to no seller. */
export type Residue = Pick<TradeAllocation, 'residueUnitsMinor' | 'residueCashMinor'>;

/** A pricing read at the trade's scales; one that does not read is a bug here (the desk checked the report). */
export function readPricing(pricing: Pricing, scales: TradeScales): TradeExecution {
  const price = parseRate(pricing.price);
  const buyCash = parseAmount(pricing.buyCashFilled, scales.currency, { zero: true });
  const sellUnits = parseAmount(pricing.sellUnitsFilled, scales.fund, { zero: true });
  if (!price.ok || !buyCash.ok || !sellUnits.ok) throw new Error(`a pricing that does not read: ${JSON.stringify(pricing)}`);
  return { price: price.value, buyCashFilledMinor: buyCash.value, sellUnitsFilledMinor: sellUnits.value };
}

/** The exact allocation of a priced trade over its basis (`allocateTrade`). */
export function allocationOf(basis: readonly BasisOrder[], pricing: Pricing, scales: TradeScales): TradeAllocation {
  return allocateTrade(basis, readPricing(pricing, scales), scales);
}

/** One `order.allocate` per order of the basis, at the trade's price, each with its share of the fill. */
export function allocationCommands(trade: Trade, basis: readonly BasisOrder[], allocation: TradeAllocation, price: string, scales: TradeScales): CommandOf<'order.allocate'>[] {
  const byOrder = new Map(allocation.orders.map((order) => [order.orderId, order]));
  return basis.map((order) => {
    const filledMinor = byOrder.get(order.orderId)?.filledMinor ?? 0n;
    const filled = formatAmount(filledMinor, order.side === 'buy' ? scales.currency : scales.fund);
    return {
      process: 'order.allocate',
      key: `allocate:${order.orderId}`,
      pot: { memberId: order.memberId, potId: order.potId },
      effectiveDate: trade.dealingDate,
      payload: { orderId: order.orderId, tradeId: trade.tradeId, price, filled },
    };
  });
}

/** A rejected trade releases every reservation: one `order.allocate` with nothing filled per order. */
export function releaseCommands(trade: Trade, basis: readonly BasisOrder[]): CommandOf<'order.allocate'>[] {
  return basis.map((order) => ({
    process: 'order.allocate',
    key: `allocate:${order.orderId}`,
    pot: { memberId: order.memberId, potId: order.potId },
    effectiveDate: trade.dealingDate,
    payload: { orderId: order.orderId, tradeId: trade.tradeId, filled: '0' },
  }));
}

/** One `order.settle` per order, at its trade's settlement date. */
export function settlementCommands(
  trade: Pick<Trade, 'tradeId' | 'settlementDate'>,
  basis: readonly Pick<BasisOrder, 'orderId' | 'memberId' | 'potId'>[],
): CommandOf<'order.settle'>[] {
  return basis.map((order) => ({
    process: 'order.settle',
    key: `settle:${order.orderId}`,
    pot: { memberId: order.memberId, potId: order.potId },
    effectiveDate: trade.settlementDate,
    payload: { orderId: order.orderId, tradeId: trade.tradeId },
  }));
}

/**
 * ACME's residue of a trade, when there is one: `trade.residue` (pending, at the dealing date) when the
 * trade is priced, `trade.settle-residue` at its settlement.
 */
export function residueCommands(step: 'residue' | 'settle-residue', trade: Trade, residue: Residue, scales: TradeScales): StepCommand[] {
  if (residue.residueUnitsMinor === 0n && residue.residueCashMinor === 0n) return [];
  const payload = {
    tradeId: trade.tradeId,
    fund: trade.fund,
    units: formatAmount(residue.residueUnitsMinor, scales.fund),
    cash: formatAmount(residue.residueCashMinor, scales.currency),
  };
  const key = `${step}:${trade.tradeId}`;
  return step === 'residue'
    ? [{ process: 'trade.residue', key, pot: ACME, effectiveDate: trade.dealingDate, payload }]
    : [{ process: 'trade.settle-residue', key, pot: ACME, effectiveDate: trade.settlementDate, payload }];
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

/** A fund's terms for a switch buy placed now: its currency, and the day such a buy would settle (forward pricing, T+N). */
export interface SwitchFundTerms {
  readonly currency: string;
  readonly settlesOn: string;
}

/**
 * The switch buys a priced trade releases: a re-balance whose sells are all priced buys, with their
 * proceeds, each leg it decided to fund that way, up to its amount, under an id of its own
 * (`…:switch:<fund>`, apart from a cash buy of the same fund). A switch's purchase must not settle before
 * the sales that fund it (the Trust would pay the custodian before being paid): a leg whose buy, placed
 * now, would settle earlier (or whose fund does not deal) is left to the re-balance after the sales
 * settle, which buys with cash.
 */
export function switchCommands(rebalances: readonly SellingRebalance[], funds: Readonly<Record<string, SwitchFundTerms>>): CommandOf<'order.buy'>[] {
  return rebalances.flatMap((rebalance) => {
    if (rebalance.sellsOpen > 0) return [];
    return rebalance.legs.flatMap((leg): CommandOf<'order.buy'>[] => {
      const terms = funds[leg.fund];
      if (leg.side !== 'buy' || leg.funding !== 'proceeds' || terms === undefined || terms.settlesOn < rebalance.salesSettle) return [];
      return [
        {
          process: 'order.buy',
          key: `${rebalance.rebalanceId}:switch:${leg.fund}`,
          pot: { memberId: rebalance.memberId, potId: rebalance.potId },
          payload: { fund: leg.fund, amount: leg.amount, currency: terms.currency, funding: 'proceeds' },
        },
      ];
    });
  });
}

/** A switch purchase free to settle: its trade has settled and so have its funding sales. */
export interface ReleasedSwitch {
  readonly orderId: string;
  readonly memberId: string;
  readonly potId: string;
  readonly tradeId: string;
  readonly settlementDate: string;
}

/** The settlements of switch purchases left waiting for their funding sales: the usual `settle:<order>`, each at its own trade's date. */
export function releasedSwitchCommands(released: readonly ReleasedSwitch[]): CommandOf<'order.settle'>[] {
  return released.flatMap((order) => settlementCommands(order, [order]));
}
