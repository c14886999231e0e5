import type { OrderChange } from './orders.js';
import {
  accountIdOf,
  accountKind,
  dependentKinds,
  parseAccountId,
  type AccountId,
  type AccountRef,
  type Invariant,
} from './accounts.js';
import type { AssetCatalog } from './assets.js';
import { AMOUNT_MINOR_MAX, BALANCE_MINOR_MAX, BALANCE_MINOR_MIN } from './decimal.js';
import { assert, LedgerAssertionError } from './errors.js';

/** One debit and one credit of the same amount of one asset between two accounts (Nubank's model). */
export interface Entry {
  readonly debit: AccountId;
  readonly credit: AccountId;
  readonly asset: string;
  /** > 0, in the asset's minor units. */
  readonly amountMinor: bigint;
}

/** One order a re-balance places: sell units of an overweight fund, or buy an underweight one with cash. */
export type RebalanceLeg =
  | { readonly side: 'sell'; readonly fund: string; readonly units: string; readonly value: string }
  /** A buy with `funding: 'proceeds'` is placed once the pot's sales are priced, out of their proceeds (a switch). */
  | { readonly side: 'buy'; readonly fund: string; readonly amount: string; readonly funding?: 'proceeds' };

/** A change of a pot's lifecycle that a movement carries with its entries. */
export type PotChange =
  /** Opened for the member, following `profile` when given. */
  | { readonly type: 'open'; readonly memberId: string; readonly profile?: string }
  | { readonly type: 'close' }
  /** The pot follows another risk profile from now on. */
  | { readonly type: 'profile'; readonly profile: string }
  /** The pot was re-balanced for a business day: the orders it decided to place (placed by their own commands). */
  | { readonly type: 'rebalance'; readonly date: string; readonly legs: readonly RebalanceLeg[] }
  /** A hold placed: cash reserved for a payee until posted, voided or expired. */
  | {
      readonly type: 'hold';
      readonly holdId: string;
      readonly payee: { readonly memberId: string; readonly potId: string };
      readonly currency: string;
      readonly amountMinor: string;
      readonly expiresAt: string;
    }
  /** A hold ended: posted (in full or in part), voided or expired. */
  | { readonly type: 'hold-end'; readonly holdId: string; readonly ending: 'posted' | 'voided' | 'expired' };

/** What a process plans: the entries of one movement, and what else it changes. */
export interface MovementDraft {
  readonly entries: readonly Entry[];
  readonly potChange?: PotChange;
  /** The change to one of the pot's orders (placing, cancelling, allocating, settling it). */
  readonly orderChange?: OrderChange;
  /** The movement this one undoes (`movement.reverse`). */
  readonly reverses?: string;
}

/** A movement as committed: one command, one movement, one database transaction. */
export interface Movement extends MovementDraft {
  readonly movementId: string;
  readonly commandId: string;
  readonly process: string;
  readonly processVersion: number;
  readonly memberId: string;
  readonly potId: string;
  readonly partition: number;
  /** ISO date (YYYY-MM-DD) the movement is effective for. */
  readonly effectiveDate: string;
}

/** Balances by account; an account that is absent holds zero. */
export type BalanceMap = ReadonlyMap<AccountId, bigint>;

export function balanceOf(balances: BalanceMap, account: AccountId): bigint {
  return balances.get(account) ?? 0n;
}

/** Where a movement may write: its pot's accounts and its partition's system accounts. */
export interface MovementScope {
  readonly potId: string;
  readonly partition: number;
  readonly assets: AssetCatalog;
}

/** Why a movement is malformed: a bug in the process that produced it, or a tampered journal row. */
export interface MovementProblem {
  readonly entryIndex: number;
  readonly problem: string;
}

export const ENTRIES_PER_MOVEMENT_MAX = 64;

/** Checks the shape of every entry: known accounts in scope, one asset per entry, a positive amount. */
export function movementProblems(draft: MovementDraft, scope: MovementScope): MovementProblem[] {
  const problems: MovementProblem[] = [];
  if (draft.entries.length > ENTRIES_PER_MOVEMENT_MAX) {
    problems.push({ entryIndex: -1, problem: `more than ${ENTRIES_PER_MOVEMENT_MAX} entries` });
  }
  if (draft.entries.length === 0 && draft.potChange === undefined && draft.orderChange === undefined) {
    problems.push({ entryIndex: -1, problem: 'a movement without entries must change the pot or an order' });
  }
  draft.entries.forEach((entry, entryIndex) => {
    for (const problem of entryProblems(entry, scope)) problems.push({ entryIndex, problem });
  });
  return problems;
}

