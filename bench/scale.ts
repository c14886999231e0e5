import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pino from 'pino';
import { NatsCustodian } from '../src/custodian/nats.js';
import { CustodianSimulator } from '../src/custodian/simulator.js';
import { BusinessClock, BusinessDays } from '../src/dealing/business-day.js';
import { DealingDesk } from '../src/dealing/desk.js';
import { closingPrice, loadPrices } from '../src/dealing/prices.js';
import { Rebalancer, type RebalanceRun } from '../src/dealing/rebalancer.js';
import { verifyLedger } from '../src/journal/verify.js';
import { addBusinessDays, assetCatalog, DEFAULT_ASSETS, DEFAULT_PROFILES, ledgerProcesses, UK_CALENDAR } from '../src/ledger/index.js';
import { runReconciliation } from '../src/recon/reconcile.js';
import { bankStatementOf, custodianStatementOf, type BankStatement } from '../src/recon/statements.js';
import { LedgerPublisher } from '../src/sdk/publisher.js';
import { names } from '../src/shards/names.js';
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
 * `npm run bench -- scale [--json] [--members N] [--partitions P] [--move PERCENT]` (issue 6): the whole
 * Trust at N members (default 5,000,000), in a database and NATS prefix of its own:
 * 1. **seed** — `src/seed/seed.ts` as its own process: N members with pots invested as their profiles
 *    say, within their bands at 1.00 a unit, and the custodian's and the bank's statements;
 * 2. **the day** — FUND-A's closing price moves by `--move` percent (default +20) on the next business
 *    day D1, the others stay at 1.00; then the re-balancing fan-out at D1's prices (screening every pot,
 *    one `pot.rebalance` per pot out of its band, then its orders), and the business days D2…D5 that
 *    deal those orders (cut-offs, pricing and allocation, settlement T+1…T+3, the closes), through a
 *    shard worker (`src/main.ts`, as in production), the dealing desk and the custodian simulator;
 * 3. **reconciliation** of the close of D5 against the simulator's holdings statement and the bank's;
 * 4. **verify** over the whole ledger.
 * Peak resident memory is sampled from /proc (VmHWM, every second) for the seed and the worker, and
 * read from the kernel for this process (desk, simulator, rebalancer, reconciliation).
 */
export async function scale(options: Map<string, string>): Promise<Record<string, unknown>> {
  const members = numberFlag(options, 'members', 5_000_000);
  const partitions = numberFlag(options, 'partitions', 64);
  const movePercent = numberFlag(options, 'move', 20);
  if (!Number.isInteger(movePercent) || movePercent > 1000) throw new Error('--move must be a whole percentage up to 1000');
  const db = await createBenchDatabase('scale');
  const prefix = `benchscale${db.name.slice(-6)}`;
  const measured: Record<string, unknown> = { bench: 'scale', ...(await conditions(db.owner)), members, partitions, movePercent, workers: 1 };
  log(`conditions: ${JSON.stringify(measured)}`);
  log(`database ${db.name}, NATS prefix ${prefix} (both removed at the end)`);
  const folder = await mkdtemp(join(tmpdir(), 'potledger-scale-'));
  try {
    const seeded = await seed(db, members, partitions, folder);
    Object.assign(measured, { seedSec: round(seeded.seconds, 1), seedPeakRssMiB: seeded.peakRssMiB, databaseMiBAfterSeed: await databaseMiB(db) });
    log(`seed: ${members} members in ${round(seeded.seconds, 1)} s, peak RSS ${seeded.peakRssMiB} MiB`);
    const day = await runDay(db, prefix, members, partitions, movePercent, seeded);
    Object.assign(measured, day.measured);
    const verifyStarted = performance.now();
    const verified = await verifyLedger(db.owner);
    const failed = verified.checks.filter((check) => !check.ok).map((check) => `${check.name}: ${check.examples[0] ?? ''}`);
    const verifySec = round((performance.now() - verifyStarted) / 1000, 1);
    Object.assign(measured, {
      verifySec,
      verifyOk: verified.ok,
      ...(failed.length === 0 ? {} : { verifyFailed: failed }),
      databaseMiB: await databaseMiB(db),
      benchPeakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    });
    log(`verify: ${verified.ok ? 'ok' : `FAILED (${failed.join('; ')})`} in ${verifySec} s`);
    return measured;
  } finally {
    await rm(folder, { recursive: true, force: true });
    await db.drop();
    await deleteBenchStreams(prefix);
  }
}

const SEED_AS_OF = '2026-06-01';
/** Every fund is seeded at 1.00 a unit (SEED_PRICE). */
const SEED_PRICE = '1.000000';

interface Seeded {
  readonly seconds: number;
  readonly peakRssMiB: number;
  readonly custodianFile: string;
  readonly bankFile: string;
}

