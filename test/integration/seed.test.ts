import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { urlWithDatabase } from '../../src/journal/database.js';
import { readMovements } from '../../src/journal/store.js';
import { verifyLedger } from '../../src/journal/verify.js';
import {
  assetCatalog,
  commandFingerprint,
  DEFAULT_ASSETS,
  DEFAULT_PROFILES,
  formatAmount,
  ledgerProcesses,
  partitionOf,
  potAccount,
  rebalanceDecision,
  ReferenceLedger,
  type AccountId,
} from '../../src/ledger/index.js';
import { ledgerPositions, reconcile } from '../../src/recon/reconcile.js';
import { bankStatementOf, custodianStatementOf } from '../../src/recon/statements.js';
import {
  SEED_FUNDS,
  SeedRefusedError,
  seedCommands,
  seedLedger,
  seedMember,
  type SeedOptions,
  type SeedReport,
} from '../../src/seed/seed-ledger.js';
import { createTestDatabase, ownerUrl, type TestDatabase } from '../support/database.js';

/**
 * `npm run seed`: a seeded ledger is exactly what the pure core's ReferenceLedger gives for the same
 * commands (every balance, version and entry side), verifies, reconciles with the statements it
 * wrote without a break, and a second seed is refused.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const assets = assetCatalog(DEFAULT_ASSETS);
const OPTIONS: SeedOptions = { members: 2_000, partitionCount: 8, seed: 20_260_601, asOf: '2026-06-01', batchMembers: 300 };
/** The CLI never takes this long on a few hundred members; past it the test fails instead of hanging. */
const CLI_TIMEOUT_MS = 90_000;

let db: TestDatabase;
let report: SeedReport;
/** The same commands, in the same order, through the reference ledger. */
let reference: ReferenceLedger;

beforeAll(async () => {
  db = await createTestDatabase('seed');
  report = await seedLedger(db.owner, OPTIONS);
  reference = new ReferenceLedger(ledgerProcesses, assets, OPTIONS.partitionCount);
  for (let index = 0; index < OPTIONS.members; index += 1) {
    for (const command of seedCommands(seedMember(OPTIONS.seed, index), OPTIONS.asOf, assets)) {
      expect(reference.execute(command, command.commandId)).toMatchObject({ kind: 'answered', outcome: { kind: 'applied' } });
    }
  }
});
afterAll(async () => {
  await db?.drop();
});

describe('the seeded population', () => {
  it('is a pure function of the seed and the member, each pot invested as its profile says and within its band', () => {
    expect(seedMember(7, 123)).toEqual(seedMember(7, 123));
    expect(seedMember(7, 123)).not.toEqual(seedMember(8, 123));
    const seedPrices = new Map(SEED_FUNDS.map((fund) => [fund, { mantissa: 1n, scale: 0 }]));
    const shapes = new Set<string>();
    for (let index = 0; index < 5_000; index += 1) {
      const member = seedMember(7, index);
      const profile = DEFAULT_PROFILES.find((p) => p.id === member.fields.riskProfile);
      if (profile === undefined) throw new Error(`no profile ${member.fields.riskProfile}`);
      shapes.add(`${member.cashMinor === 0n ? 'no cash' : 'cash'}, ${profile.id}`);
      // £10.00 to £250,000.00 in all, at 1.00 a unit (10,000 millionths of a unit a penny).
      const valueMinor = member.cashMinor + member.units.reduce((sum, u) => sum + u.unitsMinor / 10_000n, 0n);
      expect(valueMinor >= 990n && valueMinor <= 25_000_000n).toBe(true);
      expect(member.units.map((u) => u.fund)).toEqual(profile.targets.map((t) => t.fund).sort());
      for (const { unitsMinor } of member.units) expect(unitsMinor > 0n && unitsMinor % 10_000n === 0n).toBe(true);
      const balances = new Map<AccountId, bigint>([
        [potAccount(member.potId, 'cash', 'GBP'), member.cashMinor],
        ...member.units.map((u) => [potAccount(member.potId, 'units', u.fund), u.unitsMinor] as [AccountId, bigint]),
      ]);
      expect(rebalanceDecision(profile, member.potId, balances, seedPrices, assets)).toMatchObject({ kind: 'within-band' });
    }
    // Every profile, with and without cash (a profile without a buffer and a small pot holds none).
    expect(shapes.size).toBe(5);
  });
});

