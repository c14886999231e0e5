import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import pino from 'pino';
import type { CustodianReport } from '../src/custodian/messages.js';
import { NatsCustodian } from '../src/custodian/nats.js';
import { CustodianSimulator } from '../src/custodian/simulator.js';
import { ACME_ROUNDING_POT, DealingDesk, type FanOut } from '../src/dealing/desk.js';
import { closingPrice, loadPrices } from '../src/dealing/prices.js';
import { verifyLedger } from '../src/journal/verify.js';
import { addBusinessDays, assetCatalog, cutoffInstant, DEFAULT_ASSETS, dealingOf, formatAmount, ledgerProcesses, type FundDealing } from '../src/ledger/index.js';
import { LedgerPublisher } from '../src/sdk/publisher.js';
import { waitUntilCommitted } from '../src/shards/drain.js';
import { createShardMetrics } from '../src/shards/metrics.js';
import { names } from '../src/shards/names.js';
import type { OutcomeNotice } from '../src/wire/index.js';
import { ShardWorker } from '../src/shards/worker.js';
import {
  conditions,
  createBenchDatabase,
  deleteBenchStreams,
  freePort,
  numberFlag,
  requireEnv,
  round,
  startWorker,
  stopWorker,
  waitForPartitionOwners,
  type BenchDatabase,
} from './support.js';

/**
 * `npm run bench -- cycle [--json] [--pots N] [--orders N] [--partitions P] [--worker in-process|child]
 *   [--window W] [--price P] [--fan-out-timeout-ms M]`
 *
 * One dealing cycle of FUND-A end to end, through JetStream, a shard worker, the dealing desk, the
 * custodian simulator over NATS and Postgres, on a business clock (issue 5):
 * 1. set-up (timed, not part of the cycle): `--pots` pots opened and funded, then `--orders` order.buy
 *    commands spread over them, all produced at 09:00 on the dealing day (a Monday), each of a different
 *    amount (from a penny to over £100,000), so that the allocation leaves rounding residues; the
 *    day's closing price `--price` is loaded. Published through `submitMany` in chunks, at most
 *    `--window` commands awaiting their outcome;
 * 2. the cycle, each phase timed: cut-off (the clock moves to 11:00, every partition drains, the desk
 *    aggregates the orders into one trade and sends it, the custodian holds it); price (the custodian
 *    strikes, the desk allocates: one order.allocate per order and the residue, every outcome
 *    committed); settle (the custodian settles at T+2: one order.settle per order and the residue's);
 * 3. checks, timed apart: every order settled, allocated units + residue = executed units, `verify`
 *    sound, no fan-out command rejected.
 * The worker runs as a service process (`node --import tsx src/main.ts`, as in production), or with
 * `--worker in-process` in this process beside the desk (as the integration tests' DealingStack); the
 * desk and the simulator always run here. The desk waits for a fan-out on the journal and gives
 * up after its own limit, or `--fan-out-timeout-ms` when given. Each phase also counts what passed on
 * NATS: outcome notices (replays among them), outcome look-ups, custodian reports the desk handled.
 */
