import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyLedger } from '../../src/journal/verify.js';
import { ledgerProcesses } from '../../src/ledger/index.js';
import { LedgerPublisher } from '../../src/sdk/publisher.js';
import { names } from '../../src/shards/names.js';
import { ShardWorker } from '../../src/shards/worker.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { createTestNats, type TestNats } from '../support/nats.js';
import { testShardWorker } from '../support/shard-worker.js';
import { waitFor } from '../support/wait.js';

/**
 * Backpressure (issue 8): a publisher flooding one partition cannot make the worker hold more than its
 * bounds — the partition's pull consumer never has more than `max_ack_pending` (twice the inbox)
 * messages out, the rest waits in JetStream — and a full command stream refuses new commands with an
 * error the publisher sees (discard `new`), never by dropping what it holds. Everything JetStream
 * acknowledged is applied once.
 */
const PARTITIONS = 2;
const INBOX_MAX = 100;
const STREAM_BYTES = 1024 * 1024;

let db: TestDatabase;
let nats: TestNats;
let worker: ShardWorker;
let publisher: LedgerPublisher;

beforeAll(async () => {
  db = await createTestDatabase('backpressure');
  nats = await createTestNats('backpressure');
  const streamLimits = { maxBytes: STREAM_BYTES };
  worker = testShardWorker({ pool: db.service, nc: nats.nc, prefix: nats.prefix, partitionCount: PARTITIONS, limits: { inboxMax: INBOX_MAX }, streamLimits });
  await worker.start();
  publisher = await LedgerPublisher.connect({ nc: nats.nc, prefix: nats.prefix, registry: ledgerProcesses, partitionCount: PARTITIONS, streamLimits });
});
afterAll(async () => {
  await publisher?.close();
  await worker?.stop();
  await nats?.cleanup();
  await db?.drop();
});

describe('backpressure', () => {
  it('keeps a flooded partition within its bounds, refuses commands once the stream is full, and applies every accepted one once', async () => {
    const member = 'FLOOD-1';
    const opened = await publisher.submit('pot.open', { commandId: 'flood-open', memberId: member, potId: 'FLOOD-1-pot', payload: {} });
    expect((await opened.outcome(20_000)).outcome).toMatchObject({ kind: 'applied' });

    // Publish deposits to the one partition as fast as JetStream takes them, until it refuses one.
    const jsm = await jetstreamManager(nats.nc);
    let mostOut = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        for await (const consumer of jsm.consumers.list(names(nats.prefix).commandStream)) mostOut = Math.max(mostOut, consumer.num_ack_pending);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const accepted: string[] = [];
    let refusal: unknown;
    for (let chunk = 0; refusal === undefined && chunk < 200; chunk += 1) {
      const requests = Array.from({ length: 100 }, (_, i) => ({
        process: 'cash.deposit',
        request: { commandId: `flood-${chunk}-${i}`, memberId: member, potId: 'FLOOD-1-pot', payload: { amount: '1.00', currency: 'GBP' } },
      }));
      try {
        await publisher.submitMany(requests);
        accepted.push(...requests.map((r) => r.request.commandId));
      } catch (error) {
        refusal = error;
      }
    }
    // The stream filled up (1 MiB holds some thousands of commands) and said so: nothing was dropped silently.
    expect(String(refusal)).toMatch(/maximum|bytes|resources|limit/i);
    expect(accepted.length).toBeGreaterThan(1000);

    // What JetStream acknowledged before the refusal is applied, each once. (A refused batch may have
    // had some of its commands stored before the one that failed: those apply too, once.)
    await waitFor(
      'every acknowledged deposit applied',
      async () => {
        const { rows } = await db.owner.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM command_outcomes
            WHERE command_id LIKE 'flood-%' AND command_id <> 'flood-open' AND status = 'applied'`,
        );
        return (rows[0]?.n ?? 0) >= accepted.length ? true : undefined;
      },
      { timeoutMs: 120_000 },
    );
    sampling = false;
    await sampler;
    const { rows } = await db.owner.query<{ n: number; total: string }>(
      `SELECT count(*)::int AS n, (SELECT balance_minor::text FROM balances WHERE account_id = 'pot:FLOOD-1-pot:cash:GBP') AS total
         FROM command_outcomes
        WHERE command_id LIKE 'flood-%-%'`,
    );
    expect(BigInt(rows[0]?.total ?? '0')).toBe(BigInt(rows[0]?.n ?? 0) * 100n);
    console.log(
      `[backpressure] accepted ${accepted.length}, applied ${rows[0]?.n ?? 0}, most unacknowledged at once ${mostOut} (bound ${INBOX_MAX * 2}), ` +
        `refusal: ${String(refusal).slice(0, 120)}`,
    );
    // The worker never had more than twice its inbox out from the flooded partition.
    expect(mostOut).toBeGreaterThan(0);
    expect(mostOut).toBeLessThanOrEqual(INBOX_MAX * 2);
    expect((await verifyLedger(db.owner)).checks.filter((check) => !check.ok)).toEqual([]);
  }, 240_000);
});
