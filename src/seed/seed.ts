import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { CliError } from '../cli/errors.js';
import { runCli } from '../cli/run-cli.js';
import { loadConfig, redactUrl } from '../config/config.js';
import { createPool } from '../journal/database.js';
import { ensureServiceRole, migrate } from '../journal/migrate.js';
import { verifyLedger } from '../journal/verify.js';
import { isCalendarDate, PARTITION_COUNT_MAX } from '../ledger/index.js';
import {
  SEED_AS_OF_DEFAULT,
  SEED_BATCH_MEMBERS_DEFAULT,
  SEED_BATCH_MEMBERS_MAX,
  SEED_MEMBERS_MAX,
  SeedRefusedError,
  seedLedger,
  type SeedProgress,
  type SeedReport,
} from './seed-ledger.js';

/**
 * `npm run seed -- --members N [--partitions P] [--seed S] [--as-of D] [--statement FILE]
 * [--bank-statement FILE] [--batch B] [--verify]`: seeds an empty ledger straight into Postgres (see
 * seed-ledger.ts) with DATABASE_URL as the schema owner, writes the matching custodian (and bank)
 * statements as JSON, and prints a summary. Exits 0 when seeded, 1 when the database was refused (it
 * holds movements already) or `--verify` failed, 2 on a usage or configuration error.
 */
const USAGE =
  'usage: npm run seed -- --members N [--partitions P] [--seed S] [--as-of YYYY-MM-DD] [--statement FILE] [--bank-statement FILE] [--batch B] [--verify]';
/** Without a terminal, a progress line at most this often. */
const PROGRESS_LINE_INTERVAL_MS = 10_000;

await runCli(async (args) => {
  const config = loadConfig();
  const flags = readFlags(args, config.PARTITION_COUNT);
  const owner = createPool(config.DATABASE_URL, { max: 2, applicationName: 'potledger-seed' });
  try {
    await migrate(owner);
    await ensureServiceRole(owner, config.DATABASE_SERVICE_ROLE, config.DATABASE_SERVICE_PASSWORD);
    say(`seed: ${flags.members} members over ${flags.partitions} partitions (seed ${flags.seed}, as of ${flags.asOf}) into ${redactUrl(config.DATABASE_URL)}`);
    const progress = process.stderr.isTTY === true ? progressBar(flags.members) : progressLines();
    const report = await seedLedger(owner, {
      members: flags.members,
      partitionCount: flags.partitions,
      seed: flags.seed,
      asOf: flags.asOf,
      batchMembers: flags.batch,
      onProgress: progress.update,
    })
      .catch((error: unknown) => {
        if (error instanceof SeedRefusedError) return error;
        throw error;
      })
      .finally(() => progress.stop());
    if (report instanceof SeedRefusedError) {
      say(report.message);
      return 1;
    }
    if (flags.statement !== undefined) await writeJson(flags.statement, report.statements.custodian);
    if (flags.bankStatement !== undefined) await writeJson(flags.bankStatement, report.statements.bank);
    process.stdout.write(`${summary(report).join('\n')}\n`);
    if (!flags.verify) return 0;
    const verified = await verifyLedger(owner);
    const broken = verified.checks.filter((check) => !check.ok).map((check) => `  FAIL ${check.name}: ${check.breaks} break(s), e.g. ${check.examples[0] ?? ''}`);
    process.stdout.write(`${[`verify ${verified.ok ? 'passed' : 'FAILED'} in ${seconds(verified.durationMs)} s (${verified.checks.length} checks)`, ...broken].join('\n')}\n`);
    return verified.ok ? 0 : 1;
  } finally {
    await owner.end();
  }
});

interface Flags {
  readonly members: number;
  readonly partitions: number;
  readonly seed: number;
  readonly asOf: string;
  readonly batch: number;
  readonly statement: string | undefined;
  readonly bankStatement: string | undefined;
  readonly verify: boolean;
}