describe('seedLedger', () => {
  it('writes a ledger that verify proves sound', async () => {
    expect(report.members).toBe(OPTIONS.members);
    expect(report.movements).toBe(2 * OPTIONS.members);
    expect(report.rows.command_outcomes).toBe(2 * OPTIONS.members);
    const verified = await verifyLedger(db.owner);
    expect(verified.checks.filter((check) => !check.ok)).toEqual([]);
    expect(verified.counts).toMatchObject({ movements: 2 * OPTIONS.members, outcomes: 2 * OPTIONS.members, entries: report.rows.entries });
    const { rows } = await db.owner.query<{ pots: bigint; members: bigint; owners: bigint }>(
      'SELECT (SELECT count(*) FROM pots) AS pots, (SELECT count(*) FROM members) AS members, (SELECT count(*) FROM partition_owners) AS owners',
    );
    expect(rows[0]).toEqual({ pots: 2000n, members: 2000n, owners: 8n });
    // The seeded movements are history, not activity: every partition's event outbox is marked past them.
    const outbox = await db.owner.query<{ unannounced: bigint }>(
      `SELECT count(*) AS unannounced FROM command_outcomes o JOIN partition_owners p ON p.partition = o.partition WHERE o.seq > p.events_through_seq`,
    );
    expect(outbox.rows[0]?.unannounced).toBe(0n);
  });

  it('holds exactly the balances, versions and entry sides the reference ledger gives for the same commands', async () => {
    const balances = await db.owner.query<{ account_id: AccountId; balance_minor: bigint; version: bigint }>('SELECT account_id, balance_minor, version FROM balances');
    expect(new Map(balances.rows.map((row) => [row.account_id, row.balance_minor]))).toEqual(reference.balances());
    expect(new Map(balances.rows.map((row) => [row.account_id, row.version]))).toEqual(reference.versions());

    const entries = await db.owner.query<{ key: string }>(
      `SELECT concat_ws('|', movement_id, entry_index, side, account_id, asset, amount_minor, balance_after_minor, account_version) AS key FROM entries`,
    );
    const expected = referenceEntryKeys(reference);
    expect(entries.rows.length).toBe(expected.length);
    expect(new Set(entries.rows.map((row) => row.key))).toEqual(new Set(expected));
  });

  it('reads back, for a few pots, the movements, outcomes and pot rows the core planned', async () => {
    for (const index of [0, 1, 999, OPTIONS.members - 1]) {
      const member = seedMember(OPTIONS.seed, index);
      const commands = seedCommands(member, OPTIONS.asOf, assets);
      const read = await readMovements(db.owner, commands.map((command) => command.commandId));
      for (const command of commands) {
        const outcome = reference.outcome(command.commandId);
        expect(outcome?.kind).toBe('applied');
        if (outcome?.kind === 'applied') expect(read.get(command.commandId)).toEqual(outcome.movement);
      }
      const outcomes = await db.owner.query<{ command_id: string; fingerprint: string; status: string; partition: number }>(
        'SELECT command_id, fingerprint, status, partition FROM command_outcomes WHERE pot_id = $1 ORDER BY seq',
        [member.potId],
      );
      const partition = partitionOf(member.memberId, OPTIONS.partitionCount);
      expect(outcomes.rows).toEqual(commands.map((command) => ({ command_id: command.commandId, fingerprint: commandFingerprint(command), status: 'applied', partition })));
      const pot = await db.owner.query('SELECT member_id, partition, status, opened_movement_id, risk_profile FROM pots WHERE pot_id = $1', [member.potId]);
      expect(pot.rows).toEqual([{ member_id: member.memberId, partition, status: 'open', opened_movement_id: commands[0].commandId, risk_profile: member.fields.riskProfile }]);
      const person = await db.owner.query('SELECT name, email, address, risk_profile FROM members WHERE member_id = $1', [member.memberId]);
      expect(person.rows).toEqual([{ name: member.fields.name, email: member.fields.email, address: member.fields.address, risk_profile: member.fields.riskProfile }]);
    }
  });

  it('returns statements that reconcile with the close without a break', async () => {
    const custodian = custodianStatementOf(report.statements.custodian, assets);
    const units = await db.owner.query<{ asset: string; total: bigint }>("SELECT asset, sum(balance_minor)::bigint AS total FROM balances WHERE kind = 'units' GROUP BY asset");
    expect(custodian.holdings).toEqual(new Map(units.rows.map((row) => [row.asset, row.total])));
    expect(custodian.openTrades).toEqual([]);

    const bankSide = await db.owner.query<{ asset: string; total: bigint }>(
      "SELECT asset, sum(balance_minor)::bigint AS total FROM balances WHERE kind = 'external.bank' GROUP BY asset",
    );
    const bank = bankStatementOf({ asOf: OPTIONS.asOf, balances: bankSide.rows.map((row) => ({ currency: row.asset, balance: formatAmount(-row.total, 2) })) }, assets);
    expect(bankStatementOf(report.statements.bank, assets)).toEqual(bank);

    expect(report.closedAccounts).toBe(report.rows.balances);
    const positions = await ledgerPositions(db.owner, OPTIONS.asOf);
    expect(reconcile(positions, custodian, bank, assets)).toEqual([]);
  });

  it('refuses a second seed, and leaves the ledger as it was', async () => {
    const refused = seedLedger(db.owner, { ...OPTIONS, members: 10 });
    await expect(refused).rejects.toBeInstanceOf(SeedRefusedError);
    await expect(refused).rejects.toMatchObject({ code: 'SEED_ERR_LEDGER_NOT_EMPTY' });
    const { rows } = await db.owner.query<{ movements: bigint }>('SELECT count(*) AS movements FROM movements');
    expect(rows[0]?.movements).toBe(BigInt(2 * OPTIONS.members));
  });

  it('refuses options out of bounds', async () => {
    await expect(seedLedger(db.owner, { ...OPTIONS, members: 0 })).rejects.toThrow(RangeError);
    await expect(seedLedger(db.owner, { ...OPTIONS, partitionCount: 0 })).rejects.toThrow(RangeError);
    await expect(seedLedger(db.owner, { ...OPTIONS, seed: -1 })).rejects.toThrow(RangeError);
    await expect(seedLedger(db.owner, { ...OPTIONS, asOf: '2026-02-30' })).rejects.toThrow(RangeError);
  });
});

