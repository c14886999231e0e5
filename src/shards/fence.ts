import type pg from 'pg';
import type { AssetCatalog } from '../ledger/index.js';
import { inTransaction, prepared } from '../journal/database.js';
import { closePartition } from '../journal/end-of-day.js';
import { commitItems, type CommitItem, type Queryable } from '../journal/store.js';

/** The worker's commit was refused: another worker took the partition over (a higher epoch). */
export class FencedError extends Error {
  readonly code = 'SHARD_ERR_FENCED';
  constructor(readonly partition: number, readonly epoch: bigint) {
    super(`partition ${partition}: epoch ${epoch} is fenced off; another worker owns it now`);
    this.name = 'FencedError';
  }
}

export interface Claim {
  readonly partition: number;
  readonly epoch: bigint;
  /** Every command up to this stream sequence has its outcome committed: resume after it. */
  readonly checkpointSeq: bigint;
  /** The message id of the message at checkpointSeq ('' when unknown): proof the stream still holds it. */
  readonly checkpointMessageId: string;
  /** Every outcome up to this outcome sequence has its event confirmed: republish after it. */
  readonly eventsThroughSeq: bigint;
}

/**
 * Takes the partition in Postgres after winning its lease: the epoch goes up by one, which fences off
 * every earlier owner's commits from this moment (their `WHERE epoch = …` matches no row). Waits for an
 * earlier owner's commit in flight, since that commit holds the row lock.
 */
export async function claimPartition(pool: pg.Pool, partition: number, workerId: string): Promise<Claim> {
  return inTransaction(pool, (client) => claimIn(client, partition, workerId));
}

/**
 * How long a claim waits for a commit in flight. A frozen owner's commit cannot hold the row longer
 * than the pool's idle-in-transaction timeout; a claim that gives up is retried at the next tick.
 */
export const CLAIM_LOCK_TIMEOUT_MS = 2000;

async function claimIn(client: Queryable, partition: number, workerId: string): Promise<Claim> {
  await client.query(`SET LOCAL lock_timeout = ${CLAIM_LOCK_TIMEOUT_MS}`);
  const { rows } = await client.query<{ epoch: bigint; checkpoint_seq: bigint; checkpoint_msg_id: string; events_through_seq: bigint }>(
    `INSERT INTO partition_owners (partition, epoch, worker_id) VALUES ($1, 1, $2)
     ON CONFLICT (partition) DO UPDATE
        SET epoch = partition_owners.epoch + 1, worker_id = EXCLUDED.worker_id, acquired_at = now()
     RETURNING epoch, checkpoint_seq, checkpoint_msg_id, events_through_seq`,
    [partition, workerId],
  );
  const row = rows[0];
  if (row === undefined) throw new Error(`claimPartition: no row for partition ${partition}`);
  return { partition, epoch: row.epoch, checkpointSeq: row.checkpoint_seq, checkpointMessageId: row.checkpoint_msg_id, eventsThroughSeq: row.events_through_seq };
}

/** A message that is not a command, recorded instead of an outcome. */
export interface PoisonRecord {
  readonly streamSeq: bigint;
  readonly code: string;
  readonly reason: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly bodyBytes: number;
  readonly bodyPrefix: string;
}

export interface ShardBatch {
  readonly partition: number;
  readonly epoch: bigint;
  readonly items: readonly CommitItem[];
  readonly poison: readonly PoisonRecord[];
  /** The last stream sequence this batch covers. */
  readonly checkpointSeq: bigint;
  /** The message id of the message at checkpointSeq ('' when it has none). */
  readonly checkpointMessageId: string;
  /** Outcomes whose events JetStream confirmed since the last commit (piggybacked on this one). */
  readonly eventsThroughSeq: bigint;
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
 * Group commit: one transaction for the batches of several partitions. First the fences (`UPDATE …
 * WHERE epoch = mine` for every partition, which also serialises each partition's commits), then
 * movements, entries, balances, outcomes and poison records of all batches, and last the end-of-day
 * snapshot of a partition whose batch ends with a close marker. When any partition has
 * moved on, nothing is committed and FencedPartitionsError names the partitions.
 * Returns, per batch, the outbox sequence of each item's outcome, in item order.
 */
export async function commitShardBatches(pool: pg.Pool, batches: readonly ShardBatch[], assets: AssetCatalog): Promise<bigint[][]> {
  return inTransaction(pool, async (client) => {
    await fence(client, batches);
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
  });
}

async function fence(db: Queryable, batches: readonly ShardBatch[]): Promise<void> {
  const { rows } = await prepared(db, 'potledger-fence')<{ partition: number }>(
    `UPDATE partition_owners o
        SET checkpoint_seq = greatest(o.checkpoint_seq, f.checkpoint_seq),
            checkpoint_msg_id = CASE WHEN f.checkpoint_seq >= o.checkpoint_seq THEN f.checkpoint_msg_id ELSE o.checkpoint_msg_id END,
            events_through_seq = greatest(o.events_through_seq, f.events_through_seq),
            committed_at = now()
       FROM unnest($1::int[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[])
            AS f(partition, epoch, checkpoint_seq, events_through_seq, checkpoint_msg_id)
      WHERE o.partition = f.partition AND o.epoch = f.epoch
     RETURNING o.partition`,
    [
      batches.map((b) => b.partition),
      batches.map((b) => b.epoch.toString()),
      batches.map((b) => b.checkpointSeq.toString()),
      batches.map((b) => b.eventsThroughSeq.toString()),
      batches.map((b) => b.checkpointMessageId),
    ],
  );
  const fenced = new Set(rows.map((row) => row.partition));
  const missing = batches.map((b) => b.partition).filter((partition) => !fenced.has(partition));
  if (missing.length > 0) throw new FencedPartitionsError(missing);
}

async function recordPoison(db: Queryable, partition: number, poison: readonly PoisonRecord[]): Promise<void> {
  if (poison.length === 0) return;
  await db.query(
    `INSERT INTO poison_messages (partition, stream_seq, code, reason, headers, body_bytes, body_prefix)
     SELECT $1, p.stream_seq, p.code, p.reason, p.headers, p.body_bytes, p.body_prefix
       FROM unnest($2::bigint[], $3::text[], $4::text[], $5::jsonb[], $6::int[], $7::text[])
            AS p(stream_seq, code, reason, headers, body_bytes, body_prefix)
     ON CONFLICT (partition, stream_seq) DO NOTHING`,
    [
      partition,
      poison.map((p) => p.streamSeq.toString()),
      poison.map((p) => p.code),
      poison.map((p) => p.reason),
      poison.map((p) => JSON.stringify(p.headers)),
      poison.map((p) => p.bodyBytes),
      poison.map((p) => p.bodyPrefix),
    ],
  );
}

/** Marks events confirmed outside a batch commit (when the partition is idle), fenced like a commit. */
export async function markEventsThrough(pool: pg.Pool, partition: number, epoch: bigint, eventsThroughSeq: bigint): Promise<void> {
  const result = await pool.query(
    'UPDATE partition_owners SET events_through_seq = greatest(events_through_seq, $3) WHERE partition = $1 AND epoch = $2',
    [partition, epoch.toString(), eventsThroughSeq.toString()],
  );
  if (result.rowCount !== 1) throw new FencedError(partition, epoch);
}
