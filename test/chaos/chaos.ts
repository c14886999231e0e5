import { jetstream, jetstreamManager, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import pino from 'pino';
import type pg from 'pg';
import { createApiKey } from '../../src/api/keys.js';
import { NatsCustodian } from '../../src/custodian/nats.js';
import { CustodianSimulator } from '../../src/custodian/simulator.js';
import { BusinessClock, BusinessDays } from '../../src/dealing/business-day.js';
import { DealingDesk } from '../../src/dealing/desk.js';
import { closingPrice, loadPrices } from '../../src/dealing/prices.js';
import { createPool, urlAsRole } from '../../src/journal/database.js';
import { ensureServiceRole, migrate } from '../../src/journal/migrate.js';
import { addBusinessDays, formatAmount, ledgerProcesses, ReferenceLedger, UK_CALENDAR, type Command } from '../../src/ledger/index.js';
import { LedgerPublisher, PublishValidationError, type Submitted } from '../../src/sdk/publisher.js';
import { names as namesOf, type Names } from '../../src/shards/names.js';
import { readMessage } from '../../src/shards/parse.js';
import type { OutcomeNotice } from '../../src/wire/index.js';
import { PrivateNats, PrivatePostgres } from '../support/servers.js';
import {
  ASSETS,
  checkEvents,
  ledgerBalances,
  money,
  outcomeMismatches,
  outcomeRows,
  referenceBalances,
  seededRandom,
  verifyBreaks,
  waitForEvents,
  type OutcomeRow,
} from '../support/shard-checks.js';
import { WorkerFleet, type WorkerEnvironment } from '../support/workers.js';
import { checkEffects, readObservedLedger } from './effects.js';
import { injectFault, type FaultContext, type FaultKind, type FaultRecord } from './faults.js';

/**
 * The chaos run: a ledger of its own (a private nats-server and Postgres cluster, several service
 * processes, the dealing desk and the custodian simulator) under a realistic mixed load (deposits,
 * withdrawals, transfers, orders and daily dealing cycles, holds, payments over HTTP, duplicates and
 * re-sends) while faults are injected: worker SIGKILLs, a worker frozen beyond its lease, nats-server and
 * Postgres crashes, a burst of malformed messages. Afterwards it checks that every command has exactly
 * one outcome, nothing applied twice, the journal equals a pure-core reference run over every command
 * in the streams, conservation, no partition stuck, and `verify`.
 */

export interface ChaosOptions {
  /** Commands the load submits (the desks add their own: allocations, payment steps). */
  readonly commands: number;
  readonly members: number;
  readonly days: number;
  readonly workers: number;
  readonly kills: number;
  readonly partitions: number;
  readonly seed: number;
  readonly leaseTtlMs: number;
  readonly malformed: number;
  readonly log: (line: string) => void;
}

export interface ChaosFigures {
  readonly seed: number;
  /** Distinct commands in the ledger's command streams (the load's, the desks' and the API's). */
  readonly commands: number;
  readonly applied: number;
  readonly rejected: number;
  /** Commands with no outcome: submitted by the load, or in the streams. */
  readonly lost: number;
  /** Commands whose effects count more than once (movements, outcomes or events naming the command), plus event message ids stored more than once. */
  readonly duplicated: number;
  readonly faultsInjected: Readonly<Record<FaultKind, number>>;
  /** The slowest recovery after each kind of fault (see FaultRecord.recoveryMs). */
  readonly recoveryMsMax: Readonly<Partial<Record<FaultKind, number>>>;
  readonly invariantsHold: boolean;
  readonly stuckPartitions: number;
  readonly submitted: number;
  readonly resubmitted: number;
  /** Messages in the streams that repeat an earlier command (re-sends past JetStream's duplicate window, redeliveries are not counted). */
  readonly repeatsInStreams: number;
  readonly payments: number;
  readonly malformed: number;
  readonly poisonRecorded: number;
  readonly workerExitsUnplanned: number;
  readonly checks: readonly { readonly name: string; readonly ok: boolean; readonly detail: string }[];
  readonly faults: readonly FaultRecord[];
  readonly seconds: number;
  readonly conditions: string;
}

const FUNDS = ['FUND-A', 'FUND-B', 'FUND-C'] as const;
const FIRST_DAY = '2026-06-01';
const PREFIX = 'chaos';
const IN_FLIGHT_MAX = 400;
const PAYMENTS_IN_FLIGHT_MAX = 8;
const OUTCOME_TIMEOUT_MS = 600_000;
const SETTLE_MS_MAX = 180_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Step =
  | { readonly kind: 'command'; readonly process: string; readonly pot: number; readonly payload: unknown }
  | { readonly kind: 'resubmit' }
  | { readonly kind: 'payment'; readonly payer: number; readonly payee: number; readonly cents: number };

export async function runChaos(options: ChaosOptions): Promise<ChaosFigures> {
  const started = performance.now();
  const { log } = options;
  const random = seededRandom(options.seed);
  log(`chaos: seed ${options.seed} (replay with --seed ${options.seed}); starting a private Postgres and nats-server`);
  const postgres = await PrivatePostgres.create('chaos');
  const nats = await PrivateNats.create({ label: 'chaos' });
  const cleanup: (() => Promise<unknown>)[] = [() => nats.destroy(), () => postgres.destroy()];
  try {
    const ledger = await startLedger(options, postgres, nats, cleanup);
    const run = await driveLoad(options, ledger, random, cleanup);
    const checked = await checkRun(options, ledger, run);
    return figuresOf(options, run, checked, started);
  } finally {
    for (const step of cleanup) await step().catch(() => undefined);
  }
}

/** The ledger of a run: its private servers, the service processes, and the desk's clients and business days. */
interface ChaosLedger {
  readonly postgres: PrivatePostgres;
  readonly nats: PrivateNats;
  /** The database owner's pool, for the checks. */
  readonly owner: pg.Pool;
  /** The service role's pool, for the desk and the price loads. */
  readonly service: pg.Pool;
  readonly apiKey: string;
  readonly environment: WorkerEnvironment;
  readonly fleet: WorkerFleet;
  readonly nc: NatsConnection;
  readonly clock: BusinessClock;
  readonly publisher: LedgerPublisher;
  readonly names: Names;
  readonly jsm: JetStreamManager;
  readonly days: BusinessDays;
}

/** Creates the database, starts the service processes, the desk and the custodian simulator; each pushes its stop onto `cleanup`. */
async function startLedger(options: ChaosOptions, postgres: PrivatePostgres, nats: PrivateNats, cleanup: (() => Promise<unknown>)[]): Promise<ChaosLedger> {
  const { log } = options;
  const admin = createPool(postgres.url(), { max: 1 });
  await admin.query('CREATE DATABASE potledger');
  await admin.end();
  const ownerUrl = postgres.url('potledger');
  const owner = createPool(ownerUrl, { max: 4, applicationName: 'chaos-checks' });
  cleanup.unshift(() => owner.end());
  await migrate(owner);
  await ensureServiceRole(owner, 'potledger_service', undefined);
  const service = createPool(urlAsRole(ownerUrl, 'potledger_service', undefined), { max: 8, applicationName: 'chaos-desk' });
  cleanup.unshift(() => service.end());
  const key = await createApiKey(owner, { role: 'service', label: 'chaos' });

  const environment: WorkerEnvironment = {
    databaseUrl: ownerUrl,
    natsUrl: nats.url,
    prefix: PREFIX,
    partitionCount: options.partitions,
    leaseTtlMs: options.leaseTtlMs,
    logLevel: 'info',
    extra: { DATABASE_POOL_MAX: '12', RATE_LIMIT_MAX: '100000' },
  };
  const fleet = new WorkerFleet(environment);
  cleanup.unshift(() => fleet.killAll());
  for (let i = 0; i < options.workers; i += 1) await fleet.start();
  log(`chaos: ${options.workers} service processes up (${options.partitions} partitions, lease ${options.leaseTtlMs} ms)`);

  const nc = await connect({ servers: nats.url, name: 'chaos-load', maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  cleanup.unshift(() => nc.close());
  const clock = new BusinessClock(new Date(`${FIRST_DAY}T08:00:00.000Z`));
  const publisher = await LedgerPublisher.connect({
    nc, prefix: PREFIX, registry: ledgerProcesses, partitionCount: options.partitions,
    now: () => clock.now(), resendAfterMs: 2000, resendAfterMsMax: 8000, outcomeTimeoutMs: OUTCOME_TIMEOUT_MS, source: 'chaos',
  });
  cleanup.unshift(() => publisher.close());
  const quiet = pino({ level: 'silent' });
  const simulator = await CustodianSimulator.start({
    nc, prefix: PREFIX, assets: ASSETS, closingPrice: (fund, date) => closingPrice(service, fund, date),
  });
  cleanup.unshift(() => simulator.stop());
  const custodian = await NatsCustodian.connect(nc, PREFIX, () => undefined);
  const desk = new DealingDesk({ pool: service, publisher, custodian, assets: ASSETS, log: quiet, outcomeTimeoutMs: OUTCOME_TIMEOUT_MS });
  await desk.start();
  cleanup.unshift(() => desk.stop());
  const names = namesOf(PREFIX);
  const jsm = await jetstreamManager(nc);
  const days = new BusinessDays({
    pool: service, jsm, names, partitionCount: options.partitions, assets: ASSETS, desk, simulator, clock, timeoutMs: SETTLE_MS_MAX,
  });
  return { postgres, nats, owner, service, apiKey: key.key, environment, fleet, nc, clock, publisher, names, jsm, days };
}

/** What the load did: its commands and payments, the faults injected, and the outcomes the SDK learnt. */
interface LoadRun {
  readonly load: Load;
  readonly payments: Payments;
  readonly faults: readonly FaultRecord[];
  /** Outcomes the SDK heard of, over the load's commands. */
  readonly notices: number;
  readonly unplannedExits: number;
}

/** Runs the load over the business days with the faults at their planned commands, then waits for every outcome and payment. */
async function driveLoad(options: ChaosOptions, ledger: ChaosLedger, random: () => number, cleanup: (() => Promise<unknown>)[]): Promise<LoadRun> {
  const { log } = options;
  const { fleet, environment, nats, postgres, owner, nc, names } = ledger;
  const load = new Load(ledger.publisher, options, random);
  const payments = new Payments(fleet, ledger.apiKey, random);
  const faultContext: FaultContext = {
    fleet, environment, nats, postgres, owner, nc, names, partitionCount: options.partitions, leaseTtlMs: options.leaseTtlMs, random,
    downMs: 2000, malformedCount: options.malformed, probe: () => load.probe(),
  };
  const plan = faultPlan(options, random);
  const faults: FaultRecord[] = [];
  let chaos: Promise<void> = Promise.resolve();
  const replaced = new Set<string>();
  let unplannedExits = 0;
  const supervisor = setInterval(() => {
    for (const worker of fleet.all()) {
      if (worker.alive || worker.exitStatus?.signal === 'SIGKILL' || replaced.has(worker.label)) continue;
      replaced.add(worker.label);
      unplannedExits += 1;
      log(`chaos: ${worker.label} exited on its own (${JSON.stringify(worker.exitStatus)}): starting another\n${worker.tail(8)}`);
      void fleet.start(undefined, environment).catch((error: unknown) => log(`chaos: could not start a worker: ${String(error)}`));
    }
  }, 500);
  cleanup.unshift(() => Promise.resolve(clearInterval(supervisor)));
  const maybeFault = () => {
    const next = plan[0];
    if (next === undefined || load.submitted < next.atCommand) return;
    plan.shift();
    const atCommand = load.submitted;
    chaos = chaos.then(async () => {
      log(`chaos: fault ${faults.length + 1} (${next.kind}) at command ${atCommand}`);
      const begun = performance.now();
      const result = await injectFault(next.kind, faultContext);
      const record = { kind: next.kind, atCommand, at: new Date().toISOString(), ...result, ms: Math.round(performance.now() - begun) };
      faults.push(record);
      log(`chaos: fault ${faults.length} at command ${atCommand}: ${result.detail} (${record.ms} ms)`);
    });
  };

  const members = options.members;
  for (let pot = 0; pot < members; pot += 1) await load.command('pot.open', pot, {});
  for (let pot = 0; pot < members; pot += 1) {
    await load.command('cash.deposit', pot, { amount: money(50_000 + Math.floor(random() * 500_000)), currency: 'GBP' });
  }
  log(`chaos: ${members} pots opened and funded`);

  const perDay = Math.ceil((options.commands - 2 * members) / options.days);
  const prices = new Map<string, bigint>(FUNDS.map((fund, index) => [fund, 10_000n + BigInt(index) * 5_000n]));
  for (let d = 0; d < options.days; d += 1) {
    const date = addBusinessDays(UK_CALENDAR, FIRST_DAY, d);
    ledger.clock.set(`${date}T08:00:00.000Z`);
    load.date = date;
    for (let i = 0; i < perDay; i += 1) {
      maybeFault();
      await takeStep(load, payments, load.step(d));
    }
    for (const fund of FUNDS) {
      const moved = ((prices.get(fund) ?? 10_000n) * (9_700n + BigInt(Math.floor(random() * 600)))) / 10_000n;
      prices.set(fund, moved < 1_000n ? 1_000n : moved);
    }
    // The operator's price load may meet a fault still in flight (Postgres restarting): it is
    // retried like any operator's step; the same prices again are a no-op.
    const dayPrices = FUNDS.map((fund) => ({ fund, date, price: formatAmount(prices.get(fund) ?? 10_000n, 4) }));
    const loaded = await retrying(`prices of ${date}`, () => loadPrices(ledger.service, dayPrices, 'chaos', ASSETS), log);
    if (!loaded.ok) throw new Error(`prices: ${JSON.stringify(loaded.problems)}`);
    await chaos;
    const report = await retrying(`business day ${date}`, () => ledger.days.run(date), log);
    log(`chaos: day ${date}: ${load.submitted} commands submitted so far, ${report.trades.length} trades, ${faults.length} faults`);
  }
  while (plan.length > 0) {
    const next = plan.shift();
    if (next !== undefined) chaos = chaos.then(async () => {
      const result = await injectFault(next.kind, faultContext);
      faults.push({ kind: next.kind, atCommand: load.submitted, at: new Date().toISOString(), ...result, ms: 0 });
    });
  }
  await chaos;
  log(`chaos: load done (${load.submitted} submitted, ${load.resubmitted} resubmitted, ${payments.count} payments); waiting for every outcome`);
  const notices = await load.outcomes();
  await payments.settled();
  await waitForPayments(owner);
  clearInterval(supervisor);
  return { load, payments, faults, notices, unplannedExits };
}

/** One step of the load: a payment over HTTP (not awaited), a re-send of an earlier command, or a new command. */
async function takeStep(load: Load, payments: Payments, step: Step): Promise<void> {
  if (step.kind === 'payment') payments.send(step.payer, step.payee, step.cents, (payer) => load.memberOf(payer), (pot) => load.potOf(pot));
  else if (step.kind === 'resubmit') await load.resubmit();
  else await load.command(step.process, step.pot, step.payload);
}

/** The checks of a run, in the order they ran, and what the figures count from them. */
interface CheckedRun {
  readonly checks: readonly { readonly name: string; readonly ok: boolean; readonly detail: string }[];
  readonly stuck: readonly string[];
  readonly rows: ReadonlyMap<string, OutcomeRow>;
  readonly streamed: Awaited<ReturnType<typeof streamCommands>>;
  /** Commands without an outcome: the load's and the streams'. */
  readonly lost: readonly string[];
  readonly doubled: number;
  readonly malformedSent: number;
  readonly poisonRecorded: number;
}

type Check = (name: string, ok: boolean, detail: string) => void;

/** Every check of the run, each logged as it completes. */
async function checkRun(options: ChaosOptions, ledger: ChaosLedger, run: LoadRun): Promise<CheckedRun> {
  const checks: { name: string; ok: boolean; detail: string }[] = [];
  const check: Check = (name, ok, detail) => {
    checks.push({ name, ok, detail });
    options.log(`chaos: check ${ok ? 'ok  ' : 'FAIL'} ${name}: ${detail}`);
  };
  const { owner, nc, names, jsm, fleet } = ledger;
  const stuck = await stuckPartitions(owner, jsm, names, options.partitions, fleet);
  check(
    'no partition stuck',
    stuck.length === 0,
    stuck.length === 0 ? `every partition committed its stream and is owned by a live worker` : stuck.join('; '),
  );
  const rows = await outcomeRows(owner);
  const streamed = await streamCommands(nc, names, options.partitions);
  const lost = checkOutcomes(check, run, rows, streamed);
  const { reference, basisMismatches } = await replayWithTrades(owner, streamed.commands, rows, options.partitions);
  await checkAgainstReference(check, owner, reference, basisMismatches, rows, streamed.commands.length);
  const { malformedSent, poisonRecorded } = await checkBooks(check, options, owner, run, streamed.poison);

  await waitForEvents(nc, names.eventStream, owner, 60_000).catch(() => undefined);
  const events = await checkEvents(nc, names.eventStream, rows);
  if (events.missing.length > 0) await explainMissingEvents(owner, events.missing, run.faults, fleet, options.log);
  const strays = [...events.missing, ...events.repeated, ...events.unexpected].slice(0, 5).map((id) => `; ${id}`).join('');
  check(
    'one event per outcome',
    events.missing.length === 0 && events.repeated.length === 0 && events.unexpected.length === 0,
    `missing ${events.missing.length}, repeated ${events.repeated.length}, unexpected ${events.unexpected.length}${strays}`,
  );

  // Counted from the effects (movements, outcomes, events and every account's postings against the
  // reference), not from movements per command_id, which the journal's unique key keeps at one.
  const effects = checkEffects(await readObservedLedger(owner, nc, names.eventStream), reference);
  check('nothing applied twice', effects.problemCount === 0,
    effects.problemCount === 0
      ? `${effects.commands} commands: each has at most one movement, one outcome and one event, and every account's postings equal the reference's`
      : `${effects.doubled.length} commands with an effect counted twice; ${effects.problemCount} differences, e.g. ${effects.problems.slice(0, 5).join('; ')}`);

  const verified = await verifyBreaks(owner);
  check('verify passes', verified.ok, verified.ok ? 'every check of `potledger verify` passed' : verified.breaks.join(' | '));
  return { checks, stuck, rows, streamed, lost, doubled: effects.doubled.length + events.repeated.length, malformedSent, poisonRecorded };
}

/** Every command of the load and of the streams has an outcome, and every outcome a command; returns the commands without one. */
function checkOutcomes(
  check: Check,
  run: LoadRun,
  rows: ReadonlyMap<string, OutcomeRow>,
  streamed: Awaited<ReturnType<typeof streamCommands>>,
): string[] {
  const lostLoad = run.load.ids().filter((id) => !rows.has(id));
  const lostStream = [...streamed.ids].filter((id) => !rows.has(id));
  const unexplained = [...rows.keys()].filter((id) => !streamed.ids.has(id));
  check(
    'every command has one outcome',
    lostLoad.length === 0 && lostStream.length === 0 && unexplained.length === 0 && run.notices === run.load.ids().length,
    `${rows.size} outcomes, ${streamed.ids.size} distinct commands in the streams; ` +
      `without outcome: ${lostLoad.length} of the load's, ${lostStream.length} of the streams'; ` +
      `outcomes of no command: ${unexplained.length}; the SDK learnt ${run.notices} outcomes`,
  );
  return [...lostLoad, ...lostStream];
}

/** The journal against the pure-core reference run: the trades' orders, every outcome and every balance. */
async function checkAgainstReference(
  check: Check,
  owner: pg.Pool,
  reference: ReferenceLedger,
  basisMismatches: readonly string[],
  rows: ReadonlyMap<string, OutcomeRow>,
  replayed: number,
): Promise<void> {
  check(
    'every trade took the orders the reference aggregates',
    basisMismatches.length === 0,
    basisMismatches.length === 0 ? 'each trade\'s allocation basis is the open orders of its fund and dealing date' : basisMismatches.slice(0, 3).join('; '),
  );
  const mismatches = outcomeMismatches(reference, rows);
  check(
    'outcomes equal a pure-core reference run',
    mismatches.length === 0,
    mismatches.length === 0 ? `${replayed} messages replayed in stream order` : mismatches.slice(0, 5).join('; '),
  );
  const journal = await ledgerBalances(owner);
  const expected = referenceBalances(reference);
  const differing = [...new Set([...Object.keys(journal), ...Object.keys(expected)])].filter((account) => journal[account] !== expected[account]);
  check(
    'balances equal the reference run',
    differing.length === 0,
    differing.length === 0
      ? `${Object.keys(journal).length} non-zero balances`
      : differing.slice(0, 5).map((a) => `${a}: journal ${journal[a]}, reference ${expected[a]}`).join('; '),
  );
}

/** Conservation, every payment finished, every malformed message recorded as poison once. */
async function checkBooks(
  check: Check,
  options: ChaosOptions,
  owner: pg.Pool,
  run: LoadRun,
  unreadableInStreams: number,
): Promise<{ malformedSent: number; poisonRecorded: number }> {
  const { rows: unbalanced } = await owner.query<{ asset: string; total: bigint }>(
    `SELECT asset, sum(balance_minor) AS total
       FROM balances
      GROUP BY asset
     HAVING sum(balance_minor) <> 0`,
  );
  check(
    'conservation: every asset sums to zero over all accounts',
    unbalanced.length === 0,
    unbalanced.length === 0 ? 'per asset, pots and system accounts net to zero' : unbalanced.map((r) => `${r.asset} ${r.total}`).join(', '),
  );

  const { rows: unfinished } = await owner.query<{ n: bigint }>("SELECT count(*) AS n FROM payments WHERE status NOT IN ('completed', 'refunded', 'rejected')");
  check(
    'every payment finished',
    unfinished[0]?.n === 0n,
    `${run.payments.count} payments requested, ${run.payments.failures} requests gave up, ${unfinished[0]?.n ?? '?'} unfinished`,
  );

  const { rows: poison } = await owner.query<{ n: bigint }>('SELECT count(*) AS n FROM poison_messages');
  const poisonRecorded = Number(poison[0]?.n ?? 0n);
  const malformedSent = run.faults.filter((f) => f.kind === 'malformed-burst').length * options.malformed;
  check('every malformed message recorded as poison, once', poisonRecorded === malformedSent && unreadableInStreams === malformedSent,
    `${malformedSent} sent, ${unreadableInStreams} unreadable in the streams, ${poisonRecorded} poison records`);
  return { malformedSent, poisonRecorded };
}

/** The figures of a run, from the load and its checks. */
function figuresOf(options: ChaosOptions, run: LoadRun, checked: CheckedRun, started: number): ChaosFigures {
  const statuses = [...checked.rows.values()];
  const counts: Record<FaultKind, number> = { kill: 0, stop: 0, 'nats-restart': 0, 'postgres-restart': 0, 'malformed-burst': 0 };
  const recoveryMsMax: Partial<Record<FaultKind, number>> = {};
  for (const fault of run.faults) {
    counts[fault.kind] += 1;
    if (fault.recoveryMs !== undefined) recoveryMsMax[fault.kind] = Math.max(recoveryMsMax[fault.kind] ?? 0, fault.recoveryMs);
  }
  return {
    seed: options.seed,
    commands: checked.streamed.ids.size,
    applied: statuses.filter((row: OutcomeRow) => row.status !== 'rejected').length,
    rejected: statuses.filter((row) => row.status === 'rejected').length,
    lost: new Set(checked.lost).size,
    duplicated: checked.doubled,
    faultsInjected: counts,
    recoveryMsMax,
    invariantsHold: checked.checks.every((c) => c.ok),
    stuckPartitions: checked.stuck.length,
    submitted: run.load.submitted,
    resubmitted: run.load.resubmitted,
    repeatsInStreams: checked.streamed.commands.length - checked.streamed.ids.size,
    payments: run.payments.count,
    malformed: checked.malformedSent,
    poisonRecorded: checked.poisonRecorded,
    workerExitsUnplanned: run.unplannedExits,
    checks: checked.checks,
    faults: run.faults,
    seconds: Math.round((performance.now() - started) / 1000),
    conditions:
      `${options.workers} service processes, ${options.partitions} partitions, ${options.members} pots, ${options.days} business days, ` +
      'private nats-server and Postgres on one machine',
  };
}

/** For a failed events check: where each missing event's outcome sits, the faults' times, and what the workers said about events. */
async function explainMissingEvents(owner: pg.Pool, missing: readonly string[], faults: readonly FaultRecord[], fleet: WorkerFleet, log: (line: string) => void): Promise<void> {
  const { rows } = await owner.query<{ command_id: string; partition: number; seq: bigint; recorded_at: Date; process: string }>(
    "SELECT command_id, partition, seq, recorded_at, process FROM command_outcomes WHERE movement_id = ANY($1::text[]) OR 'rejected-' || command_id = ANY($1::text[])",
    [missing.slice(0, 20)],
  );
  for (const row of rows) {
    log(`chaos: missing event of ${row.command_id} (${row.process}), partition ${row.partition}, outcome seq ${row.seq}, recorded ${row.recorded_at.toISOString()}`);
  }
  const { rows: marks } = await owner.query<{ partition: number; events_through_seq: bigint; worker_id: string }>(
    'SELECT partition, events_through_seq, worker_id FROM partition_owners ORDER BY partition',
  );
  log(`chaos: outbox marks: ${marks.map((m) => `p${m.partition}@${m.events_through_seq}`).join(' ')}`);
  for (const fault of faults) log(`chaos: fault at ${fault.at}: ${fault.kind}`);
  for (const worker of fleet.all()) {
    for (const line of worker.logs.filter((l) => /event|outbox|rewind|lost|fenced|partition (acquired|released)|consumer failed/.test(l.msg))) {
      const context = JSON.stringify({ partition: line.partition, err: (line.err as { message?: string } | undefined)?.message });
      log(`chaos: ${worker.label} ${new Date(Number(line.time)).toISOString()} ${line.msg} ${context}`);
    }
  }
}

/** Where the faults fall: spread over 10 % to 90 % of the load, in a seeded order. */
function faultPlan(options: ChaosOptions, random: () => number): { kind: FaultKind; atCommand: number }[] {
  const kinds: FaultKind[] = [...Array.from({ length: options.kills }, () => 'kill' as const), 'stop', 'nats-restart', 'postgres-restart', 'malformed-burst'];
  for (let i = kinds.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j] as FaultKind, kinds[i] as FaultKind];
  }
  const first = options.members * 2 + Math.floor(options.commands * 0.1);
  const span = Math.floor(options.commands * 0.9) - first;
  return kinds.map((kind, i) => ({ kind, atCommand: first + Math.floor((span * i) / kinds.length) }));
}

/** The load's commands: submitted in order per member (each waits for JetStream's ack), outcomes awaited later. */
class Load {
  submitted = 0;
  resubmitted = 0;
  readonly #sent: Command[] = [];
  readonly #outcomes = new Map<string, Promise<OutcomeNotice>>();
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #openHolds = new Map<number, string[]>();
  #counter = 0;
  /** The business day the load's commands are dated (a re-send carries its first date). */
  date = FIRST_DAY;

  constructor(
    private readonly publisher: LedgerPublisher,
    private readonly options: ChaosOptions,
    private readonly random: () => number,
  ) {}

  potOf(pot: number): string {
    return `chaos-pot-${pot}`;
  }

  memberOf(pot: number): string {
    return `chaos-member-${pot}`;
  }

  ids(): string[] {
    return [...this.#outcomes.keys()];
  }

  step(day: number): Step {
    const r = this.random();
    const pot = Math.floor(this.random() * this.options.members);
    const cents = 1 + Math.floor(this.random() * 20_000);
    const amount = money(cents);
    const fund = FUNDS[Math.floor(this.random() * FUNDS.length)] ?? 'FUND-A';
    if (r < 0.3) return { kind: 'command', process: 'cash.deposit', pot, payload: { amount, currency: 'GBP' } };
    if (r < 0.42) return { kind: 'command', process: 'cash.withdraw', pot, payload: { amount, currency: 'GBP' } };
    if (r < 0.5) {
      const [source, target] = this.random() < 0.5 ? ['cash', 'cash.prepaid'] : ['cash.prepaid', 'cash'];
      return { kind: 'command', process: 'cash.transfer', pot, payload: { amount, currency: 'GBP', source, target } };
    }
    if (r < 0.64) return { kind: 'command', process: 'order.buy', pot, payload: { fund, amount, currency: 'GBP' } };
    if (r < 0.69) {
      return day === 0
        ? { kind: 'command', process: 'order.buy', pot, payload: { fund, amount, currency: 'GBP' } }
        : { kind: 'command', process: 'order.sell', pot, payload: { fund, units: 'all' } };
    }
    if (r < 0.76) {
      const holdId = `chaos-hold-${(this.#counter += 1)}`;
      const payee = (pot + 1 + Math.floor(this.random() * (this.options.members - 1))) % this.options.members;
      this.#openHolds.set(pot, [...(this.#openHolds.get(pot) ?? []), holdId]);
      const payload = {
        holdId,
        payee: { memberId: this.memberOf(payee), potId: this.potOf(payee) },
        amount,
        currency: 'GBP',
        expiresAt: '2030-01-01T00:00:00Z',
      };
      return { kind: 'command', process: 'hold.place', pot, payload };
    }
    if (r < 0.8) {
      const holds = this.#openHolds.get(pot) ?? [];
      const holdId = holds.shift();
      if (holdId !== undefined) return { kind: 'command', process: 'hold.void', pot, payload: { holdId } };
      return { kind: 'command', process: 'cash.deposit', pot, payload: { amount, currency: 'GBP' } };
    }
    if (r < 0.85) return { kind: 'resubmit' };
    if (r < 0.87) return { kind: 'command', process: 'cash.withdraw', pot: this.options.members + pot, payload: { amount, currency: 'GBP' } };
    if (r < 0.9) {
      const payee = (pot + 1 + Math.floor(this.random() * (this.options.members - 1))) % this.options.members;
      return { kind: 'payment', payer: pot, payee, cents };
    }
    return { kind: 'command', process: 'cash.deposit', pot, payload: { amount, currency: 'GBP' } };
  }

  async command(process: string, pot: number, payload: unknown): Promise<void> {
    this.#counter += 1;
    await this.#submit({ commandId: `chaos-${this.#counter}`, process, memberId: this.memberOf(pot), potId: this.potOf(pot), payload, effectiveDate: this.date, producedAt: '' });
  }

  /** The same command again, same id and payload: a caller that did not hear back and sent it again. */
  async resubmit(): Promise<void> {
    const earlier = this.#sent[Math.floor(this.random() * this.#sent.length)];
    if (earlier === undefined) return;
    this.resubmitted += 1;
    await this.#submit(earlier, true);
  }

  /** Opens a pot of its own and waits for the outcome: how long the ledger takes to answer now. */
  async probe(): Promise<void> {
    this.#counter += 1;
    const id = `chaos-probe-${this.#counter}`;
    const command: Command = { commandId: id, process: 'pot.open', memberId: id, potId: id, payload: {}, effectiveDate: this.date, producedAt: '' };
    await this.#submit(command);
    await this.#outcomes.get(id);
  }

  async outcomes(): Promise<number> {
    const settled = await Promise.allSettled(this.#outcomes.values());
    return settled.filter((result) => result.status === 'fulfilled').length;
  }

  async #submit(command: Command, again = false): Promise<void> {
    while (this.#inFlight.size >= IN_FLIGHT_MAX) await Promise.race(this.#inFlight);
    const submitted = await submitUntilStored(this.publisher, command);
    this.submitted += 1;
    if (again) return;
    this.#sent.push(command);
    const outcome = submitted.outcome(OUTCOME_TIMEOUT_MS);
    this.#outcomes.set(command.commandId, outcome);
    const settled = outcome.then(() => undefined, () => undefined);
    this.#inFlight.add(settled);
    void settled.then(() => this.#inFlight.delete(settled));
  }
}

/** Publishes until JetStream stores it: a send that fails while nats-server is down is sent again (same id). */
async function submitUntilStored(publisher: LedgerPublisher, command: Command): Promise<Submitted> {
  const request = { commandId: command.commandId, memberId: command.memberId, potId: command.potId, payload: command.payload, effectiveDate: command.effectiveDate };
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      return await publisher.submit(command.process, request);
    } catch (error) {
      if (error instanceof PublishValidationError || Date.now() > deadline) throw error;
      await sleep(200);
    }
  }
}

/** Payments over HTTP to a live service process, re-sent (same paymentId) to another when one dies. */
class Payments {
  count = 0;
  failures = 0;
  readonly #pending = new Set<Promise<void>>();

  constructor(
    private readonly fleet: WorkerFleet,
    private readonly key: string,
    private readonly random: () => number,
  ) {}

  send(payer: number, payee: number, cents: number, memberOf: (pot: number) => string, potOf: (pot: number) => string): void {
    if (this.#pending.size >= PAYMENTS_IN_FLIGHT_MAX) return;
    this.count += 1;
    const body = JSON.stringify({
      paymentId: `chaos-payment-${this.count}`,
      payer: { memberId: memberOf(payer), potId: potOf(payer) },
      payee: { memberId: memberOf(payee), potId: potOf(payee) },
      amount: money(cents),
      currency: 'GBP',
    });
    const sending = this.#send(body);
    this.#pending.add(sending);
    void sending.then(() => this.#pending.delete(sending));
  }

  async settled(): Promise<void> {
    await Promise.all(this.#pending);
  }

  async #send(body: string): Promise<void> {
    const deadline = Date.now() + 180_000;
    while (Date.now() < deadline) {
      const live = this.fleet.live();
      const worker = live[Math.floor(this.random() * live.length)];
      const address = worker?.logged('potledger is up')?.http;
      if (typeof address === 'string') {
        const response = await fetch(`${address}/payments`, {
          method: 'POST',
          headers: { authorization: `Bearer ${this.key}`, 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(30_000),
        }).catch(() => undefined);
        // 200/202: recorded (the desks finish it); 4xx other than 429: a refusal, final.
        if (response !== undefined && response.status < 500 && response.status !== 429) return;
      }
      await sleep(500);
    }
    this.failures += 1;
  }
}

async function waitForPayments(owner: pg.Pool): Promise<void> {
  const deadline = Date.now() + SETTLE_MS_MAX;
  for (;;) {
    const { rows } = await owner.query<{ n: bigint }>("SELECT count(*) AS n FROM payments WHERE status NOT IN ('completed', 'refunded', 'rejected')");
    if (rows[0]?.n === 0n || Date.now() > deadline) return;
    await sleep(500);
  }
}

/** A step of the desk's day, tried again when a fault interrupted it (each step is idempotent). */
async function retrying<T>(what: string, step: () => Promise<T>, log: (line: string) => void): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await step();
    } catch (error) {
      if (attempt >= 5) throw error;
      log(`chaos: ${what} failed (${String(error)}); again`);
      await sleep(2000);
    }
  }
}

/** Partitions whose checkpoint stays behind their stream, or that no live worker owns, after a grace period. */
async function stuckPartitions(owner: pg.Pool, jsm: Awaited<ReturnType<typeof jetstreamManager>>, names: Names, partitionCount: number, fleet: WorkerFleet): Promise<string[]> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const problems: string[] = [];
    const live = new Set(fleet.live().map((worker) => worker.workerId));
    const { rows } = await owner.query<{ partition: number; checkpoint_seq: bigint; worker_id: string }>('SELECT partition, checkpoint_seq, worker_id FROM partition_owners');
    const byPartition = new Map(rows.map((row) => [row.partition, row]));
    for (let partition = 0; partition < partitionCount; partition += 1) {
      const last = await jsm.streams.getMessage(names.commandStream, { last_by_subj: names.commandSubject(partition) }).catch(() => null);
      const row = byPartition.get(partition);
      if (row === undefined || !live.has(row.worker_id)) problems.push(`p${partition}: no live owner`);
      else if (last !== null && row.checkpoint_seq < BigInt(last.seq)) problems.push(`p${partition}: committed up to ${row.checkpoint_seq} of ${last.seq}`);
    }
    if (problems.length === 0 || Date.now() > deadline) return problems;
    await sleep(500);
  }
}

