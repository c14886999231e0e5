import type pg from 'pg';
import { inTransaction } from '../journal/database.js';
import type { Queryable } from '../journal/store.js';
import { addBusinessDays, dealingOf, type AssetCatalog, type OrderSide, type TradeAllocation } from '../ledger/index.js';

/**
 * External trades in Postgres: aggregation at the cut-off (one trade per fund per dealing day, with its
 * allocation basis recorded before it is sent), then what the custodian reported. Each step changes a
 * trade's status once; a repeated report finds the step done and changes nothing.
 */
export interface Trade {
  readonly tradeId: string;
  readonly fund: string;
  readonly currency: string;
  readonly dealingDate: string;
  readonly settlementDate: string;
  readonly buyCashMinor: bigint;
  readonly sellUnitsMinor: bigint;
  readonly orders: number;
  readonly status: 'placed' | 'priced' | 'settled' | 'rejected';
  readonly price?: string;
}

export interface BasisOrder {
  readonly orderId: string;
  readonly potId: string;
  readonly memberId: string;
  readonly side: OrderSide;
  readonly amountMinor: bigint;
}

/**
 * The most orders one trade aggregates: four per member of the Trust's 5 million in one cycle of one
 * fund. A trade's basis and the fan-outs of its saga are held in memory whole; past this, aggregation
 * refuses (its transaction rolls back) rather than deal a cycle it cannot hold.
 */
export const TRADE_ORDERS_MAX = 20_000_000;
/** The most trades left placed that the desk sends again at its start: one per fund and dealing day, far fewer in practice. */
export const PLACED_TRADES_MAX = 10_000;

/** The advisory-lock class of aggregation: (class, hash of the fund) serialises one fund's cut-offs. */
const AGGREGATION_LOCK_CLASS = 7302;

export function tradeIdOf(fund: string, dealingDate: string): string {
  return `T-${fund}-${dealingDate}`;
}

/**
 * Takes every open order of `fund` dealing on or before `dealingDate` (a late order rolls into this
 * cycle) into one trade, records the allocation basis, and marks the orders aggregated, in one
 * transaction. Returns the trade (the existing one when the cycle was aggregated already), or
 * undefined when there is nothing to deal.
 */
export async function aggregateCycle(pool: pg.Pool, fund: string, dealingDate: string, assets: AssetCatalog): Promise<Trade | undefined> {
  const dealing = dealingOf(assets, fund);
  if (dealing === undefined) throw new RangeError(`${fund} is not a fund that deals`);
  const tradeId = tradeIdOf(fund, dealingDate);
  return inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [AGGREGATION_LOCK_CLASS, fund]);
    const existing = await findTrade(client, tradeId);
    if (existing !== undefined) return existing;
    const taken = await client.query<{ order_id: string; pot_id: string; member_id: string; side: OrderSide; amount_minor: bigint }>(
      `UPDATE orders SET status = 'aggregated', trade_id = $3
        WHERE fund = $1 AND dealing_date <= $2::date AND status = 'open'
       RETURNING order_id, pot_id, member_id, side, amount_minor`,
      [fund, dealingDate, tradeId],
    );
    if (taken.rows.length === 0) return undefined;
    if (taken.rows.length > TRADE_ORDERS_MAX) throw new Error(`the cycle of ${fund} on ${dealingDate}: ${taken.rows.length} orders, more than a trade takes (${TRADE_ORDERS_MAX})`);
    let buyCash = 0n;
    let sellUnits = 0n;
    for (const row of taken.rows) {
      if (row.side === 'buy') buyCash += row.amount_minor;
      else sellUnits += row.amount_minor;
    }
    await client.query(
      `INSERT INTO external_trades (trade_id, fund, currency, dealing_date, settlement_date, buy_cash_minor, sell_units_minor, orders, status)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'placed')`,
      [
        tradeId,
        fund,
        dealing.currency,
        dealingDate,
        addBusinessDays(dealing.calendar, dealingDate, dealing.settlementDays),
        buyCash.toString(),
        sellUnits.toString(),
        taken.rows.length,
      ],
    );
    await client.query(
      `INSERT INTO trade_orders (trade_id, order_id, pot_id, member_id, side, amount_minor)
       SELECT $1, o.order_id, o.pot_id, o.member_id, o.side, o.amount_minor
         FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[]) AS o(order_id, pot_id, member_id, side, amount_minor)`,
      [
        tradeId,
        taken.rows.map((r) => r.order_id),
        taken.rows.map((r) => r.pot_id),
        taken.rows.map((r) => r.member_id),
        taken.rows.map((r) => r.side),
        taken.rows.map((r) => r.amount_minor.toString()),
      ],
    );
    const trade = await findTrade(client, tradeId);
    if (trade === undefined) throw new Error(`aggregateCycle: trade ${tradeId} vanished`);
    return trade;
  });
}

interface TradeRow {
  trade_id: string;
  fund: string;
  currency: string;
  dealing_date: string;
  settlement_date: string;
  buy_cash_minor: bigint;
  sell_units_minor: bigint;
  orders: number;
  status: Trade['status'];
  price: string | null;
}

const TRADE_COLUMNS = `trade_id, fund, currency, dealing_date::text AS dealing_date, settlement_date::text AS settlement_date,
  buy_cash_minor, sell_units_minor, orders, status, price::text AS price`;

