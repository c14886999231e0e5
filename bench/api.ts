import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { inspect } from 'node:util';
import autocannon from 'autocannon';
import { createApiKey } from '../src/api/keys.js';
import {
  conditions,
  createBenchDatabase,
  deleteBenchStreams,
  freePort,
  numberFlag,
  percentile,
  round,
  startWorker,
  stopWorker,
  waitForPartitionOwners,
  type BenchDatabase,
} from './support.js';

/**
 * `npm run bench -- api [--json] [--members N] [--rate R] [--edit-rate R] [--seconds S]
 *   [--partitions P] [--connections C] [--pacing staggered|bursts]`
 *
 * The HTTP API of one service process (its shard worker included), driven by autocannon at a fixed
 * rate:
 * 1. setup: `--members` members, each with one pot (POST /members, then POST /members/:id/pots?wait=true);
 * 2. commands: deposits through POST /commands/cash.deposit?wait=true at `--rate` per second for
 *    `--seconds`, each to the next pot and with its own Idempotency-Key: the latency runs to the
 *    committed outcome;
 * 3. account edits: PATCH /members/:id with a new address at `--edit-rate` per second for `--seconds`.
 * Then the deposits in the journal are counted against the 2xx answers: nothing may be lost, and a
 * mismatch makes the exit status 1 (a lost deposit is a bug, not a timing).
 *
 * Pacing. autocannon's `overallRate` gives each connection rate / connections requests per second,
 * sent one after another from a one-second tick that every connection shares: each second then
 * begins with `--connections` requests at once, and the latencies measure that burst more than the
 * rate (`--pacing bursts` shows it). So by default (`--pacing staggered`) each connection is an
 * autocannon instance of its own, started 1 / connections of a second after the previous one: the
 * same rate, spread over the second. Each instance sends exactly rate × seconds / connections
 * requests and waits for their answers. The percentiles are taken over every answer's latency as
 * autocannon measures it (request written to response read), across the instances; autocannon's own
 * histogram is per instance, and its correction for coordinated omission is wrong at any rate
 * (autocannon 9 takes the expected interval as ceil(1 / rate) = 1 ms). The achieved rate counts the
 * answers that came within the `--seconds` window: below the offered rate, the service fell behind.
 */
export async function api(options: Map<string, string>): Promise<Record<string, unknown>> {
  const members = Math.max(1, numberFlag(options, 'members', 1000));
  const commandsPace = pace(options, 'rate');
  const editsPace = pace(options, 'edit-rate');
  const partitions = numberFlag(options, 'partitions', 64);
  const db = await createBenchDatabase('api');
  const prefix = `bench${randomBytes(3).toString('hex')}`;
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let worker: ChildProcess | undefined;
  try {
    const machine = await conditions(db.owner);
    const setting = {
      partitions,
      workers: 1,
      members,
      seconds: commandsPace.seconds,
      connections: commandsPace.connections,
      pacing: commandsPace.pacing,
      apiWaitTimeoutMs: API_WAIT_TIMEOUT_MS,
    };
    log(`conditions: ${JSON.stringify({ ...machine, ...setting, commandsOfferedRate: commandsPace.rate, editsOfferedRate: editsPace.rate })}`);
    worker = await startWorker(serviceEnv(db, prefix, partitions, port), { readyUrl: `${base}/health/ready` });
    await waitForPartitionOwners(db.owner, partitions);
    const client: ApiClient = { base, key: (await createApiKey(db.owner, { role: 'service', label: 'bench api' })).key };

    const setupStarted = performance.now();
    await createMembers(client, members);
    const setupSeconds = (performance.now() - setupStarted) / 1000;
    log(`setup: ${members} members with one pot each in ${round(setupSeconds)} s`);

    const commands = await drive(client, deposits(members), commandsPace);
    log(describe('commands (POST /commands/cash.deposit?wait=true)', commandsPace, commands, TARGETS.commandsP99Ms));
    const journal = await checkJournal(client, db, commands);
    log(journal.line);

    const edits = await drive(client, addressEdits(members), editsPace);
    log(describe('account edits (PATCH /members/:memberId)', editsPace, edits, TARGETS.editsP99Ms));

    return {
      bench: 'api',
      ...machine,
      ...setting,
      setupSeconds: round(setupSeconds),
      ...figures('commands', commandsPace, commands, TARGETS.commandsP99Ms),
      depositsAnswered2xx: journal.answered2xx,
      depositsCommitted: journal.committed,
      depositsMatch: journal.committed === journal.answered2xx,
      ...figures('edits', editsPace, edits, TARGETS.editsP99Ms),
    };
  } finally {
    if (worker !== undefined) await stopWorker(worker);
    await deleteBenchStreams(prefix);
    await db.drop();
  }
}