function entryProblems(entry: Entry, scope: MovementScope): string[] {
  const problems: string[] = [];
  const asset = scope.assets.find(entry.asset);
  if (asset === undefined) problems.push(`unknown asset ${entry.asset}`);
  if (entry.amountMinor <= 0n) problems.push('the amount must be greater than zero');
  if (entry.amountMinor > AMOUNT_MINOR_MAX) problems.push('the amount exceeds the largest amount allowed');
  if (entry.debit === entry.credit) problems.push('debit and credit are the same account');
  for (const [side, id] of [['debit', entry.debit], ['credit', entry.credit]] as const) {
    const ref = parseAccountId(id);
    if (ref === undefined) {
      problems.push(`${side} account "${id}" is not a valid account id`);
      continue;
    }
    if (ref.asset !== entry.asset) {
      problems.push(`${side} account ${id} holds ${ref.asset}, not ${entry.asset}: the entry does not balance`);
    }
    const kind = accountKind(ref.kind);
    if (kind === undefined) problems.push(`${side} account ${id} has an unknown kind`);
    else if (kind.owner !== ref.owner.type) problems.push(`${side} account ${id}: kind ${kind.name} is not a ${ref.owner.type} account`);
    else if (asset !== undefined && kind.assets !== 'any' && kind.assets !== asset.kind) {
      problems.push(`${side} account ${id}: kind ${kind.name} cannot hold ${asset.kind} ${asset.code}`);
    }
    if (!inScope(ref, scope)) problems.push(`${side} account ${id} is outside pot ${scope.potId} and partition ${scope.partition}`);
  }
  return problems;
}

function inScope(ref: AccountRef, scope: MovementScope): boolean {
  return ref.owner.type === 'pot' ? ref.owner.potId === scope.potId : ref.owner.partition === scope.partition;
}

/**
 * The net change per account. Asserts that the changes sum to zero per asset of the accounts: this
 * holds by construction for well-formed entries, and is checked again whenever a movement is read back.
 */
export function netChanges(entries: readonly Entry[]): Map<AccountId, bigint> {
  const changes = new Map<AccountId, bigint>();
  for (const { debit, credit, amountMinor } of entries) {
    changes.set(debit, (changes.get(debit) ?? 0n) + amountMinor);
    changes.set(credit, (changes.get(credit) ?? 0n) - amountMinor);
  }
  for (const [asset, sum] of sumPerAsset(changes)) assert(sum === 0n, `movement does not balance in ${asset}`);
  return changes;
}

/** Sums signed changes (or balances) per asset of the accounts they belong to. */
export function sumPerAsset(amounts: ReadonlyMap<AccountId, bigint>): Map<string, bigint> {
  const sums = new Map<string, bigint>();
  for (const [account, amount] of amounts) {
    const asset = parseAccountId(account)?.asset ?? `?${account}`;
    sums.set(asset, (sums.get(asset) ?? 0n) + amount);
  }
  return sums;
}

/** A balance by account, as invariant checks read it. */
export type BalanceLookup = (account: AccountId) => bigint;

/** The balances after applying `changes` over `balances`, as a lookup (nothing is copied). */
export function balancesAfter(balances: BalanceMap, changes: ReadonlyMap<AccountId, bigint>): BalanceLookup {
  return (account) => balanceOf(balances, account) + (changes.get(account) ?? 0n);
}

/** An invariant that a balance breaks. */
export interface Violation {
  readonly account: AccountId;
  readonly invariant: Invariant | { readonly type: 'range' };
  readonly balanceMinor: bigint;
  /** The sibling the invariant compares against, and its balance. */
  readonly sibling?: AccountId;
  readonly siblingBalanceMinor?: bigint;
}

/**
 * The invariants broken in `balances` by the accounts in `touched`: each touched account's own
 * invariants, and those of its siblings whose invariants name the touched kind.
 */
export function invariantViolations(balances: BalanceLookup, touched: Iterable<AccountId>): Violation[] {
  const toCheck = new Set<AccountId>();
  for (const account of touched) {
    toCheck.add(account);
    const ref = parseAccountId(account);
    if (ref === undefined) continue;
    for (const dependent of dependentKinds(ref.kind)) toCheck.add(accountIdOf({ ...ref, kind: dependent }));
  }
  const violations: Violation[] = [];
  for (const account of [...toCheck].sort()) violations.push(...accountViolations(balances, account));
  return violations;
}

