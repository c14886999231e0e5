import { allocateLargestRemainder } from './allocation.js';
import { divideByRate, multiplyByRate, type Rate } from './decimal.js';

/**
 * Orders of the dealing cycle, as the core sees them. An order's life: `open` (placed, its cash or units
 * reserved) → `aggregated` (taken into its fund's external trade at the cut-off; set by the
 * aggregator, outside the pot) → `allocated` (the trade was priced: units or proceeds pending) →
 * `settled`; or `cancelled` while still open. Every change but aggregation is a movement of the pot,
 * and carries an `OrderChange` the journal applies to its `orders` table in the same transaction.
 */
export type OrderSide = 'buy' | 'sell';
/**
 * What pays for a buy: the pot's available `cash` (the default), or its priced, unsettled sale
 * proceeds (`cash.pending`, a switch: the re-balance's buys placed once its sales are priced).
 */
export type OrderFunding = 'cash' | 'proceeds';
export type OrderStatus = 'open' | 'aggregated' | 'allocated' | 'settled' | 'cancelled';

export interface OrderState {
  readonly orderId: string;
  readonly potId: string;
  readonly fund: string;
  readonly currency: string;
  readonly side: OrderSide;
  /** A buy: the cash to invest, in the currency's minor units. A sell: the units to sell, in the fund's. */
  readonly amountMinor: bigint;
  /** The cycle it was placed for (forward pricing); a later cycle deals it if it reached the ledger late. */
  readonly dealingDate: string;
  readonly status: OrderStatus;
  /** A buy funded by pending proceeds; absent for one funded by cash, and for a sell. */
  readonly funding?: 'proceeds';
  readonly tradeId?: string;
  /** Once allocated: what it got. */
  readonly allocation?: OrderAllocation;
}

/** What a priced trade gives one order. */
export interface OrderAllocation {
  /** The part of the order the trade filled: cash for a buy, units for a sell (the rest is released). */
  readonly filledMinor: bigint;
  /** Units bought (a buy) or sold (a sell), in the fund's minor units. */
  readonly unitsMinor: bigint;
  /** Cash paid (a buy) or received (a sell), in the currency's minor units. */
  readonly cashMinor: bigint;
}

/** The change a movement makes to an order; amounts as strings of minor units (the journal stores it as JSON). */
export type OrderChange =
  | {
      readonly type: 'place';
      readonly orderId: string;
      readonly fund: string;
      readonly currency: string;
      readonly side: OrderSide;
      readonly amountMinor: string;
      readonly dealingDate: string;
      readonly funding?: 'proceeds';
    }
  | { readonly type: 'cancel'; readonly orderId: string }
  | {
      readonly type: 'allocate';
      readonly orderId: string;
      readonly tradeId: string;
      readonly filledMinor: string;
      readonly unitsMinor: string;
      readonly cashMinor: string;
    }
  | { readonly type: 'settle'; readonly orderId: string; readonly tradeId: string };

/** The order after `change`, made by a movement of `potId` (undefined for a change to an unknown order). */
export function applyOrderChange(order: OrderState | undefined, potId: string, change: OrderChange): OrderState | undefined {
  switch (change.type) {
    case 'place':
      return {
        orderId: change.orderId,
        potId,
        fund: change.fund,
        currency: change.currency,
        side: change.side,
        amountMinor: BigInt(change.amountMinor),
        dealingDate: change.dealingDate,
        status: 'open',
        ...(change.funding === undefined ? {} : { funding: change.funding }),
      };
    case 'cancel':
      return order === undefined ? undefined : { ...order, status: 'cancelled' };
    case 'allocate':
      return order === undefined
        ? undefined
        : {
            ...order,
            status: 'allocated',
            tradeId: change.tradeId,
            allocation: { filledMinor: BigInt(change.filledMinor), unitsMinor: BigInt(change.unitsMinor), cashMinor: BigInt(change.cashMinor) },
          };
    case 'settle':
      return order === undefined ? undefined : { ...order, status: 'settled' };
  }
}

/** What the custodian did with one external trade. */
export interface TradeExecution {
  /** The price per unit the trade was struck at (the fund's closing price of the dealing day). */
  readonly price: Rate;
  /** Of the buy leg's cash, how much was invested (all of it unless partly filled; 0 when rejected). */
  readonly buyCashFilledMinor: bigint;
  /** Of the sell leg's units, how many were sold. */
  readonly sellUnitsFilledMinor: bigint;
}

