/**
 * The checks `verify` runs, one SQL query per rule of the journal: the structural rules (balanced
 * movements, entry pairs, snapshots equal to the entries, the close's cut, the hash chain, orders and
 * trades, payments clearing, …) and one per invariant each account kind declares. Each query returns
 * the rows breaking its rule, none when the journal is sound.
 */
import { ACCOUNT_KINDS, type AccountKind } from '../ledger/index.js';
import { CHAIN_TEXT_SQL } from './chain.js';

export interface CheckQuery {
  readonly name: string;
  readonly description: string;
  /** Selects one row per break, with a text column `break` describing it. */
  readonly sql: string;
  /** The query takes the known account kinds as $1 (JSON). */
  readonly takesKinds?: boolean;
}

const SIGNED = "CASE e.side WHEN 'debit' THEN e.amount_minor ELSE -e.amount_minor END";

/**
 * The close is a cut in stream order (src/journal/end-of-day.ts): each partition's close records the seq
 * of its last movement included. Each movement belongs to the first close of its partition whose cut
 * includes it; the accounts its entries moved must be snapshotted at that close, at the highest version
 * any movement of that close gave them, and nothing else may be. With 'entry-chain' (balance after each
 * version) and 'end-of-day-snapshots' (each snapshot's balance is its version's), this proves that the
 * balances as of every close are the journal replayed up to the partition's marker. Snapshots of days
 * closed before close markers existed (before the partition's first recorded close, with none recorded
 * that day) are not a proven cut: entries they cover are left out. A snapshot of any later day the
 * partition did not close is a break.
 */
const END_OF_DAY_CUT_SQL = `
  WITH account_partition AS (
    SELECT b.account_id, coalesce(b.partition, p.partition) AS partition FROM balances b LEFT JOIN pots p ON p.pot_id = b.pot_id),
  first_cut AS (
    SELECT partition, min(business_date) AS business_date FROM partition_closes GROUP BY partition),
  unrecorded AS (
    SELECT d.account_id, d.business_date, d.version, a.partition, (d.business_date < coalesce(f.business_date, 'infinity'::date)) AS before_markers
      FROM balances_eod d JOIN account_partition a ON a.account_id = d.account_id LEFT JOIN first_cut f ON f.partition = a.partition
     WHERE NOT EXISTS (SELECT 1 FROM partition_closes c WHERE c.partition = a.partition AND c.business_date = d.business_date)),
  legacy AS (
    SELECT account_id, max(version) AS version FROM unrecorded WHERE before_markers GROUP BY account_id),
  expected AS (
    SELECT c.business_date, e.account_id, max(e.account_version) AS version
      FROM movements m
      JOIN LATERAL (SELECT c.business_date FROM partition_closes c WHERE c.partition = m.partition AND c.movement_seq_through >= m.seq
                     ORDER BY c.movement_seq_through, c.business_date LIMIT 1) c ON true
      JOIN entries e ON e.movement_id = m.movement_id
      LEFT JOIN legacy l ON l.account_id = e.account_id
     WHERE e.account_version > coalesce(l.version, 0)
     GROUP BY c.business_date, e.account_id),
  snapshots AS (
    SELECT d.business_date, d.account_id, d.version
      FROM balances_eod d JOIN account_partition a ON a.account_id = d.account_id
      JOIN partition_closes c ON c.partition = a.partition AND c.business_date = d.business_date),
  cuts AS (
    SELECT partition, business_date, movement_seq_through,
           lag(movement_seq_through) OVER (PARTITION BY partition ORDER BY business_date) AS previous
      FROM partition_closes)
  SELECT format('%s at the close of %s: snapshot %s, the journal replayed up to the cut gives %s', coalesce(x.account_id, s.account_id),
                coalesce(x.business_date, s.business_date), coalesce('v' || s.version, 'none'), coalesce('v' || x.version, 'no change')) AS break
    FROM expected x FULL JOIN snapshots s ON s.business_date = x.business_date AND s.account_id = x.account_id
   WHERE x.version IS DISTINCT FROM s.version
  UNION ALL
  SELECT format('partition %s: the cut of %s (movement seq %s) is before the previous close''s (%s)', partition, business_date, movement_seq_through, previous)
    FROM cuts WHERE movement_seq_through < previous
  UNION ALL
  SELECT format('%s has a snapshot of %s, a day its partition %s did not close', account_id, business_date, partition)
    FROM unrecorded WHERE NOT before_markers`;

