import { Kvm } from '@nats-io/kv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerProcesses, type Command } from '../../src/ledger/index.js';
import { LedgerPublisher } from '../../src/sdk/publisher.js';
import { names } from '../../src/shards/names.js';
import type { OutcomeNotice } from '../../src/wire/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { createTestNats, type TestNats } from '../support/nats.js';
import {
  EFFECTIVE_DATE,
  awaitOutcomes,
  commandOf,
  ledgerBalances,
  outcomeMismatches,
  outcomeRows,
  partitionOwners,
  referenceBalances,
  replayReference,
  submitInOrder,
  verifyBreaks,
} from '../support/shard-checks.js';
import { waitFor } from '../support/wait.js';
import { WorkerFleet, workerEnvironment } from '../support/workers.js';

/*
 * Liveness of a worker starved of CPU (issue 16, item 13): the only worker is frozen (SIGSTOP) until every
 * one of its leases has expired in NATS, with commands for every partition waiting, then thawed. Being the
 * only worker, it must take its partitions back at once (new epochs) and apply what waited: the time
 * from the thaw to the outcomes is bounded, burst after burst. The ledger is then the reference's and
 * `verify` passes.
 */

const PARTITIONS = 4;
const LEASE_TTL_MS = 2000;
const POTS = 8;
const BURSTS = 3;
/**
 * From the thaw to every outcome of the burst: the lease TTL (a lease found lost is taken again only once
 * its key has expired), a few ownership ticks, a claim and a new consumer per partition, and room for a
 * machine busy with other tests. A worker that does not take its partitions back blows far past it.
 */
const RECOVERY_MS_MAX = 15_000;
/** A starved worker: frozen this long, then running this long, again and again for STUTTER_MS. */
const STUTTER_FROZEN_MS = 1500;
const STUTTER_RUNNING_MS = 60;
const STUTTER_MS = LEASE_TTL_MS * 4;

let db: TestDatabase;
let nats: TestNats;
let fleet: WorkerFleet | undefined;
let publisher: LedgerPublisher | undefined;

beforeAll(async () => {
  db = await createTestDatabase('shardstarved');
  nats = await createTestNats('starved');
  fleet = new WorkerFleet(workerEnvironment(db, nats.prefix, PARTITIONS, { leaseTtlMs: LEASE_TTL_MS }));
});

afterAll(async () => {
  await fleet?.killAll();
  await publisher?.close();
  await nats?.cleanup();
  await db?.drop();
});

const potIdOf = (pot: number): string => `pot-${pot}`;
const memberOf = (pot: number): string => `member-${pot}`;

