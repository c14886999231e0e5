import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerProcesses, type Command } from '../../src/ledger/index.js';
import { LedgerPublisher } from '../../src/sdk/publisher.js';
import type { OutcomeNotice } from '../../src/wire/index.js';
import { checkEffects, readObservedLedger } from '../chaos/effects.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { createTestNats, type TestNats } from '../support/nats.js';
import {
  EFFECTIVE_DATE,
  awaitOutcomes,
  checkEvents,
  commandOf,
  countOutcomes,
  drawPlan,
  ledgerBalances,
  money,
  outcomeMismatches,
  outcomeRows,
  partitionOwners,
  planSeed,
  referenceBalances,
  replayReference,
  seededRandom,
  submitInOrder,
  verifyBreaks,
  waitForEvents,
} from '../support/shard-checks.js';
import { waitFor } from '../support/wait.js';
import { WorkerFleet, describeExit, workerEnvironment, type WorkerProcess } from '../support/workers.js';

/*
 * Kill test: three worker processes share 8 partitions while the SDK drives a few thousand deposits,
 * withdrawals and transfers over a few hundred pots; a random worker that owns partitions is SIGKILLed
 * three times during the load, each time replaced by a fresh one. Afterwards nothing is lost, nothing is
 * applied twice, the balances are the reference ledger's, verify passes, and each killed worker's
 * partitions were claimed by a live worker within 10 s.
 */

const PARTITIONS = 8;
const LEASE_TTL_MS = 2000;
const WORKERS = 3;
const KILLS = 3;
const POTS = 240;
const LOAD = 3000;
/** Most commands published whose outcome is not known yet: keeps the load running across the kills. */
const IN_FLIGHT_MAX = 150;
const TAKEOVER_MAX_MS = 10_000;
const OUTCOME_TIMEOUT_MS = 45_000;

const potIdOf = (pot: number): string => `pot-${pot}`;
const memberOf = (pot: number): string => `member-${Math.floor(pot / 2)}`;

type LoadStep = { readonly kind: 'deposit' | 'withdraw' | 'to-prepaid' | 'from-prepaid'; readonly pot: number; readonly cents: number };
const loadStep: fc.Arbitrary<LoadStep> = fc.record({
  kind: fc.oneof(
    { weight: 9, arbitrary: fc.constant('deposit' as const) },
    { weight: 7, arbitrary: fc.constant('withdraw' as const) },
    { weight: 2, arbitrary: fc.constant('to-prepaid' as const) },
    { weight: 2, arbitrary: fc.constant('from-prepaid' as const) },
  ),
  pot: fc.integer({ min: 0, max: POTS - 1 }),
  cents: fc.integer({ min: 1, max: 40_000 }),
});

let db: TestDatabase;
let nats: TestNats;
let fleet: WorkerFleet | undefined;
let publisher: LedgerPublisher | undefined;

beforeAll(async () => {
  db = await createTestDatabase('shardkill');
  nats = await createTestNats('kill');
  fleet = new WorkerFleet(workerEnvironment(db, nats.prefix, PARTITIONS, { leaseTtlMs: LEASE_TTL_MS }));
});

afterAll(async () => {
  await fleet?.killAll();
  await publisher?.close();
  await nats?.cleanup();
  await db?.drop();
});

interface Kill {
  readonly victim: string;
  readonly partitions: number[];
  readonly pendingAtKill: number;
  readonly takeoverMs: number;
}

