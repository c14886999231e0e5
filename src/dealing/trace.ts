/**
 * Traceability of the dealing cycle, both ways: from an order (or a movement that changed one) to its
 * trade and the price it was dealt at, and from a trade to every order it allocated and the residue
 * ACME kept, with totals that prove allocated + residue = executed. Read-only; every amount leaves as
 * a decimal string in its asset's units.
 */
import { readMovements, type Queryable } from '../journal/store.js';
import type { AssetCatalog, OrderStatus } from '../ledger/index.js';
import { ACME_ROUNDING_POT } from './trade-steps.js';
import { closingPrice } from './prices.js';
import {
  allocationOf,
  formatFor,
  legTotals,
  orderViewOf,
  tradeViewOf,
  TRADE_TRACE_ORDERS_MAX,
  type BasisOrderView,
  type OrderRow,
  type OrderTrace,
  type OrderView,
  type TracedMovement,
  type TradeRow,
  type TradeTrace,
  type TradeTracePage,
} from './trace-views.js';

export { TRADE_TRACE_ORDERS_MAX } from './trace-views.js';
export type {
  BasisOrderView,
  LegTotals,
  OrderAllocationView,
  OrderTrace,
  OrderView,
  TracedMovement,
  TradeExecutionView,
  TradeTrace,
  TradeTracePage,
  TradeView,
} from './trace-views.js';

export async function findOrder(db: Queryable, orderId: string, assets: AssetCatalog): Promise<OrderView | undefined> {
  const { rows } = await db.query<OrderRow>(
    `SELECT order_id, pot_id, member_id, fund, currency, side, amount_minor, dealing_date::text AS dealing_date, status, trade_id,
            filled_minor, units_minor, cash_minor, placed_movement_id, last_movement_id
       FROM orders WHERE order_id = $1`,
    [orderId],
  );
  return rows[0] === undefined ? undefined : orderViewOf(rows[0], assets);
}

async function findTradeRow(db: Queryable, tradeId: string): Promise<TradeRow | undefined> {
  const { rows } = await db.query<TradeRow>(
    `SELECT trade_id, fund, currency, dealing_date::text AS dealing_date, settlement_date::text AS settlement_date, status,
            price::text AS price, orders, buy_cash_minor, sell_units_minor, buy_cash_filled_minor, sell_units_filled_minor,
            buy_units_executed_minor, sell_proceeds_executed_minor, residue_units_minor, residue_cash_minor,
            placed_at, priced_at, settled_at
       FROM external_trades WHERE trade_id = $1`,
    [tradeId],
  );
  return rows[0];
}

interface MovementHeadRow {
  seq: bigint;
  movement_id: string;
  command_id: string;
  process: string;
  pot_id: string;
  effective_date: string;
  committed_at: Date;
  change: string | null;
}

const MOVEMENT_HEAD_COLUMNS = `seq, movement_id, command_id, process, pot_id, effective_date::text AS effective_date, committed_at,
  order_change->>'type' AS change`;

/** The movements with their entries (each side of an entry as one debit/credit pair). */
async function withEntries(db: Queryable, heads: readonly MovementHeadRow[], assets: AssetCatalog): Promise<TracedMovement[]> {
  const movements = await readMovements(db, heads.map((head) => head.movement_id));
  return heads.map((head) => ({
    seq: head.seq.toString(),
    movementId: head.movement_id,
    commandId: head.command_id,
    process: head.process,
    potId: head.pot_id,
    effectiveDate: head.effective_date,
    committedAt: head.committed_at.toISOString(),
    ...(head.change === null ? {} : { change: head.change }),
    entries: (movements.get(head.movement_id)?.entries ?? []).map((entry) => ({
      debit: entry.debit,
      credit: entry.credit,
      asset: entry.asset,
      amount: formatFor(assets, entry.asset, entry.amountMinor),
    })),
  }));
}

/** Every movement that changed the order, in commit order (an order has a handful: place, allocate, settle). */
async function orderMovements(db: Queryable, orderId: string, assets: AssetCatalog): Promise<TracedMovement[]> {
  const { rows } = await db.query<MovementHeadRow>(
    `SELECT ${MOVEMENT_HEAD_COLUMNS} FROM movements
      WHERE order_change IS NOT NULL AND order_change->>'orderId' = $1
      ORDER BY seq`,
    [orderId],
  );
  return withEntries(db, rows, assets);
}

/** The order, every movement that changed it, its trade and the closing price it was dealt at; undefined when no such order. */
export async function traceOrder(db: Queryable, orderId: string, assets: AssetCatalog): Promise<OrderTrace | undefined> {
  const order = await findOrder(db, orderId, assets);
  if (order === undefined) return undefined;
  const movements = await orderMovements(db, orderId, assets);
  const tradeRow = order.tradeId === undefined ? undefined : await findTradeRow(db, order.tradeId);
  const date = tradeRow?.dealing_date ?? order.dealingDate;
  const price = await closingPrice(db, order.fund, date);
  return {
    order,
    movements,
    ...(tradeRow === undefined ? {} : { trade: tradeViewOf(tradeRow, assets) }),
    closingPrice: { fund: order.fund, date, ...(price === undefined ? {} : { price }) },
  };
}

