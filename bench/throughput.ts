import { randomBytes, randomUUID } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import type { ChildProcess } from 'node:child_process';
import { assetCatalog, DEFAULT_ASSETS, ledgerProcesses } from '../src/ledger/index.js';
import { LedgerPublisher } from '../src/sdk/publisher.js';
import type { OutcomeNotice } from '../src/wire/index.js';
import {
  CEILING_LEAVES_OUT,
  FLOOR_LEAVES_OUT,
  journalCeiling,
  physicalFloor,
  planRequests,
  readLedgerState,
  type Baseline,
  type BenchRequest,
  type CommitLimits,
} from './journal-ceiling.js';
import {
  conditions,
  cpuMeter,
  createBenchDatabase,
  deleteBenchStreams,
  numberFlag,
  percentile,
  requireEnv,
  round,
  startWorker,
  stopWorker,
  waitForPartitionOwners,
  type BenchDatabase,
} from './support.js';

/**
 * `npm run bench -- throughput [--json] [--pots N] [--commands N] [--paced-rate R] [--paced-seconds S]
 *   [--partitions P] [--batch B] [--group G] [--concurrency C] [--in-flight W] [--window W]`
 *
 * End to end (published through the SDK → committed, as seen by the publisher's outcome notice), one
 * worker process with COMMIT_BATCH_MAX `--batch`, COMMIT_GROUP_MAX `--group`, COMMIT_CONCURRENCY
 * `--concurrency`, its pots warm (opened through it, so every pot has a live actor):
 * 1. full load: `--commands` deposits over `--pots` pots, published as fast as JetStream takes them;
 *    then closed loop: the same with at most `--window` commands awaiting their outcome (as a fleet of
 *    publishers that each wait for their answer), which shows latency near full load without the
 *    queue an open-loop publisher builds;
 * 2. paced: `--paced-rate` commands per second for `--paced-seconds`;
 * 3. naive baseline: the same `--commands` deposits over the same pots, published the same way, to a
 *    worker restarted with one transaction and one ack per message (COMMIT_BATCH_MAX=1,
 *    COMMIT_GROUP_MAX=1) and the same COMMIT_CONCURRENCY, warmed first with one (unmeasured) deposit
 *    per pot so that its pots are as warm as the measured run's;
 * 4. journal ceiling (`pgCeilingMovementsPerSec`): the same `--commands` deposits over the same pots,
 *    planned before the clock starts, committed with the worker's own path without NATS: outcome
 *    look-up, fence and `commitItems`, at the worker's batch, group and concurrency (journal-ceiling.ts);
 * 5. physical floor (`physicalFloorMovementsPerSec`): the same rows once more, written with COPY on one
 *    connection.
 * The worker's CPU per command (user + system, from /proc) is reported for every end-to-end phase.
 */