/** The targets, printed beside the figures: a benchmark never fails on a timing. */
const TARGETS = { commandsP99Ms: 100, editsP99Ms: 50 } as const;
/** How long `?wait=true` waits for an outcome before the API answers 202 "pending". */
const API_WAIT_TIMEOUT_MS = 10_000;
/** How long autocannon waits for an answer: well past the API's own wait, so the API answers first. */
const REQUEST_TIMEOUT_SECONDS = 30;
/** Setup requests (a member, then its pot) in flight at once. */
const SETUP_CONCURRENCY_MAX = 16;
/** Re-sent requests (those left unanswered) in flight at once. */
const RESEND_CONCURRENCY_MAX = 8;
/** How long the journal may take to show every deposit answered 2xx (a 202 "pending" commits later). */
const SETTLE_MS_MAX = 30_000;
const SETTLE_POLL_MS = 100;
/** Sampling interval of the bench's own event-loop delay. */
const LOOP_DELAY_RESOLUTION_MS = 5;
/** Failed answers kept, as examples, for the report. */
const FAILURE_SAMPLES_MAX = 3;

interface ApiClient {
  readonly base: string;
  /** A service key: `Authorization: Bearer <key>`. */
  readonly key: string;
}

type Pacing = 'staggered' | 'bursts';

interface Pace {
  /** Requests offered per second. */
  readonly rate: number;
  readonly seconds: number;
  readonly connections: number;
  readonly pacing: Pacing;
}

function pace(options: Map<string, string>, rateFlag: string): Pace {
  const rate = numberFlag(options, rateFlag, 200);
  const seconds = numberFlag(options, 'seconds', 20);
  const pacing = options.get('pacing') ?? 'staggered';
  if (!Number.isInteger(rate) || rate < 1 || !Number.isInteger(seconds) || seconds < 1) throw new Error(`--${rateFlag} and --seconds must be whole numbers from 1`);
  if (pacing !== 'staggered' && pacing !== 'bursts') throw new Error('--pacing must be staggered or bursts');
  return { rate, seconds, connections: Math.max(1, Math.min(numberFlag(options, 'connections', 50), rate)), pacing };
}

/** One service process with its worker; the rate limiter set out of the way, logs at warn. */
function serviceEnv(db: BenchDatabase, prefix: string, partitions: number, port: number): Record<string, string> {
  return {
    DATABASE_URL: db.ownerUrl,
    NATS_PREFIX: prefix,
    PARTITION_COUNT: String(partitions),
    WORKER_ENABLED: 'true',
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: String(port),
    API_RATE_LIMIT_MAX: '10000000',
    API_WAIT_TIMEOUT_MS: String(API_WAIT_TIMEOUT_MS),
    LOG_LEVEL: 'warn',
  };
}

const memberId = (index: number): string => `M${index}`;
const potId = (index: number): string => `P${index}`;

/** Members and their pots through the API, a few at a time; any unexpected answer stops the bench. */
async function createMembers(client: ApiClient, members: number): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < members) {
      const index = next;
      next += 1;
      const member = { memberId: memberId(index), name: `Member ${index}`, email: `member${index}@bench.example`, address: `${index} High Street, York`, riskProfile: 'balanced' };
      await expectStatus(client, { method: 'POST', path: '/members', body: JSON.stringify(member), idempotencyKey: `member-${index}` }, 201);
      const pot = { potId: potId(index) };
      await expectStatus(client, { method: 'POST', path: `/members/${memberId(index)}/pots?wait=true`, body: JSON.stringify(pot), idempotencyKey: `pot-${index}` }, 200);
    }
  };
  await Promise.all(Array.from({ length: Math.min(SETUP_CONCURRENCY_MAX, members) }, lane));
}

