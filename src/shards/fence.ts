/**
 * Fencing: a partition's claim (a new epoch), and the group commit that writes the batches of several
 * partitions in one transaction only while each is still owned at its epoch. The SQL is in src/journal.
 */
import type pg from 'pg';
import type { AssetCatalog } from '../ledger/index.js';
import { inTransaction } from '../journal/database.js';
import { closePartition } from '../journal/end-of-day.js';
import { advanceEventsMark, advancePartitions, claimPartitionEpoch, type PartitionAdvance, type PartitionClaim } from '../journal/partition-owners.js';
import { recordPoison, type PoisonRecord } from '../journal/poison-records.js';
import { commitItems, type CommitItem } from '../journal/store.js';

export type { PoisonRecord };

/** The worker's commit was refused: another worker took the partition over (a higher epoch). */
export class FencedError extends Error {
  readonly code = 'SHARD_ERR_FENCED';
  constructor(readonly partition: number, readonly epoch: bigint) {
    super(`partition ${partition}: epoch ${epoch} is fenced off; another worker owns it now`);
    this.name = 'FencedError';
  }
}

/** A partition as claimed by this worker (see PartitionClaim). */
export type Claim = PartitionClaim;

/**
 * How long a claim waits for a commit in flight. A frozen owner's commit cannot hold the row longer
 * than the pool's idle-in-transaction timeout; a claim that gives up is retried at the next tick.
 */
export const CLAIM_LOCK_TIMEOUT_MS = 2000;

/**
 * Takes the partition in Postgres after winning its lease: the epoch goes up by one, which fences off
 * every earlier owner's commits from this moment (their `WHERE epoch = …` matches no row). Waits for an
 * earlier owner's commit in flight, since that commit holds the row lock.
 */
export async function claimPartition(pool: pg.Pool, partition: number, workerId: string): Promise<Claim> {
  return inTransaction(pool, (client) => claimPartitionEpoch(client, partition, workerId, CLAIM_LOCK_TIMEOUT_MS));
}

export interface ShardBatch extends PartitionAdvance {
  readonly items: readonly CommitItem[];
  readonly poison: readonly PoisonRecord[];
  /**
   * The batch ends with the close marker of this business day (at checkpointSeq): the partition is
   * snapshotted in the same transaction, after the batch's movements.
   */
  readonly close?: { readonly businessDate: string; readonly streamSeq: bigint };
}

/** Some partitions of a group moved to another worker: nothing of the group was committed. */
export class FencedPartitionsError extends Error {
  readonly code = 'SHARD_ERR_FENCED_PARTITIONS';
  constructor(readonly partitions: readonly number[]) {
    super(`partitions ${partitions.join(', ')} are fenced off`);
    this.name = 'FencedPartitionsError';
  }
}

/**
 * Group commit: one transaction for the batches of several partitions. First the fences (every
 * partition's row, at its epoch, which also serialises each partition's commits), then movements,
 * entries, balances, outcomes and poison records of all batches, and last the end-of-day snapshot of a
 * partition whose batch ends with a close marker. When any partition has moved on, nothing is committed
 * and FencedPartitionsError names the partitions.
 * Returns, per batch, the outbox sequence of each item's outcome, in item order.
 */
export async function commitShardBatches(pool: pg.Pool, batches: readonly ShardBatch[], assets: AssetCatalog): Promise<bigint[][]> {
  return inTransaction(pool, async (client) => {
    const owned = await advancePartitions(client, batches);
    const fenced = batches.map((b) => b.partition).filter((partition) => !owned.has(partition));
    if (fenced.length > 0) throw new FencedPartitionsError(fenced);
    const seqs = await commitItems(client, batches.flatMap((batch) => batch.items), assets);
    const perBatch: bigint[][] = [];
    let offset = 0;
    for (const batch of batches) {
      perBatch.push(seqs.slice(offset, offset + batch.items.length));
      offset += batch.items.length;
      await recordPoison(client, batch.partition, batch.poison);
      if (batch.close !== undefined) await closePartition(client, batch.partition, batch.close.businessDate, batch.close.streamSeq);
    }
    return perBatch;
  }, 'generic-plans');
}

/** Marks events confirmed outside a batch commit (when the partition is idle), fenced like a commit. */
export async function markEventsThrough(pool: pg.Pool, partition: number, epoch: bigint, eventsThroughSeq: bigint): Promise<void> {
  if (!(await advanceEventsMark(pool, partition, epoch, eventsThroughSeq))) throw new FencedError(partition, epoch);
}
