import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerProcesses } from '../../src/ledger/index.js';
import { LedgerPublisher } from '../../src/sdk/publisher.js';
import type { OutcomeNotice } from '../../src/wire/index.js';
import { ShardWorker } from '../../src/shards/worker.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { createTestNats, type TestNats } from '../support/nats.js';
import { EFFECTIVE_DATE, awaitOutcomes, ledgerBalances } from '../support/shard-checks.js';
import { testShardWorker } from '../support/shard-worker.js';
import { waitFor } from '../support/wait.js';

/*
 * A partition consumer that disappears behind its worker's back: a nats-server whose store went back to
 * an older state (an OS crash) may no longer hold a consumer made after that state, and an operator may
 * delete one. The client library would ask for it again for ever while the partition's commands wait;
 * the worker must instead hand the partition back and claim it again, with a new consumer that starts
 * after the journal's checkpoint, so every command still applies, once.
 */

const PARTITIONS = 2;
const POTS = 6;
const OUTCOME_TIMEOUT_MS = 20_000;

let db: TestDatabase;
let nats: TestNats;
let worker: ShardWorker | undefined;
let publisher: LedgerPublisher | undefined;

beforeAll(async () => {
  db = await createTestDatabase('consumerlost');
  nats = await createTestNats('consumerlost');
});

afterAll(async () => {
  await publisher?.close();
  await worker?.stop().catch(() => undefined);
  await nats?.cleanup();
  await db?.drop();
});

describe('a partition consumer deleted behind the worker', () => {
  it('is replaced by a claim of the partition, and every command still applies once', async () => {
    worker = testShardWorker({
      pool: db.service,
      nc: nats.nc,
      prefix: nats.prefix,
      partitionCount: PARTITIONS,
      workerId: `consumerlost-${nats.prefix}`,
      ownership: { leaseTtlMs: 2000, tickMs: 400 },
    });
    await worker.start();
    await waitFor('the worker to own every partition', () => worker?.ownedPartitions().length === PARTITIONS);
    publisher = await LedgerPublisher.connect({ nc: nats.nc, prefix: nats.prefix, registry: ledgerProcesses, partitionCount: PARTITIONS });
    const pots = Array.from({ length: POTS }, (_, i) => ({ memberId: `member-${i}`, potId: `pot-${i}` }));
    const round = async (process: string, payload: unknown): Promise<void> => {
      const outcomes = new Map<string, Promise<OutcomeNotice>>();
      for (const { memberId, potId } of pots) {
        const sent = await publisher!.submit(process, { memberId, potId, payload, effectiveDate: EFFECTIVE_DATE });
        outcomes.set(sent.commandId, sent.outcome(OUTCOME_TIMEOUT_MS));
      }
      await awaitOutcomes(outcomes);
    };
    await round('pot.open', {});
    await round('cash.deposit', { amount: '1.00', currency: 'GBP' });

    const jsm = await jetstreamManager(nats.nc);
    const stream = `${nats.prefix}-commands`;
    const deleted: string[] = [];
    for await (const info of jsm.consumers.list(stream)) {
      await jsm.consumers.delete(stream, info.name);
      deleted.push(info.name);
    }
    expect(deleted, 'the partitions\' consumers').toHaveLength(PARTITIONS);

    const begun = Date.now();
    await round('cash.deposit', { amount: '2.00', currency: 'GBP' });
    const appliedInMs = Date.now() - begun;
    const consumers: string[] = [];
    for await (const info of jsm.consumers.list(stream)) consumers.push(info.name);
    console.log(`[shard-consumer-lost] deleted ${deleted.join(', ')}; the next round applied in ${appliedInMs} ms through ${consumers.join(', ')}`);
    expect(consumers.filter((name) => deleted.includes(name)), 'consumers of a new claim').toEqual([]);
    const balances = await ledgerBalances(db.owner);
    for (const { potId } of pots) expect(balances[`pot:${potId}:cash:GBP`], potId).toBe('300');
  });
});