export async function cycle(options: Map<string, string>): Promise<Record<string, unknown>> {
  const settings = readSettings(options);
  const db = await createBenchDatabase('cycle');
  const prefix = `bench${randomBytes(3).toString('hex')}`;
  const nc = await connect({ servers: requireEnv('NATS_URL'), name: 'potledger-bench-cycle' });
  let stack: CycleStack | undefined;
  try {
    const machine = await conditions(db.owner);
    const setting = { ...settings, workers: 1, fund: FUND, dealingDate: DEALING_DATE };
    log(`conditions: ${JSON.stringify({ ...machine, ...setting })}`);
    stack = await startStack(db, nc, prefix, settings);
    log(`database ${db.name}, NATS prefix ${prefix} (both removed at the end)`);
    const where =
      settings.worker === 'child' ? 'a service process (node --import tsx src/main.ts)' : 'in this process (ShardWorker beside the desk, the simulator and the publisher)';
    log(`worker: ${where}`);
    const setup = await setUp(stack, settings);
    const measured = await runCycle(stack);
    const checked = await check(stack, measured);
    return {
      bench: 'cycle',
      ...machine,
      ...setting,
      setupSec: round(setup.seconds),
      setupCommandsPerSec: round(setup.commands / setup.seconds),
      cutoffSec: round(measured.cutoff.seconds, 2),
      allocateSec: round(measured.allocate.seconds, 2),
      settleSec: round(measured.settle.seconds, 2),
      wallSec: round(measured.cutoff.seconds + measured.allocate.seconds + measured.settle.seconds, 2),
      allocateCommands: measured.allocate.fanOut.commands,
      settleCommands: measured.settle.fanOut.commands,
      allocateLookups: measured.allocate.lookups,
      settleLookups: measured.settle.lookups,
      allocatePublishedSec: round(measured.allocate.publishedSec, 2),
      allocateLastCommitSec: round(measured.allocate.lastCommitSec, 2),
      settlePublishedSec: round(measured.settle.publishedSec, 2),
      settleLastCommitSec: round(measured.settle.lastCommitSec, 2),
      fanOutRejected: checked.fanOutRejected,
      reportsHandled: checked.reportsHandled,
      residueUnitsMinor: checked.residueUnitsMinor,
      allocationExact: checked.allocationExact,
      verifySec: round(checked.verifySeconds, 2),
      verifyOk: checked.verifyOk,
      allSettled: checked.allSettled,
    };
  } finally {
    await stack?.stop();
    await nc.close();
    await deleteBenchStreams(prefix);
    await db.drop();
  }
}

const FUND = 'FUND-A';
/** A Monday: the orders are produced at 09:00, before FUND-A's 11:00 cut-off, and deal that day. */
const DEALING_DATE = '2026-06-01';
const ORDERS_PRODUCED_AT = `${DEALING_DATE}T09:00:00.000Z`;
const assets = assetCatalog(DEFAULT_ASSETS);

/** The commands one `submitMany` call of the set-up publishes. */
const SUBMIT_CHUNK = 500;
/** The set-up gives up when no outcome arrives for this long. */
const OUTCOME_SILENCE_MS_MAX = 120_000;
/** The longest one phase of the cycle may take before the benchmark gives up. */
const PHASE_MS_MAX = 900_000;
/** How long the clean-up waits for the desk to finish the report in hand. */
const DESK_STOP_MS_MAX = 10_000;

interface Settings {
  readonly pots: number;
  readonly orders: number;
  readonly partitions: number;
  readonly window: number;
  readonly price: string;
  readonly worker: 'in-process' | 'child';
  /** How long the desk's fan-out may take before it gives up (the desk's own default when null). */
  readonly fanOutTimeoutMs: number | null;
}

function readSettings(options: Map<string, string>): Settings {
  const pots = Math.max(1, numberFlag(options, 'pots', 100_000));
  const worker = options.get('worker') ?? 'child';
  if (worker !== 'in-process' && worker !== 'child') throw new Error('--worker must be in-process or child');
  return {
    pots,
    orders: Math.max(1, numberFlag(options, 'orders', pots)),
    partitions: Math.max(1, numberFlag(options, 'partitions', 64)),
    window: Math.max(SUBMIT_CHUNK, numberFlag(options, 'window', 8000)),
    price: options.get('price') ?? '1.23456789',
    worker,
    fanOutTimeoutMs: options.has('fan-out-timeout-ms') ? numberFlag(options, 'fan-out-timeout-ms', 0) : null,
  };
}

/**
 * What passes on NATS, counted for the phases: outcome look-ups (a publisher awaiting an outcome asks
 * the workers when its notice is late) and outcome notices (a replay answers a command sent again).
 */
interface Traffic {
  lookups: number;
  notices: number;
  replays: number;
  lastNoticeAtMs: number;
  /** Custodian reports the desk handled, repeats included (a report is redelivered when unacknowledged past its ack wait, 60 s). */
  reportsHandled: number;
}

