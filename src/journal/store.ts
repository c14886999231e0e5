/**
 * The journal store's one entry point: what the shells import to load state for planning, commit a
 * batch and look outcomes up. Each job lives in a module of its own, re-exported here under the names
 * the rest of the house has always imported:
 *
 *   pot-snapshot.ts     a pot, its accounts and its partition's system accounts, for planning
 *   movement-reads.ts   committed movements read back from the journal rows
 *   order-reads.ts      orders as they stand now
 *   stored-outcomes.ts  recorded outcomes (the idempotency record) and the partition's outbox
 *   commit.ts           the commit of a batch of items (with commit-rows, -assertions, -balances, -pots, -orders)
 */
export type { Queryable } from './database.js';
export { loadPot, potOfRow, POT_ACCOUNTS_MAX, POT_COLUMNS, type PotRow, type PotSnapshot } from './pot-snapshot.js';
export { loadMovements, MOVEMENT_READ_PAGE_MAX, readMovements } from './movement-reads.js';
export { loadOrders, ORDER_READ_PAGE_MAX, orderOfRow, type OrderRow } from './order-reads.js';
export { findOutcomes, OUTCOME_READ_PAGE_MAX, outcomesAfter, type StoredOutcome } from './stored-outcomes.js';
export { commitItems } from './commit.js';
export { COMMIT_BATCH_MAX, type CommitItem } from './commit-rows.js';
export { OrderConflictError } from './commit-orders.js';
