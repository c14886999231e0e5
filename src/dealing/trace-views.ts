import { formatAmount, type AssetCatalog, type OrderSide, type OrderStatus, type WireEntry } from '../ledger/index.js';

/**
 * The views of the dealing trace (orders, trades, their movements and totals) and the pure turning of
 * their rows into them: every amount leaves as a decimal string in its asset's units. No I/O.
 */

export interface TracedMovement {
  readonly seq: string;
  readonly movementId: string;
  readonly commandId: string;
  readonly process: string;
  readonly potId: string;
  readonly effectiveDate: string;
  readonly committedAt: string;
  /** What it did to the order: place, cancel, allocate or settle (absent for a residue). */
  readonly change?: string;
  readonly entries: readonly WireEntry[];
}

export interface OrderAllocationView {
  /** The part of the order the trade filled: cash for a buy, units for a sell. */
  readonly filled: string;
  readonly units: string;
  readonly cash: string;
}

export interface OrderView {
  readonly orderId: string;
  readonly potId: string;
  readonly memberId: string;
  readonly fund: string;
  readonly currency: string;
  readonly side: OrderSide;
  /** A buy: the cash to invest. A sell: the units to sell. */
  readonly amount: string;
  readonly dealingDate: string;
  readonly status: OrderStatus;
  readonly tradeId?: string;
  readonly allocation?: OrderAllocationView;
  readonly placedMovementId: string;
  readonly lastMovementId: string;
}

export interface TradeExecutionView {
  readonly buyCashFilled: string;
  readonly sellUnitsFilled: string;
  readonly buyUnitsExecuted: string;
  readonly sellProceedsExecuted: string;
  readonly residueUnits: string;
  readonly residueCash: string;
}

export interface TradeView {
  readonly tradeId: string;
  readonly fund: string;
  readonly currency: string;
  readonly dealingDate: string;
  readonly settlementDate: string;
  readonly status: 'placed' | 'priced' | 'settled' | 'rejected';
  readonly price?: string;
  readonly orders: number;
  readonly buyCash: string;
  readonly sellUnits: string;
  /** What the custodian did: present once the trade was priced or rejected. */
  readonly execution?: TradeExecutionView;
  readonly placedAt: string;
  readonly pricedAt?: string;
  readonly settledAt?: string;
}

export interface OrderTrace {
  readonly order: OrderView;
  /** Every movement that changed the order, in commit order. */
  readonly movements: readonly TracedMovement[];
  readonly trade?: TradeView;
  /** The closing price of the trade's dealing day (the order's own before it was aggregated). */
  readonly closingPrice: { readonly fund: string; readonly date: string; readonly price?: string };
}

export interface BasisOrderView {
  readonly orderId: string;
  readonly potId: string;
  readonly memberId: string;
  readonly side: OrderSide;
  readonly amount: string;
  /** As the order stands now (absent only if its row is missing, which `verify` reports). */
  readonly status?: OrderStatus;
  readonly allocation?: OrderAllocationView;
}

export interface LegTotals {
  readonly executed: string;
  readonly allocated: string;
  readonly residue: string;
  /** allocated + residue = executed. */
  readonly balanced: boolean;
}

export interface TradeTrace {
  readonly trade: TradeView;
  /** A page of the allocation basis, in order id order. */
  readonly orders: readonly BasisOrderView[];
  /** Pass as `afterOrderId` for the next page; absent on the last page. */
  readonly nextCursor?: string;
  /** The residue's movements in ACME's rounding pot (`residue:` then `settle-residue:`). */
  readonly residue: readonly TracedMovement[];
  /** Once executed, per leg: units bought (buy leg) and proceeds (sell leg), over every order of the trade. */
  readonly totals?: { readonly units: LegTotals; readonly cash: LegTotals };
}

/** The most orders one page of a trade's trace holds. */
export const TRADE_TRACE_ORDERS_MAX = 500;

export interface TradeTracePage {
  /** The order id the previous page ended with. */
  readonly afterOrderId?: string;
  readonly limit: number;
}

export function formatFor(assets: AssetCatalog, asset: string, minor: bigint): string {
  const scale = assets.find(asset)?.scale;
  // An asset the catalogue does not know cannot be formatted; show minor units, named as such.
  return scale === undefined ? `${minor.toString()} (minor units)` : formatAmount(minor, scale);
}

export interface OrderRow {
  order_id: string;
  pot_id: string;
  member_id: string;
  fund: string;
  currency: string;
  side: OrderSide;
  amount_minor: bigint;
  dealing_date: string;
  status: OrderStatus;
  trade_id: string | null;
  filled_minor: bigint | null;
  units_minor: bigint | null;
  cash_minor: bigint | null;
  placed_movement_id: string;
  last_movement_id: string;
}

