import { randomUUID } from 'node:crypto';
import { DiscardPolicy, jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerProcesses } from '../../src/ledger/index.js';
import { LedgerPublisher } from '../../src/sdk/publisher.js';
import { EventBatcher, EventsRefusedError, type EventMessage } from '../../src/shards/event-batcher.js';
import { createShardMetrics } from '../../src/shards/metrics.js';
import { names as namesFor } from '../../src/shards/names.js';
import type { OutcomeNotice } from '../../src/wire/index.js';
import type { ShardWorker } from '../../src/shards/worker.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { createTestNats, type TestNats } from '../support/nats.js';
import { awaitOutcomes, checkEvents, EFFECTIVE_DATE, eventIdOf, outcomeRows, streamMessageIds } from '../support/shard-checks.js';
import { testShardWorker } from '../support/shard-worker.js';
import { waitFor } from '../support/wait.js';

/*
 * JetStream refuses a single publish without breaking the connection (a full stream under
 * `discard: new`) and goes on storing the next one. An event is confirmed only by its own
 * acknowledgement: a batch whose last event is stored may still have lost one before it, and the
 * outbox's mark must never pass an event the stream does not hold.
 */

let db: TestDatabase;
let nats: TestNats;
let worker: ShardWorker | undefined;
let publisher: LedgerPublisher | undefined;

beforeAll(async () => {
  db = await createTestDatabase('eventrefusals');
  nats = await createTestNats('evrefused');
});

afterAll(async () => {
  await publisher?.close();
  await worker?.stop().catch(() => undefined);
  await nats?.cleanup();
  await db?.drop();
});

/** Room left in the partition's event stream: enough for a rejection's event, not for an import's. */
const ROOM_BYTES = 1000;

/** The most lines an import takes: its event is several times the room. */
const IMPORT_PAYLOAD = {
  cash: Array.from({ length: 8 }, () => ({ amount: '1.00', currency: 'GBP' })),
  units: Array.from({ length: 16 }, (_, index) => ({ units: '1.000000', fund: ['FUND-A', 'FUND-B', 'FUND-C'][index % 3] ?? 'FUND-A' })),
};

/** Room for the small events of these tests, not for the large ones. */
const SMALL_BYTES = 100;
const LARGE_BYTES = 16 * 1024;
const STREAM_BYTES_MAX = 8 * 1024;

function event(subject: string, bytes: number): EventMessage {
  return { subject, data: 'x'.repeat(bytes), headers: natsHeaders(), msgID: randomUUID() };
}

describe('the event batcher', () => {
  it('confirms only what the stream stored: a refused event mid-batch fails its batch, whose last event was stored', async () => {
    const stream = `${nats.prefix}-batcher`;
    const subject = `${nats.prefix}.batcher.events`;
    const jsm = await jetstreamManager(nats.nc);
    await jsm.streams.add({ name: stream, subjects: [subject], storage: StorageType.File, max_bytes: STREAM_BYTES_MAX, discard: DiscardPolicy.New });
    const batcher = new EventBatcher(nats.nc);
    const refusedBatch = [event(subject, SMALL_BYTES), event(subject, LARGE_BYTES), event(subject, SMALL_BYTES)];
    const otherBatch = [event(subject, SMALL_BYTES)];
    // Both callers in one turn of the event loop: one flush, one stream.
    const [refused, other] = await Promise.allSettled([batcher.publish(refusedBatch), batcher.publish(otherBatch)]);

    const stored = await streamMessageIds(nats.nc, stream);
    expect([...refusedBatch, ...otherBatch].map((m) => stored.has(m.msgID))).toEqual([true, false, true, true]);
    expect(refused.status).toBe('rejected');
    const reason: unknown = refused.status === 'rejected' ? refused.reason : undefined;
    expect(reason).toBeInstanceOf(EventsRefusedError);
    expect(reason).toMatchObject({ confirmedCount: 1, eventCount: 3 });
    expect(other.status).toBe('fulfilled');
  });
});