/** Everything the cycle runs on, and a business clock that stamps every command's producedAt. */
interface CycleStack {
  readonly db: BenchDatabase;
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly prefix: string;
  readonly partitions: number;
  readonly clock: { now: Date };
  readonly publisher: LedgerPublisher;
  readonly simulator: CustodianSimulator;
  readonly desk: DealingDesk;
  readonly traffic: Traffic;
  /** When the worker was started (performance.now()), to place the phases in its CPU profile. */
  readonly workerStartedAtMs: number;
  stop(): Promise<void>;
}

async function startStack(db: BenchDatabase, nc: NatsConnection, prefix: string, settings: Settings): Promise<CycleStack> {
  const clock = { now: new Date(ORDERS_PRODUCED_AT) };
  // Desk and in-process worker logs go to stderr, so that with --json the last stdout line stays the result.
  const logger = pino({ level: 'warn' }, pino.destination(2));
  const publisher = await LedgerPublisher.connect({
    nc, prefix, registry: ledgerProcesses, partitionCount: settings.partitions, now: () => clock.now,
  });
  const workerStartedAtMs = performance.now();
  const worker = await startShardWorker(db, nc, prefix, settings, logger);
  await waitForPartitionOwners(db.owner, settings.partitions);
  const simulator = await CustodianSimulator.start({ nc, prefix, assets, closingPrice: (fund, date) => closingPrice(db.service, fund, date) });
  const custodian = await NatsCustodian.connect(nc, prefix, (_message, problem) => logger.error({ problem }, 'a malformed custodian report'));
  const fanOutLimit = settings.fanOutTimeoutMs === null ? {} : { outcomeTimeoutMs: settings.fanOutTimeoutMs };
  const desk = new DealingDesk({ pool: db.service, publisher, custodian, assets, log: logger, ...fanOutLimit });
  await desk.start();
  const traffic: Traffic = { lookups: 0, notices: 0, replays: 0, lastNoticeAtMs: 0, reportsHandled: 0 };
  const stopFollowing = desk.onHandled(() => {
    traffic.reportsHandled += 1;
  });
  // A plain subscriber sees a copy of every look-up and answers none: the workers' queue group answers.
  const lookupTap = nc.subscribe(names(prefix).outcomeLookupSubject, {
    callback: () => {
      traffic.lookups += 1;
    },
  });
  const stopCounting = publisher.onOutcome((notice) => {
    traffic.notices += 1;
    if (notice.replayed) traffic.replays += 1;
    traffic.lastNoticeAtMs = performance.now();
  });
  return {
    db,
    nc,
    jsm: await jetstreamManager(nc),
    prefix,
    partitions: settings.partitions,
    clock,
    publisher,
    simulator,
    desk,
    traffic,
    workerStartedAtMs,
    async stop() {
      lookupTap.unsubscribe();
      stopCounting();
      stopFollowing();
      // The desk stops after the report in hand; one stuck in a fan-out would hold the clean-up for as long as its outcome timeout.
      await Promise.race([desk.stop(), new Promise((resolve) => setTimeout(resolve, DESK_STOP_MS_MAX).unref())]);
      await simulator.stop();
      await publisher.close();
      await worker.stop();
    },
  };
}

/** The shard worker, in this process or as a service process, behind one `stop`. */
async function startShardWorker(db: BenchDatabase, nc: NatsConnection, prefix: string, settings: Settings, logger: pino.Logger): Promise<{ stop(): Promise<void> }> {
  if (settings.worker === 'child') {
    const port = await freePort();
    const env = { DATABASE_URL: db.ownerUrl, NATS_PREFIX: prefix, PARTITION_COUNT: String(settings.partitions), HTTP_PORT: String(port), LOG_LEVEL: 'warn' };
    const child: ChildProcess = await startWorker(env, { readyUrl: `http://127.0.0.1:${port}/health/ready` });
    return { stop: () => stopWorker(child) };
  }
  const worker = new ShardWorker({
    pool: db.service,
    nc,
    prefix,
    registry: ledgerProcesses,
    assets,
    partitionCount: settings.partitions,
    metrics: createShardMetrics(),
    log: logger,
  });
  await worker.start();
  return { stop: () => worker.stop() };
}

