import type { JetStreamManager } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { finishClose, partitionsNotClosed, requestClose, type CloseResult } from '../journal/end-of-day.js';
import { CloseTimeoutError } from '../journal/errors.js';
import { closeMarkerId, HEADER } from '../wire/index.js';
import type { Names } from './names.js';

export interface CloseDayOptions {
  readonly pool: pg.Pool;
  readonly jsm: JetStreamManager;
  readonly names: Names;
  readonly partitionCount: number;
  /** How long to wait for every partition to commit its marker (default 120 s). */
  readonly timeoutMs?: number;
  /** Markers of partitions not yet closed are published again this often (default 2 s); same ids. */
  readonly resendAfterMs?: number;
  /** How often Postgres is asked which partitions have closed (default 50 ms). */
  readonly intervalMs?: number;
}

const CLOSE_TIMEOUT_MS_DEFAULT = 120_000;
const CLOSE_RESEND_AFTER_MS_DEFAULT = 2000;
const CLOSE_POLL_INTERVAL_MS_DEFAULT = 50;

/**
 * Closes business day `businessDate` as a cut in stream order: records the request in Postgres, then
 * publishes a close marker (message id `close:<date>:p<N>`, so repeats are deduplicated) into every
 * partition's command stream. Each partition's owner snapshots the partition in the transaction that
 * commits its marker, after every command before the marker and before any after it. Once every
 * partition has closed, the day is recorded closed. Closing a closed day answers `alreadyClosed`;
 * closing a day before a closed one is refused (CloseRefusedError); a close that times out
 * (CloseTimeoutError) stays requested and is resumed by closing the same day again.
 */
export async function closeBusinessDay(options: CloseDayOptions, businessDate: string): Promise<CloseResult> {
  const request = await requestClose(options.pool, businessDate, options.partitionCount);
  if (request.kind === 'closed') return request.result;
  const timeoutMs = options.timeoutMs ?? CLOSE_TIMEOUT_MS_DEFAULT;
  const deadline = Date.now() + timeoutMs;
  let missing = await partitionsNotClosed(options.pool, businessDate, options.partitionCount);
  let resendAt = 0;
  /** The last failure (a publication JetStream refused, a look Postgres refused): tried again, named on timeout. */
  let refused: unknown;
  while (missing.length > 0) {
    if (Date.now() >= deadline) throw new CloseTimeoutError(businessDate, missing, timeoutMs, refused);
    if (Date.now() >= resendAt) {
      refused = await publishMarkers(options, businessDate, missing).then(() => undefined, (error: unknown) => error);
      resendAt = Date.now() + (options.resendAfterMs ?? CLOSE_RESEND_AFTER_MS_DEFAULT);
    }
    await sleep(options.intervalMs ?? CLOSE_POLL_INTERVAL_MS_DEFAULT);
    // A failed look (Postgres restarting, say) is looked at again until the deadline.
    missing = await partitionsNotClosed(options.pool, businessDate, options.partitionCount).catch((error: unknown) => {
      refused = error;
      return missing;
    });
  }
  return finishClose(options.pool, businessDate);
}

/** Publishes the close markers of `partitions` and waits for JetStream to store them. */
async function publishMarkers(options: CloseDayOptions, businessDate: string, partitions: readonly number[]): Promise<void> {
  const js = options.jsm.jetstream();
  await Promise.all(
    partitions.map((partition) => {
      const headers = natsHeaders();
      headers.set(HEADER.close, businessDate);
      headers.set(HEADER.source, 'close');
      return js.publish(options.names.commandSubject(partition), JSON.stringify({ close: businessDate, partition }), { msgID: closeMarkerId(businessDate, partition), headers });
    }),
  );
}