function tradeOf(row: TradeRow): Trade {
  return {
    tradeId: row.trade_id,
    fund: row.fund,
    currency: row.currency,
    dealingDate: row.dealing_date,
    settlementDate: row.settlement_date,
    buyCashMinor: row.buy_cash_minor,
    sellUnitsMinor: row.sell_units_minor,
    orders: row.orders,
    status: row.status,
    ...(row.price === null ? {} : { price: row.price }),
  };
}

export async function findTrade(db: Queryable, tradeId: string): Promise<Trade | undefined> {
  const { rows } = await db.query<TradeRow>(`SELECT ${TRADE_COLUMNS} FROM external_trades WHERE trade_id = $1`, [tradeId]);
  return rows[0] === undefined ? undefined : tradeOf(rows[0]);
}

/** The trades in `status`, at most PLACED_TRADES_MAX (more is a backlog for an operator: it throws). */
export async function tradesInStatus(db: Queryable, status: Trade['status']): Promise<Trade[]> {
  const { rows } = await db.query<TradeRow>(`SELECT ${TRADE_COLUMNS} FROM external_trades WHERE status = $1 ORDER BY trade_id LIMIT $2`, [status, PLACED_TRADES_MAX + 1]);
  if (rows.length > PLACED_TRADES_MAX) throw new Error(`more than ${PLACED_TRADES_MAX} trades are ${status}`);
  return rows.map(tradeOf);
}

/** The allocation basis of a trade: its orders as aggregated, in order id order. */
export async function tradeBasis(db: Queryable, tradeId: string): Promise<BasisOrder[]> {
  const { rows } = await db.query<{ order_id: string; pot_id: string; member_id: string; side: OrderSide; amount_minor: bigint }>(
    'SELECT order_id, pot_id, member_id, side, amount_minor FROM trade_orders WHERE trade_id = $1 ORDER BY order_id LIMIT $2',
    [tradeId, TRADE_ORDERS_MAX + 1],
  );
  if (rows.length > TRADE_ORDERS_MAX) throw new Error(`trade ${tradeId} has a basis of more than ${TRADE_ORDERS_MAX} orders`);
  return rows.map((row) => ({ orderId: row.order_id, potId: row.pot_id, memberId: row.member_id, side: row.side, amountMinor: row.amount_minor }));
}

/** Records the custodian's pricing of a placed trade; false when it was recorded before (a repeated report). */
export async function recordPricing(
  db: Queryable,
  tradeId: string,
  price: string,
  filled: { buyCashMinor: bigint; sellUnitsMinor: bigint },
  allocation: TradeAllocation,
): Promise<boolean> {
  const result = await db.query(
    `UPDATE external_trades
        SET status = 'priced', price = $2::numeric, buy_cash_filled_minor = $3, sell_units_filled_minor = $4,
            buy_units_executed_minor = $5, sell_proceeds_executed_minor = $6, residue_units_minor = $7, residue_cash_minor = $8,
            priced_at = now()
      WHERE trade_id = $1 AND status = 'placed'`,
    [
      tradeId,
      price,
      filled.buyCashMinor.toString(),
      filled.sellUnitsMinor.toString(),
      allocation.buyUnitsExecutedMinor.toString(),
      allocation.sellProceedsExecutedMinor.toString(),
      allocation.residueUnitsMinor.toString(),
      allocation.residueCashMinor.toString(),
    ],
  );
  return (result.rowCount ?? 0) === 1;
}

/** Records the custodian's refusal of a placed trade; false when recorded before. */
export async function recordRejection(db: Queryable, tradeId: string): Promise<boolean> {
  const result = await db.query(
    `UPDATE external_trades SET status = 'rejected', buy_cash_filled_minor = 0, sell_units_filled_minor = 0, buy_units_executed_minor = 0,
            sell_proceeds_executed_minor = 0, residue_units_minor = 0, residue_cash_minor = 0, priced_at = now()
      WHERE trade_id = $1 AND status = 'placed'`,
    [tradeId],
  );
  return (result.rowCount ?? 0) === 1;
}

/** Records the settlement of a priced trade; false when it was settled before. */
export async function recordSettlement(db: Queryable, tradeId: string): Promise<boolean> {
  const result = await db.query("UPDATE external_trades SET status = 'settled', settled_at = now() WHERE trade_id = $1 AND status = 'priced'", [tradeId]);
  return (result.rowCount ?? 0) === 1;
}

/** The execution recorded with a priced trade (for the settlement and for traceability). */
export async function tradeExecution(db: Queryable, tradeId: string): Promise<{ residueUnitsMinor: bigint; residueCashMinor: bigint } | undefined> {
  const { rows } = await db.query<{ residue_units_minor: bigint | null; residue_cash_minor: bigint | null }>(
    'SELECT residue_units_minor, residue_cash_minor FROM external_trades WHERE trade_id = $1',
    [tradeId],
  );
  const row = rows[0];
  if (row === undefined || row.residue_units_minor === null || row.residue_cash_minor === null) return undefined;
  return { residueUnitsMinor: row.residue_units_minor, residueCashMinor: row.residue_cash_minor };
}