interface Request {
  readonly process: string;
  readonly memberId: string;
  readonly potId: string;
  readonly payload: unknown;
}

/**
 * The amount of order `index` in pence, every one different: a third small (0.01, 0.04, 0.07, … up to
 * 1,000.00 at the 100,000th order), a third from 1,000.01 in steps of 0.21, a third from 100,000.02 in
 * steps of 3.03. The tiers differ modulo 3 (1, 2, 0), so no two orders ask for the same amount.
 */
function orderAmountMinor(index: number): bigint {
  const step = BigInt(Math.floor(index / 3));
  switch (index % 3) {
    case 0:
      return 1n + 3n * step;
    case 1:
      return 100_001n + 21n * step;
    default:
      return 10_000_002n + 303n * step;
  }
}

const potOf = (order: number, pots: number) => order % pots;
const pence = (minor: bigint) => formatAmount(minor, 2);

/** Each pot's cash: exactly what its orders will reserve. */
function potCashMinor(settings: Settings): bigint[] {
  const cashMinor = new Array<bigint>(settings.pots).fill(0n);
  for (let order = 0; order < settings.orders; order += 1) {
    const pot = potOf(order, settings.pots);
    cashMinor[pot] = (cashMinor[pot] ?? 0n) + orderAmountMinor(order);
  }
  return cashMinor;
}

/** Opens and funds every pot, places the orders and loads the day's closing price. */
async function setUp(stack: CycleStack, settings: Settings): Promise<{ seconds: number; commands: number }> {
  const pot = (index: number) => ({ memberId: `M${index}`, potId: `P${index}` });
  const started = performance.now();
  const opened = await drive(stack.publisher, Array.from({ length: settings.pots }, (_, i) => ({ process: 'pot.open', ...pot(i), payload: {} })), settings.window);
  log(`set-up: opened ${settings.pots} pots in ${round(opened.seconds, 2)} s (${round(settings.pots / opened.seconds)} commands/s)`);
  const deposits = potCashMinor(settings).map((minor, i) => ({ process: 'cash.deposit', ...pot(i), payload: { amount: pence(minor), currency: 'GBP' } }));
  const funded = await drive(stack.publisher, deposits, settings.window);
  log(`set-up: funded ${settings.pots} pots in ${round(funded.seconds, 2)} s (${round(settings.pots / funded.seconds)} commands/s)`);
  const amounts = Array.from({ length: settings.orders }, (_, order) => orderAmountMinor(order));
  const buys = amounts.map((amountMinor, order) => ({
    process: 'order.buy',
    ...pot(potOf(order, settings.pots)),
    payload: { fund: FUND, amount: pence(amountMinor), currency: 'GBP' },
  }));
  const placed = await drive(stack.publisher, buys, settings.window);
  const largestMinor = amounts.reduce((largest, amount) => (amount > largest ? amount : largest), 0n);
  log(
    `set-up: placed ${settings.orders} order.buy of ${FUND}, ${pence(amounts[0] ?? 0n)} to ${pence(largestMinor)} GBP, ` +
      `in ${round(placed.seconds, 2)} s (${round(settings.orders / placed.seconds)} commands/s)`,
  );
  const loaded = await loadPrices(stack.db.service, [{ fund: FUND, date: DEALING_DATE, price: settings.price }], 'bench', assets);
  if (!loaded.ok) throw new Error(`the closing price did not load: ${JSON.stringify(loaded.problems)}`);
  const seconds = (performance.now() - started) / 1000;
  const commands = 2 * settings.pots + settings.orders;
  log(`set-up: ${commands} commands in ${round(seconds)} s (${round(commands / seconds)} commands/s); ${FUND} closes at ${settings.price} on ${DEALING_DATE}`);
  return { seconds, commands };
}