/**
 * The pure core fed every command of the streams in stream order (the order each partition applied
 * them), with the journal's movement ids. The one change to the ledger that is not a command, the desk
 * taking open orders into a trade at the cut-off, is done to the reference just before the trade's first
 * command: every order the trade took was in the streams before the cut-off, every allocation after it.
 */
async function replayWithTrades(
  owner: pg.Pool,
  commands: readonly Command[],
  rows: ReadonlyMap<string, OutcomeRow>,
  partitionCount: number,
): Promise<{ reference: ReferenceLedger; basisMismatches: string[] }> {
  const { rows: trades } = await owner.query<{ trade_id: string; fund: string; dealing_date: string; orders: string[] }>(
    `SELECT t.trade_id, t.fund, t.dealing_date, array_agg(o.order_id ORDER BY o.order_id) AS orders
       FROM external_trades t JOIN trade_orders o USING (trade_id)
      GROUP BY t.trade_id`,
  );
  const byId = new Map(trades.map((trade) => [trade.trade_id, trade]));
  const reference = new ReferenceLedger(ledgerProcesses, ASSETS, partitionCount);
  const basisMismatches: string[] = [];
  for (const command of commands) {
    const tradeId = typeof command.payload === 'object' && command.payload !== null ? (command.payload as { tradeId?: unknown }).tradeId : undefined;
    const trade = typeof tradeId === 'string' ? byId.get(tradeId) : undefined;
    if (trade !== undefined) {
      byId.delete(trade.trade_id);
      const taken = reference.aggregate(trade.fund, trade.dealing_date, trade.trade_id).map((order) => order.orderId);
      if (taken.join() !== [...trade.orders].sort().join()) basisMismatches.push(`${trade.trade_id}: journal took ${trade.orders.length} orders, the reference ${taken.length}`);
    }
    reference.execute(command, rows.get(command.commandId)?.movementId ?? `reference-${command.commandId}`);
  }
  return { reference, basisMismatches };
}

/** Every message of the command stream, in stream order, read as a worker reads it (close markers skipped). */
async function streamCommands(nc: NatsConnection, names: Names, partitionCount: number): Promise<{ commands: Command[]; ids: Set<string>; poison: number }> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(names.commandStream);
  const commands: Command[] = [];
  const ids = new Set<string>();
  let poison = 0;
  if (info.state.messages === 0) return { commands, ids, poison };
  const consumer = await jetstream(nc).consumers.get(names.commandStream);
  const messages = await consumer.consume({ max_messages: 2000 });
  try {
    for await (const message of messages) {
      const partition = partitionOfSubject(message, names);
      const received = readMessage(message, partition, partitionCount, ledgerProcesses);
      if (received.kind === 'command') {
        commands.push(received.command);
        ids.add(received.command.commandId);
      } else if (received.kind === 'poison') poison += 1;
      // A close marker (the day's close, one per partition) is neither a command nor poison.
      if (message.seq >= info.state.last_seq) break;
    }
  } finally {
    await messages.close().catch(() => undefined);
  }
  return { commands, ids, poison };
}

function partitionOfSubject(message: JsMsg, names: Names): number {
  return Number(message.subject.slice(`${names.prefix}.cmd.`.length));
}
