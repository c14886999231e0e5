/** Reading orders as they stand now (the aggregator's changes included), for planning the commands that name them. */
import type { OrderFunding, OrderSide, OrderState, OrderStatus } from '../ledger/index.js';
import type { Queryable } from './database.js';

export interface OrderRow {
  order_id: string;
  pot_id: string;
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
  funding: OrderFunding;
}

/**
 * The most orders one query reads: as many as the shards' look-ups send at once (their coalescer asks
 * for at most 10,000 keys); a longer list is read in pages of this size.
 */
export const ORDER_READ_PAGE_MAX = 10_000;

/** The orders by id, as they stand now (the aggregator's changes included). */
export async function loadOrders(db: Queryable, orderIds: readonly string[]): Promise<Map<string, OrderState>> {
  const orders = new Map<string, OrderState>();
  for (let start = 0; start < orderIds.length; start += ORDER_READ_PAGE_MAX) {
    const { rows } = await db.query<OrderRow>(
      `SELECT order_id, pot_id, fund, currency, side, amount_minor, dealing_date::text AS dealing_date, status, trade_id,
              filled_minor, units_minor, cash_minor, funding
         FROM orders WHERE order_id = ANY($1::text[])`,
      [orderIds.slice(start, start + ORDER_READ_PAGE_MAX)],
    );
    for (const row of rows) orders.set(row.order_id, orderOfRow(row));
  }
  return orders;
}

export function orderOfRow(row: OrderRow): OrderState {
  return {
    orderId: row.order_id,
    potId: row.pot_id,
    fund: row.fund,
    currency: row.currency,
    side: row.side,
    amountMinor: row.amount_minor,
    dealingDate: row.dealing_date,
    status: row.status,
    ...(row.funding === 'proceeds' ? { funding: 'proceeds' as const } : {}),
    ...(row.trade_id === null ? {} : { tradeId: row.trade_id }),
    ...(row.filled_minor === null || row.units_minor === null || row.cash_minor === null
      ? {}
      : { allocation: { filledMinor: row.filled_minor, unitsMinor: row.units_minor, cashMinor: row.cash_minor } }),
  };
}
