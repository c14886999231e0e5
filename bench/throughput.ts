import { randomBytes, randomUUID } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import type { ChildProcess } from 'node:child_process';
import {
  assetCatalog,
  commandFingerprint,
  DEFAULT_ASSETS,
  ledgerProcesses,
  postEntries,
  run,
  type Command,
} from '../src/ledger/index.js';
import { inTransaction } from '../src/journal/database.js';
import { commitItems, type CommitItem } from '../src/journal/store.js';
import { LedgerPublisher } from '../src/sdk/publisher.js';
import type { OutcomeNotice } from '../src/shards/partition-shard.js';
import { conditions, createBenchDatabase, deleteBenchStreams, numberFlag, percentile, requireEnv, round, startWorker, stopWorker, waitForPartitionOwners, type BenchDatabase } from './support.js';

/**
 * `npm run bench -- throughput [--json] [--pots N] [--commands N] [--paced-rate R] [--paced-seconds S]
 *   [--naive-commands N] [--partitions P] [--batch B] [--in-flight W] [--window W]`
 *
 * End to end (published through the SDK → committed, as seen by the publisher's outcome notice):
 * 1. full load: `--commands` deposits over `--pots` pots, published as fast as JetStream takes them;
 *    then closed loop: the same with at most `--window` commands awaiting their outcome (as a fleet of
 *    publishers that each wait for their answer), which shows latency near full load without the
 *    queue an open-loop publisher builds;
 * 2. paced: `--paced-rate` commands per second for `--paced-seconds`;
 * 3. naive baseline: the same kind of commands with one transaction and one ack per message
 *    (the worker restarted with COMMIT_BATCH_MAX=1);
 * 4. Postgres ceiling: the same movements inserted straight into Postgres in batches of 2,000.
 */
export async function throughput(options: Map<string, string>): Promise<Record<string, unknown>> {
  const pots = numberFlag(options, 'pots', 10_000);
  const commands = numberFlag(options, 'commands', 100_000);
  const pacedRate = numberFlag(options, 'paced-rate', 1000);
  const pacedSeconds = numberFlag(options, 'paced-seconds', 10);
  const naiveCommands = numberFlag(options, 'naive-commands', 5000);
  const partitions = numberFlag(options, 'partitions', 64);
  const batch = numberFlag(options, 'batch', 250);
  const inFlight = numberFlag(options, 'in-flight', 4000);
  const window = numberFlag(options, 'window', 500);
  const db = await createBenchDatabase('throughput');
  const prefix = `bench${randomBytes(3).toString('hex')}`;
  const nc = await connect({ servers: requireEnv('NATS_URL'), name: 'potledger-bench' });
  const publisher = await LedgerPublisher.connect({ nc, prefix, registry: ledgerProcesses, partitionCount: partitions });
  const workerEnv = { DATABASE_URL: db.ownerUrl, NATS_PREFIX: prefix, PARTITION_COUNT: String(partitions) };
  let worker: ChildProcess | undefined;
  try {
    const machine = await conditions(db.owner);
    log(`conditions: ${JSON.stringify({ ...machine, partitions, workers: 1, commitBatchMax: batch, pots, commands })}`);
    worker = await startWorker({ ...workerEnv, COMMIT_BATCH_MAX: String(batch) });
    await waitForPartitionOwners(db.owner, partitions);

    const potIds = Array.from({ length: pots }, (_, i) => `P${i}`);
    const opened = await drive(publisher, potIds.map((potId, i) => ({ process: 'pot.open', memberId: `M${i}`, potId, payload: {} })), inFlight);
    log(`opened ${pots} pots: ${round(opened.perSecond)} commands/s`);

    const load = await drive(publisher, deposits(potIds, commands), inFlight);
    log(`full load (open loop): ${commands} deposits, ${round(load.perSecond)} movements/s, p50 ${round(load.p50Ms)} ms, p99 ${round(load.p99Ms)} ms`);

    const closed = await drive(publisher, deposits(potIds, commands), inFlight, window);
    log(`closed loop (${window} awaiting their outcome): ${commands} deposits, ${round(closed.perSecond)} movements/s, p50 ${round(closed.p50Ms)} ms, p99 ${round(closed.p99Ms)} ms`);

    const paced = await drivePaced(publisher, deposits(potIds, Math.round(pacedRate * pacedSeconds)), pacedRate);
    log(`paced at ${pacedRate}/s for ${pacedSeconds} s: p50 ${round(paced.p50Ms)} ms, p99 ${round(paced.p99Ms)} ms`);

    await stopWorker(worker);
    worker = await startWorker({ ...workerEnv, COMMIT_BATCH_MAX: '1', COMMIT_GROUP_MAX: '1', COMMIT_CONCURRENCY: '1' });
    await waitForPartitionOwners(db.owner, partitions);
    const naive = await drive(publisher, deposits(potIds, naiveCommands), inFlight);
    log(`naive (one transaction and one ack per message): ${round(naive.perSecond)} movements/s`);
    await stopWorker(worker);
    worker = undefined;

    const ceiling = await postgresCeiling(db, commands, partitions);
    log(`Postgres ceiling (batched inserts of the same movements): ${round(ceiling)} movements/s`);

    return {
      bench: 'throughput',
      ...machine,
      partitions,
      commitBatchMax: batch,
      pots,
      commands,
      movementsPerSec: round(load.perSecond),
      p50Ms: round(load.p50Ms),
      p99Ms: round(load.p99Ms),
      closedLoopWindow: window,
      closedLoopMovementsPerSec: round(closed.perSecond),
      closedLoopP50Ms: round(closed.p50Ms),
      closedLoopP99Ms: round(closed.p99Ms),
      pacedRate,
      pacedP50Ms: round(paced.p50Ms),
      pacedP99Ms: round(paced.p99Ms),
      naiveMovementsPerSec: round(naive.perSecond),
      pgCeilingMovementsPerSec: round(ceiling),
      speedupOverNaive: round(load.perSecond / naive.perSecond, 2),
      fractionOfCeiling: round(load.perSecond / ceiling, 2),
    };
  } finally {
    if (worker !== undefined) await stopWorker(worker);
    await publisher.close();
    await nc.close();
    await deleteBenchStreams(prefix);
    await db.drop();
  }
}

