import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '../../src/journal/database.js';
import { ledgerProcesses } from '../../src/ledger/index.js';
import { LedgerPublisher } from '../../src/sdk/publisher.js';
import type { OutcomeNotice } from '../../src/wire/index.js';
import { ShardWorker } from '../../src/shards/worker.js';
import { CommitReplyCutter } from '../support/commit-cutter.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { createTestNats, type TestNats } from '../support/nats.js';
import { EFFECTIVE_DATE, awaitOutcomes, checkEvents, outcomeRows, waitForEvents } from '../support/shard-checks.js';
import { testShardWorker } from '../support/shard-worker.js';
import { waitFor } from '../support/wait.js';

/*
 * A commit whose reply is lost. The worker's connection to Postgres breaks after the server committed a
 * group commit but before the worker heard so: the worker must treat the batch as failed and retry it,
 * the retry finds the outcomes already recorded and answers them as replays, and the events of those
 * outcomes, which the failed attempt never published, must still go out (from the outbox) before the
 * partition's confirmed point moves past them. Nothing may be applied twice or recorded as poison.
 *
 * The fault is real: a TCP relay in front of the test's Postgres drops the COMMIT's reply and cuts the
 * connection (test/support/commit-cutter.ts).
 */

const PARTITIONS = 4;
const POTS = 8;
const ROUNDS = 12;
const CUTS = 3;

let db: TestDatabase;
let nats: TestNats;
let cutter: CommitReplyCutter;
let pool: pg.Pool;
let worker: ShardWorker | undefined;
let publisher: LedgerPublisher | undefined;

beforeAll(async () => {
  db = await createTestDatabase('ambiguouscommit');
  nats = await createTestNats('ambiguous');
  const url = new URL(db.serviceUrl);
  cutter = await CommitReplyCutter.start({ host: url.hostname, port: Number(url.port === '' ? 5432 : url.port) });
  url.hostname = '127.0.0.1';
  url.port = String(cutter.port);
  pool = createPool(url.toString(), { max: 8, applicationName: 'potledger-test-ambiguous' });
});

afterAll(async () => {
  await publisher?.close();
  await worker?.stop().catch(() => undefined);
  await pool?.end();
  await cutter?.close();
  await nats?.cleanup();
  await db?.drop();
});

describe('a commit whose reply is lost', () => {
  it('is retried as replays, and the events of what it committed still go out', async () => {
    worker = testShardWorker({ pool, nc: nats.nc, prefix: nats.prefix, partitionCount: PARTITIONS, workerId: `ambiguous-${nats.prefix}` });
    await worker.start();
    await waitFor('the worker to own every partition', () => worker?.ownedPartitions().length === PARTITIONS);
    publisher = await LedgerPublisher.connect({ nc: nats.nc, prefix: nats.prefix, registry: ledgerProcesses, partitionCount: PARTITIONS });

    const outcomes = new Map<string, Promise<OutcomeNotice>>();
    const pots = Array.from({ length: POTS }, (_, i) => ({ memberId: `member-${i}`, potId: `pot-${i}` }));
    for (const { memberId, potId } of pots) {
      const open = await publisher.submit('pot.open', { memberId, potId, payload: {}, effectiveDate: EFFECTIVE_DATE });
      outcomes.set(open.commandId, open.outcome(30_000));
    }
    await awaitOutcomes(outcomes);

    // Deposits to every pot at once, round after round; the COMMITs of a few rounds lose their replies.
    for (let round = 1; round <= ROUNDS; round += 1) {
      if (round % 4 === 2) cutter.arm();
      const sent = await Promise.all(
        pots.map(({ memberId, potId }) =>
          publisher!.submit('cash.deposit', { memberId, potId, payload: { amount: `${round}.00`, currency: 'GBP' }, effectiveDate: EFFECTIVE_DATE }),
        ),
      );
      const round_ = new Map(sent.map((s) => [s.commandId, s.outcome(30_000)] as const));
      for (const [id, outcome] of round_) outcomes.set(id, outcome);
      await awaitOutcomes(round_);
    }
    const notices = await awaitOutcomes(outcomes);
    expect(cutter.cuts, 'COMMIT replies the relay dropped').toBe(CUTS);

    await waitForEvents(nats.nc, `${nats.prefix}-events`, db.owner, 15_000).catch(() => undefined);
    const rows = await outcomeRows(db.owner);
    const events = await checkEvents(nats.nc, `${nats.prefix}-events`, rows);
    const { rows: poison } = await db.owner.query<{ n: bigint }>('SELECT count(*) AS n FROM poison_messages');
    const deposited = await db.owner.query<{ total: bigint }>(
      "SELECT coalesce(sum(balance_minor), 0)::bigint AS total FROM balances WHERE owner_type = 'pot' AND asset = 'GBP'",
    );
    const expectedTotal = BigInt(POTS) * BigInt((ROUNDS * (ROUNDS + 1)) / 2) * 100n;
    console.log(`[shard-ambiguous-commit] ${notices.size} commands, ${cutter.cuts} COMMIT replies lost; events ${JSON.stringify(events)}`);
    expect({
      outcomes: rows.size,
      applied: [...notices.values()].filter((n) => n.status === 'answered').length,
      poison: poison[0]?.n,
      potsHold: deposited.rows[0]?.total,
      ...events,
    }).toEqual({
      outcomes: POTS * (ROUNDS + 1),
      applied: POTS * (ROUNDS + 1),
      poison: 0n,
      potsHold: expectedTotal,
      missing: [],
      repeated: [],
      unexpected: [],
    });
  });
});