describe('worker processes killed during load', () => {
  it('lose nothing, apply nothing twice, and hand their partitions over within 10 s', async () => {
    const seed = planSeed('shard-kill');
    const random = seededRandom(seed);
    const load = drawPlan(fc.array(loadStep, { minLength: LOAD, maxLength: LOAD }), seed);
    const workers = fleet!;

    await Promise.all(Array.from({ length: WORKERS }, (_, i) => workers.start(`w${i + 1}`)));
    publisher = await LedgerPublisher.connect({
      nc: nats.nc,
      prefix: nats.prefix,
      registry: ledgerProcesses,
      partitionCount: PARTITIONS,
      resendAfterMs: 1000,
      resendAfterMsMax: 4000,
      outcomeTimeoutMs: OUTCOME_TIMEOUT_MS,
    });

    const published: Command[] = [];
    const outcomes = new Map<string, Promise<OutcomeNotice>>();
    const inFlight = new Set<Promise<unknown>>();
    let counter = 0;
    const publish = async (command: Command): Promise<void> => {
      while (inFlight.size >= IN_FLIGHT_MAX) await Promise.race(inFlight);
      const submitted = await submitInOrder(publisher!, command);
      published.push(command);
      const outcome = submitted.outcome(OUTCOME_TIMEOUT_MS);
      outcomes.set(command.commandId, outcome);
      const settled = outcome.then(
        () => undefined,
        () => undefined,
      );
      inFlight.add(settled);
      void settled.then(() => inFlight.delete(settled));
    };
    const command = (process: string, pot: number, payload: unknown): Command =>
      commandOf(process, { commandId: `kill-${(counter += 1)}`, memberId: memberOf(pot), potId: potIdOf(pot), payload, effectiveDate: EFFECTIVE_DATE });

    // Every pot is opened first.
    for (let pot = 0; pot < POTS; pot += 1) await publish(command('pot.open', pot, {}));
    await awaitOutcomes(outcomes);

    // The load; at a quarter, half and three quarters of it a worker is killed. Publishing goes on
    // during each takeover; a kill waits for the previous one's takeover and replacement.
    const kills: Kill[] = [];
    const killPoints = new Set(Array.from({ length: KILLS }, (_, k) => Math.floor((LOAD * (k + 1)) / (KILLS + 1))));
    let chaos: Promise<void> = Promise.resolve();
    for (const [index, step] of load.entries()) {
      if (killPoints.has(index)) {
        await chaos;
        chaos = killOne(workers, random, POTS + LOAD).then((kill) => {
          kills.push(kill);
        });
        chaos.catch(() => undefined);
      }
      const amount = money(step.cents);
      if (step.kind === 'deposit') await publish(command('cash.deposit', step.pot, { amount, currency: 'GBP' }));
      else if (step.kind === 'withdraw') await publish(command('cash.withdraw', step.pot, { amount, currency: 'GBP' }));
      else {
        const [source, target] = step.kind === 'to-prepaid' ? ['cash', 'cash.prepaid'] : ['cash.prepaid', 'cash'];
        await publish(command('cash.transfer', step.pot, { amount, currency: 'GBP', source, target }));
      }
    }
    await chaos;

    const notices = await awaitOutcomes(outcomes);
    expect(notices.size).toBe(POTS + LOAD);
    console.log(
      `[shard-kill] ${kills.length} kills: ` +
        kills.map((k) => `${k.victim} (p${k.partitions.join(',')}) with ${k.pendingAtKill} outcomes pending, taken over in ${k.takeoverMs} ms`).join('; '),
    );
    console.log(`[shard-kill] exits: ${workers.all().map((w) => `${w.label}=${w.exitStatus === undefined ? 'alive' : describeExit(w.exitStatus)}`).join(' ')}`);

    // Every kill happened during the load and its partitions moved to a live worker within 10 s.
    expect(kills).toHaveLength(KILLS);
    for (const kill of kills) {
      expect(kill.pendingAtKill, `kill of ${kill.victim} during the load`).toBeGreaterThan(0);
      expect(kill.takeoverMs, `takeover of ${kill.victim}'s partitions ${kill.partitions.join(',')}`).toBeLessThanOrEqual(TAKEOVER_MAX_MS);
    }

    // Nothing lost: one outcome for every command, and nothing else.
    const ids = published.map((c) => c.commandId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(await countOutcomes(db.owner, ids)).toBe(ids.length);
    const rows = await outcomeRows(db.owner);
    expect(rows.size).toBe(ids.length);

    // The reference's outcomes and balances.
    const reference = replayReference(published, rows, PARTITIONS);
    expect(outcomeMismatches(reference, rows)).toEqual([]);
    expect(await ledgerBalances(db.owner)).toEqual(referenceBalances(reference));
    expect(await verifyBreaks(db.owner)).toEqual({ ok: true, breaks: [] });

    // The outbox made up for events lost with the killed workers: one event per outcome.
    await waitForEvents(nats.nc, `${nats.prefix}-events`, db.owner);
    expect(await checkEvents(nats.nc, `${nats.prefix}-events`, rows)).toEqual({ missing: [], repeated: [], unexpected: [] });

    // Nothing applied twice, counted from the effects (the journal's unique command_id would keep a
    // count of movements per command id at one): movements, outcomes and events per command id, and
    // every account's postings against the reference's (test/chaos/effects.ts).
    const effects = checkEffects(await readObservedLedger(db.owner, nats.nc, `${nats.prefix}-events`), reference);
    expect(effects.problems).toEqual([]);

    // Every partition is owned by a worker that is alive.
    const live = new Set(workers.live().map((w) => w.workerId));
    for (const [partition, owner] of await partitionOwners(db.owner)) expect(live.has(owner.workerId), `owner of partition ${partition}`).toBe(true);
  });
});

/**
 * SIGKILLs a random worker that owns partitions, starts a replacement, and waits until each of the
 * victim's partitions has been claimed again (epoch up; only a live worker can claim). The takeover time
 * is from the kill to the last of those first claims (partition_owners.acquired_at).
 */
async function killOne(workers: WorkerFleet, random: () => number, total: number): Promise<Kill> {
  const owners = await partitionOwners(db.owner);
  const owning = workers.live().filter((worker) => [...owners.values()].some((owner) => owner.workerId === worker.workerId));
  const victim: WorkerProcess | undefined = owning[Math.floor(random() * owning.length)];
  if (victim === undefined) throw new Error(`no live worker owns a partition:\n${workers.tails()}`);
  await victim.kill();
  const killedAt = Date.now();
  const pendingAtKill = total - (await countOutcomes(db.owner));
  const before = await partitionOwners(db.owner);
  const partitions = [...before].filter(([, owner]) => owner.workerId === victim.workerId).map(([partition]) => partition);
  const replacement = workers.start();
  replacement.catch(() => undefined);
  // The first claim of each partition after the kill (it may move again once the replacement is up).
  const firstClaim = new Map<number, number>();
  await waitFor(
    `the partitions of ${victim.label} (${partitions.join(',')}) to be claimed again`,
    async () => {
      const { rows } = await db.owner.query<{ partition: number; epoch: bigint; acquired_ms: string }>(
        'SELECT partition, epoch, extract(epoch FROM acquired_at) * 1000 AS acquired_ms FROM partition_owners WHERE partition = ANY($1::int[])',
        [partitions],
      );
      for (const row of rows) {
        if (row.epoch > (before.get(row.partition)?.epoch ?? 0n) && !firstClaim.has(row.partition)) firstClaim.set(row.partition, Number(row.acquired_ms));
      }
      return firstClaim.size === partitions.length;
    },
    { timeoutMs: 30_000, intervalMs: 50, describe: () => workers.tails(5) },
  );
  const claimedAt = Math.max(killedAt, ...firstClaim.values());
  await replacement;
  return { victim: victim.label, partitions, pendingAtKill, takeoverMs: Math.round(claimedAt - killedAt) };
}
