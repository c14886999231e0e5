/** A commit's order changes: orders placed, then cancelled, allocated and settled, each guarded by the state it was planned from. */
import type { Queryable } from './database.js';
import { orderChangeRows, type CommitItem } from './commit-rows.js';

/**
 * The order a movement changed was changed by someone else since the pot planned it (the aggregator
 * took an open order into a trade while a cancel was being planned). Retrying is the answer: the
 * batch is planned again from fresh state, and the cancel is then rejected. The code is Postgres's
 * serialization failure, so the shards treat it as transient.
 */
export class OrderConflictError extends Error {
  readonly code = '40001';
  constructor(readonly orderIds: readonly string[]) {
    super(`orders ${orderIds.join(', ')} changed since they were loaded; the batch is planned again`);
    this.name = 'OrderConflictError';
  }
}

/** Applies the movements' order changes, each guarded by the state it was planned from. */
export async function writeOrders(db: Queryable, items: readonly CommitItem[]): Promise<void> {
  const { placed, cancels, allocations, settlements } = orderChangeRows(items);
  if (placed.length > 0) {
    await db.query(
      `INSERT INTO orders (order_id, pot_id, member_id, partition, fund, currency, side, amount_minor, dealing_date, status,
                           placed_movement_id, last_movement_id, funding)
       SELECT o.order_id, o.pot_id, o.member_id, o.partition, o.fund, o.currency, o.side, o.amount_minor, o.dealing_date, 'open',
              o.movement_id, o.movement_id, o.funding
         FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::date[], $10::text[], $11::text[])
              AS o(order_id, pot_id, member_id, partition, fund, currency, side, amount_minor, dealing_date, movement_id, funding)`,
      [
        placed.map(({ change }) => change.orderId),
        placed.map(({ movement }) => movement.potId),
        placed.map(({ movement }) => movement.memberId),
        placed.map(({ movement }) => movement.partition),
        placed.map(({ change }) => change.fund),
        placed.map(({ change }) => change.currency),
        placed.map(({ change }) => change.side),
        placed.map(({ change }) => change.amountMinor),
        placed.map(({ change }) => change.dealingDate),
        placed.map(({ movement }) => movement.movementId),
        placed.map(({ change }) => change.funding ?? 'cash'),
      ],
    );
  }
  // In lifecycle order, so an order changed twice in one batch (allocated, then settled) is updated in turn.
  await guardedUpdate(db, cancels.map(({ change }) => change.orderId), `UPDATE orders o SET status = 'cancelled', last_movement_id = c.movement_id
      FROM unnest($1::text[], $2::text[]) AS c(order_id, movement_id)
     WHERE o.order_id = c.order_id AND o.status = 'open'
    RETURNING o.order_id`, [cancels.map(({ change }) => change.orderId), cancels.map(({ movement }) => movement.movementId)]);
  await guardedUpdate(db, allocations.map(({ change }) => change.orderId), `UPDATE orders o SET status = 'allocated', filled_minor = a.filled_minor, units_minor = a.units_minor,
           cash_minor = a.cash_minor, last_movement_id = a.movement_id
      FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[])
           AS a(order_id, movement_id, trade_id, filled_minor, units_minor, cash_minor)
     WHERE o.order_id = a.order_id AND o.status = 'aggregated' AND o.trade_id = a.trade_id
    RETURNING o.order_id`, [
    allocations.map(({ change }) => change.orderId),
    allocations.map(({ movement }) => movement.movementId),
    allocations.map(({ change }) => change.tradeId),
    allocations.map(({ change }) => change.filledMinor),
    allocations.map(({ change }) => change.unitsMinor),
    allocations.map(({ change }) => change.cashMinor),
  ]);
  await guardedUpdate(db, settlements.map(({ change }) => change.orderId), `UPDATE orders o SET status = 'settled', last_movement_id = s.movement_id
      FROM unnest($1::text[], $2::text[], $3::text[]) AS s(order_id, movement_id, trade_id)
     WHERE o.order_id = s.order_id AND o.status = 'allocated' AND o.trade_id = s.trade_id
    RETURNING o.order_id`, [
    settlements.map(({ change }) => change.orderId),
    settlements.map(({ movement }) => movement.movementId),
    settlements.map(({ change }) => change.tradeId),
  ]);
}

async function guardedUpdate(db: Queryable, wanted: readonly string[], sql: string, params: unknown[]): Promise<void> {
  if (wanted.length === 0) return;
  const { rows } = await db.query<{ order_id: string }>(sql, params);
  if (rows.length === wanted.length) return;
  const done = new Set(rows.map((row) => row.order_id));
  throw new OrderConflictError(wanted.filter((id) => !done.has(id)));
}
