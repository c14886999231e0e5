import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import {
  admit,
  answerRepeat,
  isRejection,
  movementsToLoad,
  ordersToLoad,
  partitionOf,
  postEntries,
  run,
  type Answer,
  type AssetCatalog,
  type Command,
  type ProcessRegistry,
} from '../ledger/index.js';
import { inTransaction } from './database.js';
import { commitItems, findOutcomes, loadMovements, loadOrders, loadPot } from './store.js';

export interface ExecutorOptions {
  readonly registry: ProcessRegistry;
  readonly assets: AssetCatalog;
  readonly partitionCount: number;
  /** Movement ids; random UUIDs unless given (tests pass deterministic ones). */
  readonly movementId?: (command: Command) => string;
}

/** Advisory-lock class for partitions: (class, partition) is the lock key. */
export const PARTITION_LOCK_CLASS = 7301;

/**
 * Runs one command straight against Postgres: one transaction that locks the command's partition,
 * answers a repeated commandId from its recorded outcome, otherwise loads the pot, runs the pure core
 * and commits movement, balances and outcome together. The shard workers batch the same steps; this is
 * the reference path, used by tools and tests.
 */
export function createExecutor(pool: pg.Pool, options: ExecutorOptions) {
  const movementIdFor = options.movementId ?? (() => randomUUID());
  return {
    async execute(command: Command): Promise<Answer> {
      const admitted = admit(command);
      if (isRejection(admitted)) return { kind: 'answered', replayed: false, outcome: admitted };
      const { fingerprint } = admitted;
      const process = options.registry.find(command.process);
      const partition = partitionOf(process?.partitionKey(command) ?? command.memberId, options.partitionCount);
      return inTransaction(pool, async (client) => {
        await client.query('SELECT pg_advisory_xact_lock($1, $2)', [PARTITION_LOCK_CLASS, partition]);
        const previous = (await findOutcomes(client, [command.commandId], options.assets)).get(command.commandId);
        if (previous !== undefined) return answerRepeat(command, fingerprint, previous);
        const snapshot = await loadPot(client, command.potId, partition);
        const movements = await loadMovements(client, movementsToLoad(options.registry, command));
        const orders = await loadOrders(client, ordersToLoad(options.registry, command));
        const outcome = run(options.registry, command, { pot: snapshot.pot, balances: snapshot.balances, movements, orders }, {
          assets: options.assets,
          partitionCount: options.partitionCount,
          movementId: movementIdFor(command),
        });
        const postings = outcome.kind === 'rejected' ? [] : postEntries(outcome.movement.entries, snapshot.balances, snapshot.versions).postings;
        await commitItems(client, [{ command, fingerprint, partition, outcome, postings }], options.assets);
        return { kind: 'answered', replayed: false, outcome };
      });
    },
  };
}

export type Executor = ReturnType<typeof createExecutor>;