/**
 * Publishes every request through `submitMany` in chunks, with at most `window` commands awaiting their
 * outcome, and waits for every outcome. A rejected command fails the set-up: the cycle would not be the
 * one asked for.
 */
async function drive(publisher: LedgerPublisher, requests: readonly Request[], window: number): Promise<{ seconds: number }> {
  const outcomes = trackOutcomes(publisher);
  const started = performance.now();
  try {
    for (let next = 0; next < requests.length; next += SUBMIT_CHUNK) {
      await outcomes.atMost(window - SUBMIT_CHUNK);
      const chunk = requests.slice(next, next + SUBMIT_CHUNK).map(({ process, ...request }) => {
        const commandId = randomUUID();
        outcomes.sent(commandId);
        return { process, request: { ...request, commandId } };
      });
      await publisher.submitMany(chunk);
    }
    await outcomes.atMost(0);
  } finally {
    outcomes.stop();
  }
  return { seconds: (performance.now() - started) / 1000 };
}

function trackOutcomes(publisher: LedgerPublisher) {
  const pending = new Set<string>();
  let lastNoticeAt = performance.now();
  let rejection: string | undefined;
  let waiter: { readonly atMost: number; readonly resolve: () => void } | undefined;
  const stop = publisher.onOutcome((notice: OutcomeNotice) => {
    if (!pending.delete(notice.commandId)) return;
    lastNoticeAt = performance.now();
    const outcome = notice.outcome as { kind?: string; code?: string; reason?: string };
    if (notice.status !== 'answered' || outcome.kind === 'rejected') rejection ??= `${notice.commandId}: ${outcome.code ?? notice.status} ${outcome.reason ?? ''}`;
    if (waiter !== undefined && pending.size <= waiter.atMost) waiter.resolve();
  });
  return {
    sent: (commandId: string) => pending.add(commandId),
    stop,
    /** Resolves once at most `count` commands await their outcome; throws on a rejection or a silence. */
    async atMost(count: number): Promise<void> {
      for (;;) {
        if (rejection !== undefined) throw new Error(`a set-up command was rejected: ${rejection}`);
        if (pending.size <= count) return;
        if (performance.now() - lastNoticeAt > OUTCOME_SILENCE_MS_MAX) throw new Error(`no outcome for ${OUTCOME_SILENCE_MS_MAX} ms with ${pending.size} awaited`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 1000);
          waiter = { atMost: count, resolve: () => (clearTimeout(timer), resolve()) };
        });
        waiter = undefined;
      }
    },
  };
}

interface Phase {
  readonly seconds: number;
  readonly fanOut: FanOut;
  /** Outcome look-ups, notices (and replays among them) and custodian reports handled during the phase. */
  readonly lookups: number;
  readonly replays: number;
  readonly reportsHandled: number;
  readonly notices: number;
  /** When the last outcome notice came, from the start of the phase. */
  readonly lastNoticeSec: number;
  /**
   * When JetStream stored the last command of the phase, from the start: the desk's fan-out, or a
   * re-send that came after JetStream's 2-minute dedupe window.
   */
  readonly publishedSec: number;
  /** When the ledger committed the first and the last of the phase's commands (movements.committed_at), from the start. */
  readonly firstCommitSec: number;
  readonly lastCommitSec: number;
}

interface Measured {
  readonly tradeId: string;
  readonly cutoff: { readonly seconds: number };
  readonly allocate: Phase;
  readonly settle: Phase;
}