export const STRUCTURAL_CHECKS: readonly CheckQuery[] = [
  {
    name: 'movement-balances',
    description: 'every movement balances per asset (debits = credits)',
    sql: `SELECT format('movement %s does not balance in %s by %s', e.movement_id, e.asset, sum(${SIGNED})) AS break
            FROM entries e GROUP BY e.movement_id, e.asset HAVING sum(${SIGNED}) <> 0`,
  },
  {
    name: 'entry-pairs',
    description: 'every entry is one debit and one credit of the same asset and amount',
    sql: `SELECT format('movement %s entry %s is not a debit/credit pair of one asset and amount', e.movement_id, e.entry_index) AS break
            FROM entries e GROUP BY e.movement_id, e.entry_index
          HAVING count(*) <> 2 OR count(DISTINCT e.side) <> 2 OR count(DISTINCT e.asset) <> 1 OR count(DISTINCT e.amount_minor) <> 1`,
  },
  {
    name: 'entries-have-movements',
    description: 'every entry belongs to a recorded movement',
    sql: `SELECT format('entry %s/%s/%s has no movement', e.movement_id, e.entry_index, e.side) AS break
            FROM entries e LEFT JOIN movements m ON m.movement_id = e.movement_id WHERE m.movement_id IS NULL`,
  },
  {
    name: 'asset-sums-to-zero',
    description: 'every asset sums to zero over all accounts',
    sql: `SELECT format('%s sums to %s over all accounts', b.asset, sum(b.balance_minor)) AS break
            FROM balances b GROUP BY b.asset HAVING sum(b.balance_minor) <> 0`,
  },
  {
    name: 'balances-equal-entries',
    description: 'every balance snapshot equals the sum of its entries, with the version of its last entry',
    sql: `WITH replay AS (
            SELECT e.account_id, sum(${SIGNED}) AS balance, count(*) AS postings, max(e.account_version) AS version
              FROM entries e GROUP BY e.account_id)
          SELECT format('%s: snapshot %s v%s, entries sum %s over %s postings up to v%s',
                        coalesce(b.account_id, r.account_id), b.balance_minor, b.version, r.balance, r.postings, r.version) AS break
            FROM balances b FULL JOIN replay r ON r.account_id = b.account_id
           WHERE b.account_id IS NULL OR r.account_id IS NULL
              OR b.balance_minor <> r.balance OR b.version <> r.version OR r.postings <> r.version`,
  },
  {
    name: 'entry-chain',
    description: "each account's entries run v1, v2, … and each balance-after is the previous one plus the entry",
    sql: `SELECT format('%s v%s: balance after %s, expected %s', c.account_id, c.account_version, c.balance_after_minor,
                        coalesce(c.previous_balance, 0) + c.signed) AS break
            FROM (SELECT e.account_id, e.account_version, e.balance_after_minor, ${SIGNED} AS signed,
                         lag(e.balance_after_minor) OVER w AS previous_balance,
                         lag(e.account_version) OVER w AS previous_version
                    FROM entries e WINDOW w AS (PARTITION BY e.account_id ORDER BY e.account_version)) c
           WHERE c.balance_after_minor <> coalesce(c.previous_balance, 0) + c.signed
              OR c.account_version <> coalesce(c.previous_version, 0) + 1`,
  },
  {
    name: 'outcomes-match-movements',
    description: 'every movement has its applied or corrected outcome, and every such outcome its movement',
    sql: `SELECT format('movement %s / command %s: outcome %s for movement %s', m.movement_id, coalesce(m.command_id, o.command_id),
                        o.status, o.movement_id) AS break
            FROM movements m FULL JOIN (SELECT * FROM command_outcomes WHERE status <> 'rejected') o ON o.movement_id = m.movement_id
           WHERE m.movement_id IS NULL OR o.command_id IS NULL OR o.command_id <> m.command_id
              OR (o.status = 'corrected') <> m.corrected`,
  },
  {
    name: 'end-of-day-snapshots',
    description: "every end-of-day snapshot equals its account's balance after the entry of that version",
    sql: `SELECT format('%s on %s: snapshot %s v%s, entry says %s', d.account_id, d.business_date, d.balance_minor, d.version,
                        e.balance_after_minor) AS break
            FROM balances_eod d LEFT JOIN entries e ON e.account_id = d.account_id AND e.account_version = d.version
           WHERE e.balance_after_minor IS DISTINCT FROM d.balance_minor`,
  },
  {
    name: 'end-of-day-cut',
    description:
      "every partition's end-of-day snapshot equals the journal replayed up to its close marker: at each close, exactly the accounts its movements " +
      "up to the cut moved since the partition's previous close, each at its last version within the cut (and cuts never go back)",
    sql: END_OF_DAY_CUT_SQL,
  },
  {
    name: 'partition-totals',
    description: 'the balance sheet totals per partition, kind and asset equal the sum of the balances',
    sql: `WITH summed AS (
            SELECT coalesce(b.partition, p.partition) AS partition, b.kind, b.asset, sum(b.balance_minor) AS balance
              FROM balances b LEFT JOIN pots p ON p.pot_id = b.pot_id GROUP BY 1, 2, 3)
          SELECT format('partition %s %s %s: total %s, balances sum %s', coalesce(t.partition, s.partition), coalesce(t.kind, s.kind),
                        coalesce(t.asset, s.asset), t.balance_minor, s.balance) AS break
            FROM partition_totals t FULL JOIN summed s ON s.partition = t.partition AND s.kind = t.kind AND s.asset = t.asset
           WHERE coalesce(t.balance_minor, 0) <> coalesce(s.balance, 0)`,
  },
  {
    name: 'orders-follow-movements',
    description:
      "every order's state is what its movements made it: placed (with its funding), then cancelled, allocated or settled by its last movement " +
      '(aggregated by the desk in between)',
    sql: `WITH last AS (
            SELECT o.order_id, o.status, o.trade_id, o.filled_minor, o.units_minor, o.cash_minor, o.funding,
                   m.order_change AS change, m.pot_id AS movement_pot, p.order_change AS placed
              FROM orders o
              LEFT JOIN movements m ON m.movement_id = o.last_movement_id
              LEFT JOIN movements p ON p.movement_id = o.placed_movement_id)
          SELECT format('order %s is %s, its last movement says %s', order_id, status, coalesce(change::text, 'nothing')) AS break
            FROM last
           WHERE placed IS NULL OR placed->>'type' <> 'place' OR placed->>'orderId' <> order_id
              OR coalesce(placed->>'funding', 'cash') <> funding
              OR change IS NULL OR change->>'orderId' <> order_id
              OR NOT CASE change->>'type'
                       WHEN 'place' THEN status IN ('open', 'aggregated')
                       WHEN 'cancel' THEN status = 'cancelled'
                       WHEN 'allocate' THEN status = 'allocated' AND change->>'tradeId' = trade_id
                            AND (change->>'filledMinor')::bigint = filled_minor AND (change->>'unitsMinor')::bigint = units_minor
                            AND (change->>'cashMinor')::bigint = cash_minor
                       WHEN 'settle' THEN status = 'settled' AND change->>'tradeId' = trade_id
                       ELSE false END`,
  },
  {
    name: 'order-allocations',
    description: "every allocated or settled order holds exactly what its allocation movement gave it",
    sql: `SELECT format('order %s holds filled %s, units %s, cash %s; its allocation says %s', o.order_id, o.filled_minor, o.units_minor, o.cash_minor,
                        coalesce(m.order_change::text, 'nothing')) AS break
            FROM orders o
            LEFT JOIN movements m ON m.order_change->>'type' = 'allocate' AND m.order_change->>'orderId' = o.order_id
           WHERE o.filled_minor IS NOT NULL
             AND (m.movement_id IS NULL OR (m.order_change->>'filledMinor')::bigint <> o.filled_minor
                  OR (m.order_change->>'unitsMinor')::bigint <> o.units_minor OR (m.order_change->>'cashMinor')::bigint <> o.cash_minor)`,
  },
  {
    name: 'payments-clearing',
    description:
      'per currency, the payments clearing accounts of all partitions hold exactly the payments debited from their payers and not yet credited ' +
      'to their payees or refunded (a payment recorded in flight counts as debited by the command its detail names as debitedBy)',
    sql: `WITH owed AS (
            SELECT p.currency AS asset,
                   sum(p.amount_minor * (coalesce(d.status = 'applied', false)::int - coalesce(c.status = 'applied', false)::int
                                         - coalesce(r.status = 'applied', false)::int))::bigint AS amount
              FROM payments p
              LEFT JOIN command_outcomes d ON d.command_id = coalesce(p.detail->>'debitedBy', 'payment:' || p.payment_id || ':debit')
              LEFT JOIN command_outcomes c ON c.command_id = 'payment:' || p.payment_id || ':credit'
              LEFT JOIN command_outcomes r ON r.command_id = 'payment:' || p.payment_id || ':refund'
             GROUP BY p.currency),
          held AS (SELECT asset, sum(balance_minor)::bigint AS amount FROM balances WHERE kind = 'payments.clearing' GROUP BY asset)
          SELECT format('%s: clearing holds %s, payments in flight %s', coalesce(o.asset, h.asset), coalesce(h.amount, 0), coalesce(o.amount, 0)) AS break
            FROM owed o FULL JOIN held h ON h.asset = o.asset
           WHERE coalesce(o.amount, 0) <> coalesce(h.amount, 0)`,
  },
  {
    name: 'movement-hash-chain',
    description:
      "each pot's movements form an unbroken hash chain: every movement names its pot's previous movement's hash and hashes, with its identity " +
      "and entries, to its own (a row changed, moved or removed behind the service's back breaks it)",
    sql: `SELECT format('movement %s of pot %s %s', m.movement_id, m.pot_id,
                   CASE WHEN m.prev_hash <> coalesce(m.before, '') THEN 'does not follow its pot''s previous movement in the chain'
                        ELSE 'does not hash to its recorded hash (changed since it was written)' END) AS break
            FROM (SELECT mv.*, mv.prev_hash AS prev, lag(mv.hash) OVER (PARTITION BY mv.pot_id ORDER BY mv.seq) AS before FROM movements mv) m
           WHERE m.prev_hash <> coalesce(m.before, '') OR encode(sha256(convert_to(${CHAIN_TEXT_SQL}, 'UTF8')), 'hex') <> m.hash`,
  },
  {
    name: 'movements-name-orders',
    description: 'every movement that changes an order names an order of its own pot',
    sql: `SELECT format('movement %s changes order %s, which %s', m.movement_id, m.order_change->>'orderId',
                        CASE WHEN o.order_id IS NULL THEN 'does not exist' ELSE 'belongs to pot ' || o.pot_id END) AS break
            FROM movements m LEFT JOIN orders o ON o.order_id = m.order_change->>'orderId'
           WHERE m.order_change IS NOT NULL AND (o.order_id IS NULL OR o.pot_id <> m.pot_id)`,
  },
  {
    name: 'trade-basis',
    description: "every trade's allocation basis is exactly the orders it took, with their amounts, and its legs are their sums",
    sql: `WITH basis AS (
            SELECT t.trade_id, t.buy_cash_minor, t.sell_units_minor, t.orders,
                   coalesce(sum(b.amount_minor) FILTER (WHERE b.side = 'buy'), 0) AS buys,
                   coalesce(sum(b.amount_minor) FILTER (WHERE b.side = 'sell'), 0) AS sells,
                   count(b.order_id) AS taken,
                   count(*) FILTER (WHERE o.order_id IS NULL OR o.trade_id IS DISTINCT FROM t.trade_id OR o.amount_minor <> b.amount_minor) AS strays
              FROM external_trades t LEFT JOIN trade_orders b ON b.trade_id = t.trade_id LEFT JOIN orders o ON o.order_id = b.order_id
             GROUP BY t.trade_id)
          SELECT format('trade %s: legs %s/%s over %s orders, basis %s/%s over %s, %s not matching their orders',
                        trade_id, buy_cash_minor, sell_units_minor, orders, buys, sells, taken, strays) AS break
            FROM basis
           WHERE buys <> buy_cash_minor OR sells <> sell_units_minor OR taken <> orders OR strays > 0
          UNION ALL
          SELECT format('order %s is in trade %s but not in its basis', o.order_id, o.trade_id)
            FROM orders o LEFT JOIN trade_orders b ON b.trade_id = o.trade_id AND b.order_id = o.order_id
           WHERE o.trade_id IS NOT NULL AND b.order_id IS NULL`,
  },
  {
    name: 'trade-allocation-exact',
    description: 'once every order of a priced trade is allocated, allocated units + residue = executed units and allocated proceeds + residue = executed proceeds',
    sql: `SELECT format('trade %s: buyers got %s units + residue %s, executed %s; sellers got %s + residue %s, executed %s',
                        t.trade_id, a.units, t.residue_units_minor, t.buy_units_executed_minor, a.cash, t.residue_cash_minor, t.sell_proceeds_executed_minor) AS break
            FROM external_trades t
            JOIN (SELECT trade_id, coalesce(sum(units_minor) FILTER (WHERE side = 'buy'), 0) AS units,
                         coalesce(sum(cash_minor) FILTER (WHERE side = 'sell'), 0) AS cash,
                         bool_and(status IN ('allocated', 'settled')) AS complete
                    FROM orders WHERE trade_id IS NOT NULL GROUP BY trade_id) a ON a.trade_id = t.trade_id
           WHERE t.status IN ('priced', 'settled', 'rejected') AND a.complete
             AND (a.units + t.residue_units_minor <> t.buy_units_executed_minor OR a.cash + t.residue_cash_minor <> t.sell_proceeds_executed_minor)`,
  },
  {
    name: 'closed-pots-empty',
    description: 'a closed pot holds nothing',
    sql: `SELECT format('closed pot %s holds %s in %s', p.pot_id, b.balance_minor, b.account_id) AS break
            FROM pots p JOIN balances b ON b.pot_id = p.pot_id WHERE p.status = 'closed' AND b.balance_minor <> 0`,
  },
  {
    name: 'account-kinds-known',
    description: 'every account has a known kind for its owner',
    sql: `SELECT format('%s has kind %s, unknown for a %s account', b.account_id, b.kind, b.owner_type) AS break
            FROM balances b
           WHERE (b.owner_type, b.kind) NOT IN (SELECT k.owner, k.name FROM jsonb_to_recordset($1::jsonb) AS k(owner text, name text))`,
    takesKinds: true,
  },
];