interface Request {
  readonly process: string;
  readonly memberId: string;
  readonly potId: string;
  readonly payload: unknown;
}

function deposits(potIds: readonly string[], count: number): Request[] {
  return Array.from({ length: count }, (_, i) => {
    const pot = i % potIds.length;
    return { process: 'cash.deposit', memberId: `M${pot}`, potId: potIds[pot] ?? 'P0', payload: { amount: `${1 + (i % 97)}.${String(i % 100).padStart(2, '0')}`, currency: 'GBP' } };
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
async function drive(publisher: LedgerPublisher, requests: readonly Request[], inFlight: number, window = Number.POSITIVE_INFINITY): Promise<Measured> {
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
async function drivePaced(publisher: LedgerPublisher, requests: readonly Request[], rate: number): Promise<Measured> {
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

/** The same movements (deposits to fresh pots) committed straight to Postgres in batches of 2,000. */
async function postgresCeiling(db: BenchDatabase, count: number, partitions: number): Promise<number> {
  const assets = assetCatalog(DEFAULT_ASSETS);
  const { rows } = await db.service.query<{ account_id: string; balance_minor: bigint; version: bigint }>(
    "SELECT account_id, balance_minor, version FROM balances WHERE owner_type = 'system'",
  );
  const balances = new Map(rows.map((row) => [row.account_id, row.balance_minor]));
  const versions = new Map(rows.map((row) => [row.account_id, row.version]));
  const items: CommitItem[] = [];
  for (let i = 0; i < count; i += 1) {
    const member = `CM${i % 10_000}`;
    const command: Command = {
      commandId: `ceiling-${i}`,
      process: 'cash.deposit',
      memberId: member,
      potId: `C${i % 10_000}`,
      payload: { amount: '1.00', currency: 'GBP' },
      effectiveDate: '2026-11-22',
      producedAt: new Date().toISOString(),
    };
    const pot = { potId: command.potId, memberId: member, status: 'open' as const };
    const outcome = run(ledgerProcesses, command, { pot, balances, movements: new Map() }, { assets, partitionCount: partitions, movementId: randomUUID() });
    if (outcome.kind === 'rejected') throw new Error(outcome.reason);
    const posted = postEntries(outcome.movement.entries, balances, versions);
    for (const posting of posted.postings) {
      balances.set(posting.account, posting.balanceAfterMinor);
      versions.set(posting.account, posting.accountVersion);
    }
    items.push({ command, fingerprint: commandFingerprint(command), partition: outcome.movement.partition, outcome, postings: posted.postings });
  }
  const started = performance.now();
  for (let i = 0; i < items.length; i += 2000) {
    await inTransaction(db.service, (client) => commitItems(client, items.slice(i, i + 2000), assets));
  }
  return (count * 1000) / (performance.now() - started);
}

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}
