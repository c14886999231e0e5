import { afterEach, describe, expect, it } from 'vitest';
import { ledgerProcesses, type Command } from '../../src/ledger/index.js';
import { LedgerPublisher } from '../../src/sdk/publisher.js';
import type { OutcomeNotice } from '../../src/wire/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { createTestNats, type TestNats } from '../support/nats.js';
import {
  EFFECTIVE_DATE,
  awaitOutcomes,
  checkEvents,
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
import { WorkerFleet, describeExit, workerEnvironment, type WorkerProcess } from '../support/workers.js';

/*
 * Crash tests: a worker process started with POTLEDGER_FAILPOINT dies (SIGKILL, by its own hand) the third
 * time it passes the failpoint, i.e. right after its third group commit and before acknowledging it, or
 * after acknowledging it and before publishing its events. A replacement worker takes the partitions
 * over and finishes. Every command must have exactly one outcome, the balances must be the reference
 * ledger's, verify must pass, and every outcome must have its event (the outbox republishes the lost ones).
 */

const PARTITIONS = 2;
const LEASE_TTL_MS = 2000;
const POTS = 16;
const WAVES = 4;
const WAVE = 40;
const HIT = 3;

const potIdOf = (pot: number): string => `pot-${pot}`;
const memberOf = (pot: number): string => `member-${pot}`;

interface Scenario {
  db?: TestDatabase;
  nats?: TestNats;
  fleet?: WorkerFleet;
  publisher?: LedgerPublisher;
}
let current: Scenario = {};

afterEach(async () => {
  const { db, nats, fleet, publisher } = current;
  current = {};
  await fleet?.killAll();
  await publisher?.close();
  await nats?.cleanup();
  await db?.drop();
});

describe.each(['after-commit-before-ack', 'after-ack-before-events'] as const)('a worker that dies at %s', (failpoint) => {
  it(`loses nothing and applies nothing twice; a replacement finishes (${failpoint}:${HIT})`, async () => {
    const seed = planSeed(`shard-crash ${failpoint}`);
    const random = seededRandom(seed);
    const db = (current.db = await createTestDatabase('shardcrash'));
    const nats = (current.nats = await createTestNats('crash'));
    const fleet = (current.fleet = new WorkerFleet(workerEnvironment(db, nats.prefix, PARTITIONS, { leaseTtlMs: LEASE_TTL_MS })));

    const publisher = (current.publisher = await LedgerPublisher.connect({
      nc: nats.nc,
      prefix: nats.prefix,
      registry: ledgerProcesses,
      partitionCount: PARTITIONS,
      resendAfterMs: 1000,
      resendAfterMsMax: 2000,
      outcomeTimeoutMs: 30_000,
    }));

    const published: Command[] = [];
    const outcomes = new Map<string, Promise<OutcomeNotice>>();
    let counter = 0;
    const publish = async (command: Command): Promise<string> => {
      const submitted = await submitInOrder(publisher, command);
      published.push(command);
      outcomes.set(command.commandId, submitted.outcome());
      return command.commandId;
    };
    const settle = (ids: readonly string[]) => awaitOutcomes(new Map(ids.map((id) => [id, outcomes.get(id)!])));

    // A first worker opens the pots and hands over gracefully (SIGTERM) to the one with the failpoint,
    // whose commits are then all batches of money commands, in waves, each awaited: it dies at its third.
    const setup = await fleet.start('setup');
    const opens: string[] = [];
    for (let pot = 0; pot < POTS; pot += 1) {
      opens.push(await publish(commandOf('pot.open', {
        commandId: `crash-open-${pot}`,
        memberId: memberOf(pot),
        potId: potIdOf(pot),
        payload: {},
        effectiveDate: EFFECTIVE_DATE,
      })));
    }
    await settle(opens);
    expect(await setup.stop()).toEqual({ code: 0, signal: null });
    const crashing = await fleet.start('crashing', { failpoint: `${failpoint}:${HIT}` });
    // As soon as it dies, a replacement (no failpoint) is started.
    let replacement: Promise<WorkerProcess> | undefined;
    let outcomesAtDeath: Promise<number> | undefined;
    const replaced = crashing.exited().then((status) => {
      outcomesAtDeath = countOutcomes(db.owner);
      replacement = fleet.start('replacement');
      return status;
    });
    for (let wave = 0; wave < WAVES; wave += 1) {
      const ids: string[] = [];
      for (let i = 0; i < WAVE; i += 1) {
        const pot = Math.floor(random() * POTS);
        const process = random() < 0.6 ? 'cash.deposit' : 'cash.withdraw';
        const payload = { amount: money(1 + Math.floor(random() * 30_000)), currency: 'GBP' };
        ids.push(await publish(commandOf(process, { commandId: `crash-${(counter += 1)}`, memberId: memberOf(pot), potId: potIdOf(pot), payload, effectiveDate: EFFECTIVE_DATE })));
      }
      await settle(ids);
    }

    // The worker died at its failpoint (it SIGKILLs itself), and the replacement finished the work.
    const status = await replaced;
    expect(status.signal, `the crashing worker died at ${failpoint}:${HIT}: ${describeExit(status)}`).toBe('SIGKILL');
    expect(replacement).toBeDefined();
    const finisher = await replacement!;
    expect(finisher.alive).toBe(true);
    console.log(
      `[shard-crash] ${failpoint}:${HIT}: crashing worker ${describeExit(status)} with ${await outcomesAtDeath} outcomes committed; ` +
        `${published.length} commands; replacement ${finisher.workerId}`,
    );

    // Exactly one outcome per command, nothing else; the reference's outcomes and balances; verify.
    const ids = published.map((c) => c.commandId);
    expect(await countOutcomes(db.owner, ids)).toBe(ids.length);
    const rows = await outcomeRows(db.owner);
    expect(rows.size).toBe(ids.length);
    const reference = replayReference(published, rows, PARTITIONS);
    expect(outcomeMismatches(reference, rows)).toEqual([]);
    expect(await ledgerBalances(db.owner)).toEqual(referenceBalances(reference));
    expect(await verifyBreaks(db.owner)).toEqual({ ok: true, breaks: [] });

    // No committed outcome is missing its event: the replacement republished what the crash lost.
    await waitForEvents(nats.nc, `${nats.prefix}-events`, db.owner);
    expect(await checkEvents(nats.nc, `${nats.prefix}-events`, rows)).toEqual({ missing: [], repeated: [], unexpected: [] });
  });
});