async function runCycle(stack: CycleStack): Promise<Measured> {
  const dealing = dealingOf(assets, FUND);
  if (dealing === undefined) throw new Error(`${FUND} does not deal`);
  const marks = [performance.now()];
  const cutoff = await cutoffPhase(stack, dealing);
  const tradeId = cutoff.tradeId;

  stack.clock.now = new Date(cutoffInstant(DEALING_DATE, dealing.valuationPoint));
  marks.push(performance.now());
  const allocate = await reportPhase(stack, 'priced', tradeId, () => stack.simulator.strike(DEALING_DATE));
  log(
    `price: the custodian struck ${tradeId}; the desk allocated in ${round(allocate.seconds, 2)} s ` +
      `(${round(allocate.fanOut.commands / allocate.seconds)} commands/s): ${describe(allocate)}`,
  );

  const settlementDate = addBusinessDays(dealing.calendar, DEALING_DATE, dealing.settlementDays);
  stack.clock.now = new Date(`${settlementDate}T09:00:00.000Z`);
  marks.push(performance.now());
  const settle = await reportPhase(stack, 'settled', tradeId, () => stack.simulator.settle(settlementDate));
  log(
    `settle: the custodian settled on ${settlementDate}; the desk settled in ${round(settle.seconds, 2)} s ` +
      `(${round(settle.fanOut.commands / settle.seconds)} commands/s): ${describe(settle)}`,
  );
  const wallSeconds = cutoff.seconds + allocate.seconds + settle.seconds;
  log(`cycle: ${round(wallSeconds, 2)} s end to end (cut-off ${round(cutoff.seconds, 2)} + price ${round(allocate.seconds, 2)} + settle ${round(settle.seconds, 2)})`);
  marks.push(performance.now());
  if (process.env.BENCH_PROFILE_DIR !== undefined) logProfileMarks(stack, marks);
  return { tradeId, cutoff, allocate, settle };
}

/**
 * Where the phases (cut-off, price, settle, end) fall in the CPU profiles: in seconds since this
 * process started (`node --cpu-prof`) and since the worker was started (BENCH_PROFILE_DIR).
 */
function logProfileMarks(stack: CycleStack, marks: readonly number[]): void {
  const since = (origin: number) => marks.map((mark) => round((mark - origin) / 1000, 2));
  log(`profile marks (cut-off, price, settle, end): ${JSON.stringify({ thisProcessSec: since(0), workerSec: since(stack.workerStartedAtMs) })}`);
}

/** The clock moves to the cut-off; every partition drains; the desk aggregates and sends; the custodian holds the trade. */
async function cutoffPhase(stack: CycleStack, dealing: FundDealing): Promise<{ seconds: number; tradeId: string }> {
  stack.clock.now = new Date(cutoffInstant(DEALING_DATE, dealing.cutoff));
  const started = performance.now();
  await waitUntilCommitted(stack.db.service, stack.jsm, names(stack.prefix), stack.partitions);
  const drained = performance.now();
  const trade = await stack.desk.cutoff(FUND, DEALING_DATE);
  if (trade === undefined) throw new Error(`nothing to deal in ${FUND} on ${DEALING_DATE}`);
  const aggregated = performance.now();
  await stack.simulator.received([trade.tradeId]);
  const finished = performance.now();
  const seconds = (finished - started) / 1000;
  log(
    `cut-off: ${trade.orders} orders aggregated into ${trade.tradeId} (buy ${pence(trade.buyCashMinor)} GBP) in ${round(seconds, 2)} s: ` +
      `drain ${round((drained - started) / 1000, 2)} s, aggregate and send ${round((aggregated - drained) / 1000, 2)} s, ` +
        `custodian received ${round((finished - aggregated) / 1000, 2)} s`,
  );
  return { seconds, tradeId: trade.tradeId };
}