export async function throughput(options: Map<string, string>): Promise<Record<string, unknown>> {
  const pots = numberFlag(options, 'pots', 10_000);
  const commands = numberFlag(options, 'commands', 100_000);
  const pacedRate = numberFlag(options, 'paced-rate', 1000);
  const pacedSeconds = numberFlag(options, 'paced-seconds', 10);
  const partitions = numberFlag(options, 'partitions', 64);
  const limits: CommitLimits = {
    commitBatchMax: numberFlag(options, 'batch', 250),
    groupItemsMax: numberFlag(options, 'group', 4000),
    groupConcurrency: Math.max(1, numberFlag(options, 'concurrency', 2)),
  };
  const inFlight = numberFlag(options, 'in-flight', 4000);
  const window = numberFlag(options, 'window', 500);
  if (options.has('naive-commands')) throw new Error('--naive-commands is gone: the naive baseline runs the same --commands as the measured run');
  const db = await createBenchDatabase('throughput');
  const prefix = `bench${randomBytes(3).toString('hex')}`;
  const nc = await connect({ servers: requireEnv('NATS_URL'), name: 'potledger-bench' });
  const publisher = await LedgerPublisher.connect({ nc, prefix, registry: ledgerProcesses, partitionCount: partitions });
  const workerEnv = { DATABASE_URL: db.ownerUrl, NATS_PREFIX: prefix, PARTITION_COUNT: String(partitions) };
  const commitSettings = workerCommitSettings(limits);
  let worker: ChildProcess | undefined;
  try {
    const machine = await conditions(db.owner);
    const setting = { partitions, workers: 1, ...limits, pots, commands, publisherInFlight: inFlight, closedLoopWindow: window, pacedRate, pacedSeconds };
    log(`conditions: ${JSON.stringify({ ...machine, ...setting })}`);
    worker = await startWorker({ ...workerEnv, ...commitSettings.measured });
    await waitForPartitionOwners(db.owner, partitions);

    const potIds = Array.from({ length: pots }, (_, i) => `P${i}`);
    const opened = await drive(publisher, potIds.map((potId, i) => ({ process: 'pot.open', memberId: `M${i}`, potId, payload: {} })), inFlight);
    log(`opened ${pots} pots: ${round(opened.perSecond)} commands/s`);

    const load = await measured(worker, commands, () => drive(publisher, deposits(potIds, commands), inFlight));
    log(
      `full load (open loop): ${commands} deposits, ${round(load.perSecond)} movements/s, ` +
        `p50 ${round(load.p50Ms)} ms, p99 ${round(load.p99Ms)} ms, worker ${load.cpuMicrosPerCommand} µs CPU/command`,
    );

    const closed = await measured(worker, commands, () => drive(publisher, deposits(potIds, commands), inFlight, window));
    log(
      `closed loop (${window} awaiting their outcome): ${commands} deposits, ${round(closed.perSecond)} movements/s, ` +
        `p50 ${round(closed.p50Ms)} ms, p99 ${round(closed.p99Ms)} ms, worker ${closed.cpuMicrosPerCommand} µs CPU/command`,
    );

    const pacedCount = Math.round(pacedRate * pacedSeconds);
    const paced = await measured(worker, pacedCount, () => drivePaced(publisher, deposits(potIds, pacedCount), pacedRate));
    log(`paced at ${pacedRate}/s for ${pacedSeconds} s: p50 ${round(paced.p50Ms)} ms, p99 ${round(paced.p99Ms)} ms, worker ${paced.cpuMicrosPerCommand} µs CPU/command`);

    await stopWorker(worker);
    worker = await startWorker({ ...workerEnv, ...commitSettings.naive });
    await waitForPartitionOwners(db.owner, partitions);
    const naive = await naiveBaseline(publisher, worker, potIds, commands, inFlight);
    log(
      `naive (one transaction and one ack per message, ${limits.groupConcurrency} at once): ${commands} deposits, ` +
        `${round(naive.perSecond)} movements/s, worker ${naive.cpuMicrosPerCommand} µs CPU/command`,
    );
    await stopWorker(worker);
    worker = undefined;

    const { ceiling, floor } = await postgresBaselines(db, potIds, commands, partitions, limits);
    log(`journal ceiling (outcome look-ups, fence and commitItems at the worker's sizes, ${ceiling.transactions} transactions): ${round(ceiling.movementsPerSec)} movements/s`);
    log(`physical floor (the same rows with COPY on one connection, ${floor.transactions} transactions): ${round(floor.movementsPerSec)} movements/s`);

    return { bench: 'throughput', ...machine, ...setting, ...figures({ load, closed, paced, naive, ceiling, floor }, limits, commands) };
  } finally {
    if (worker !== undefined) await stopWorker(worker);
    await publisher.close();
    await nc.close();
    await deleteBenchStreams(prefix);
    await db.drop();
  }
}

type Phase = Measured & { readonly cpuMicrosPerCommand: number | null };

/** Warms the naive worker with one deposit per pot (not measured), then measures it on the same commands as the measured run. */
async function naiveBaseline(publisher: LedgerPublisher, worker: ChildProcess, potIds: readonly string[], commands: number, inFlight: number): Promise<Phase> {
  const warmed = await drive(publisher, deposits(potIds, potIds.length), inFlight);
  log(`naive worker warmed: one deposit per pot, ${round(warmed.perSecond)} commands/s (not measured)`);
  return measured(worker, commands, () => drive(publisher, deposits(potIds, commands), inFlight));
}

