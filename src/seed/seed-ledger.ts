/**
 * Seeding at scale: N members, each with one pot that follows a risk profile and holds cash and units of
 * the profile's funds close to its targets (src/seed/seed-population.ts), written straight into
 * Postgres as the journal would have written them, with the custodian's and the bank's statements that
 * match. Every pot's holdings come from registered processes (`pot.open`, then `pot.import`) run through
 * the pure core, so the seeded journal explains itself and `verify` passes. This module plans the
 * members in batches and drives the load; the rows and their SQL are src/journal/seed-rows.ts.
 *
 * The rows are exactly those `commitItems` writes for these commands (movements, entry sides with
 * balance-after and account version, balance snapshots, pots, outcomes with their fingerprints, the
 * partition totals), bulk-loaded in one transaction with one multi-table `INSERT … unnest` per batch.
 * Members are generated in order and each partition's system accounts are carried in memory, so
 * their versions chain 1, 2, 3 … in that order. Memory stays constant at any N.
 */
import type pg from 'pg';
import { closeBusinessDayOffline } from '../journal/end-of-day.js';
import { inTransaction, type Queryable } from '../journal/database.js';
import {
  analyzeSeededTables,
  insertPartitionTotals,
  insertSeedBatch,
  insertSystemBalances,
  lockForSeed,
  markSeedAnnounced,
  SeedBatch,
  totalsByAsset,
  type PlannedCommand,
  type SeedTable,
} from '../journal/seed-rows.js';
import {
  assert,
  assetCatalog,
  commandFingerprint,
  DEFAULT_ASSETS,
  formatAmount,
  isCalendarDate,
  ledgerProcesses,
  parseAccountId,
  partitionOf,
  PARTITION_COUNT_MAX,
  postEntries,
  run,
  type AccountId,
  type AssetCatalog,
  type Command,
  type Posting,
  type ProcessRegistry,
} from '../ledger/index.js';
import { seedCommands, seedMember, TWO_TO_32 } from './seed-population.js';

export { SEED_CURRENCY, SEED_FUNDS, SEED_PRICE, SEED_RISK_PROFILES, SeedDraws, seedCommands, seedMember, type SeededMember } from './seed-population.js';
export type { PlannedCommand, SeedTable } from '../journal/seed-rows.js';


/** Most members one seed creates (8-digit ids). */
export const SEED_MEMBERS_MAX = 10_000_000;
/** Members per insert statement: about 11,500 entry sides and 29,000 rows in all. */
export const SEED_BATCH_MEMBERS_DEFAULT = 2_000;
/** The most members one insert statement may take: about 72,000 rows, each column one array parameter held in memory twice (Node's and Postgres's). */
export const SEED_BATCH_MEMBERS_MAX = 5_000;
export const SEED_AS_OF_DEFAULT = '2026-06-01';

export type SeedErrorCode = 'SEED_ERR_LEDGER_NOT_EMPTY' | 'SEED_ERR_DAY_CLOSED';

/** The database cannot take a seed: it holds movements already, or a business day from the as-of date on is closed. */
export class SeedRefusedError extends Error {
  constructor(
    readonly code: SeedErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'SeedRefusedError';
  }
}

// ---------------------------------------------------------------------------------------------------
// Planning through the core, and what it adds to the books.

/** A partition's system accounts as the seed has written them so far. */
interface PartitionBooks {
  readonly balances: Map<AccountId, bigint>;
  readonly versions: Map<AccountId, bigint>;
  readonly lastMovementIds: Map<AccountId, string>;
}

const NO_MOVEMENTS = new Map();
const NO_BALANCES = new Map<AccountId, bigint>();

interface Planner {
  readonly registry: ProcessRegistry;
  readonly assets: AssetCatalog;
  readonly partitionCount: number;
}

