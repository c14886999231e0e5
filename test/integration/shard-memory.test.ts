import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerProcesses, type Command } from '../../src/ledger/index.js';
import { LedgerPublisher } from '../../src/sdk/publisher.js';
import { createShardMetrics, type ShardMetrics } from '../../src/shards/metrics.js';
import type { OutcomeNotice } from '../../src/wire/index.js';
import { ShardWorker } from '../../src/shards/worker.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { createTestNats, type TestNats } from '../support/nats.js';
import {
  ASSETS,
  EFFECTIVE_DATE,
  awaitOutcomes,
  commandOf,
  countOutcomes,
  ledgerBalances,
  money,
  outcomeMismatches,
  outcomeRows,
  planSeed,
  referenceBalances,
  replayReference,
  seededRandom,
  submitInOrder,
  verifyBreaks,
  waitForEvents,
} from '../support/shard-checks.js';
import { waitFor } from '../support/wait.js';

/*
 * Memory stays bounded: a worker allowed 20 live pot actors per partition touches twenty times as many
 * pots (open and deposit each), then every pot again in another order (so passivated actors are loaded
 * back from Postgres). Afterwards no partition holds more than 20 actors, and the ledger is right.
 */

const PARTITIONS = 2;
const LIVE_ACTORS_MAX = 20;
const POTS = 400;

const potIdOf = (pot: number): string => `pot-${pot}`;
const memberOf = (pot: number): string => `member-${pot}`;

let db: TestDatabase;
let nats: TestNats;
let worker: ShardWorker | undefined;
let publisher: LedgerPublisher | undefined;
let metrics: ShardMetrics;

beforeAll(async () => {
  db = await createTestDatabase('shardmemory');
  nats = await createTestNats('memory');
  metrics = createShardMetrics();
  worker = new ShardWorker({
    pool: db.service,
    nc: nats.nc,
    prefix: nats.prefix,
    registry: ledgerProcesses,
    assets: ASSETS,
    partitionCount: PARTITIONS,
    metrics,
    log: pino({ level: 'warn' }),
    limits: { liveActorsMax: LIVE_ACTORS_MAX },
  });
  await worker.start();
  publisher = await LedgerPublisher.connect({ nc: nats.nc, prefix: nats.prefix, registry: ledgerProcesses, partitionCount: PARTITIONS, resendAfterMs: 2000 });
});

afterAll(async () => {
  await publisher?.close();
  await worker?.stop();
  await nats?.cleanup();
  await db?.drop();
});

/** Live actors per partition, as the worker reports them to Prometheus. */
async function liveActorsByPartition(): Promise<Record<string, number>> {
  const { values } = await metrics.liveActors.get();
  return Object.fromEntries(values.map((value) => [String(value.labels.partition), value.value]));
}

describe('a worker with a bound on live pot actors', () => {
  it(`keeps at most ${LIVE_ACTORS_MAX} actors per partition over ${POTS} pots, and computes the same ledger`, async () => {
    const random = seededRandom(planSeed('shard-memory'));
    const shard = worker!;
    expect(shard.ownedPartitions()).toEqual([0, 1]);
    const published: Command[] = [];
    const outcomes = new Map<string, Promise<OutcomeNotice>>();
    let counter = 0;
    let peak = 0;
    const publish = async (process: string, pot: number, payload: unknown): Promise<void> => {
      const command = commandOf(process, { commandId: `memory-${(counter += 1)}`, memberId: memberOf(pot), potId: potIdOf(pot), payload, effectiveDate: EFFECTIVE_DATE });
      const submitted = await submitInOrder(publisher!, command);
      published.push(command);
      outcomes.set(command.commandId, submitted.outcome(30_000));
      peak = Math.max(peak, shard.liveActors());
    };

    // Round 1: open and fund every pot.
    for (let pot = 0; pot < POTS; pot += 1) {
      await publish('pot.open', pot, {});
      await publish('cash.deposit', pot, { amount: money(1000 + pot), currency: 'GBP' });
    }
    await awaitOutcomes(outcomes);
    const afterFirstRound = await liveActorsByPartition();
    // Round 2: every pot again, in a shuffled order (its actor was passivated long ago), withdrawing
    // sometimes more than it holds.
    const order = Array.from({ length: POTS }, (_, pot) => pot);
    for (let i = order.length - 1; i > 0; i -= 1) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j] ?? 0, order[i] ?? 0];
    }
    for (const pot of order) await publish('cash.withdraw', pot, { amount: money(Math.floor(random() * 2500) + 1), currency: 'GBP' });
    await awaitOutcomes(outcomes);
    // Outcomes are announced before the worker publishes the batch's events and then passivates idle
    // actors, so "after the load" is once the last events are out and the worker is idle.
    await waitForEvents(nats.nc, `${nats.prefix}-events`, db.owner);
    await waitFor('the worker to passivate down to its bound', () => shard.liveActors() <= LIVE_ACTORS_MAX * shard.ownedPartitions().length, {
      timeoutMs: 5000,
      describe: async () => `live actors ${shard.liveActors()}, by partition ${JSON.stringify(await liveActorsByPartition())}`,
    });

    const perPartition = await liveActorsByPartition();
    console.log(
      `[shard-memory] live actors after round 1 ${JSON.stringify(afterFirstRound)}, at the end ${JSON.stringify(perPartition)} ` +
        `(total ${shard.liveActors()}, peak seen while publishing ${peak})`,
    );
    expect(shard.liveActors()).toBeLessThanOrEqual(LIVE_ACTORS_MAX * shard.ownedPartitions().length);
    expect(Object.keys(perPartition).sort()).toEqual(['0', '1']);
    for (const [when, counts] of Object.entries({ 'after round 1': afterFirstRound, 'at the end': perPartition })) {
      for (const [partition, live] of Object.entries(counts)) expect(live, `live actors of partition ${partition} ${when}`).toBeLessThanOrEqual(LIVE_ACTORS_MAX);
    }

    // The results are right: every command answered once, the reference's outcomes and balances, verify.
    const ids = published.map((c) => c.commandId);
    expect(await countOutcomes(db.owner, ids)).toBe(ids.length);
    const rows = await outcomeRows(db.owner);
    const reference = replayReference(published, rows, PARTITIONS);
    expect(outcomeMismatches(reference, rows)).toEqual([]);
    expect(await ledgerBalances(db.owner)).toEqual(referenceBalances(reference));
    const { rows: pots } = await db.owner.query<{ n: bigint }>("SELECT count(*) AS n FROM pots WHERE status = 'open'");
    expect(pots[0]?.n).toBe(BigInt(POTS));
    expect(await verifyBreaks(db.owner)).toEqual({ ok: true, breaks: [] });
  });
});
