/**
 * The `partition_owners` table: who owns each partition (its fencing epoch), how far its commands are
 * committed (the checkpoint) and how far its events are confirmed. The shard workers' only way to it.
 */
import type pg from 'pg';
import { prepared, type Queryable } from './database.js';

/** A partition as claimed: its new epoch, where its commands resume, and where its events resume. */
export interface PartitionClaim {
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
 * Claims `partition` for `workerId` in the caller's transaction: the epoch goes up by one (a first claim
 * makes the row with epoch 1), which fences off every earlier owner's commits from this moment. Locks
 * the partition's row until the transaction ends; waits at most `lockTimeoutMs` for an earlier owner's
 * commit in flight that holds it, then fails (lock_not_available). Not idempotent: each call is a new epoch.
 */
export async function claimPartitionEpoch(client: Queryable, partition: number, workerId: string, lockTimeoutMs: number): Promise<PartitionClaim> {
  if (!Number.isSafeInteger(lockTimeoutMs) || lockTimeoutMs < 1) throw new RangeError('lockTimeoutMs must be a positive integer');
  await client.query(`SET LOCAL lock_timeout = ${lockTimeoutMs}`);
  const { rows } = await client.query<{ epoch: bigint; checkpoint_seq: bigint; checkpoint_msg_id: string; events_through_seq: bigint }>(
    `INSERT INTO partition_owners (partition, epoch, worker_id) VALUES ($1, 1, $2)
     ON CONFLICT (partition) DO UPDATE
        SET epoch = partition_owners.epoch + 1, worker_id = EXCLUDED.worker_id, acquired_at = now()
     RETURNING epoch, checkpoint_seq, checkpoint_msg_id, events_through_seq`,
    [partition, workerId],
  );
  const row = rows[0];
  if (row === undefined) throw new Error(`claimPartitionEpoch: no row for partition ${partition}`);
  return { partition, epoch: row.epoch, checkpointSeq: row.checkpoint_seq, checkpointMessageId: row.checkpoint_msg_id, eventsThroughSeq: row.events_through_seq };
}

/** One partition's part of a group commit: the epoch it commits under and the marks it moves. */
export interface PartitionAdvance {
  readonly partition: number;
  readonly epoch: bigint;
  /** The last stream sequence the batch covers. */
  readonly checkpointSeq: bigint;
  /** The message id of the message at checkpointSeq ('' when it has none). */
  readonly checkpointMessageId: string;
  /** Outcomes whose events JetStream confirmed since the last commit. */
  readonly eventsThroughSeq: bigint;
}

/**
 * The fence of a group commit, in the caller's transaction: for every partition still owned at its
 * epoch, moves the checkpoint and the events mark forward (never back) and locks the partition's row
 * until the transaction ends, which also serialises each partition's commits. Returns the partitions
 * whose epoch matched; a partition missing from the answer has moved to another owner, and the caller
 * must not commit (nothing was changed for it). Idempotent for a repeat of the same advance.
 */
export async function advancePartitions(db: Queryable, advances: readonly PartitionAdvance[]): Promise<ReadonlySet<number>> {
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
      advances.map((b) => b.partition),
      advances.map((b) => b.epoch.toString()),
      advances.map((b) => b.checkpointSeq.toString()),
      advances.map((b) => b.eventsThroughSeq.toString()),
      advances.map((b) => b.checkpointMessageId),
    ],
  );
  return new Set(rows.map((row) => row.partition));
}

/**
 * Moves the partition's events mark forward to `eventsThroughSeq` (never back), fenced like a commit:
 * false when the partition is no longer owned at `epoch` (nothing changed). Idempotent.
 */
export async function advanceEventsMark(pool: pg.Pool, partition: number, epoch: bigint, eventsThroughSeq: bigint): Promise<boolean> {
  const result = await pool.query(
    'UPDATE partition_owners SET events_through_seq = greatest(events_through_seq, $3) WHERE partition = $1 AND epoch = $2',
    [partition, epoch.toString(), eventsThroughSeq.toString()],
  );
  return result.rowCount === 1;
}

/** The checkpoint of every partition ever claimed (a read; takes no lock). */
export async function partitionCheckpoints(db: Queryable): Promise<Map<number, bigint>> {
  const { rows } = await db.query<{ partition: number; checkpoint_seq: bigint }>('SELECT partition, checkpoint_seq FROM partition_owners');
  return new Map(rows.map((row) => [row.partition, row.checkpoint_seq]));
}
