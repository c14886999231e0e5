import type pg from 'pg';
import { chain } from '../journal/chain.js';
import { closeBusinessDayOffline } from '../journal/end-of-day.js';
import { inTransaction, prepared, type Queryable } from '../journal/database.js';
import type { MemberFields } from '../journal/members.js';
import {
  assert,
  assetCatalog,
  canonicalJson,
  commandFingerprint,
  DEFAULT_ASSETS,
  DEFAULT_PROFILES,
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
  type Movement,
  type Posting,
  type ProcessRegistry,
  type RiskProfile,
} from '../ledger/index.js';

/**
 * Seeding at scale: N members, each with one pot that follows a risk profile and holds cash and units of
 * the profile's funds close to its targets (see `profiledHoldings`), written
 * straight into Postgres as the journal would have written them, with the custodian's and the bank's
 * statements that match. Every pot's holdings come from registered processes (`pot.open`, then
 * `pot.import`) run through the pure core, so the seeded journal explains itself and `verify` passes.
 *
 * The rows are exactly those `commitItems` writes for these commands (movements, entry sides with
 * balance-after and account version, balance snapshots, pots, outcomes with their fingerprints, the
 * partition totals), bulk-loaded in one transaction with one multi-table `INSERT … unnest` per batch.
 * Members are generated in order and each partition's system accounts are carried in memory, so
 * their versions chain 1, 2, 3 … in that order. Memory stays constant at any N.
 */

/** Most members one seed creates (8-digit ids). */
export const SEED_MEMBERS_MAX = 10_000_000;
/** Members per insert statement: about 11,500 entry sides and 29,000 rows in all. */
export const SEED_BATCH_MEMBERS_DEFAULT = 2_000;
export const SEED_BATCH_MEMBERS_MAX = 5_000;
export const SEED_AS_OF_DEFAULT = '2026-06-01';
export const SEED_CURRENCY = 'GBP';
export const SEED_FUNDS = ['FUND-A', 'FUND-B', 'FUND-C'] as const;
export const SEED_RISK_PROFILES = ['cautious', 'balanced', 'adventurous'] as const;

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
// Draws: deterministic integers, no Math.random and no floating point in any amount.

