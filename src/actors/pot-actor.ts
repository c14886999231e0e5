import {
  applyPotChange,
  postEntries,
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
   */
  handle(
    command: Command,
    system: AccountBook,
    registry: ProcessRegistry,
    ctx: PlanContext,
    movements: ReadonlyMap<string, LoadedMovement>,
    orders: ReadonlyMap<string, OrderState>,
  ): ActorResult {
    const balances: BalanceMap = new JoinedMap(this.book.balances, system.balances);
    const outcome = run(registry, command, { pot: this.#pot, balances, movements, orders }, ctx);
    if (outcome.kind === 'rejected') return { outcome, postings: [] };
    const versions = new JoinedMap(this.book.versions, system.versions);
    const { postings } = postEntries(outcome.movement.entries, balances, versions);
    this.book.apply(postings, this.owns);
    system.apply(postings, (account) => !this.owns(account));
    this.#pot = applyPotChange(this.#pot, this.potId, outcome.movement.potChange);
    return { outcome, postings };
  }
}