/** `npm run seed` as its own process (the way an operator runs it), timed, its peak memory sampled. */
async function seed(db: BenchDatabase, members: number, partitions: number, folder: string): Promise<Seeded> {
  const custodianFile = join(folder, 'custodian.json');
  const bankFile = join(folder, 'bank.json');
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/seed/seed.ts',
      '--members',
      String(members),
      '--partitions',
      String(partitions),
      '--as-of',
      SEED_AS_OF,
      '--statement',
      custodianFile,
      '--bank-statement',
      bankFile,
    ],
    { env: { ...process.env, DATABASE_URL: db.ownerUrl, PARTITION_COUNT: String(partitions) }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const peak = samplePeakRss(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
  child.stderr?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`the seed exited with ${code}: ${output}`);
  return { seconds: (performance.now() - started) / 1000, peakRssMiB: peak.stop(), custodianFile, bankFile };
}

interface Day {
  readonly measured: Record<string, unknown>;
}

/** The price move, the re-balance, the business days that deal it, and the reconciliation. */
async function runDay(db: BenchDatabase, prefix: string, members: number, partitions: number, movePercent: number, seeded: Seeded): Promise<Day> {
  const assets = assetCatalog(DEFAULT_ASSETS);
  const logger = pino({ level: 'warn' }, pino.destination(2));
  const clock = new BusinessClock(new Date(`${SEED_AS_OF}T18:00:00.000Z`));
  const nc = await connect({ servers: requireEnv('NATS_URL'), name: 'potledger-bench-scale' });
  const port = await freePort();
  const streamMaxBytes = streamBytesFor(members);
  const worker = await startWorker(
    { DATABASE_URL: db.ownerUrl, NATS_PREFIX: prefix, PARTITION_COUNT: String(partitions), HTTP_PORT: String(port), LOG_LEVEL: 'warn', STREAM_MAX_BYTES: String(streamMaxBytes) },
    { readyUrl: `http://127.0.0.1:${port}/health/ready` },
  );
  const workerPeak = samplePeakRss(worker);
  try {
    await waitForPartitionOwners(db.owner, partitions);
    const publisher = await LedgerPublisher.connect({
      nc,
      prefix,
      registry: ledgerProcesses,
      partitionCount: partitions,
      now: () => clock.now(),
      streamLimits: { maxBytes: streamMaxBytes },
    });
    const simulator = await CustodianSimulator.start({ nc, prefix, assets, closingPrice: (fund, date) => closingPrice(db.service, fund, date) });
    const desk = new DealingDesk({
      pool: db.service,
      publisher,
      custodian: await NatsCustodian.connect(nc, prefix, (_m, problem) => logger.error({ problem }, 'a malformed custodian report')),
      assets,
      log: logger,
    });
    await desk.start();
    const days = new BusinessDays({
      pool: db.service,
      jsm: await jetstreamManager(nc),
      names: names(prefix),
      partitionCount: partitions,
      assets,
      desk,
      simulator,
      clock,
      timeoutMs: 60 * 60 * 1000,
    });
    try {
      const d1 = addBusinessDays(UK_CALENDAR, SEED_AS_OF, 1);
      const dealing = [2, 3, 4, 5].map((n) => addBusinessDays(UK_CALENDAR, SEED_AS_OF, n));
      const moved = movedPrice(movePercent);
      for (const [date, a] of [[d1, moved], ...dealing.map((date) => [date, moved])] as const) {
        const loaded = await loadPrices(
          db.service,
          [{ fund: 'FUND-A', date, price: a }, { fund: 'FUND-B', date, price: SEED_PRICE }, { fund: 'FUND-C', date, price: SEED_PRICE }],
          'bench-scale',
          assets,
        );
        if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
      }
      log(`prices: FUND-A ${SEED_PRICE} → ${moved} on ${d1}, FUND-B and FUND-C ${SEED_PRICE}; the re-balance at ${d1}'s close deals on ${dealing[0]}`);
      const d1Started = performance.now();
      await days.run(d1);
      const d1Sec = (performance.now() - d1Started) / 1000;

      const cycleStarted = performance.now();
      clock.set(`${dealing[0]}T08:00:00.000Z`);
      let lastProgress = 0;
      const rebalancer = new Rebalancer({
        pool: db.service, publisher, profiles: DEFAULT_PROFILES, assets, log: logger,
        onProgress: (done, total) => {
          if (performance.now() - lastProgress < 10_000 && done < total) return;
          lastProgress = performance.now();
          log(`rebalance: ${done} of ${total} pots, +${round((performance.now() - cycleStarted) / 1000, 1)} s`);
        },
      });
      const rebalanced: RebalanceRun = await rebalancer.run(d1);
      const rebalanceSec = (performance.now() - cycleStarted) / 1000;
      log(`rebalance: ${JSON.stringify(rebalanced)} in ${round(rebalanceSec, 1)} s`);
      const daySecs: Record<string, number> = {};
      let commands = 0;
      for (const date of dealing) {
        const started = performance.now();
        const report = await days.run(date);
        daySecs[date] = round((performance.now() - started) / 1000, 1);
        const fanned = [...report.priced, ...report.settled];
        commands += fanned.reduce((sum, f) => sum + f.commands, 0);
        const rejected = fanned.reduce((sum, f) => sum + f.rejected.length, 0);
        const fannedCommands = fanned.reduce((sum, f) => sum + f.commands, 0);
        log(`${date}: ${report.trades.length} trades, ${fannedCommands} fan-out commands (${rejected} rejected), ${report.snapshotAccounts} accounts closed, ${daySecs[date]} s`);
      }
      const cycleSec = (performance.now() - cycleStarted) / 1000;
      const asOf = dealing[dealing.length - 1] ?? d1;

      const reconStarted = performance.now();
      const opening = custodianStatementOf(JSON.parse(await readFile(seeded.custodianFile, 'utf8')), assets);
      const bankOpening = bankStatementOf(JSON.parse(await readFile(seeded.bankFile, 'utf8')), assets);
      const recon = await runReconciliation(db.service, {
        custodian: simulator.statement(asOf, opening.holdings),
        bank: bankAt(simulator, bankOpening, asOf),
        inputs: { source: 'bench scale', asOf },
      }, assets);
      const reconSec = (performance.now() - reconStarted) / 1000;
      log(`recon: ${recon.breaks.length} breaks at the close of ${asOf} in ${round(reconSec, 1)} s`);

      const orders = await db.service.query<{ side: string; status: string; funding: string; n: bigint }>(
        'SELECT side, status, funding, count(*) AS n FROM orders GROUP BY 1, 2, 3 ORDER BY 1, 2, 3',
      );
      return {
        measured: {
          d1Sec: round(d1Sec, 1),
          rebalanceSec: round(rebalanceSec, 1),
          rebalancePots: rebalanced.pots,
          rebalanceScreened: rebalanced.screened,
          rebalanced: rebalanced.rebalanced,
          outOfBandShare: round(rebalanced.pots === 0 ? 0 : rebalanced.rebalanced / rebalanced.pots, 3),
          rebalanceDeferred: rebalanced.deferred,
          sells: rebalanced.sells,
          buys: rebalanced.buys,
          legsRefused: rebalanced.legsRefused,
          switches: rebalanced.switches,
          orders: Object.fromEntries(orders.rows.map((row) => [`${row.side}:${row.funding}:${row.status}`, Number(row.n)])),
          dealingDaySec: daySecs,
          fanOutCommands: commands,
          cycleSec: round(cycleSec, 1),
          reconSec: round(reconSec, 2),
          reconBreaks: recon.breaks.length,
          peakWorkerRssMiB: workerPeak.stop(),
        },
      };
    } finally {
      await desk.stop();
      await simulator.stop();
      await publisher.close();
    }
  } finally {
    workerPeak.stop();
    await stopWorker(worker);
    await nc.close();
  }
}