function plan(planner: Planner, command: Command, books: PartitionBooks, opened: boolean): PlannedCommand {
  const pot = opened ? { potId: command.potId, memberId: command.memberId, status: 'open' as const } : undefined;
  // The pot is new: its accounts hold nothing, so the partition's system balances are all it has.
  const outcome = run(planner.registry, command, { pot, balances: opened ? books.balances : NO_BALANCES, movements: NO_MOVEMENTS }, {
    assets: planner.assets,
    partitionCount: planner.partitionCount,
    movementId: command.commandId,
  });
  if (outcome.kind !== 'applied') {
    throw new Error(`seed: ${command.commandId} was not applied: ${JSON.stringify(outcome, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`);
  }
  const posted = postEntries(outcome.movement.entries, books.balances, books.versions);
  for (const posting of posted.postings) {
    if (!posting.account.startsWith('system:')) continue;
    books.balances.set(posting.account, posting.balanceAfterMinor);
    books.versions.set(posting.account, posting.accountVersion);
    books.lastMovementIds.set(posting.account, outcome.movement.movementId);
  }
  return { command, fingerprint: commandFingerprint(command), movement: outcome.movement, postings: posted.postings };
}

// ---------------------------------------------------------------------------------------------------
// The seed.

export interface SeedProgress {
  readonly phase: 'load' | 'analyze' | 'close';
  readonly membersDone: number;
  readonly members: number;
  readonly rowsDone: number;
}

export interface SeedOptions {
  readonly members: number;
  readonly partitionCount: number;
  /** The PRNG seed, 0 to 2^32 − 1: the same seed gives the same ledger. */
  readonly seed: number;
  /** The business date of every movement, closed once loaded. */
  readonly asOf: string;
  readonly batchMembers?: number;
  readonly registry?: ProcessRegistry;
  readonly assets?: AssetCatalog;
  readonly onProgress?: (progress: SeedProgress) => void;
}

/** The statements that match the seeded ledger, in the JSON forms `custodianStatementOf` and `bankStatementOf` read. */
export interface SeedStatements {
  readonly custodian: { readonly asOf: string; readonly holdings: readonly { fund: string; units: string }[]; readonly openTrades: readonly [] };
  readonly bank: { readonly asOf: string; readonly balances: readonly { currency: string; balance: string }[] };
}

export interface SeedReport {
  readonly members: number;
  readonly partitionCount: number;
  readonly seed: number;
  readonly asOf: string;
  readonly movements: number;
  readonly rows: Readonly<Record<SeedTable, number>>;
  readonly rowsTotal: number;
  readonly statements: SeedStatements;
  /** Accounts the close of `asOf` snapshotted. */
  readonly closedAccounts: number;
  readonly loadMs: number;
  readonly analyzeMs: number;
  readonly closeMs: number;
  readonly totalMs: number;
}

/** Sums over the whole seed: partition totals (as `addToPartitionTotals` keeps them) and the statements' sides. */
class SeedTotals {
  readonly partitionTotals = new Map<string, { partition: number; kind: string; asset: string; balanceMinor: bigint }>();
  readonly settledUnits = new Map<string, bigint>();
  readonly bank = new Map<string, bigint>();

  add(partition: number, postings: readonly Posting[]): void {
    for (const posting of postings) {
      const ref = parseAccountId(posting.account);
      assert(ref !== undefined, `seed: ${posting.account} is not an account id`);
      const signed = posting.side === 'debit' ? posting.amountMinor : -posting.amountMinor;
      const key = `${partition}|${ref.kind}|${ref.asset}`;
      const total = this.partitionTotals.get(key);
      if (total === undefined) this.partitionTotals.set(key, { partition, kind: ref.kind, asset: ref.asset, balanceMinor: signed });
      else total.balanceMinor += signed;
      if (ref.kind === 'units') this.settledUnits.set(ref.asset, (this.settledUnits.get(ref.asset) ?? 0n) + signed);
      if (ref.kind === 'external.bank') this.bank.set(ref.asset, (this.bank.get(ref.asset) ?? 0n) - signed);
    }
  }
}