export interface TradeOrder {
  readonly orderId: string;
  readonly side: OrderSide;
  readonly amountMinor: bigint;
}

/** Every order's share of a priced trade, and the rounding residues that go to ACME. */
export interface TradeAllocation {
  readonly orders: readonly (OrderAllocation & { readonly orderId: string })[];
  /** Units the custodian bought: buy cash filled ÷ price, rounded down to the fund's scale. */
  readonly buyUnitsExecutedMinor: bigint;
  /** Cash the custodian paid for the units sold: units × price, rounded down to the currency's scale. */
  readonly sellProceedsExecutedMinor: bigint;
  /** Executed units not allocated to any buyer (each buyer's units are rounded down): ACME's. */
  readonly residueUnitsMinor: bigint;
  /** Executed proceeds not allocated to any seller (each seller's proceeds are rounded down): ACME's. */
  readonly residueCashMinor: bigint;
}

/**
 * Allocates a priced trade to its orders, exactly:
 * - the filled part of each leg is shared over the orders pro rata by largest remainder (ties to the
 *   smaller order id), so a partial fill scales every order by the same rule and the shares sum to
 *   the filled amount; a fully filled or rejected leg gives each order all or nothing;
 * - a buyer's units = its filled cash ÷ price, rounded down to the fund's scale; a seller's proceeds =
 *   its filled units × price, rounded down to the currency's scale;
 * - the custodian's execution is computed the same way on the leg totals, and the difference (never
 *   negative: a sum of floors is at most the floor of the sum) is the residue that ACME keeps, so
 *   allocated + residue = executed exactly.
 */
export function allocateTrade(
  orders: readonly TradeOrder[],
  execution: TradeExecution,
  scales: { readonly fund: number; readonly currency: number },
): TradeAllocation {
  const buys = orders.filter((order) => order.side === 'buy');
  const sells = orders.filter((order) => order.side === 'sell');
  const buyFilled = fill(buys, execution.buyCashFilledMinor);
  const sellFilled = fill(sells, execution.sellUnitsFilledMinor);
  const allocations: (OrderAllocation & { orderId: string })[] = [];
  let buyUnits = 0n;
  let sellCash = 0n;
  for (const order of orders) {
    if (order.side === 'buy') {
      const filledMinor = buyFilled.get(order.orderId) ?? 0n;
      const unitsMinor = divideByRate(filledMinor, scales.currency, execution.price, scales.fund, 'down');
      buyUnits += unitsMinor;
      allocations.push({ orderId: order.orderId, filledMinor, unitsMinor, cashMinor: filledMinor });
    } else {
      const filledMinor = sellFilled.get(order.orderId) ?? 0n;
      const cashMinor = multiplyByRate(filledMinor, scales.fund, execution.price, scales.currency, 'down');
      sellCash += cashMinor;
      allocations.push({ orderId: order.orderId, filledMinor, unitsMinor: filledMinor, cashMinor });
    }
  }
  const buyUnitsExecutedMinor = divideByRate(execution.buyCashFilledMinor, scales.currency, execution.price, scales.fund, 'down');
  const sellProceedsExecutedMinor = multiplyByRate(execution.sellUnitsFilledMinor, scales.fund, execution.price, scales.currency, 'down');
  return {
    orders: allocations,
    buyUnitsExecutedMinor,
    sellProceedsExecutedMinor,
    residueUnitsMinor: buyUnitsExecutedMinor - buyUnits,
    residueCashMinor: sellProceedsExecutedMinor - sellCash,
  };
}

/** Each order's part of a leg's filled total: pro rata by largest remainder; all or nothing at the ends. */
function fill(orders: readonly TradeOrder[], filledMinor: bigint): Map<string, bigint> {
  const total = orders.reduce((sum, order) => sum + order.amountMinor, 0n);
  if (filledMinor < 0n || filledMinor > total) throw new RangeError(`a leg cannot fill ${filledMinor} of ${total}`);
  if (orders.length === 0 || filledMinor === 0n) return new Map(orders.map((order) => [order.orderId, 0n]));
  if (filledMinor === total) return new Map(orders.map((order) => [order.orderId, order.amountMinor]));
  const shares = allocateLargestRemainder(filledMinor, orders.map((order) => ({ key: order.orderId, weight: order.amountMinor })));
  return new Map(shares.map((share) => [share.key, share.amountMinor]));
}