interface BasisRow extends Pick<OrderRow, 'order_id' | 'pot_id' | 'member_id' | 'side' | 'amount_minor' | 'filled_minor' | 'units_minor' | 'cash_minor'> {
  status: OrderStatus | null;
}

/** The allocation basis (a page of it) with each order as it stands. */
async function basisPage(db: Queryable, trade: TradeRow, page: TradeTracePage, assets: AssetCatalog): Promise<{ orders: BasisOrderView[]; nextCursor?: string }> {
  const limit = Math.min(Math.max(page.limit, 1), TRADE_TRACE_ORDERS_MAX);
  const { rows } = await db.query<BasisRow>(
    `SELECT t.order_id, t.pot_id, t.member_id, t.side, t.amount_minor, o.status, o.filled_minor, o.units_minor, o.cash_minor
       FROM trade_orders t LEFT JOIN orders o ON o.order_id = t.order_id
      WHERE t.trade_id = $1 AND t.order_id > $2
      ORDER BY t.order_id LIMIT $3`,
    [trade.trade_id, page.afterOrderId ?? '', limit + 1],
  );
  const orders = rows.slice(0, limit).map((row) => {
    const allocation = allocationOf({ ...row, fund: trade.fund, currency: trade.currency }, assets);
    return {
      orderId: row.order_id,
      potId: row.pot_id,
      memberId: row.member_id,
      side: row.side,
      amount: formatFor(assets, row.side === 'buy' ? trade.currency : trade.fund, row.amount_minor),
      ...(row.status === null ? {} : { status: row.status }),
      ...(allocation === undefined ? {} : { allocation }),
    };
  });
  const last = orders[orders.length - 1];
  return rows.length > limit && last !== undefined ? { orders, nextCursor: last.orderId } : { orders };
}

/**
 * The proof per leg, over every order of the trade (not only the page): what the orders were allocated
 * (their allocation movements, as the `orders` table keeps them) plus the residue booked in ACME's pot
 * equals what the custodian executed.
 */
async function tradeTotals(db: Queryable, trade: TradeRow, residue: readonly TracedMovement[], assets: AssetCatalog): Promise<TradeTrace['totals']> {
  if (trade.buy_units_executed_minor === null || trade.sell_proceeds_executed_minor === null) return undefined;
  const { rows } = await db.query<{ units: string | null; cash: string | null }>(
    `SELECT sum(o.units_minor) FILTER (WHERE t.side = 'buy')::text AS units, sum(o.cash_minor) FILTER (WHERE t.side = 'sell')::text AS cash
       FROM trade_orders t JOIN orders o ON o.order_id = t.order_id
      WHERE t.trade_id = $1`,
    [trade.trade_id],
  );
  const allocatedUnits = BigInt(rows[0]?.units ?? '0');
  const allocatedCash = BigInt(rows[0]?.cash ?? '0');
  // The pending residue (`residue:`) books each asset once, as one debit; its settlement moves the same amounts on.
  const booked = residue.find((movement) => movement.commandId === `residue:${trade.trade_id}`);
  const { rows: sums } = await db.query<{ asset: string; total: string }>(
    "SELECT asset, sum(amount_minor)::text AS total FROM entries WHERE movement_id = $1 AND side = 'debit' GROUP BY asset",
    [booked?.movementId ?? ''],
  );
  const residueMinor = (asset: string) => BigInt(sums.find((sum) => sum.asset === asset)?.total ?? '0');
  return {
    units: legTotals(assets, trade.fund, trade.buy_units_executed_minor, allocatedUnits, residueMinor(trade.fund)),
    cash: legTotals(assets, trade.currency, trade.sell_proceeds_executed_minor, allocatedCash, residueMinor(trade.currency)),
  };
}

/** The trade, a page of its allocation basis with each order's status and allocation, ACME's residue and the totals; undefined when no such trade. */
export async function traceTrade(
  db: Queryable,
  tradeId: string,
  assets: AssetCatalog,
  page: TradeTracePage = { limit: TRADE_TRACE_ORDERS_MAX },
): Promise<TradeTrace | undefined> {
  const row = await findTradeRow(db, tradeId);
  if (row === undefined) return undefined;
  const basis = await basisPage(db, row, page, assets);
  const heads = await db.query<MovementHeadRow>(
    `SELECT ${MOVEMENT_HEAD_COLUMNS} FROM movements WHERE command_id = ANY($1::text[]) AND pot_id = $2 ORDER BY seq`,
    [[`residue:${tradeId}`, `settle-residue:${tradeId}`], ACME_ROUNDING_POT],
  );
  const residue = await withEntries(db, heads.rows, assets);
  const totals = await tradeTotals(db, row, residue, assets);
  return {
    trade: tradeViewOf(row, assets),
    orders: basis.orders,
    ...(basis.nextCursor === undefined ? {} : { nextCursor: basis.nextCursor }),
    residue,
    ...(totals === undefined ? {} : { totals }),
  };
}

/** The order a movement changed: undefined when there is no such movement; no orderId when it changed none. */
export async function orderOfMovement(db: Queryable, movementId: string): Promise<{ readonly orderId?: string } | undefined> {
  const { rows } = await db.query<{ order_id: string | null }>("SELECT order_change->>'orderId' AS order_id FROM movements WHERE movement_id = $1", [movementId]);
  const row = rows[0];
  if (row === undefined) return undefined;
  return row.order_id === null ? {} : { orderId: row.order_id };
}