function checkOptions(options: SeedOptions): void {
  const { members, partitionCount, seed, asOf } = options;
  const batchMembers = options.batchMembers ?? SEED_BATCH_MEMBERS_DEFAULT;
  if (!Number.isInteger(members) || members < 1 || members > SEED_MEMBERS_MAX) throw new RangeError(`members must be a whole number from 1 to ${SEED_MEMBERS_MAX}`);
  if (!Number.isInteger(partitionCount) || partitionCount < 1 || partitionCount > PARTITION_COUNT_MAX) {
    throw new RangeError(`partitionCount must be a whole number from 1 to ${PARTITION_COUNT_MAX}`);
  }
  if (!Number.isInteger(seed) || seed < 0 || seed >= TWO_TO_32) throw new RangeError('seed must be a whole number from 0 to 4294967295');
  if (!isCalendarDate(asOf)) throw new RangeError(`asOf ${asOf} is not a date (YYYY-MM-DD)`);
  if (!Number.isInteger(batchMembers) || batchMembers < 1 || batchMembers > SEED_BATCH_MEMBERS_MAX) {
    throw new RangeError(`batchMembers must be a whole number from 1 to ${SEED_BATCH_MEMBERS_MAX}`);
  }
}


/** Refuses a database that holds movements, or whose business days from `asOf` on are closed already (and locks it for the load). */
async function refuseUnlessEmpty(db: Queryable, asOf: string): Promise<void> {
  const obstacles = await lockForSeed(db, asOf);
  if (obstacles.movements) {
    throw new SeedRefusedError('SEED_ERR_LEDGER_NOT_EMPTY', 'seed: the ledger holds movements already; seeding is for an empty ledger (use a fresh database)');
  }
  if (obstacles.closed !== null) {
    throw new SeedRefusedError('SEED_ERR_DAY_CLOSED', `seed: business day ${obstacles.closed} is closed already; seed as of a later date (--as-of)`);
  }
}

interface LoadResult {
  readonly rows: Record<SeedTable, number>;
  readonly totals: SeedTotals;
}

/** Plans the members of [start, end) through the core, in order, and returns their rows. */
function planBatch(planner: Planner, books: readonly PartitionBooks[], totals: SeedTotals, options: SeedOptions, start: number, end: number): SeedBatch {
  const batch = new SeedBatch();
  for (let index = start; index < end; index += 1) {
    const member = seedMember(options.seed, index);
    const partition = partitionOf(member.memberId, options.partitionCount);
    const partitionBooks = books[partition];
    assert(partitionBooks !== undefined, `seed: no books for partition ${partition}`);
    batch.addMember(member, partition);
    const [open, holdings] = seedCommands(member, options.asOf, planner.assets);
    for (const [command, opened] of [[open, false], [holdings, true]] as const) {
      const planned = plan(planner, command, partitionBooks, opened);
      assert(planned.movement.partition === partition, `seed: ${command.commandId} planned in partition ${planned.movement.partition}, not ${partition}`);
      totals.add(partition, planned.postings);
      batch.addPlanned(planned);
    }
  }
  return batch;
}

async function loadMembers(client: pg.PoolClient, planner: Planner, options: SeedOptions): Promise<LoadResult> {
  const books: PartitionBooks[] = Array.from({ length: options.partitionCount }, () => ({ balances: new Map(), versions: new Map(), lastMovementIds: new Map() }));
  const totals = new SeedTotals();
  const rows: Record<SeedTable, number> = { members: 0, pots: 0, movements: 0, entries: 0, balances: 0, command_outcomes: 0, partition_totals: 0 };
  const batchMembers = options.batchMembers ?? SEED_BATCH_MEMBERS_DEFAULT;
  let writing: Promise<void> | undefined;
  for (let start = 0; start < options.members; start += batchMembers) {
    const end = Math.min(options.members, start + batchMembers);
    const batch = planBatch(planner, books, totals, options, start, end);
    await writing;
    writing = insertSeedBatch(client, batch, options.asOf).then(() => {
      for (const [table, count] of Object.entries(batch.rows())) rows[table as SeedTable] += count;
      options.onProgress?.({ phase: 'load', membersDone: end, members: options.members, rowsDone: sumRows(rows) });
    });
  }
  await writing;
  rows.balances += await insertSystemBalances(client, systemBalances(books));
  rows.partition_totals = await insertPartitionTotals(client, [...totals.partitionTotals.values()]);
  await checkReadBack(client, totals);
  return { rows, totals };
}