/** The figures of the run, as the JSON gives them. */
function figures(
  phases: { readonly load: Phase; readonly closed: Phase; readonly paced: Phase; readonly naive: Phase; readonly ceiling: Baseline; readonly floor: Baseline },
  limits: CommitLimits,
  commands: number,
): Record<string, unknown> {
  const { load, closed, paced, naive, ceiling, floor } = phases;
  return {
    movementsPerSec: round(load.perSecond),
    p50Ms: round(load.p50Ms),
    p99Ms: round(load.p99Ms),
    workerCpuMicrosPerCommand: load.cpuMicrosPerCommand,
    closedLoopMovementsPerSec: round(closed.perSecond),
    closedLoopP50Ms: round(closed.p50Ms),
    closedLoopP99Ms: round(closed.p99Ms),
    closedLoopWorkerCpuMicrosPerCommand: closed.cpuMicrosPerCommand,
    pacedP50Ms: round(paced.p50Ms),
    pacedP99Ms: round(paced.p99Ms),
    pacedWorkerCpuMicrosPerCommand: paced.cpuMicrosPerCommand,
    naiveCommands: commands,
    naiveCommitConcurrency: limits.groupConcurrency,
    naiveMovementsPerSec: round(naive.perSecond),
    naiveWorkerCpuMicrosPerCommand: naive.cpuMicrosPerCommand,
    pgCeilingMovementsPerSec: round(ceiling.movementsPerSec),
    pgCeilingTransactions: ceiling.transactions,
    pgCeilingLeavesOut: CEILING_LEAVES_OUT,
    physicalFloorMovementsPerSec: round(floor.movementsPerSec),
    physicalFloorTransactions: floor.transactions,
    physicalFloorLeavesOut: FLOOR_LEAVES_OUT,
    speedupOverNaive: round(load.perSecond / naive.perSecond, 2),
    fractionOfCeiling: round(load.perSecond / ceiling.movementsPerSec, 2),
    fractionOfFloor: round(load.perSecond / floor.movementsPerSec, 2),
  };
}

/**
 * The commit settings of the measured worker and of the naive one, which differ only in committing
 * each message in a transaction of its own (batch and group of one): the same number of transactions
 * at once, the same pool, the same everything else.
 */
export function workerCommitSettings(limits: CommitLimits): { readonly measured: Record<string, string>; readonly naive: Record<string, string> } {
  const shared = { COMMIT_CONCURRENCY: String(limits.groupConcurrency) };
  return {
    measured: { ...shared, COMMIT_BATCH_MAX: String(limits.commitBatchMax), COMMIT_GROUP_MAX: String(limits.groupItemsMax) },
    naive: { ...shared, COMMIT_BATCH_MAX: '1', COMMIT_GROUP_MAX: '1' },
  };
}

/** Runs a phase and measures the worker's CPU over it, per command. */
async function measured(worker: ChildProcess, commands: number, phase: () => Promise<Measured>): Promise<Phase> {
  const cpu = cpuMeter(worker.pid);
  const result = await phase();
  return { ...result, cpuMicrosPerCommand: cpu(commands) };
}

/**
 * The two Postgres baselines over the measured run's pots and commands, after the worker stopped: the
 * commands are planned from the ledger as it stands (untimed), then committed by the journal ceiling;
 * the same commands planned once more (new ids, continuing from the ceiling's balances) are written by
 * the physical floor.
 */
async function postgresBaselines(db: BenchDatabase, potIds: readonly string[], commands: number, partitions: number, limits: CommitLimits) {
  const assets = assetCatalog(DEFAULT_ASSETS);
  const state = await readLedgerState(db);
  const requests = deposits(potIds, commands);
  const ceilingItems = planRequests(requests, state, assets, partitions, 'ceiling');
  const floorItems = planRequests(requests, state, assets, partitions, 'floor');
  const ceiling = await journalCeiling(db, ceilingItems, limits, assets);
  const floor = await physicalFloor(db, floorItems, limits);
  return { ceiling, floor };
}

