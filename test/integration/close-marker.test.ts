import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { potBalancesAsOf } from '../../src/journal/end-of-day.js';
import { CloseRefusedError, CloseTimeoutError } from '../../src/journal/errors.js';
import { verifyLedger } from '../../src/journal/verify.js';
import { ledgerProcesses, partitionOf } from '../../src/ledger/index.js';
import { LedgerPublisher } from '../../src/sdk/publisher.js';
import { closeBusinessDay } from '../../src/shards/close-day.js';
import { closeMarkerId, HEADER, names, type Names } from '../../src/shards/names.js';
import { PoisonCode } from '../../src/shards/parse.js';
import type { ShardWorker } from '../../src/shards/worker.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { createTestNats, type TestNats } from '../support/nats.js';
import { testShardWorker } from '../support/shard-worker.js';
import { waitFor } from '../support/wait.js';
import { stringMatching } from '../support/matchers.js';

/**
 * The close marker in the command stream: one batch that holds commands before the marker, the marker,
 * and commands after it (the worker starts only once all are in the stream, so it pulls them together)
 * is split at the marker; a marker for a day nobody asked to close is poison, never a snapshot.
 */
const PARTITIONS = 2;
let db: TestDatabase;
let nats: TestNats;
let jsm: JetStreamManager;
let ledger: Names;
let publisher: LedgerPublisher;
let worker: ShardWorker | undefined;

beforeAll(async () => {
  db = await createTestDatabase('closemarker');
  nats = await createTestNats('closemarker');
  jsm = await jetstreamManager(nats.nc);
  ledger = names(nats.prefix);
  publisher = await LedgerPublisher.connect({ nc: nats.nc, prefix: nats.prefix, registry: ledgerProcesses, partitionCount: PARTITIONS });
});
afterAll(async () => {
  await publisher?.close();
  await worker?.stop();
  await nats?.cleanup();
  await db?.drop();
});

/** Two members, one in each partition. */
function memberPerPartition(): [string, string] {
  const found: string[] = [];
  for (let i = 0; found.length < PARTITIONS; i += 1) {
    const candidate = `MK-${i}`;
    if (!found.some((m) => partitionOf(m, PARTITIONS) === partitionOf(candidate, PARTITIONS))) found.push(candidate);
  }
  return [found[0] ?? '', found[1] ?? ''];
}

async function lastIsMarker(partition: number): Promise<boolean> {
  const last = await jsm.streams.getMessage(ledger.commandStream, { last_by_subj: ledger.commandSubject(partition) }).catch(() => null);
  return last?.header.get(HEADER.close) !== undefined && last.header.get(HEADER.close) !== '';
}

describe('close markers', () => {
  it('split a batch at the marker: commands before it are in the snapshot, commands after it are not; a close that timed out resumes', async () => {
    const [early, late] = memberPerPartition();
    const before = [
      await publisher.submit('pot.open', { memberId: early, potId: `${early}-P`, payload: {} }),
      await publisher.submit('cash.deposit', { memberId: early, potId: `${early}-P`, payload: { amount: '10.00', currency: 'GBP' } }),
    ];
    // No worker yet: the close publishes its markers, waits, and gives up; the day stays requested.
    await expect(closeBusinessDay({ pool: db.service, jsm, names: ledger, partitionCount: PARTITIONS, timeoutMs: 300 }, '2027-03-01')).rejects.toBeInstanceOf(CloseTimeoutError);
    await waitFor('both markers in the stream', async () => (await lastIsMarker(0)) && (await lastIsMarker(1)));
    const after = [
      await publisher.submit('cash.deposit', { memberId: early, potId: `${early}-P`, payload: { amount: '5.00', currency: 'GBP' } }),
      await publisher.submit('pot.open', { memberId: late, potId: `${late}-P`, payload: {} }),
      await publisher.submit('cash.deposit', { memberId: late, potId: `${late}-P`, payload: { amount: '7.00', currency: 'EUR' } }),
    ];
    // Closing the day again resumes it (its markers, sent again, are the same messages to JetStream).
    const closing = closeBusinessDay({ pool: db.service, jsm, names: ledger, partitionCount: PARTITIONS, timeoutMs: 60_000, resendAfterMs: 60_000 }, '2027-03-01');
    worker = testShardWorker({ pool: db.service, nc: nats.nc, prefix: nats.prefix, partitionCount: PARTITIONS });
    await worker.start();
    expect(await closing).toMatchObject({ alreadyClosed: false });
    for (const sent of [...before, ...after]) expect((await sent.outcome(30_000)).outcome).toMatchObject({ kind: 'applied' });

    // The commands before the marker are in the close, those after it are not (a new account included).
    expect(await potBalancesAsOf(db.service, `${early}-P`, '2027-03-01')).toEqual(new Map([[`pot:${early}-P:cash:GBP`, 1000n]]));
    expect(await potBalancesAsOf(db.service, `${late}-P`, '2027-03-01')).toEqual(new Map());
    const { rows } = await db.owner.query<{ partition: number; stream_seq: bigint }>(
      'SELECT partition, stream_seq FROM partition_closes WHERE business_date = $1::date ORDER BY partition',
      ['2027-03-01'],
    );
    expect(rows.map((row) => row.partition)).toEqual([0, 1]);
    for (const row of rows) {
      const marker = await jsm.streams.getMessage(ledger.commandStream, { seq: Number(row.stream_seq) });
      expect(marker?.header.get(HEADER.messageId)).toBe(closeMarkerId('2027-03-01', row.partition));
    }
    expect((await verifyLedger(db.owner)).checks.filter((check) => !check.ok)).toEqual([]);

    // Closing the day again changes nothing; closing a day before it is refused.
    expect(await closeBusinessDay({ pool: db.service, jsm, names: ledger, partitionCount: PARTITIONS }, '2027-03-01')).toMatchObject({ alreadyClosed: true });
    await expect(closeBusinessDay({ pool: db.service, jsm, names: ledger, partitionCount: PARTITIONS }, '2027-02-28')).rejects.toBeInstanceOf(CloseRefusedError);
  });

  it('are poison when nobody asked to close their day: nothing is snapshotted', async () => {
    const headers = natsHeaders();
    headers.set(HEADER.close, '2027-03-05');
    await jsm.jetstream().publish(ledger.commandSubject(0), '{}', { msgID: closeMarkerId('2027-03-05', 0), headers });
    const poison = await waitFor('the forged marker recorded as poison', async () => {
      const { rows } = await db.owner.query<{ code: string; reason: string }>('SELECT code, reason FROM poison_messages WHERE partition = 0');
      return rows[0];
    });
    expect(poison).toMatchObject({ code: PoisonCode.closeMarker, reason: stringMatching(/2027-03-05, whose close was never requested/) });
    const { rows } = await db.owner.query("SELECT 1 FROM partition_closes WHERE business_date = '2027-03-05'");
    expect(rows).toEqual([]);
  });
});