/** Triggers the custodian's report and resolves once the desk has handled it (its fan-out's outcomes all committed). */
async function reportPhase(stack: CycleStack, kind: CustodianReport['kind'], tradeId: string, trigger: () => Promise<CustodianReport[]>): Promise<Phase> {
  let resolveHandled: (fanOut: FanOut | undefined) => void = () => undefined;
  const handled = new Promise<FanOut | undefined>((resolve) => (resolveHandled = resolve));
  const stopListening = stack.desk.onHandled((report, fanOut) => {
    if (report.kind === kind && report.tradeId === tradeId) resolveHandled(fanOut);
  });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timed out'>((resolve) => (timer = setTimeout(() => resolve('timed out'), PHASE_MS_MAX)));
  const startedAtMs = Date.now();
  const started = performance.now();
  const before = { ...stack.traffic };
  try {
    const reports = await trigger();
    if (!reports.some((report) => report.kind === kind && report.tradeId === tradeId)) throw new Error(`the custodian sent no ${kind} report for ${tradeId}`);
    const fanOut = await Promise.race([handled, timedOut]);
    const seconds = (performance.now() - started) / 1000;
    const commits = await commitSpan(stack, FAN_OUT_PROCESSES[kind], startedAtMs);
    const { lookups, notices, replays, lastNoticeAtMs, reportsHandled } = stack.traffic;
    const counted = {
      lookups: lookups - before.lookups,
      notices: notices - before.notices,
      replays: replays - before.replays,
      lastNoticeSec: (lastNoticeAtMs - started) / 1000,
      reportsHandled: reportsHandled - before.reportsHandled,
    };
    if (fanOut === 'timed out') {
      throw new Error(
        `the desk did not handle the ${kind} report of ${tradeId} within ${PHASE_MS_MAX} ms; meanwhile the ledger committed ${commits.committed} of its commands, ` +
          `the last at +${round(commits.lastCommitSec, 2)} s, with ${counted.notices} outcome notices and ${counted.lookups} outcome look-ups`,
      );
    }
    if (fanOut === undefined) throw new Error(`the desk found nothing to do for the ${kind} report of ${tradeId}`);
    const stream = await stack.jsm.streams.info(names(stack.prefix).commandStream);
    const publishedSec = (Date.parse(stream.state.last_ts) - startedAtMs) / 1000;
    return { seconds, fanOut, publishedSec, ...counted, ...commits };
  } finally {
    clearTimeout(timer);
    stopListening();
  }
}

/** The processes of each report's fan-out. */
const FAN_OUT_PROCESSES: Record<CustodianReport['kind'], readonly string[]> = {
  priced: ['order.allocate', 'trade.residue'],
  rejected: ['order.allocate', 'order.settle'],
  settled: ['order.settle', 'trade.settle-residue'],
};

/** How many movements of these processes the ledger committed, and when the first and the last, in seconds from `startedAtMs`. */
async function commitSpan(stack: CycleStack, processes: readonly string[], startedAtMs: number) {
  const { rows } = await stack.db.owner.query<{ committed: bigint; first: string | null; last: string | null }>(
    `SELECT count(*) AS committed, extract(epoch FROM min(committed_at)) * 1000 AS first, extract(epoch FROM max(committed_at)) * 1000 AS last
       FROM movements WHERE process = ANY($1)`,
    [processes],
  );
  const at = (value: string | null | undefined) => (value === null || value === undefined ? Number.NaN : (Number(value) - startedAtMs) / 1000);
  return { committed: Number(rows[0]?.committed ?? 0n), firstCommitSec: at(rows[0]?.first), lastCommitSec: at(rows[0]?.last) };
}

const describe = (phase: Phase) =>
  `${phase.fanOut.commands} commands, ${phase.fanOut.applied} applied, ${phase.fanOut.rejected.length} rejected; ` +
  `all published by +${round(phase.publishedSec, 2)} s, committed from +${round(phase.firstCommitSec, 2)} to +${round(phase.lastCommitSec, 2)} s, ` +
  `last outcome notice at +${round(phase.lastNoticeSec, 2)} s, ` +
  `${phase.notices} notices (${phase.replays} replays), ${phase.lookups} outcome look-ups, ${phase.reportsHandled} custodian reports handled`;

interface Checked {
  readonly allSettled: boolean;
  readonly allocationExact: boolean;
  readonly residueUnitsMinor: string;
  readonly verifyOk: boolean;
  readonly verifySeconds: number;
  readonly fanOutRejected: number;
  readonly reportsHandled: number;
}

