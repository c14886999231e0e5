import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerProcesses, type Command } from '../../src/ledger/index.js';
import { LedgerPublisher } from '../../src/sdk/publisher.js';
import type { OutcomeNotice } from '../../src/wire/index.js';
import { createTestDatabase, ownerUrl, type TestDatabase } from '../support/database.js';
import { PrivateNats } from '../support/servers.js';
import {
  EFFECTIVE_DATE,
  awaitOutcomes,
  commandOf,
  ledgerBalances,
  outcomeMismatches,
  outcomeRows,
  referenceBalances,
  replayReference,
  submitInOrder,
  verifyBreaks,
} from '../support/shard-checks.js';
import { WorkerFleet, type WorkerEnvironment } from '../support/workers.js';
import { urlWithDatabase } from '../../src/journal/database.js';

/*
 * An OS crash of a single-node nats-server: nats-server 2.9 fsyncs its store every 60 s, so after a
 * power cut the store is what it was at the last fsync. The test copies the store at one moment (the
 * "last fsync"), lets the ledger apply more commands, then puts the copy back and starts the server: the
 * stream has lost its tail, which the journal has committed, and the next commands reuse its sequence
 * numbers. Then, with the worker that lived through it and with a fresh owner claiming the partitions:
 * every command published after the crash is applied (none skipped because its sequence number is at or
 * under the journal's checkpoint), in order, once; the publisher's re-sends cover commands lost before
 * they were applied; the balances are the reference's.
 */

const PARTITIONS = 4;
const POTS = 24;
const OUTCOME_TIMEOUT_MS = 60_000;

let db: TestDatabase;
let nats: PrivateNats;
let nc: NatsConnection | undefined;
let fleet: WorkerFleet | undefined;
let publisher: LedgerPublisher | undefined;

beforeAll(async () => {
  db = await createTestDatabase('oscrash');
  nats = await PrivateNats.create({ label: 'oscrash' });
});

afterAll(async () => {
  await fleet?.killAll();
  await publisher?.close();
  await nc?.close();
  await nats?.destroy();
  await db?.drop();
});

describe('an OS crash of nats-server (its store back to the last fsync)', () => {
  it('skips nothing published afterwards, with the surviving worker and with a new owner', async () => {
    const environment: WorkerEnvironment = {
      databaseUrl: urlWithDatabase(ownerUrl(), db.name),
      natsUrl: nats.url,
      prefix: 'oscrash',
      partitionCount: PARTITIONS,
      leaseTtlMs: 2000,
    };
    fleet = new WorkerFleet(environment);
    await fleet.start('w1');
    nc = await connect({ servers: nats.url, name: 'oscrash-test', maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    publisher = await LedgerPublisher.connect({
      nc,
      prefix: 'oscrash',
      registry: ledgerProcesses,
      partitionCount: PARTITIONS,
      resendAfterMs: 1000,
      resendAfterMsMax: 2000,
      outcomeTimeoutMs: OUTCOME_TIMEOUT_MS,
    });

    const published: Command[] = [];
    let counter = 0;
    const round = async (process: string, payload: (pot: number) => unknown): Promise<Map<string, OutcomeNotice>> => {
      const outcomes = new Map<string, Promise<OutcomeNotice>>();
      for (let pot = 0; pot < POTS; pot += 1) {
        const command = commandOf(process, {
          commandId: `oscrash-${(counter += 1)}`,
          memberId: `member-${pot}`,
          potId: `pot-${pot}`,
          payload: payload(pot),
          effectiveDate: EFFECTIVE_DATE,
        });
        const submitted = await submitInOrder(publisher!, command, 50);
        published.push(command);
        outcomes.set(command.commandId, submitted.outcome(OUTCOME_TIMEOUT_MS));
      }
      return awaitOutcomes(outcomes).catch((error: unknown) => {
        // Say what the workers were doing, not only that outcomes are missing.
        throw new Error(`${(error as Error).message}\n${fleet!.all().map((worker) => worker.tail(60)).join('\n')}`);
      });
    };
    const deposit = (amount: string) => () => ({ amount, currency: 'GBP' });

    await round('pot.open', () => ({}));
    await round('cash.deposit', deposit('1.00'));
    await nats.snapshot(); // the last fsync
    await round('cash.deposit', deposit('2.00')); // applied, then lost from the stream
    const checkpoints = await db.owner.query<{ partition: number; checkpoint_seq: bigint }>('SELECT partition, checkpoint_seq FROM partition_owners ORDER BY partition');

    // The crash: the surviving worker goes on, and what is published now reuses lost sequence numbers.
    await nats.crashToSnapshot();
    await round('cash.deposit', deposit('4.00'));

    // A second crash, and this time a fresh worker claims every partition after it.
    await nats.crashToSnapshot();
    await fleet.all()[0]?.kill();
    const fresh = await fleet.start('w2');
    await round('cash.deposit', deposit('8.00'));
    // The new owner saw that the stream no longer holds the checkpoint's message, and read from the start.
    expect(fresh.logged('the command stream lost messages the journal committed'), fresh.tail()).toBeDefined();

    const rows = await outcomeRows(db.owner);
    const reference = replayReference(published, rows, PARTITIONS);
    expect(outcomeMismatches(reference, rows)).toEqual([]);
    const balances = await ledgerBalances(db.owner);
    expect(balances).toEqual(referenceBalances(reference));
    for (let pot = 0; pot < POTS; pot += 1) expect(balances[`pot:pot-${pot}:cash:GBP`], `pot-${pot}`).toBe('1500');
    expect(await verifyBreaks(db.owner)).toEqual({ ok: true, breaks: [] });
    console.log(`[nats-os-crash] checkpoints before the crash: ${checkpoints.rows.map((r) => `p${r.partition}@${r.checkpoint_seq}`).join(' ')}; ${rows.size} outcomes`);
  });
});
