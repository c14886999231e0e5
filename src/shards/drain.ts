import { setTimeout as sleep } from 'node:timers/promises';
import type { JetStreamManager } from '@nats-io/jetstream';
import type pg from 'pg';
import { partitionCheckpoints } from '../journal/partition-owners.js';
import type { Names } from './names.js';

/** How long waitUntilCommitted waits, unless told otherwise, before it gives up naming the partitions behind. */
const DRAIN_TIMEOUT_MS_DEFAULT = 60_000;
/** How often it asks Postgres for the checkpoints, unless told otherwise (one query for every partition). */
const DRAIN_POLL_INTERVAL_MS_DEFAULT = 50;

/**
 * Waits until every command JetStream held when this was called has its outcome committed: for each
 * partition, the checkpoint in Postgres reaches the stream sequence of the partition's last message.
 * The dealing desk calls it after a cut-off, so that every order placed before the cut-off is in the
 * journal before the cycle is aggregated.
 */
export async function waitUntilCommitted(
  pool: pg.Pool,
  jsm: JetStreamManager,
  names: Names,
  partitionCount: number,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  const targets = new Map<number, bigint>();
  for (let partition = 0; partition < partitionCount; partition += 1) {
    const last = await jsm.streams.getMessage(names.commandStream, { last_by_subj: names.commandSubject(partition) }).catch(() => null);
    if (last !== null) targets.set(partition, BigInt(last.seq));
  }
  const deadline = Date.now() + (options.timeoutMs ?? DRAIN_TIMEOUT_MS_DEFAULT);
  // Bounded by the deadline, not by a count of looks.
  for (;;) {
    const reached = await partitionCheckpoints(pool);
    const behind = [...targets].filter(([partition, seq]) => (reached.get(partition) ?? 0n) < seq);
    if (behind.length === 0) return;
    if (Date.now() > deadline) throw new Error(`partitions ${behind.map(([p]) => p).join(', ')} did not commit their commands in time`);
    await sleep(options.intervalMs ?? DRAIN_POLL_INTERVAL_MS_DEFAULT);
  }
}
