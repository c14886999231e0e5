/**
 * Where the switches of re-balances stand, read from Postgres: the re-balances that sold in a trade, the
 * switch purchases of a trade still waiting for their funding sales, and those now free to settle.
 *
 * A switch is related to its re-balance by its order id today (`rebalance:<pot>:<day>:sell:<fund>`,
 * `…:switch:<fund>`), which these queries parse. A typed column would replace that: `orders.rebalance_id`
 * (and `trade_orders.rebalance_id`), the `pot.rebalance` command id that placed the order, filled by the
 * journal from the order's movement and, for existing rows, by a migration from the id's prefix. No
 * migration number was free for it in issue 17.
 */
import type { Queryable } from '../journal/store.js';
import type { RebalanceLeg } from '../ledger/index.js';
import type { ReleasedSwitch, SellingRebalance } from './trade-steps.js';

/** The funding sales not yet settled of a switch purchase `o` (its re-balance's sells, `…:sell:<fund>`). */
const UNSETTLED_SALES_OF_SWITCH = `SELECT 1 FROM orders s
  WHERE s.pot_id = o.pot_id AND starts_with(s.order_id, regexp_replace(o.order_id, ':switch:[^:]+$', '') || ':sell:') AND s.status <> 'settled'`;

/**
 * The most switch purchases one settlement releases at once. Each is one order of one pot, and a pot has
 * at most one switch per fund per re-balance day: the bound is the pots of a day's re-balance times its
 * funds, far above a day's real count; past it the query would be paged.
 */
export const RELEASED_SWITCHES_MAX = 5_000_000;

/** The re-balances that sold in `tradeId`, with their legs and where their sales stand. */
export async function rebalancesSellingIn(db: Queryable, tradeId: string): Promise<SellingRebalance[]> {
  const { rows } = await db.query<{ command_id: string; member_id: string; pot_id: string; legs: readonly RebalanceLeg[]; sells_open: number; sales_settle: string }>(
    `SELECT r.command_id, r.member_id, r.pot_id, r.pot_change->'legs' AS legs,
            (SELECT count(*)::int FROM orders s
              WHERE s.pot_id = r.pot_id AND starts_with(s.order_id, r.command_id || ':sell:')
                AND s.status NOT IN ('allocated', 'settled')) AS sells_open,
            (SELECT max(x.settlement_date)::text FROM orders s JOIN external_trades x ON x.trade_id = s.trade_id
              WHERE s.pot_id = r.pot_id AND starts_with(s.order_id, r.command_id || ':sell:')) AS sales_settle
       FROM (SELECT DISTINCT regexp_replace(order_id, ':sell:[^:]+$', '') AS rebalance_id
               FROM trade_orders WHERE trade_id = $1 AND side = 'sell' AND order_id LIKE 'rebalance:%:sell:%') t
       JOIN movements r ON r.command_id = t.rebalance_id AND r.process = 'pot.rebalance'`,
    [tradeId],
  );
  return rows.map((row) => ({ rebalanceId: row.command_id, memberId: row.member_id, potId: row.pot_id, legs: row.legs, sellsOpen: row.sells_open, salesSettle: row.sales_settle }));
}

/** The switch purchases of a trade whose funding sales (their re-balance's sells) have not all settled. */
export async function switchesAwaitingSales(db: Queryable, tradeId: string): Promise<Set<string>> {
  const { rows } = await db.query<{ order_id: string }>(
    `SELECT o.order_id FROM orders o
      WHERE o.trade_id = $1 AND o.funding = 'proceeds' AND o.order_id LIKE 'rebalance:%:switch:%'
        AND EXISTS (${UNSETTLED_SALES_OF_SWITCH})`,
    [tradeId],
  );
  return new Set(rows.map((row) => row.order_id));
}

/** The switch purchases left waiting whose trade and funding sales have all settled (any trade). */
export async function releasedSwitches(db: Queryable): Promise<ReleasedSwitch[]> {
  const { rows } = await db.query<{ order_id: string; member_id: string; pot_id: string; trade_id: string; settlement_date: string }>(
    `SELECT o.order_id, o.member_id, o.pot_id, o.trade_id, x.settlement_date::text AS settlement_date
       FROM orders o JOIN external_trades x ON x.trade_id = o.trade_id
      WHERE o.funding = 'proceeds' AND o.status = 'allocated' AND x.status = 'settled' AND o.order_id LIKE 'rebalance:%:switch:%'
        AND NOT EXISTS (${UNSETTLED_SALES_OF_SWITCH})
      LIMIT $1`,
    [RELEASED_SWITCHES_MAX + 1],
  );
  if (rows.length > RELEASED_SWITCHES_MAX) throw new Error(`more than ${RELEASED_SWITCHES_MAX} switch purchases to release at once`);
  return rows.map((row) => ({ orderId: row.order_id, memberId: row.member_id, potId: row.pot_id, tradeId: row.trade_id, settlementDate: row.settlement_date }));
}