/**
 * The command and event streams keep every message for their age limit (7 days), so the day's
 * millions of commands need room: about 3 KiB per member, from the default 1 GiB up to 16 GiB.
 */
function streamBytesFor(members: number): number {
  return Math.min(16 * 1024 ** 3, Math.max(1024 ** 3, members * 3 * 1024));
}

/** FUND-A's price after a move of `percent` from 1.00, exact (a whole percentage of 1.000000). */
function movedPrice(percent: number): string {
  const millionths = 1_000_000n + BigInt(percent) * 10_000n;
  if (millionths <= 0n) throw new Error('--move must leave a positive price');
  return `${millionths / 1_000_000n}.${String(millionths % 1_000_000n).padStart(6, '0')}`;
}

/** The bank at the close of `asOf`: the seeded cash, less what settled trades paid the custodian net. */
function bankAt(simulator: CustodianSimulator, opening: BankStatement, asOf: string): BankStatement {
  let cash = opening.balances.get('GBP') ?? 0n;
  for (const trade of simulator.trades().values()) {
    if (trade.status === 'settled' && trade.settlementDate <= asOf) cash -= trade.netCashMinor ?? 0n;
  }
  return { asOf, balances: new Map([...opening.balances, ['GBP', cash]]) };
}

/**
 * A process's peak resident set (VmHWM from /proc), read every second while it runs; `stop` reads it
 * once more and returns the largest seen, in MiB. The kernel keeps the peak, so a sample misses nothing
 * but the last second before the process exits.
 */
function samplePeakRss(child: ChildProcess): { stop(): number } {
  let peakKiB = 0;
  const read = async () => {
    if (child.pid === undefined || child.exitCode !== null) return;
    const status = await readFile(`/proc/${child.pid}/status`, 'utf8').catch(() => '');
    const kib = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
    if (kib > peakKiB) peakKiB = kib;
  };
  const timer = setInterval(() => void read(), 1000);
  void read();
  return {
    stop() {
      clearInterval(timer);
      void read();
      return Math.round(peakKiB / 1024);
    },
  };
}

async function databaseMiB(db: BenchDatabase): Promise<number> {
  const { rows } = await db.owner.query<{ bytes: bigint }>('SELECT pg_database_size(current_database()) AS bytes');
  return Math.round(Number(rows[0]?.bytes ?? 0n) / 1024 / 1024);
}

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}