function mix32(value: number): number {
  let x = value >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

const TWO_TO_32 = 2 ** 32;
const TWO_TO_53 = 2 ** 53;

/**
 * A SplitMix32-style generator (a Weyl sequence through murmur3's finaliser): one independent stream
 * per (seed, member), so a member's data depends on nothing else and any member can be re-derived.
 * Bounded draws reject the biased tail, so they are exactly uniform; every intermediate value is an
 * integer below 2^53, held exactly.
 */
export class SeedDraws {
  #state: number;

  constructor(seed: number, stream: number) {
    this.#state = mix32(seed ^ mix32(stream + 0x6a09e667));
  }

  next(): number {
    this.#state = (this.#state + 0x9e3779b9) >>> 0;
    return mix32(this.#state);
  }

  /** Uniform in [0, bound), bound from 1 to 2^32. */
  below(bound: number): number {
    assert(Number.isInteger(bound) && bound >= 1 && bound <= TWO_TO_32, `below: bound ${bound} out of range`);
    const limit = TWO_TO_32 - (TWO_TO_32 % bound);
    let drawn = this.next();
    while (drawn >= limit) drawn = this.next();
    return drawn % bound;
  }

  /** Uniform in [low, high) minor units, the span at most 2^53. */
  between(low: bigint, high: bigint): bigint {
    const span = Number(high - low);
    assert(Number.isSafeInteger(span) && span >= 1, `between: span ${high - low} out of range`);
    const limit = TWO_TO_53 - (TWO_TO_53 % span);
    let drawn = (this.next() >>> 11) * TWO_TO_32 + this.next();
    while (drawn >= limit) drawn = (this.next() >>> 11) * TWO_TO_32 + this.next();
    return low + BigInt(drawn % span);
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.below(items.length)];
    assert(item !== undefined, 'pick: empty list');
    return item;
  }
}

/** A band of amounts [lowMinor, highMinor) drawn with `percent` probability. */
interface Band {
  readonly percent: number;
  readonly lowMinor: bigint;
  readonly highMinor: bigint;
}

/** What a pot is worth in all, in pence: from £10.00 to £250,000.00, most a few thousand. */
const VALUE_BANDS: readonly Band[] = [
  { percent: 15, lowMinor: 1_000n, highMinor: 100_000n },
  { percent: 45, lowMinor: 100_000n, highMinor: 2_000_000n },
  { percent: 30, lowMinor: 2_000_000n, highMinor: 10_000_000n },
  { percent: 10, lowMinor: 10_000_000n, highMinor: 25_000_001n },
];

/**
 * Each fund's weight strays from its target by up to this many hundredths of a percentage point
 * either way (the last fund takes up the others' strays), inside every default profile's band.
 */
const WEIGHT_STRAY_MAX = 150;
/** On top of its profile's cash buffer, a pot holds up to this share of its value in cash, in hundredths of a percent. */
const SPARE_CASH_MAX = 50;
/**
 * The price every fund is seeded at (1.000000 GBP a unit), so that a pot's units are its value: a
 * penny buys 10,000 millionths of a unit. The seeded pots lie within their profile's band at it.
 */
export const SEED_PRICE = '1.000000';
const UNITS_PER_PENNY = 10_000n;

function drawFromBands(draws: SeedDraws, bands: readonly Band[]): bigint {
  let roll = draws.below(100);
  for (const band of bands) {
    if (roll < band.percent) return draws.between(band.lowMinor, band.highMinor);
    roll -= band.percent;
  }
  throw new RangeError('drawFromBands: the bands do not add up to 100 %');
}

/**
 * A pot invested as its profile says, as a managed pension is: a value drawn from the bands, its cash
 * buffer and a little spare cash, the rest split over the profile's funds at their targets, each
 * weight strayed a little, all at `SEED_PRICE`. Amounts are rounded down to the penny.
 */
function profiledHoldings(draws: SeedDraws, profile: RiskProfile): Pick<SeededMember, 'cashMinor' | 'units'> {
  const valueMinor = drawFromBands(draws, VALUE_BANDS);
  const hundredths = (percent: string) => BigInt(percent.replace('.', ''));
  const bufferShare = hundredths(profile.cashBuffer) + BigInt(draws.below(SPARE_CASH_MAX + 1));
  const cashMinor = (valueMinor * bufferShare) / 10_000n;
  const investedMinor = valueMinor - cashMinor;
  let strayed = 0n;
  const units = profile.targets.map(({ fund, weight }, index) => {
    const last = index === profile.targets.length - 1;
    const stray = last ? -strayed : BigInt(draws.below(2 * WEIGHT_STRAY_MAX + 1) - WEIGHT_STRAY_MAX);
    strayed += stray;
    const fundMinor = (investedMinor * (hundredths(weight) + stray)) / 10_000n;
    return { fund, unitsMinor: fundMinor * UNITS_PER_PENNY };
  });
  return { cashMinor, units: units.filter((u) => u.unitsMinor > 0n).sort((a, b) => a.fund.localeCompare(b.fund)) };
}

// ---------------------------------------------------------------------------------------------------
// The population: pure, from (seed, member index).

const FIRST_NAMES = [
  'Olivia', 'Amelia', 'Isla', 'Ava', 'Mia', 'Ivy', 'Lily', 'Isabella', 'Rosie', 'Sophia', 'Grace', 'Freya', 'Evie', 'Poppy', 'Ella', 'Ruby',
  'Noah', 'Oliver', 'George', 'Arthur', 'Muhammad', 'Leo', 'Harry', 'Oscar', 'Archie', 'Henry', 'Theodore', 'Jack', 'Charlie', 'Thomas', 'Jacob', 'Alfie',
] as const;
const SURNAMES = [
  'Smith', 'Jones', 'Williams', 'Taylor', 'Brown', 'Davies', 'Evans', 'Wilson', 'Thomas', 'Johnson', 'Roberts', 'Robinson', 'Thompson', 'Wright',
  'Walker', 'White', 'Edwards', 'Hughes', 'Green', 'Hall', 'Lewis', 'Harris', 'Clarke', 'Patel', 'Jackson', 'Wood', 'Turner', 'Martin', 'Cooper', 'Hill',
] as const;
const STREETS = ['High Street', 'Station Road', 'Main Street', 'Park Road', 'Church Road', 'Church Street', 'London Road', 'Victoria Road', 'Green Lane', 'Manor Road', 'Mill Lane', 'Queens Road'] as const;
const TOWNS = [
  ['Leeds', 'LS'], ['Bristol', 'BS'], ['Norwich', 'NR'], ['York', 'YO'], ['Exeter', 'EX'], ['Cardiff', 'CF'], ['Glasgow', 'G'], ['Belfast', 'BT'],
  ['Manchester', 'M'], ['Leicester', 'LE'], ['Brighton', 'BN'], ['Derby', 'DE'],
] as const;
const POSTCODE_LETTERS = [...'ABDEFGHJLNPQRSTUWXYZ'];

export interface SeededMember {
  readonly index: number;
  readonly memberId: string;
  readonly potId: string;
  readonly fields: MemberFields;
  /** Pence of GBP to import; 0 for none. */
  readonly cashMinor: bigint;
  /** Settled units to import, in fund order, each > 0. */
  readonly units: readonly { readonly fund: string; readonly unitsMinor: bigint }[];
}

/** Ids sort in creation order (8 digits), so the journal's indexes grow at their right edge. */
function ordinal(index: number): string {
  return String(index + 1).padStart(8, '0');
}

export function seedMember(seed: number, index: number): SeededMember {
  const draws = new SeedDraws(seed, index);
  const first = draws.pick(FIRST_NAMES);
  const last = draws.pick(SURNAMES);
  const [town, area] = draws.pick(TOWNS);
  const postcode = `${area}${1 + draws.below(20)} ${draws.below(10)}${draws.pick(POSTCODE_LETTERS)}${draws.pick(POSTCODE_LETTERS)}`;
  const riskProfile = draws.pick(SEED_RISK_PROFILES);
  const profile = DEFAULT_PROFILES.find((p) => p.id === riskProfile);
  assert(profile !== undefined, `seed: no default profile ${riskProfile}`);
  const { cashMinor, units } = profiledHoldings(draws, profile);
  return {
    index,
    memberId: `SM-${ordinal(index)}`,
    potId: `SP-${ordinal(index)}`,
    fields: {
      name: `${first} ${last}`,
      email: `${first}.${last}.${index + 1}@example.org`.toLowerCase(),
      address: `${1 + draws.below(240)} ${draws.pick(STREETS)}, ${town} ${postcode}`,
      riskProfile,
    },
    cashMinor,
    units,
  };
}

/** The two commands that give the member's pot its holdings; each command's movement takes its commandId as id. */
export function seedCommands(member: SeededMember, asOf: string, assets: AssetCatalog): readonly [Command, Command] {
  const envelope = { memberId: member.memberId, potId: member.potId, effectiveDate: asOf, producedAt: `${asOf}T00:00:00.000Z` };
  const scale = (code: string) => assets.find(code)?.scale ?? 0;
  const cash = member.cashMinor === 0n ? [] : [{ amount: formatAmount(member.cashMinor, scale(SEED_CURRENCY)), currency: SEED_CURRENCY }];
  const units = member.units.map(({ fund, unitsMinor }) => ({ units: formatAmount(unitsMinor, scale(fund)), fund }));
  return [
    { ...envelope, commandId: `seed-${ordinal(member.index)}-open`, process: 'pot.open', payload: { profile: member.fields.riskProfile } },
    { ...envelope, commandId: `seed-${ordinal(member.index)}-import`, process: 'pot.import', payload: { cash, units } },
  ];
}

// ---------------------------------------------------------------------------------------------------
// Planning through the core, and what it adds to the books.

/** A partition's system accounts as the seed has written them so far. */
interface PartitionBooks {
  readonly balances: Map<AccountId, bigint>;
  readonly versions: Map<AccountId, bigint>;
  readonly lastMovementIds: Map<AccountId, string>;
}

export interface PlannedCommand {
  readonly command: Command;
  readonly fingerprint: string;
  readonly movement: Movement;
  readonly postings: readonly Posting[];
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
  if (outcome.kind !== 'applied') throw new Error(`seed: ${command.commandId} was not applied: ${JSON.stringify(outcome, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`);
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
// Rows, column by column, as `commitItems` would write them.

export type SeedTable = 'members' | 'pots' | 'movements' | 'entries' | 'balances' | 'command_outcomes' | 'partition_totals';

class SeedBatch {
  readonly members = { memberId: [] as string[], name: [] as string[], email: [] as string[], address: [] as string[], riskProfile: [] as string[] };
  readonly pots = { potId: [] as string[], memberId: [] as string[], partition: [] as number[], movementId: [] as string[] };
  readonly movements = {
    movementId: [] as string[], commandId: [] as string[], process: [] as string[], processVersion: [] as number[],
    memberId: [] as string[], potId: [] as string[], partition: [] as number[], potChange: [] as (string | null)[],
    prevHash: [] as string[], hash: [] as string[],
  };
  /** Each seeded pot's latest movement hash: its chain starts in this batch with its pot.open. */
  readonly #latestHashes = new Map<string, string>();
  readonly entries = {
    movementId: [] as string[], entryIndex: [] as number[], side: [] as string[], accountId: [] as string[], asset: [] as string[],
    amountMinor: [] as string[], balanceAfterMinor: [] as string[], accountVersion: [] as string[],
  };
  /** Pot accounts only: each is written once, by its pot's import. System accounts are written at the end. */
  readonly balances = {
    accountId: [] as string[], potId: [] as string[], kind: [] as string[], asset: [] as string[],
    balanceMinor: [] as string[], version: [] as string[], lastMovementId: [] as string[],
  };
  readonly outcomes = {
    commandId: [] as string[], fingerprint: [] as string[], process: [] as string[], memberId: [] as string[], potId: [] as string[],
    partition: [] as number[], movementId: [] as string[],
  };

  rows(): Record<Exclude<SeedTable, 'partition_totals'>, number> {
    return {
      members: this.members.memberId.length,
      pots: this.pots.potId.length,
      movements: this.movements.movementId.length,
      entries: this.entries.movementId.length,
      balances: this.balances.accountId.length,
      command_outcomes: this.outcomes.commandId.length,
    };
  }

  addMember(member: SeededMember, partition: number): void {
    this.members.memberId.push(member.memberId);
    this.members.name.push(member.fields.name);
    this.members.email.push(member.fields.email);
    this.members.address.push(member.fields.address);
    this.members.riskProfile.push(member.fields.riskProfile);
    this.pots.potId.push(member.potId);
    this.pots.memberId.push(member.memberId);
    this.pots.partition.push(partition);
  }

  addPlanned({ command, fingerprint, movement, postings }: PlannedCommand): void {
    const m = this.movements;
    m.movementId.push(movement.movementId);
    m.commandId.push(movement.commandId);
    m.process.push(movement.process);
    m.processVersion.push(movement.processVersion);
    m.memberId.push(movement.memberId);
    m.potId.push(movement.potId);
    m.partition.push(movement.partition);
    m.potChange.push(movement.potChange === undefined ? null : canonicalJson(movement.potChange));
    const [linked] = chain([movement], this.#latestHashes);
    m.prevHash.push(linked?.previous ?? '');
    m.hash.push(linked?.hash ?? '');
    if (movement.potChange?.type === 'open') this.pots.movementId.push(movement.movementId);
    for (const posting of postings) this.#addPosting(movement, posting);
    const o = this.outcomes;
    o.commandId.push(command.commandId);
    o.fingerprint.push(fingerprint);
    o.process.push(command.process);
    o.memberId.push(command.memberId);
    o.potId.push(command.potId);
    o.partition.push(movement.partition);
    o.movementId.push(movement.movementId);
  }

  #addPosting(movement: Movement, posting: Posting): void {
    const e = this.entries;
    e.movementId.push(movement.movementId);
    e.entryIndex.push(posting.entryIndex);
    e.side.push(posting.side);
    e.accountId.push(posting.account);
    e.asset.push(posting.asset);
    e.amountMinor.push(posting.amountMinor.toString());
    e.balanceAfterMinor.push(posting.balanceAfterMinor.toString());
    e.accountVersion.push(posting.accountVersion.toString());
    const ref = parseAccountId(posting.account);
    assert(ref !== undefined, `seed: ${posting.account} is not an account id`);
    if (ref.owner.type !== 'pot') return;
    // A new pot's account is posted once: its snapshot is this posting.
    assert(posting.accountVersion === 1n, `seed: ${posting.account} posted twice in one import`);
    const b = this.balances;
    b.accountId.push(posting.account);
    b.potId.push(ref.owner.potId);
    b.kind.push(ref.kind);
    b.asset.push(ref.asset);
    b.balanceMinor.push(posting.balanceAfterMinor.toString());
    b.version.push(posting.accountVersion.toString());
    b.lastMovementId.push(movement.movementId);
  }
}

/**
 * One statement per batch, so a batch is one round trip and Node plans the next batch while Postgres
 * writes this one. Movements and outcomes keep their order (their identity sequences follow it).
 */
const INSERT_BATCH_SQL = `
WITH new_members AS (
  INSERT INTO members (member_id, name, email, address, risk_profile)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
), new_pots AS (
  INSERT INTO pots (pot_id, member_id, partition, status, opened_movement_id, risk_profile)
  SELECT p.pot_id, p.member_id, p.partition, 'open', p.movement_id, p.risk_profile
    FROM unnest($6::text[], $7::text[], $8::int[], $9::text[], $5::text[]) AS p(pot_id, member_id, partition, movement_id, risk_profile)
), new_movements AS (
  INSERT INTO movements (movement_id, command_id, process, process_version, member_id, pot_id, partition, effective_date, corrected, pot_change, prev_hash, hash)
  SELECT m.movement_id, m.command_id, m.process, m.process_version, m.member_id, m.pot_id, m.partition, $10::date, false, m.pot_change, m.prev_hash, m.hash
    FROM unnest($11::text[], $12::text[], $13::text[], $14::int[], $15::text[], $16::text[], $17::int[], $18::jsonb[], $41::text[], $42::text[])
         WITH ORDINALITY AS m(movement_id, command_id, process, process_version, member_id, pot_id, partition, pot_change, prev_hash, hash, ordinal)
   ORDER BY m.ordinal
), new_entries AS (
  INSERT INTO entries (movement_id, entry_index, side, account_id, asset, amount_minor, balance_after_minor, account_version)
  SELECT * FROM unnest($19::text[], $20::smallint[], $21::text[], $22::text[], $23::text[], $24::bigint[], $25::bigint[], $26::bigint[])
), new_balances AS (
  INSERT INTO balances (account_id, owner_type, pot_id, partition, kind, asset, balance_minor, version, last_movement_id)
  SELECT b.account_id, 'pot', b.pot_id, NULL, b.kind, b.asset, b.balance_minor, b.version, b.last_movement_id
    FROM unnest($27::text[], $28::text[], $29::text[], $30::text[], $31::bigint[], $32::bigint[], $33::text[])
         AS b(account_id, pot_id, kind, asset, balance_minor, version, last_movement_id)
)
INSERT INTO command_outcomes (command_id, fingerprint, process, member_id, pot_id, partition, status, movement_id)
SELECT o.command_id, o.fingerprint, o.process, o.member_id, o.pot_id, o.partition, 'applied', o.movement_id
  FROM unnest($34::text[], $35::text[], $36::text[], $37::text[], $38::text[], $39::int[], $40::text[])
       WITH ORDINALITY AS o(command_id, fingerprint, process, member_id, pot_id, partition, movement_id, ordinal)
 ORDER BY o.ordinal`;

/**
 * A Postgres array literal of non-null values, built with one join: every element quoted, which is
 * valid as long as none holds a quote or a backslash (one check over all of them; otherwise pg's own
 * element-by-element escaping). pg's escaping took about a tenth of the seed's time in Node.
 */
function arrayLiteral(values: readonly (string | number)[]): string | readonly (string | number)[] {
  if (values.length === 0) return '{}';
  if (/["\\]/.test(values.join(''))) return values;
  return `{"${values.join('","')}"}`;
}

/** pot_change: JSON text (quotes escaped) or NULL. */
function jsonArrayLiteral(values: readonly (string | null)[]): string {
  return `{${values.map((value) => (value === null ? 'NULL' : `"${value.replace(/["\\]/g, '\\$&')}"`)).join(',')}}`;
}

async function insertBatch(db: Queryable, batch: SeedBatch, asOf: string): Promise<void> {
  const { members: s, pots: p, movements: m, entries: e, balances: b, outcomes: o } = batch;
  const columns = [
    s.memberId, s.name, s.email, s.address, s.riskProfile,
    p.potId, p.memberId, p.partition, p.movementId,
    asOf,
    m.movementId, m.commandId, m.process, m.processVersion, m.memberId, m.potId, m.partition, m.potChange,
    e.movementId, e.entryIndex, e.side, e.accountId, e.asset, e.amountMinor, e.balanceAfterMinor, e.accountVersion,
    b.accountId, b.potId, b.kind, b.asset, b.balanceMinor, b.version, b.lastMovementId,
    o.commandId, o.fingerprint, o.process, o.memberId, o.potId, o.partition, o.movementId,
    m.prevHash, m.hash,
  ];
  const parameters = columns.map((column) => (typeof column === 'string' ? column : column === m.potChange ? jsonArrayLiteral(m.potChange) : arrayLiteral(column as (string | number)[])));
  const result = await prepared(db, 'potledger-seed-batch')(INSERT_BATCH_SQL, parameters);
  assert(result.rowCount === o.commandId.length, `seed: ${result.rowCount} outcomes written of ${o.commandId.length}`);
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

/**
 * Refuses a database that holds movements, or whose business days from `asOf` on are closed already.
 * Takes the journal's tables in EXCLUSIVE mode for the rest of the transaction: readers go on, no one
 * else writes while the seed loads.
 */
async function refuseUnlessEmpty(db: Queryable, asOf: string): Promise<void> {
  await db.query('LOCK TABLE movements, entries, balances, pots, command_outcomes, partition_totals, members IN EXCLUSIVE MODE');
  const { rows } = await db.query<{ movements: boolean; closed: string | null }>(
    `SELECT EXISTS (SELECT 1 FROM movements) AS movements,
            (SELECT max(business_date)::text FROM business_days_closed WHERE business_date >= $1::date) AS closed`,
    [asOf],
  );
  if (rows[0]?.movements === true) {
    throw new SeedRefusedError('SEED_ERR_LEDGER_NOT_EMPTY', 'seed: the ledger holds movements already; seeding is for an empty ledger (use a fresh database)');
  }
  if (rows[0]?.closed != null) {
    throw new SeedRefusedError('SEED_ERR_DAY_CLOSED', `seed: business day ${rows[0].closed} is closed already; seed as of a later date (--as-of)`);
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
    writing = insertBatch(client, batch, options.asOf).then(() => {
      for (const [table, count] of Object.entries(batch.rows())) rows[table as SeedTable] += count;
      options.onProgress?.({ phase: 'load', membersDone: end, members: options.members, rowsDone: sumRows(rows) });
    });
  }
  await writing;
  rows.balances += await insertSystemBalances(client, books);
  rows.partition_totals = await insertPartitionTotals(client, totals);
  await checkReadBack(client, totals);
  return { rows, totals };
}

async function insertSystemBalances(db: Queryable, books: readonly PartitionBooks[]): Promise<number> {
  const accounts = books.flatMap((partitionBooks) => [...partitionBooks.balances.keys()].map((account) => ({ account, partitionBooks })));
  if (accounts.length === 0) return 0;
  const refs = accounts.map(({ account }) => parseAccountId(account));
  await db.query(
    `INSERT INTO balances (account_id, owner_type, pot_id, partition, kind, asset, balance_minor, version, last_movement_id)
     SELECT b.account_id, 'system', NULL, b.partition, b.kind, b.asset, b.balance_minor, b.version, b.last_movement_id
       FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::text[])
            AS b(account_id, partition, kind, asset, balance_minor, version, last_movement_id)`,
    [
      accounts.map(({ account }) => account),
      refs.map((ref) => (ref?.owner.type === 'system' ? ref.owner.partition : null)),
      refs.map((ref) => ref?.kind ?? null),
      refs.map((ref) => ref?.asset ?? null),
      accounts.map(({ account, partitionBooks }) => String(partitionBooks.balances.get(account))),
      accounts.map(({ account, partitionBooks }) => String(partitionBooks.versions.get(account))),
      accounts.map(({ account, partitionBooks }) => partitionBooks.lastMovementIds.get(account) ?? null),
    ],
  );
  return accounts.length;
}

async function insertPartitionTotals(db: Queryable, totals: SeedTotals): Promise<number> {
  const rows = [...totals.partitionTotals.values()].sort((a, b) => a.partition - b.partition || a.kind.localeCompare(b.kind) || a.asset.localeCompare(b.asset));
  if (rows.length === 0) return 0;
  await db.query(
    `INSERT INTO partition_totals (partition, kind, asset, balance_minor)
     SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::bigint[])
     ON CONFLICT (partition, kind, asset) DO UPDATE SET balance_minor = partition_totals.balance_minor + EXCLUDED.balance_minor`,
    [rows.map((r) => r.partition), rows.map((r) => r.kind), rows.map((r) => r.asset), rows.map((r) => r.balanceMinor.toString())],
  );
  return rows.length;
}

/** Read back before committing: every asset sums to zero over the partition totals, and the units held are the statement's. */
async function checkReadBack(db: Queryable, totals: SeedTotals): Promise<void> {
  const { rows } = await db.query<{ asset: string; total: bigint; units: bigint }>(
    `SELECT asset, sum(balance_minor)::bigint AS total, coalesce(sum(balance_minor) FILTER (WHERE kind = 'units'), 0)::bigint AS units
       FROM partition_totals GROUP BY asset`,
  );
  for (const row of rows) {
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
 * A bulk load is opening history, not activity: its movements get no ledger events. Each partition's
 * event outbox is marked through its last seeded outcome (a worker's first claim keeps that point), so
 * a worker starting on a seeded ledger does not publish millions of events, and the consumers of events
 * (alerts) see only what happens from then on.
 */
async function markSeedAnnounced(client: Queryable): Promise<void> {
  await client.query(
    `INSERT INTO partition_owners (partition, epoch, worker_id, events_through_seq)
     SELECT partition, 1, 'seed', max(seq) FROM command_outcomes GROUP BY partition
     ON CONFLICT (partition) DO UPDATE SET events_through_seq = greatest(partition_owners.events_through_seq, EXCLUDED.events_through_seq)`,
  );
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
  // The tables just loaded, so that the planner knows their size for the close and for the first queries.
  await ownerPool.query('ANALYZE members, pots, movements, entries, balances, command_outcomes, partition_totals');
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