/** The invariants one account breaks in `balances`. */
export function accountViolations(balances: BalanceLookup, account: AccountId): Violation[] {
  const balanceMinor = balances(account);
  const violations: Violation[] = [];
  if (balanceMinor > BALANCE_MINOR_MAX || balanceMinor < BALANCE_MINOR_MIN) {
    violations.push({ account, invariant: { type: 'range' }, balanceMinor });
  }
  const ref = parseAccountId(account);
  const kind = ref === undefined ? undefined : accountKind(ref.kind);
  if (ref === undefined || kind === undefined) return violations;
  for (const invariant of kind.invariants) {
    const violation = checkInvariant(balances, ref, balanceMinor, invariant);
    if (violation !== undefined) violations.push({ account, balanceMinor, ...violation });
  }
  return violations;
}

function checkInvariant(
  balances: BalanceLookup,
  ref: AccountRef,
  balanceMinor: bigint,
  invariant: Invariant,
): Pick<Violation, 'invariant' | 'sibling' | 'siblingBalanceMinor'> | undefined {
  switch (invariant.type) {
    case 'nonNegative':
      return balanceMinor < 0n ? { invariant } : undefined;
    case 'nonPositive':
      return balanceMinor > 0n ? { invariant } : undefined;
    case 'atMost':
    case 'exclusiveWith': {
      const sibling = accountIdOf({ ...ref, kind: invariant.kind });
      const siblingBalanceMinor = balances(sibling);
      const broken =
        invariant.type === 'atMost' ? balanceMinor > siblingBalanceMinor : balanceMinor !== 0n && siblingBalanceMinor !== 0n;
      return broken ? { invariant, sibling, siblingBalanceMinor } : undefined;
    }
  }
}

export function describeViolation(violation: Violation): string {
  const { account, invariant, balanceMinor } = violation;
  switch (invariant.type) {
    case 'range':
      return `${account} would leave the storable range`;
    case 'nonNegative':
      return `${account} would be negative (${balanceMinor} minor units)`;
    case 'nonPositive':
      return `${account} would be positive (${balanceMinor} minor units)`;
    case 'atMost':
      return `${account} (${balanceMinor}) would exceed ${violation.sibling} (${violation.siblingBalanceMinor})`;
    case 'exclusiveWith':
      return `${account} (${balanceMinor}) and ${violation.sibling} (${violation.siblingBalanceMinor}) would both be non-zero`;
  }
}

/** One side of an entry as the journal stores it: the account's balance and version after it. */
export interface Posting {
  readonly entryIndex: number;
  readonly side: 'debit' | 'credit';
  readonly account: AccountId;
  readonly asset: string;
  readonly amountMinor: bigint;
  readonly balanceAfterMinor: bigint;
  readonly accountVersion: bigint;
}

/** Account versions by account; an account never written has version 0. */
export type VersionMap = ReadonlyMap<AccountId, bigint>;

/**
 * Posts the entries in order: each side gets the account's running balance after it and the next
 * version of the account. Returns the postings, and the balances and versions after the movement of
 * the accounts it touched (only those: the inputs are not copied or modified).
 *
 * Asserts its boundary (a failure is a bug in the caller, which `run` has already refused as a
 * malformed movement): at most ENTRIES_PER_MOVEMENT_MAX entries, each an amount in (0, AMOUNT_MINOR_MAX]
 * between two different accounts that both hold the entry's asset; and, of what it returns, that the
 * postings balance per asset and that each account's versions go up by exactly one per posting.
 */