/** One request as the bench plans it: enough to send it again, identically. */
interface Planned {
  readonly method: 'POST' | 'PATCH';
  readonly path: string;
  readonly body: string;
  readonly idempotencyKey?: string;
}

/** The n-th request of a phase. */
type Workload = (sequence: number) => Planned;

/** Deposits of 1.00 GBP, each to the next pot, each with its own Idempotency-Key. */
function deposits(members: number): Workload {
  return (sequence) => {
    const index = sequence % members;
    const body = { memberId: memberId(index), potId: potId(index), payload: { amount: '1.00', currency: 'GBP' } };
    return { method: 'POST', path: '/commands/cash.deposit?wait=true', body: JSON.stringify(body), idempotencyKey: `deposit-${sequence}` };
  };
}

/** A new address for the next member, each time a different one. */
function addressEdits(members: number): Workload {
  return (sequence) => ({ method: 'PATCH', path: `/members/${memberId(sequence % members)}`, body: JSON.stringify({ address: `${sequence} Station Road, Leeds` }) });
}

function headers(client: ApiClient, planned: Planned): Record<string, string> {
  return {
    'content-type': 'application/json',
    authorization: `Bearer ${client.key}`,
    ...(planned.idempotencyKey === undefined ? {} : { 'idempotency-key': planned.idempotencyKey }),
  };
}

async function send(client: ApiClient, planned: Planned): Promise<{ status: number; text: string }> {
  const response = await fetch(`${client.base}${planned.path}`, { method: planned.method, headers: headers(client, planned), body: planned.body });
  return { status: response.status, text: await response.text() };
}

async function expectStatus(client: ApiClient, planned: Planned, expected: number): Promise<void> {
  const { status, text } = await send(client, planned);
  if (status !== expected) throw new Error(`${planned.method} ${planned.path} answered ${status}, not ${expected}: ${text.slice(0, 500)}`);
}

interface Phase {
  /** Requests autocannon wrote. */
  readonly sent: number;
  readonly answers: number;
  /** Answers within the `--seconds` window, per second. */
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly answered2xx: number;
  /** 202: accepted, no outcome within the API's wait. */
  readonly pending: number;
  readonly non2xx: number;
  readonly statusCodes: Readonly<Record<string, number>>;
  /** Connection errors, timeouts included. */
  readonly errors: number;
  readonly timeouts: number;
  /** Requests written and never answered (a timeout, a connection lost). */
  readonly unanswered: readonly Planned[];
  readonly failureSamples: readonly string[];
  /** How late this process's event loop ran (99th percentile): when high, the bench itself added latency. */
  readonly benchLoopDelayP99Ms: number;
  /** The machine's load average (1 min) as the phase ends: other work there lengthens every latency. */
  readonly loadAverage1m: number;
}

/** One autocannon instance: its connections, its share of the rate, and when it starts in the second. */
interface Lane {
  readonly connections: number;
  readonly rate: number;
  readonly offsetMs: number;
}

function lanes(pace: Pace): Lane[] {
  if (pace.pacing === 'bursts') return [{ connections: pace.connections, rate: pace.rate, offsetMs: 0 }];
  return Array.from({ length: pace.connections }, (_, index) => ({
    connections: 1,
    rate: Math.floor(pace.rate / pace.connections) + (index < pace.rate % pace.connections ? 1 : 0),
    offsetMs: (index * 1000) / pace.connections,
  }));
}

