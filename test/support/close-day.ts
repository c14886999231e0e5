import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type pg from 'pg';
import type { CloseResult } from '../../src/journal/end-of-day.js';
import { closeBusinessDay } from '../../src/shards/close-day.js';
import { names } from '../../src/shards/names.js';

/** Closes a business day of a test's ledger through its close markers (a worker must own every partition). */
export async function closeDay(pool: pg.Pool, nc: NatsConnection, prefix: string, partitionCount: number, businessDate: string): Promise<CloseResult> {
  return closeBusinessDay({ pool, jsm: await jetstreamManager(nc), names: names(prefix), partitionCount, timeoutMs: 60_000 }, businessDate);
}
