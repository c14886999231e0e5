/**
 * Records the messages a shard could not take as commands (poison), in the caller's transaction: the
 * write side of `poison_messages` (src/journal/poison.ts lists them).
 */
import type { Queryable } from './database.js';

/** A message that is not a command, recorded instead of an outcome. */
export interface PoisonRecord {
  readonly streamSeq: bigint;
  readonly code: string;
  readonly reason: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly bodyBytes: number;
  readonly bodyPrefix: string;
}

/**
 * Records `poison` of `partition` in the caller's transaction (which holds the partition). Idempotent:
 * a message recorded before (same partition and stream sequence) is left as it was. Takes no lock
 * beyond the rows it inserts.
 */
export async function recordPoison(db: Queryable, partition: number, poison: readonly PoisonRecord[]): Promise<void> {
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
