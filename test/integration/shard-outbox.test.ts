import { jetstreamManager } from '@nats-io/jetstream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerProcesses } from '../../src/ledger/index.js';
import { LedgerPublisher } from '../../src/sdk/publisher.js';
import type { OutcomeNotice } from '../../src/wire/index.js';
import { ShardWorker } from '../../src/shards/worker.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { createTestNats, type TestNats } from '../support/nats.js';
import { EFFECTIVE_DATE, awaitOutcomes, checkEvents, outcomeRows, waitForEvents } from '../support/shard-checks.js';
import { testShardWorker } from '../support/shard-worker.js';
import { WaitTimeoutError, waitFor } from '../support/wait.js';

/*
 * The event outbox after a handover. A worker confirms the events of a batch in memory and records the
 * confirmation (partition_owners.events_through_seq) only with its next commit. When the partition then
 * goes idle and changes owner (a deploy, a rebalance, a crash), the new owner republishes the last
 * batch's events although they were published. Within JetStream's duplicate window (2 minutes) the stream
 * drops them; after it, the event stream holds those events twice.
 *
 * The test lets the partition idle past the event stream's duplicate window (cut to 100 ms, the least
 * JetStream accepts, to stand in for two idle minutes), then hands it over.
 */

const PARTITIONS = 1;
const DUPLICATE_WINDOW_MS = 100;

let db: TestDatabase;
let nats: TestNats;
const workers: ShardWorker[] = [];
let publisher: LedgerPublisher | undefined;

function newWorker(name: string): ShardWorker {
  const worker = testShardWorker({
    pool: db.service,
    nc: nats.nc,
    prefix: nats.prefix,
    partitionCount: PARTITIONS,
    log: pino({ level: 'warn', base: { worker: name } }),
    workerId: `${name}-${nats.prefix}`,
  });
  workers.push(worker);
  return worker;
}

beforeAll(async () => {
  db = await createTestDatabase('shardoutbox');
  nats = await createTestNats('outbox');
});

afterAll(async () => {
  await publisher?.close();
  for (const worker of workers) await worker.stop().catch(() => undefined);
  await nats?.cleanup();
  await db?.drop();
});

describe('the event outbox across a handover', () => {
  it('records confirmed events, so that a new owner republishes none of them', async () => {
    const first = newWorker('first');
    await first.start();
    publisher = await LedgerPublisher.connect({ nc: nats.nc, prefix: nats.prefix, registry: ledgerProcesses, partitionCount: PARTITIONS });
    const outcomes = new Map<string, Promise<OutcomeNotice>>();
    const open = await publisher.submit('pot.open', { memberId: 'member-1', potId: 'pot-1', payload: {}, effectiveDate: EFFECTIVE_DATE });
    outcomes.set(open.commandId, open.outcome(20_000));
    await outcomes.get(open.commandId);
    for (let i = 1; i <= 5; i += 1) {
      const deposit = await publisher.submit('cash.deposit', {
        memberId: 'member-1',
        potId: 'pot-1',
        payload: { amount: `${i}.00`, currency: 'GBP' },
        effectiveDate: EFFECTIVE_DATE,
      });
      outcomes.set(deposit.commandId, deposit.outcome(20_000));
    }
    await awaitOutcomes(outcomes);
    await waitForEvents(nats.nc, `${nats.prefix}-events`, db.owner);
    const lastSeq = [...(await outcomeRows(db.owner)).values()].reduce((max, row) => (row.seq > max ? row.seq : max), 0n);

    // The events are all published and the partition is idle: is that recorded?
    let eventsThrough = 0n;
    const recorded = await waitFor(
      'partition_owners.events_through_seq to reach the last outcome',
      async () => {
        const { rows } = await db.owner.query<{ events_through_seq: bigint }>('SELECT events_through_seq FROM partition_owners WHERE partition = 0');
        eventsThrough = rows[0]?.events_through_seq ?? 0n;
        return eventsThrough >= lastSeq;
      },
      { timeoutMs: 3000 },
    ).then(
      () => true,
      (error: unknown) => {
        if (!(error instanceof WaitTimeoutError)) throw error;
        return false;
      },
    );

    // The partition idles past the duplicate window, then changes owner.
    await first.stop();
    const jsm = await jetstreamManager(nats.nc);
    await jsm.streams.update(`${nats.prefix}-events`, { duplicate_window: DUPLICATE_WINDOW_MS * 1_000_000 });
    const idleSince = Date.now();
    await waitFor('the duplicate window to pass', () => Date.now() - idleSince > 3 * DUPLICATE_WINDOW_MS);
    const second = newWorker('second');
    await second.start(); // claims the partition and republishes its outbox before it returns
    expect(second.ownedPartitions()).toEqual([0]);

    const events = await checkEvents(nats.nc, `${nats.prefix}-events`, await outcomeRows(db.owner));
    console.log(`[shard-outbox] last outcome seq ${lastSeq}, events_through_seq ${eventsThrough} while idle; events after the handover ${JSON.stringify(events)}`);
    expect({ confirmationRecorded: recorded, eventsThroughSeq: eventsThrough, ...events }).toEqual({
      confirmationRecorded: true,
      eventsThroughSeq: lastSeq,
      missing: [],
      repeated: [],
      unexpected: [],
    });
  });
});