describe('a partition whose event stream refuses events', () => {
  it('never marks an event confirmed that the stream does not hold, and republishes it once there is room', async () => {
    const metrics = createShardMetrics();
    worker = testShardWorker({ pool: db.service, nc: nats.nc, prefix: nats.prefix, partitionCount: 1, metrics });
    await worker.start();
    publisher = await LedgerPublisher.connect({ nc: nats.nc, prefix: nats.prefix, registry: ledgerProcesses, partitionCount: 1 });
    const names = namesFor(nats.prefix);
    const jsm = await jetstreamManager(nats.nc);
    const member = { memberId: 'member-refusals', potId: 'pot-refusals', effectiveDate: EFFECTIVE_DATE };
    const mark = async (): Promise<bigint> =>
      (await db.owner.query<{ events_through_seq: bigint }>('SELECT events_through_seq FROM partition_owners WHERE partition = 0')).rows[0]?.events_through_seq ?? 0n;

    const open = await publisher.submit('pot.open', { ...member, payload: {} });
    await open.outcome(20_000);
    const openSeq = (await outcomeRows(db.owner)).get(open.commandId)?.seq ?? -1n;
    await waitFor('the pot.open event to be confirmed', async () => (await mark()) >= openSeq);

    // The event stream now has room for a small event (a rejection), not for a large one (an import
    // of 24 lines): it refuses the import's event and stores the rejection's after it.
    const { state } = await jsm.streams.info(names.eventStream);
    await jsm.streams.update(names.eventStream, { max_bytes: state.bytes + ROOM_BYTES });
    const imported = await publisher.submit('pot.import', { ...member, payload: IMPORT_PAYLOAD });
    const rejected = await publisher.submit('cash.withdraw', { ...member, payload: { amount: '1000.00', currency: 'GBP' } });
    const outcomes = new Map<string, Promise<OutcomeNotice>>([
      [imported.commandId, imported.outcome(20_000)],
      [rejected.commandId, rejected.outcome(20_000)],
    ]);
    await awaitOutcomes(outcomes);
    const rows = await outcomeRows(db.owner);
    const importRow = rows.get(imported.commandId);
    const rejectedRow = rows.get(rejected.commandId);
    expect([importRow?.status, rejectedRow?.status]).toEqual(['applied', 'rejected']);
    if (importRow === undefined || rejectedRow === undefined) throw new Error('outcomes missing');

    // The stream holds the rejection's event, not the import's; the shard has seen the refusal (or,
    // wrongly, moved its mark past the import).
    const unconfirmed = async () => (await metrics.eventsUnconfirmed.get()).values[0]?.value ?? 0;
    await waitFor('the rejection event to be stored and the refusal seen', async () => {
      const stored = await streamMessageIds(nats.nc, names.eventStream);
      return stored.has(eventIdOf(rejectedRow)) && ((await unconfirmed().catch(() => 0)) > 0 || (await mark()) >= rejectedRow.seq);
    });
    const stored = await streamMessageIds(nats.nc, names.eventStream);
    expect(stored.has(eventIdOf(importRow))).toBe(false);
    const markWhileFull = await mark();
    const markedButMissing = [...rows.values()].filter((row) => row.seq <= markWhileFull && !stored.has(eventIdOf(row))).map((row) => row.commandId);
    expect(markedButMissing).toEqual([]);

    // Room is made: the outbox republishes the import's event, and the mark moves past both.
    await jsm.streams.update(names.eventStream, { max_bytes: 1024 ** 3 });
    await waitFor('the mark to pass the rejection once there is room', async () => (await mark()) >= rejectedRow.seq, { timeoutMs: 20_000 });
    expect(await checkEvents(nats.nc, names.eventStream, await outcomeRows(db.owner))).toEqual({ missing: [], repeated: [], unexpected: [] });
    // The sizes the test relies on: the rejection's event fits in the room, the import's does not.
    const sizes = await eventSizes(names.eventStream, [eventIdOf(importRow), eventIdOf(rejectedRow)]);
    console.log(`[event-refusals] room ${ROOM_BYTES} bytes; event bodies ${JSON.stringify(sizes)}; mark while full ${markWhileFull}, import seq ${importRow.seq}`);
    expect(sizes[eventIdOf(rejectedRow)]).toBeLessThan(ROOM_BYTES * 0.7);
    expect(sizes[eventIdOf(importRow)]).toBeGreaterThan(ROOM_BYTES * 3);
  });
});

/** The size (subject, headers and body as stored) of the events with these ids, where stored. */
async function eventSizes(stream: string, ids: readonly string[]): Promise<Record<string, number>> {
  const consumer = await jetstream(nats.nc).consumers.get(stream);
  const jsm = await jetstreamManager(nats.nc);
  const last = (await jsm.streams.info(stream)).state.last_seq;
  const sizes: Record<string, number> = {};
  const messages = await consumer.consume({ max_messages: 1000 });
  for await (const message of messages) {
    const id = message.headers?.get('Nats-Msg-Id') ?? '';
    if (ids.includes(id)) sizes[id] = message.data.length;
    if (message.seq >= last) break;
  }
  await messages.close().catch(() => undefined);
  return sizes;
}