describe('the only worker, starved of CPU past its leases', () => {
  it('takes its partitions back and applies the waiting commands within a bound after each starvation', async () => {
    const worker = await fleet!.start('only');
    await waitFor('the worker to own every partition', async () => (await partitionOwners(db.owner)).size === PARTITIONS, { timeoutMs: 30_000, describe: () => worker.tail(10) });
    publisher = await LedgerPublisher.connect({
      nc: nats.nc, prefix: nats.prefix, registry: ledgerProcesses, partitionCount: PARTITIONS, resendAfterMs: 1000, resendAfterMsMax: 3000, outcomeTimeoutMs: 60_000,
    });
    const leases = await new Kvm(nats.nc).open(names(nats.prefix).leaseBucket);
    const published: Command[] = [];
    const submit = async (command: Command, pending: Map<string, Promise<OutcomeNotice>>): Promise<void> => {
      const submitted = await submitInOrder(publisher!, command);
      published.push(command);
      pending.set(command.commandId, submitted.outcome());
    };
    const opened = new Map<string, Promise<OutcomeNotice>>();
    for (let pot = 0; pot < POTS; pot += 1) {
      const command = commandOf('pot.open', { commandId: `open-${pot}`, memberId: memberOf(pot), potId: potIdOf(pot), payload: {}, effectiveDate: EFFECTIVE_DATE });
      await submit(command, opened);
    }
    await awaitOutcomes(opened);
    const partitions = new Set([...(await outcomeRows(db.owner)).values()].map((row) => row.partition));
    expect(partitions.size, 'the pots span every partition').toBe(PARTITIONS);

    const recoveriesMs: number[] = [];
    for (let burst = 1; burst <= BURSTS; burst += 1) {
      const epochsBefore = await partitionOwners(db.owner);
      worker.pause();
      await waitFor('the worker to be frozen', () => worker.frozen());
      // Commands for every partition wait while the worker is frozen.
      const waiting = new Map<string, Promise<OutcomeNotice>>();
      for (let pot = 0; pot < POTS; pot += 1) {
        const command = commandOf('cash.deposit', {
          commandId: `deposit-${burst}-${pot}`,
          memberId: memberOf(pot),
          potId: potIdOf(pot),
          payload: { amount: `${burst}.00`, currency: 'GBP' },
          effectiveDate: EFFECTIVE_DATE,
        });
        await submit(command, waiting);
      }
      // Starved past its leases: every lease key has expired in NATS (the positive signal that the TTL passed).
      await waitFor(
        'every lease of the frozen worker to expire',
        async () => {
          for await (const key of await leases.keys()) if (key !== '') return false;
          return true;
        },
        { timeoutMs: LEASE_TTL_MS * 10, intervalMs: 100 },
      );
      const thawedAtMs = Date.now();
      worker.resume();
      const settled = await Promise.all([...waiting.values()].map(async (outcome) => {
        await outcome;
        return Date.now();
      }));
      const recoveryMs = Math.max(...settled) - thawedAtMs;
      recoveriesMs.push(recoveryMs);
      console.log(`[shard-starved] burst ${burst}: every waiting command answered ${recoveryMs} ms after the thaw`);
      expect(recoveryMs, `burst ${burst}: outcomes ${recoveryMs} ms after the thaw\n${worker.tail(30)}`).toBeLessThanOrEqual(RECOVERY_MS_MAX);
      for (const notice of (await awaitOutcomes(waiting)).values()) expect(notice.outcome).toMatchObject({ kind: 'applied' });
      // Not vacuous: the worker finds its leases lost and claims every partition again, under a new epoch
      // (its old shards may commit what waited first: no one else claimed, so the fence lets them).
      await waitFor('every partition claimed again under a new epoch', async () => {
        const epochsAfter = await partitionOwners(db.owner);
        return [...epochsBefore].every(([partition, before]) => (epochsAfter.get(partition)?.epoch ?? 0n) > before.epoch);
      }, { timeoutMs: RECOVERY_MS_MAX, describe: () => worker.tail(20) });
    }
    expect(worker.loggedAll('lease lost; stopping the partition').length).toBeGreaterThanOrEqual(PARTITIONS);

    // Starved, not frozen: it runs in slivers (SIGSTOP bursts shorter than the TTL, SIGCONT for a moment)
    // for several TTLs, so its requests time out while some of them land; commands keep coming.
    for (let burst = 1; burst <= BURSTS; burst += 1) {
      const waiting = new Map<string, Promise<OutcomeNotice>>();
      const starvedUntilMs = Date.now() + STUTTER_MS;
      let sent = 0;
      while (Date.now() < starvedUntilMs) {
        worker.pause();
        const pot = sent % POTS;
        sent += 1;
        const command = commandOf('cash.deposit', {
          commandId: `stutter-${burst}-${sent}`,
          memberId: memberOf(pot),
          potId: potIdOf(pot),
          payload: { amount: '0.01', currency: 'GBP' },
          effectiveDate: EFFECTIVE_DATE,
        });
        await submit(command, waiting);
        await new Promise((resolve) => setTimeout(resolve, STUTTER_FROZEN_MS));
        worker.resume();
        await new Promise((resolve) => setTimeout(resolve, STUTTER_RUNNING_MS));
      }
      const thawedAtMs = Date.now();
      const settled = await Promise.all([...waiting.values()].map(async (outcome) => {
        await outcome;
        return Date.now();
      }));
      const recoveryMs = Math.max(...settled) - thawedAtMs;
      console.log(`[shard-starved] stutter ${burst}: ${waiting.size} commands, every one answered ${recoveryMs} ms after the starvation ended`);
      expect(recoveryMs, `stutter ${burst}: outcomes ${recoveryMs} ms after the starvation\n${worker.tail(30)}`).toBeLessThanOrEqual(RECOVERY_MS_MAX);
    }
    expect(worker.alive).toBe(true);

    const rows = await outcomeRows(db.owner);
    const reference = replayReference(published, rows, PARTITIONS);
    expect(outcomeMismatches(reference, rows)).toEqual([]);
    expect(await ledgerBalances(db.owner)).toEqual(referenceBalances(reference));
    expect(await verifyBreaks(db.owner)).toEqual({ ok: true, breaks: [] });
  });
});