function deposits(potIds: readonly string[], count: number): BenchRequest[] {
  return Array.from({ length: count }, (_, i) => {
    const pot = i % potIds.length;
    return {
      process: 'cash.deposit',
      memberId: `M${pot}`,
      potId: potIds[pot] ?? 'P0',
      payload: { amount: `${1 + (i % 97)}.${String(i % 100).padStart(2, '0')}`, currency: 'GBP' },
    };
  });
}

interface Measured {
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** The commands one `submitMany` call of the benchmark publishes. */
const CHUNK = 500;

/**
 * Publishes every request through `submitMany` in chunks (at most `inFlight` commands not yet
 * acknowledged by JetStream) and waits for every outcome.
 */
async function drive(publisher: LedgerPublisher, requests: readonly BenchRequest[], inFlight: number, window = Number.POSITIVE_INFINITY): Promise<Measured> {
  const tracker = trackOutcomes(publisher, requests.length);
  const started = performance.now();
  const chunkSize = Math.max(1, Math.min(CHUNK, Math.floor(window / 4)));
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(Math.floor(inFlight / chunkSize), Math.ceil(requests.length / chunkSize))) }, async () => {
    while (next < requests.length) {
      // Every lane resumes at once when room appears: the first takes it, the others wait again.
      while (tracker.outstanding() > window - chunkSize) await tracker.outstandingAtMost(window - chunkSize);
      if (next >= requests.length) break;
      const chunk = requests.slice(next, next + chunkSize);
      next += chunk.length;
      const withIds = chunk.map(({ process, ...request }) => {
        const commandId = randomUUID();
        tracker.sent(commandId);
        return { process, request: { ...request, commandId } };
      });
      await publisher.submitMany(withIds);
    }
  });
  await Promise.all(lanes);
  const finished = await tracker.done;
  return tracker.measure(started, finished);
}

/** Publishes at a fixed rate (in 10 ms ticks) and waits for every outcome. */
async function drivePaced(publisher: LedgerPublisher, requests: readonly BenchRequest[], rate: number): Promise<Measured> {
  const tracker = trackOutcomes(publisher, requests.length);
  const started = performance.now();
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < requests.length; i += 1) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    const request = requests[i];
    if (request === undefined) continue;
    const commandId = randomUUID();
    tracker.sent(commandId);
    pending.push(publisher.submit(request.process, { ...request, commandId }));
  }
  await Promise.all(pending);
  return tracker.measure(started, await tracker.done);
}

function trackOutcomes(publisher: LedgerPublisher, expected: number) {
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  let resolveDone: (at: number) => void = () => undefined;
  const done = new Promise<number>((resolve) => (resolveDone = resolve));
  let room: { readonly below: number; readonly resolve: () => void }[] = [];
  const stop = publisher.onOutcome((notice: OutcomeNotice) => {
    const sent = sentAt.get(notice.commandId);
    if (sent === undefined) return;
    sentAt.delete(notice.commandId);
    latencies.push(performance.now() - sent);
    if (room.length > 0) {
      const ready = room.filter((waiter) => sentAt.size <= waiter.below);
      room = room.filter((waiter) => sentAt.size > waiter.below);
      for (const waiter of ready) waiter.resolve();
    }
    if (latencies.length === expected) {
      stop();
      resolveDone(performance.now());
    }
  });
  return {
    done,
    sent: (commandId: string) => sentAt.set(commandId, performance.now()),
    outstanding: (): number => sentAt.size,
    /** Resolves once at most `count` commands await their outcome (closed-loop load). */
    outstandingAtMost: (count: number): Promise<void> =>
      sentAt.size <= count ? Promise.resolve() : new Promise<void>((resolve) => room.push({ below: count, resolve })),
    measure(started: number, finished: number): Measured {
      latencies.sort((a, b) => a - b);
      return { perSecond: (expected * 1000) / (finished - started), p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99) };
    },
  };
}

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}
