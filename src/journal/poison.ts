import type { Queryable } from './store.js';

/** A message a worker could not read as a command, as recorded. */
export interface PoisonMessage {
  readonly id: string;
  readonly partition: number;
  readonly streamSeq: string;
  readonly recordedAt: string;
  readonly code: string;
  readonly reason: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly bodyBytes: number;
  readonly bodyPrefix: string;
}

export const POISON_PAGE_MAX = 1000;

/** Poison messages, newest first, optionally of one partition; at most `limit` (≤ POISON_PAGE_MAX). */
export async function listPoison(db: Queryable, options: { readonly partition?: number; readonly limit?: number } = {}): Promise<PoisonMessage[]> {
  const limit = Math.min(options.limit ?? 100, POISON_PAGE_MAX);
  const { rows } = await db.query<{
    id: bigint;
    partition: number;
    stream_seq: bigint;
    recorded_at: Date;
    code: string;
    reason: string;
    headers: Record<string, string>;
    body_bytes: number;
    body_prefix: string;
  }>(
    `SELECT id, partition, stream_seq, recorded_at, code, reason, headers, body_bytes, body_prefix
       FROM poison_messages WHERE $1::int IS NULL OR partition = $1 ORDER BY id DESC LIMIT $2`,
    [options.partition ?? null, limit],
  );
  return rows.map((row) => ({
    id: row.id.toString(),
    partition: row.partition,
    streamSeq: row.stream_seq.toString(),
    recordedAt: row.recorded_at.toISOString(),
    code: row.code,
    reason: row.reason,
    headers: row.headers,
    bodyBytes: row.body_bytes,
    bodyPrefix: row.body_prefix,
  }));
}