/** Every partition's system accounts, as the books carried them through the load. */
function systemBalances(books: readonly PartitionBooks[]) {
  return books.flatMap((partitionBooks) =>
    [...partitionBooks.balances].map(([account, balanceMinor]) => ({
      account,
      balanceMinor,
      version: partitionBooks.versions.get(account) ?? 0n,
      lastMovementId: partitionBooks.lastMovementIds.get(account) ?? null,
    })),
  );
}

/** Read back before committing: every asset sums to zero over the partition totals, and the units held are the statement's. */
async function checkReadBack(db: Queryable, totals: SeedTotals): Promise<void> {
  for (const row of await totalsByAsset(db)) {
    assert(row.total === 0n, `seed: ${row.asset} sums to ${row.total} over the partition totals`);
    assert(row.units === (totals.settledUnits.get(row.asset) ?? 0n), `seed: ${row.asset} units ${row.units} read back, ${totals.settledUnits.get(row.asset) ?? 0n} written`);
  }
}

function sumRows(rows: Readonly<Record<SeedTable, number>>): number {
  return Object.values(rows).reduce((sum, count) => sum + count, 0);
}

function statementsOf(totals: SeedTotals, asOf: string, assets: AssetCatalog): SeedStatements {
  const scale = (code: string) => assets.find(code)?.scale ?? 0;
  const sorted = <T>(map: ReadonlyMap<string, T>) => [...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    custodian: { asOf, holdings: sorted(totals.settledUnits).map(([fund, units]) => ({ fund, units: formatAmount(units, scale(fund)) })), openTrades: [] },
    bank: { asOf, balances: sorted(totals.bank).map(([currency, balance]) => ({ currency, balance: formatAmount(balance, scale(currency)) })) },
  };
}

/**
 * Seeds an empty ledger with `options.members` members, each with one pot, in one transaction (all or
 * nothing), then analyzes the database and closes the business day `asOf`, so reconciliation compares
 * that close with the statements returned. Runs with the schema owner's pool (migrations applied).
 */
export async function seedLedger(ownerPool: pg.Pool, options: SeedOptions): Promise<SeedReport> {
  checkOptions(options);
  const planner: Planner = { registry: options.registry ?? ledgerProcesses, assets: options.assets ?? assetCatalog(DEFAULT_ASSETS), partitionCount: options.partitionCount };
  const started = performance.now();
  const loaded = await inTransaction(ownerPool, async (client) => {
    await refuseUnlessEmpty(client, options.asOf);
    const members = await loadMembers(client, planner, options);
    await markSeedAnnounced(client);
    return members;
  });
  const loadMs = performance.now() - started;
  const rowsTotal = sumRows(loaded.rows);
  options.onProgress?.({ phase: 'analyze', membersDone: options.members, members: options.members, rowsDone: rowsTotal });
  await analyzeSeededTables(ownerPool);
  const analyzeMs = performance.now() - started - loadMs;
  options.onProgress?.({ phase: 'close', membersDone: options.members, members: options.members, rowsDone: rowsTotal });
  // The seed is for a fresh ledger, before any worker runs on it: the close is taken straight in
  // Postgres, which is a cut only while nothing else commits (no close markers, no stream). Each
  // partition still records its cut, so `verify` checks the seeded close like any other.
  const closed = await closeBusinessDayOffline(ownerPool, options.asOf, options.partitionCount);
  const totalMs = performance.now() - started;
  return {
    members: options.members,
    partitionCount: options.partitionCount,
    seed: options.seed,
    asOf: options.asOf,
    movements: loaded.rows.movements,
    rows: loaded.rows,
    rowsTotal,
    statements: statementsOf(loaded.totals, options.asOf, planner.assets),
    closedAccounts: closed.accounts,
    loadMs: Math.round(loadMs),
    analyzeMs: Math.round(analyzeMs),
    closeMs: Math.round(totalMs - loadMs - analyzeMs),
    totalMs: Math.round(totalMs),
  };
}
