import {
  applyPotChange,
  LedgerAssertionError,
  postEntries,
  postingsBreak,
  run,
  type AccountId,
  type BalanceMap,
  type Command,
  type LoadedMovement,
  type OrderState,
  type Outcome,
  type PlanContext,
  type PotState,
  type Posting,
  type ProcessRegistry,
} from '../ledger/index.js';

/** The balances and versions of a set of accounts, held in memory and changed only by their owner. */
export class AccountBook {
  readonly balances = new Map<AccountId, bigint>();
  readonly versions = new Map<AccountId, bigint>();

  load(account: AccountId, balanceMinor: bigint, version: bigint): void {
    this.balances.set(account, balanceMinor);
    this.versions.set(account, version);
  }

  apply(postings: readonly Posting[], owns: (account: AccountId) => boolean): void {
    for (const posting of postings) {
      if (!owns(posting.account)) continue;
      this.balances.set(posting.account, posting.balanceAfterMinor);
      this.versions.set(posting.account, posting.accountVersion);
    }
  }
}

/**
 * The pot's accounts and the partition's system accounts seen as one map, without copying either
 * (the two never share an account).
 */
class JoinedMap<V> implements ReadonlyMap<AccountId, V> {
  constructor(
    private readonly first: ReadonlyMap<AccountId, V>,
    private readonly second: ReadonlyMap<AccountId, V>,
  ) {}
  get size(): number {
    return this.first.size + this.second.size;
  }
  get(key: AccountId): V | undefined {
    return this.first.get(key) ?? this.second.get(key);
  }
  has(key: AccountId): boolean {
    return this.first.has(key) || this.second.has(key);
  }
  *entries(): MapIterator<[AccountId, V]> {
    yield* this.first.entries();
    yield* this.second.entries();
  }
  *keys(): MapIterator<AccountId> {
    for (const [key] of this.entries()) yield key;
  }
  *values(): MapIterator<V> {
    for (const [, value] of this.entries()) yield value;
  }
  [Symbol.iterator](): MapIterator<[AccountId, V]> {
    return this.entries();
  }
  forEach(callback: (value: V, key: AccountId, map: ReadonlyMap<AccountId, V>) => void): void {
    for (const [key, value] of this.entries()) callback(value, key, this);
  }
}

/** What an actor answers for one command: the outcome and the postings to commit. */
export interface ActorResult {
  readonly outcome: Outcome;
  readonly postings: readonly Posting[];
}

/**
 * A pot actor: the single writer of one pot's state. It handles one command at a time, in the order
 * its mailbox received them; its state in memory is what the journal holds plus what the batch being
 * committed adds (if that commit fails, the shard drops the actor and reloads it).
 */
export class PotActor {
  readonly book = new AccountBook();
  #pot: PotState | undefined;
  #prefix: string;

  constructor(readonly potId: string, pot: PotState | undefined) {
    this.#pot = pot;
    this.#prefix = `pot:${potId}:`;
  }

  get pot(): PotState | undefined {
    return this.#pot;
  }

  owns = (account: AccountId): boolean => account.startsWith(this.#prefix);

  /**
   * Runs the command against this pot and the partition's system accounts (`system`, shared by the
   * partition's actors and written only by the shard, one actor at a time).
   *
   * Asserts its boundary (a failure is a bug, thrown as LedgerAssertionError, never a rejection): the
   * command is this pot's; an applied movement is this command's, for this pot, and its postings
   * balance per asset and run each account on by one version and by its amount from what the books
   * held; once applied, every account it posted to is in this pot's book or the system book, at the
   * version of its last posting.
   */
  handle(
    command: Command,
    system: AccountBook,
    registry: ProcessRegistry,
    ctx: PlanContext,
    movements: ReadonlyMap<string, LoadedMovement>,
    orders: ReadonlyMap<string, OrderState>,
  ): ActorResult {
    if (command.potId !== this.potId) fail(`pot actor ${this.potId}: handed a command for pot ${command.potId}`);
    const balances: BalanceMap = new JoinedMap(this.book.balances, system.balances);
    const outcome = run(registry, command, { pot: this.#pot, balances, movements, orders }, ctx);
    if (outcome.kind === 'rejected') return { outcome, postings: [] };
    const { movement } = outcome;
    if (movement.potId !== this.potId || movement.commandId !== command.commandId) {
      fail(`pot actor ${this.potId}: command ${command.commandId} planned movement ${movement.movementId} of pot ${movement.potId}, command ${movement.commandId}`);
    }
    const versions = new JoinedMap(this.book.versions, system.versions);
    const { postings } = postEntries(movement.entries, balances, versions);
    assertPostingsFollow(this.potId, postings, balances, versions);
    this.book.apply(postings, this.owns);
    system.apply(postings, (account) => !this.owns(account));
    this.#assertApplied(postings, system);
    this.#pot = applyPotChange(this.#pot, this.potId, movement.potChange);
    return { outcome, postings };
  }

  /**
   * Every account posted to is in this pot's book or, if a system account, the system book, at its last
   * posting's version. One pass, no Map: a posting is its account's last when no later posting names it.
   */
  #assertApplied(postings: readonly Posting[], system: AccountBook): void {
    for (let index = 0; index < postings.length; index += 1) {
      const { account, accountVersion } = postings[index]!;
      if (postedLater(postings, index)) continue;
      const book = this.owns(account) ? this.book : account.startsWith(SYSTEM_PREFIX) ? system : undefined;
      if (book === undefined) fail(`pot actor ${this.potId}: posted to ${account}, neither this pot's nor a system account`);
      if (book.versions.get(account) !== accountVersion) {
        fail(`pot actor ${this.potId}: ${account} is at version ${book.versions.get(account)} after posting version ${accountVersion}`);
      }
    }
  }
}

/** Whether a posting after `index` names the same account as postings[index] (at most 2 * ENTRIES_PER_MOVEMENT_MAX postings). */
function postedLater(postings: readonly Posting[], index: number): boolean {
  const { account } = postings[index]!;
  for (let later = index + 1; later < postings.length; later += 1) {
    if (postings[later]!.account === account) return true;
  }
  return false;
}

const SYSTEM_PREFIX = 'system:';

/** A broken assertion; the message is built only then, so passing checks cost no strings. */
function fail(message: string): never {
  throw new LedgerAssertionError(message);
}

/** The actor's half of the pair around `postEntries`: its postings follow on from the actor's books (postingsBreak). */
function assertPostingsFollow(potId: string, postings: readonly Posting[], balances: BalanceMap, versions: ReadonlyMap<AccountId, bigint>): void {
  const broken = postingsBreak(postings, versions, balances);
  if (broken !== undefined) fail(`pot actor ${potId}: ${broken}`);
}