/** The checks after the cycle: orders, the trade's exact allocation, `verify`, the fan-outs. */
async function check(stack: CycleStack, measured: Measured): Promise<Checked> {
  const owner = stack.db.owner;
  const { rows: statuses } = await owner.query<{ status: string; orders: bigint }>('SELECT status, count(*) AS orders FROM orders GROUP BY 1 ORDER BY 1');
  const ordersByStatus = Object.fromEntries(statuses.map((row) => [row.status, Number(row.orders)]));
  const ordersTotal = statuses.reduce((sum, row) => sum + Number(row.orders), 0);
  const allSettled = statuses.length === 1 && statuses[0]?.status === 'settled';
  log(`check: orders by status ${JSON.stringify(ordersByStatus)}: ${allSettled ? `all ${ordersTotal} settled` : 'NOT all settled'}`);

  const allocation = await allocationCheck(stack, measured.tradeId);
  log(
    `check: allocated ${allocation.allocatedUnitsMinor} + residue ${allocation.residueUnitsMinor} = executed ${allocation.executedUnitsMinor} units (minor)` +
      `${allocation.exact ? '' : ' — does NOT hold'}; ${ACME_ROUNDING_POT} holds ${allocation.roundingPotUnitsMinor}`,
  );

  const verifyStarted = performance.now();
  const report = await verifyLedger(owner);
  const verifySeconds = (performance.now() - verifyStarted) / 1000;
  const broken = report.checks.filter((c) => !c.ok).map((c) => `${c.name} (${c.breaks})`);
  const verdict = report.ok ? 'ok' : `FAILED: ${broken.join(', ')}`;
  log(`check: verify ${verdict} over ${report.counts.movements} movements, ${report.counts.entries} entries in ${round(verifySeconds, 2)} s`);

  const rejected = [...measured.allocate.fanOut.rejected, ...measured.settle.fanOut.rejected];
  log(`check: fan-outs rejected ${rejected.length} commands${rejected.length === 0 ? '' : `, e.g. ${JSON.stringify(rejected.slice(0, 3))}`}`);
  // Two reports make a cycle (priced, settled); more are redeliveries of a report held past its ack wait.
  log(`check: the desk handled ${stack.traffic.reportsHandled} custodian reports so far (priced and settled; more are redeliveries)`);
  return {
    allSettled,
    allocationExact: allocation.exact,
    residueUnitsMinor: allocation.residueUnitsMinor.toString(),
    verifyOk: report.ok,
    verifySeconds,
    fanOutRejected: rejected.length,
    reportsHandled: stack.traffic.reportsHandled,
  };
}

async function allocationCheck(stack: CycleStack, tradeId: string) {
  const { rows } = await stack.db.owner.query<{ executed: bigint; residue: bigint; allocated: bigint | null; rounding: bigint | null }>(
    `SELECT t.buy_units_executed_minor AS executed, t.residue_units_minor AS residue,
            (SELECT sum(o.units_minor)::bigint FROM orders o WHERE o.trade_id = t.trade_id) AS allocated,
            (SELECT b.balance_minor FROM balances b WHERE b.account_id = $2) AS rounding
       FROM external_trades t WHERE t.trade_id = $1`,
    [tradeId, `pot:${ACME_ROUNDING_POT}:units:${FUND}`],
  );
  const row = rows[0];
  if (row === undefined) throw new Error(`trade ${tradeId} is not in external_trades`);
  const allocatedUnitsMinor = row.allocated ?? 0n;
  const roundingPotUnitsMinor = row.rounding ?? 0n;
  return {
    executedUnitsMinor: row.executed,
    residueUnitsMinor: row.residue,
    allocatedUnitsMinor,
    roundingPotUnitsMinor,
    exact: allocatedUnitsMinor + row.residue === row.executed && roundingPotUnitsMinor === row.residue,
  };
}

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}