/** One SQL check per invariant a kind declares, generated from the kinds in the core. */
export function invariantChecks(kinds: readonly AccountKind[] = ACCOUNT_KINDS): CheckQuery[] {
  const checks: CheckQuery[] = [];
  for (const kind of kinds) {
    const kindSql = `'${kind.name}'`;
    const owner = kind.owner === 'pot' ? 'pot_id' : 'partition';
    for (const invariant of kind.invariants) {
      const name = `invariant:${kind.name}:${invariant.type}${'kind' in invariant ? `:${invariant.kind}` : ''}`;
      switch (invariant.type) {
        case 'nonNegative':
        case 'nonPositive':
          checks.push({
            name,
            description: `${kind.name} is never ${invariant.type === 'nonNegative' ? 'negative' : 'positive'}`,
            sql: `SELECT format('%s holds %s', b.account_id, b.balance_minor) AS break FROM balances b
                   WHERE b.kind = ${kindSql} AND b.balance_minor ${invariant.type === 'nonNegative' ? '<' : '>'} 0`,
          });
          break;
        case 'atMost':
        case 'exclusiveWith': {
          const broken =
            invariant.type === 'atMost'
              ? 'b.balance_minor > coalesce(s.balance_minor, 0)'
              : 'b.balance_minor <> 0 AND coalesce(s.balance_minor, 0) <> 0';
          checks.push({
            name,
            description: `${kind.name} ${invariant.type === 'atMost' ? 'is at most' : 'never coexists with'} ${invariant.kind}`,
            sql: `SELECT format('%s holds %s against %s', b.account_id, b.balance_minor, coalesce(s.balance_minor, 0)) AS break
                    FROM balances b LEFT JOIN balances s
                      ON s.owner_type = b.owner_type AND s.${owner} = b.${owner} AND s.asset = b.asset AND s.kind = '${invariant.kind}'
                   WHERE b.kind = ${kindSql} AND ${broken}`,
          });
          break;
        }
      }
    }
  }
  return checks;
}