export function postEntries(
  entries: readonly Entry[],
  balances: BalanceMap,
  versions: VersionMap,
): { postings: Posting[]; balances: Map<AccountId, bigint>; versions: Map<AccountId, bigint> } {
  if (entries.length > ENTRIES_PER_MOVEMENT_MAX) fail(`postEntries: ${entries.length} entries, more than ${ENTRIES_PER_MOVEMENT_MAX}`);
  const touchedBalances = new Map<AccountId, bigint>();
  const touchedVersions = new Map<AccountId, bigint>();
  const postings: Posting[] = [];
  entries.forEach((entry, entryIndex) => {
    assertPostable(entry, entryIndex);
    for (const side of ['debit', 'credit'] as const) {
      const account = side === 'debit' ? entry.debit : entry.credit;
      const signed = side === 'debit' ? entry.amountMinor : -entry.amountMinor;
      const balanceAfterMinor = (touchedBalances.get(account) ?? balanceOf(balances, account)) + signed;
      const accountVersion = (touchedVersions.get(account) ?? versions.get(account) ?? 0n) + 1n;
      touchedBalances.set(account, balanceAfterMinor);
      touchedVersions.set(account, accountVersion);
      postings.push({ entryIndex, side, account, asset: entry.asset, amountMinor: entry.amountMinor, balanceAfterMinor, accountVersion });
    }
  });
  assertPosted(postings, versions);
  return { postings, balances: touchedBalances, versions: touchedVersions };
}

/** A broken assertion; the message is built only then, so passing checks cost no strings on the hot path. */
function fail(message: string): never {
  throw new LedgerAssertionError(message);
}

/** The precondition of posting one entry: a storable positive amount between two accounts of its asset. */
function assertPostable(entry: Entry, entryIndex: number): void {
  if (entry.amountMinor <= 0n || entry.amountMinor > AMOUNT_MINOR_MAX) fail(`postEntries: entry ${entryIndex} moves ${entry.amountMinor}, outside (0, ${AMOUNT_MINOR_MAX}]`);
  if (entry.debit === entry.credit) fail(`postEntries: entry ${entryIndex} debits and credits ${entry.debit}`);
  if (parseAccountId(entry.debit)?.asset !== entry.asset || parseAccountId(entry.credit)?.asset !== entry.asset) {
    fail(`postEntries: entry ${entryIndex} moves ${entry.asset} between ${entry.debit} and ${entry.credit}`);
  }
}

/** The postcondition of `postEntries`, checked with the versions it started from. */
function assertPosted(postings: readonly Posting[], versions: VersionMap): void {
  const broken = postingsBreak(postings, versions);
  if (broken !== undefined) fail(`postEntries: ${broken}`);
}

/**
 * Why postings do not follow on from the books, or undefined when they do: they balance per asset, and
 * each account's postings run on from what the books held (`versions`, and `balances` when given: the
 * signed amount too), one version at a time. Both halves of the pair around `postEntries` (the core's
 * postcondition and the pot actor's check) use it. One pass and no Map per call (this runs for every
 * movement): an account's state before a posting is its latest earlier posting's (found by scanning
 * back, at most 2 * ENTRIES_PER_MOVEMENT_MAX postings), else the books'; the sums per asset are kept in
 * two short arrays. The reason is built only when a check fails.
 */
export function postingsBreak(postings: readonly Posting[], versions: VersionMap, balances?: BalanceMap): string | undefined {
  const assets: string[] = [];
  const sums: bigint[] = [];
  for (let index = 0; index < postings.length; index += 1) {
    const posting = postings[index]!;
    const signed = posting.side === 'debit' ? posting.amountMinor : -posting.amountMinor;
    const slot = assets.indexOf(posting.asset);
    if (slot === -1) {
      assets.push(posting.asset);
      sums.push(signed);
    } else {
      sums[slot] = sums[slot]! + signed;
    }
    const earlier = earlierPosting(postings, index);
    const versionBefore = earlier === undefined ? (versions.get(posting.account) ?? 0n) : earlier.accountVersion;
    if (posting.accountVersion !== versionBefore + 1n) return `${posting.account} posted at version ${posting.accountVersion} after ${versionBefore}`;
    if (balances === undefined) continue;
    const balanceBefore = earlier === undefined ? (balances.get(posting.account) ?? 0n) : earlier.balanceAfterMinor;
    if (posting.balanceAfterMinor !== balanceBefore + signed) {
      return `${posting.account} posted ${posting.balanceAfterMinor} at version ${posting.accountVersion} after ${balanceBefore}`;
    }
  }
  const unbalanced = sums.findIndex((sum) => sum !== 0n);
  return unbalanced === -1 ? undefined : `the postings do not balance in ${assets[unbalanced]} (off by ${sums[unbalanced]})`;
}

/** The latest posting before `index` to the same account as postings[index], if any. */
function earlierPosting(postings: readonly Posting[], index: number): Posting | undefined {
  const { account } = postings[index]!;
  for (let earlier = index - 1; earlier >= 0; earlier -= 1) {
    if (postings[earlier]!.account === account) return postings[earlier];
  }
  return undefined;
}