describe('npm run seed', () => {
  let cliDb: TestDatabase;
  let directory: string;
  beforeAll(async () => {
    cliDb = await createTestDatabase('seed_cli');
    directory = await mkdtemp(join(tmpdir(), 'potledger-seed-'));
  });
  afterAll(async () => {
    await cliDb?.drop();
    if (directory !== undefined) await rm(directory, { recursive: true, force: true });
  });

  const runSeed = (...args: string[]) => runCli(['src/seed/seed.ts', ...args], urlWithDatabase(ownerUrl(), cliDb.name));

  it('seeds, writes the statements, verifies, and prints a summary; a second run is refused', async () => {
    const statement = join(directory, 'custodian.json');
    const bankStatement = join(directory, 'bank.json');
    const seeded = await runSeed('--members', '300', '--partitions', '4', '--seed', '9', '--statement', statement, '--bank-statement', bankStatement, '--verify');
    expect(seeded.stderr).not.toMatch(/error/i);
    expect(seeded.status).toBe(0);
    expect(seeded.stdout).toMatch(/^seeded 300 members over 4 partitions \(seed 9, as of 2026-06-01\)$/m);
    expect(seeded.stdout).toMatch(/movements 600; rows \d+ /);
    expect(seeded.stdout).toMatch(/^verify passed in [0-9.]+ s/m);

    const custodian = custodianStatementOf(JSON.parse(await readFile(statement, 'utf8')), assets);
    const units = await cliDb.owner.query<{ asset: string; total: bigint }>("SELECT asset, sum(balance_minor)::bigint AS total FROM balances WHERE kind = 'units' GROUP BY asset");
    expect(custodian.holdings).toEqual(new Map(units.rows.map((row) => [row.asset, row.total])));
    const bank = bankStatementOf(JSON.parse(await readFile(bankStatement, 'utf8')), assets);
    expect(reconcile(await ledgerPositions(cliDb.owner, '2026-06-01'), custodian, bank, assets)).toEqual([]);

    const again = await runSeed('--members', '10', '--partitions', '4');
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/the ledger holds movements already/);
    const { rows } = await cliDb.owner.query<{ movements: bigint }>('SELECT count(*) AS movements FROM movements');
    expect(rows[0]?.movements).toBe(600n);
  });

  it('exits 2 naming the flag when the command line is wrong', async () => {
    const missing = await runSeed('--partitions', '4');
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/--members is required/);
    expect(missing.stderr).toMatch(/usage: npm run seed -- --members N/);
    const zero = await runSeed('--members', '0');
    expect(zero.status).toBe(2);
    expect(zero.stderr).toMatch(/--members takes a whole number from 1 to 10000000, not "0"/);
    const date = await runSeed('--members', '5', '--as-of', '2026-02-30');
    expect(date.status).toBe(2);
    expect(date.stderr).toMatch(/--as-of takes a date/);
    const unknown = await runSeed('--members', '5', '--pots', '3');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/Unknown option '--pots'/);
  });
});

interface CliRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runCli(args: readonly string[], databaseUrl: string): Promise<CliRun> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: databaseUrl },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: CLI_TIMEOUT_MS,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/**
 * Every entry side the reference posted, keyed as the entries query keys them. The reference keeps its
 * postings in execution order, two per entry of each applied movement, in the order of its outcomes.
 */
function referenceEntryKeys(ledger: ReferenceLedger): string[] {
  const postings = ledger.postings();
  const keys: string[] = [];
  let at = 0;
  for (const outcome of ledger.outcomes().values()) {
    if (outcome.kind === 'rejected') continue;
    const count = 2 * outcome.movement.entries.length;
    for (const p of postings.slice(at, at + count)) {
      keys.push([outcome.movement.movementId, p.entryIndex, p.side, p.account, p.asset, p.amountMinor, p.balanceAfterMinor, p.accountVersion].join('|'));
    }
    at += count;
  }
  expect(at).toBe(postings.length);
  return keys;
}