/** Runs one phase: its lanes at once, each from its offset, and gathers every answer. */
async function drive(client: ApiClient, workload: Workload, pace: Pace): Promise<Phase> {
  const answers = createTally(client, workload);
  const loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
  loopDelay.enable();
  const results = await Promise.all(
    lanes(pace).map(async (lane) => {
      await new Promise((resolve) => setTimeout(resolve, lane.offsetMs));
      return runLane(client.base, lane, pace.seconds, answers);
    }),
  );
  loopDelay.disable();
  const latencies = [...answers.latencies].sort((a, b) => a - b);
  const statusCodes = Object.fromEntries(answers.statusCodes);
  const answered2xx = [...answers.statusCodes].reduce((sum, [status, count]) => (status >= 200 && status <= 299 ? sum + count : sum), 0);
  return {
    sent: answers.sent(),
    answers: latencies.length,
    perSecond: answers.inWindow() / pace.seconds,
    p50Ms: round(percentile(latencies, 0.5)),
    p90Ms: round(percentile(latencies, 0.9)),
    p99Ms: round(percentile(latencies, 0.99)),
    maxMs: round(latencies.at(-1) ?? Number.NaN),
    answered2xx,
    pending: answers.statusCodes.get(202) ?? 0,
    non2xx: latencies.length - answered2xx,
    statusCodes,
    errors: results.reduce((sum, result) => sum + result.errors, 0),
    timeouts: results.reduce((sum, result) => sum + result.timeouts, 0),
    unanswered: [...answers.inFlight],
    failureSamples: answers.failureSamples,
    // The histogram holds whole intervals between samples: the delay is what exceeds the resolution.
    benchLoopDelayP99Ms: round(Math.max(0, loopDelay.percentile(99) / 1e6 - LOOP_DELAY_RESOLUTION_MS)),
    loadAverage1m: round(loadavg()[0] ?? 0, 2),
  };
}

/** One autocannon instance sending exactly rate × seconds requests; its answers go to the tally. */
async function runLane(url: string, lane: Lane, seconds: number, tally: Tally): Promise<autocannon.Result> {
  const windowEnd = performance.now() + seconds * 1000;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      { url, connections: lane.connections, overallRate: lane.rate, amount: lane.rate * seconds, timeout: REQUEST_TIMEOUT_SECONDS, requests: [tally.request] },
      (error: unknown, result) => (error === null || error === undefined ? resolve(result) : reject(error instanceof Error ? error : new Error(inspect(error)))),
    );
    instance.on('response', (_client, statusCode, _bytes, responseTimeMs) => tally.answered(statusCode, responseTimeMs, performance.now() <= windowEnd));
  });
}

/** What autocannon keeps per connection: the request in flight on it (one at a time, no pipelining). */
interface ConnectionContext {
  planned?: Planned;
}

type Tally = ReturnType<typeof createTally>;

/**
 * The requests of a phase and their answers, across its lanes. Every request is built by
 * `setupRequest` just before autocannon writes it, and remembered until its answer comes, so those
 * left unanswered can be named afterwards.
 */
function createTally(client: ApiClient, workload: Workload) {
  let sequence = 0;
  let inWindow = 0;
  const inFlight = new Set<Planned>();
  const latencies: number[] = [];
  const statusCodes = new Map<number, number>();
  const failureSamples: string[] = [];
  const request: autocannon.Request = {
    setupRequest: (template, context) => {
      const planned = workload(sequence);
      sequence += 1;
      inFlight.add(planned);
      (context as ConnectionContext).planned = planned;
      return { ...template, method: planned.method, path: planned.path, headers: headers(client, planned), body: planned.body };
    },
    onResponse: (status, body, context) => {
      const planned = (context as ConnectionContext).planned;
      if (planned !== undefined) inFlight.delete(planned);
      if ((status < 200 || status > 299) && failureSamples.length < FAILURE_SAMPLES_MAX) failureSamples.push(`${status} ${body.slice(0, 300)}`);
    },
  };
  return {
    request,
    inFlight,
    latencies,
    statusCodes,
    failureSamples,
    sent: () => sequence,
    inWindow: () => inWindow,
    answered(status: number, latencyMs: number, withinWindow: boolean): void {
      latencies.push(latencyMs);
      statusCodes.set(status, (statusCodes.get(status) ?? 0) + 1);
      if (withinWindow) inWindow += 1;
    },
  };
}

/**
 * Deposits answered 2xx must all be in the journal, and no other. Any left unanswered (a timeout, a
 * lost connection) are sent again first with the same Idempotency-Key (the API answers a retry with
 * the first outcome, or takes the command now if it never arrived), so each deposit has a known answer.
 */