function readFlags(args: readonly string[], partitionsDefault: number): Flags {
  const { values } = (() => {
    try {
      return parseArgs({
        args: [...args],
        strict: true,
        options: {
          members: { type: 'string' },
          partitions: { type: 'string' },
          seed: { type: 'string', default: '1' },
          'as-of': { type: 'string', default: SEED_AS_OF_DEFAULT },
          statement: { type: 'string' },
          'bank-statement': { type: 'string' },
          batch: { type: 'string' },
          verify: { type: 'boolean', default: false },
        },
      });
    } catch (error) {
      throw usage(error instanceof Error ? error.message : String(error));
    }
  })();
  if (values.members === undefined) throw usage('--members is required');
  if (!isCalendarDate(values['as-of'])) throw usage(`--as-of takes a date YYYY-MM-DD, not "${values['as-of']}"`);
  return {
    members: wholeNumber('members', values.members, 1, SEED_MEMBERS_MAX),
    partitions: values.partitions === undefined ? partitionsDefault : wholeNumber('partitions', values.partitions, 1, PARTITION_COUNT_MAX),
    seed: wholeNumber('seed', values.seed, 0, 2 ** 32 - 1),
    asOf: values['as-of'],
    batch: values.batch === undefined ? SEED_BATCH_MEMBERS_DEFAULT : wholeNumber('batch', values.batch, 1, SEED_BATCH_MEMBERS_MAX),
    statement: values.statement,
    bankStatement: values['bank-statement'],
    verify: values.verify,
  };
}

function wholeNumber(name: string, text: string, min: number, max: number): number {
  const value = /^[0-9]{1,10}$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= min && value <= max)) throw usage(`--${name} takes a whole number from ${min} to ${max}, not "${text}"`);
  return value;
}

function usage(message: string): CliError {
  return new CliError('CLI_ERR_USAGE', `seed: ${message}\n${USAGE}`);
}

interface ProgressDisplay {
  readonly update: (progress: SeedProgress) => void;
  stop(): void;
}

/** For a person at a terminal: a bar of members loaded, with the rate of rows. */
function progressBar(members: number): ProgressDisplay {
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: 'seed {phase} [{bar}] {percentage}% | {value}/{total} members | {rowsPerSecond} rows/s | ETA {eta_formatted}',
      hideCursor: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = performance.now();
  bar.start(members, 0, { phase: 'load', rowsPerSecond: 0 });
  return {
    update(progress) {
      bar.update(progress.membersDone, { phase: progress.phase, rowsPerSecond: rate(progress.rowsDone, performance.now() - started) });
    },
    stop: () => bar.stop(),
  };
}

/** For a pipe or a log: a line every PROGRESS_LINE_INTERVAL_MS, and one at each phase. */
function progressLines(): ProgressDisplay {
  const started = performance.now();
  let lastLineAt = started;
  let lastPhase = 'load';
  return {
    update(progress) {
      const now = performance.now();
      if (progress.phase === lastPhase && now - lastLineAt < PROGRESS_LINE_INTERVAL_MS) return;
      lastLineAt = now;
      lastPhase = progress.phase;
      const elapsed = seconds(now - started);
      if (progress.phase === 'load') {
        const percent = Math.floor((progress.membersDone * 100) / progress.members);
        const rowsPerSecond = rate(progress.rowsDone, now - started);
        say(`seed load: ${progress.membersDone}/${progress.members} members (${percent} %), ${progress.rowsDone} rows, ${rowsPerSecond} rows/s, ${elapsed} s`);
      } else say(`seed ${progress.phase === 'analyze' ? 'analyze' : 'close of the business day'}: started at ${elapsed} s`);
    },
    stop() {},
  };
}

function summary(report: SeedReport): string[] {
  const tables = Object.entries(report.rows).map(([table, count]) => `${table} ${count}`).join(', ');
  const holdings = report.statements.custodian.holdings.map((h) => `${h.fund} ${h.units}`).join(', ');
  const bank = report.statements.bank.balances.map((b) => `${b.currency} ${b.balance}`).join(', ');
  return [
    `seeded ${report.members} members over ${report.partitionCount} partitions (seed ${report.seed}, as of ${report.asOf})`,
    `  movements ${report.movements}; rows ${report.rowsTotal} (${tables})`,
    `  load ${seconds(report.loadMs)} s (${rate(report.rowsTotal, report.loadMs)} rows/s), analyze ${seconds(report.analyzeMs)} s, ` +
      `close ${seconds(report.closeMs)} s (${report.closedAccounts} accounts)`,
    `  total ${seconds(report.totalMs)} s, ${rate(report.rowsTotal + report.closedAccounts, report.totalMs)} rows/s with the close's snapshots`,
    `  custodian holds ${holdings}; bank holds ${bank}`,
  ];
}

async function writeJson(file: string, document: unknown): Promise<void> {
  await writeFile(file, `${JSON.stringify(document, null, 2)}\n`, 'utf8');
  say(`seed: wrote ${file}`);
}

function rate(rows: number, ms: number): number {
  return ms <= 0 ? 0 : Math.round((rows * 1000) / ms);
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}

function say(message: string): void {
  process.stderr.write(`${message}\n`);
}