/** The columns of an order row that carry its allocation. */
export type AllocationColumns = Pick<OrderRow, 'side' | 'fund' | 'currency' | 'filled_minor' | 'units_minor' | 'cash_minor'>;

export function allocationOf(row: AllocationColumns, assets: AssetCatalog): OrderAllocationView | undefined {
  if (row.filled_minor === null || row.units_minor === null || row.cash_minor === null) return undefined;
  return {
    filled: formatFor(assets, row.side === 'buy' ? row.currency : row.fund, row.filled_minor),
    units: formatFor(assets, row.fund, row.units_minor),
    cash: formatFor(assets, row.currency, row.cash_minor),
  };
}

export function orderViewOf(row: OrderRow, assets: AssetCatalog): OrderView {
  const allocation = allocationOf(row, assets);
  return {
    orderId: row.order_id,
    potId: row.pot_id,
    memberId: row.member_id,
    fund: row.fund,
    currency: row.currency,
    side: row.side,
    amount: formatFor(assets, row.side === 'buy' ? row.currency : row.fund, row.amount_minor),
    dealingDate: row.dealing_date,
    status: row.status,
    ...(row.trade_id === null ? {} : { tradeId: row.trade_id }),
    ...(allocation === undefined ? {} : { allocation }),
    placedMovementId: row.placed_movement_id,
    lastMovementId: row.last_movement_id,
  };
}

export interface TradeRow {
  trade_id: string;
  fund: string;
  currency: string;
  dealing_date: string;
  settlement_date: string;
  status: TradeView['status'];
  price: string | null;
  orders: number;
  buy_cash_minor: bigint;
  sell_units_minor: bigint;
  buy_cash_filled_minor: bigint | null;
  sell_units_filled_minor: bigint | null;
  buy_units_executed_minor: bigint | null;
  sell_proceeds_executed_minor: bigint | null;
  residue_units_minor: bigint | null;
  residue_cash_minor: bigint | null;
  placed_at: Date;
  priced_at: Date | null;
  settled_at: Date | null;
}

/** The execution figures, when the custodian's answer is recorded (all six are written together). */
export function executionOf(row: TradeRow, assets: AssetCatalog): TradeExecutionView | undefined {
  const { buy_cash_filled_minor, sell_units_filled_minor, buy_units_executed_minor, sell_proceeds_executed_minor, residue_units_minor, residue_cash_minor } = row;
  if (
    buy_cash_filled_minor === null ||
    sell_units_filled_minor === null ||
    buy_units_executed_minor === null ||
    sell_proceeds_executed_minor === null ||
    residue_units_minor === null ||
    residue_cash_minor === null
  ) {
    return undefined;
  }
  return {
    buyCashFilled: formatFor(assets, row.currency, buy_cash_filled_minor),
    sellUnitsFilled: formatFor(assets, row.fund, sell_units_filled_minor),
    buyUnitsExecuted: formatFor(assets, row.fund, buy_units_executed_minor),
    sellProceedsExecuted: formatFor(assets, row.currency, sell_proceeds_executed_minor),
    residueUnits: formatFor(assets, row.fund, residue_units_minor),
    residueCash: formatFor(assets, row.currency, residue_cash_minor),
  };
}

export function tradeViewOf(row: TradeRow, assets: AssetCatalog): TradeView {
  const execution = executionOf(row, assets);
  return {
    tradeId: row.trade_id,
    fund: row.fund,
    currency: row.currency,
    dealingDate: row.dealing_date,
    settlementDate: row.settlement_date,
    status: row.status,
    ...(row.price === null ? {} : { price: row.price }),
    orders: row.orders,
    buyCash: formatFor(assets, row.currency, row.buy_cash_minor),
    sellUnits: formatFor(assets, row.fund, row.sell_units_minor),
    ...(execution === undefined ? {} : { execution }),
    placedAt: row.placed_at.toISOString(),
    ...(row.priced_at === null ? {} : { pricedAt: row.priced_at.toISOString() }),
    ...(row.settled_at === null ? {} : { settledAt: row.settled_at.toISOString() }),
  };
}

export function legTotals(assets: AssetCatalog, asset: string, executed: bigint, allocated: bigint, residue: bigint): LegTotals {
  return {
    executed: formatFor(assets, asset, executed),
    allocated: formatFor(assets, asset, allocated),
    residue: formatFor(assets, asset, residue),
    balanced: allocated + residue === executed,
  };
}