async function checkJournal(client: ApiClient, db: BenchDatabase, commands: Phase): Promise<{ answered2xx: number; committed: number; line: string }> {
  const resent = await resend(client, commands.unanswered);
  const answered2xx = commands.answered2xx + resent.answered2xx;
  const committed = await depositsCommitted(db, answered2xx);
  const verdict = committed === answered2xx ? 'they match' : 'MISMATCH: deposits lost or committed without a 2xx answer';
  const resentPart =
    commands.unanswered.length === 0
      ? ''
      : ` (${commands.unanswered.length} unanswered, sent again: ${resent.answered2xx} 2xx, statuses ${JSON.stringify(resent.statusCodes)})`;
  if (committed !== answered2xx) process.exitCode = 1;
  return { answered2xx, committed, line: `journal: ${committed} deposits committed, ${answered2xx} answered 2xx${resentPart}: ${verdict}` };
}

async function resend(client: ApiClient, requests: readonly Planned[]): Promise<{ answered2xx: number; statusCodes: Record<string, number> }> {
  const statusCodes: Record<string, number> = {};
  let answered2xx = 0;
  let next = 0;
  const lane = async () => {
    while (next < requests.length) {
      const planned = requests[next];
      next += 1;
      if (planned === undefined) continue;
      const { status } = await send(client, planned);
      statusCodes[status] = (statusCodes[status] ?? 0) + 1;
      if (status >= 200 && status <= 299) answered2xx += 1;
    }
  };
  await Promise.all(Array.from({ length: Math.min(RESEND_CONCURRENCY_MAX, requests.length) }, lane));
  return { answered2xx, statusCodes };
}

/** The deposits in the journal, once they reach `expected` or SETTLE_MS_MAX has passed. */
async function depositsCommitted(db: BenchDatabase, expected: number): Promise<number> {
  const deadline = Date.now() + SETTLE_MS_MAX;
  for (;;) {
    const { rows } = await db.owner.query<{ committed: string }>("SELECT count(*) AS committed FROM movements WHERE process = 'cash.deposit'");
    const committed = Number(rows[0]?.committed ?? 0);
    if (committed >= expected || Date.now() >= deadline) return committed;
    await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS));
  }
}

function describe(label: string, pace: Pace, phase: Phase, targetP99Ms: number): string {
  const codes = phase.non2xx === 0 ? '' : ` ${JSON.stringify(phase.statusCodes)}, e.g. ${JSON.stringify(phase.failureSamples)}`;
  return (
    `${label} at ${pace.rate}/s for ${pace.seconds} s over ${pace.connections} connections (${pace.pacing}): ` +
    `${phase.sent} sent, ${phase.answers} answered, ${round(phase.perSecond)}/s; ` +
    `latency p50 ${phase.p50Ms} ms, p90 ${phase.p90Ms} ms, p99 ${phase.p99Ms} ms (target < ${targetP99Ms} ms), max ${phase.maxMs} ms; ` +
    `${phase.answered2xx} 2xx (${phase.pending} of them 202 pending), ${phase.non2xx} non-2xx${codes}, ` +
    `${phase.errors} errors (${phase.timeouts} timeouts), ${phase.unanswered.length} unanswered; ` +
    `bench event-loop delay p99 ${phase.benchLoopDelayP99Ms} ms, load average ${phase.loadAverage1m}`
  );
}

function figures(name: 'commands' | 'edits', pace: Pace, phase: Phase, targetP99Ms: number): Record<string, number> {
  return {
    [`${name}OfferedRate`]: pace.rate,
    [`${name}Rate`]: round(phase.perSecond),
    [`${name}P50Ms`]: phase.p50Ms,
    [`${name}P90Ms`]: phase.p90Ms,
    [`${name}P99Ms`]: phase.p99Ms,
    [`${name}MaxMs`]: phase.maxMs,
    [`${name}P99TargetMs`]: targetP99Ms,
    [`${name}Sent`]: phase.sent,
    [`${name}2xx`]: phase.answered2xx,
    [`${name}Pending`]: phase.pending,
    [`${name}Non2xx`]: phase.non2xx,
    [`${name}Errors`]: phase.errors,
    [`${name}Timeouts`]: phase.timeouts,
    [`${name}Unanswered`]: phase.unanswered.length,
    [`${name}BenchLoopDelayP99Ms`]: phase.benchLoopDelayP99Ms,
    [`${name}LoadAverage1m`]: phase.loadAverage1m,
  };
}

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}
