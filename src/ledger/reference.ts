import type { AccountId } from './accounts.js';
import type { AssetCatalog } from './assets.js';
import { admit, answerRepeat, movementsToLoad, ordersToLoad, type Answer } from './admission.js';
import { applyOrderChange, type OrderState } from './orders.js';
import { isRejection } from './errors.js';
import { postEntries, type Movement, type Posting } from './movement.js';
import { applyPotChange, type Command, type LoadedMovement, type PotState } from './process.js';
import type { ProcessRegistry } from './registry.js';
import { run, type Outcome } from './runner.js';

/**
 * The ledger in memory: the reference the journal and the running system are compared with. Pure (no
 * I/O, no clock, no randomness): ids come in with each command. Keeps every outcome by commandId, so a
 * repeated command is answered from its first outcome and a reused commandId with another payload is a
 * conflict, exactly as the Postgres journal does.
 */
export class ReferenceLedger {
  readonly #balances = new Map<AccountId, bigint>();
  readonly #versions = new Map<AccountId, bigint>();
  readonly #pots = new Map<string, PotState>();
  readonly #movements = new Map<string, LoadedMovement>();
  readonly #outcomes = new Map<string, { readonly fingerprint: string; readonly outcome: Outcome }>();
  readonly #postings: Posting[] = [];
  readonly #orders = new Map<string, OrderState>();

  constructor(
    private readonly registry: ProcessRegistry,
    private readonly assets: AssetCatalog,
    private readonly partitionCount: number,
  ) {}

  /** Runs the command once; a repeat returns the first outcome. `movementId` is used only if it applies. */
  execute(command: Command, movementId: string): Answer {
    const admitted = admit(command);
    if (isRejection(admitted)) return { kind: 'answered', replayed: false, outcome: admitted };
    const { fingerprint } = admitted;
    const previous = this.#outcomes.get(command.commandId);
    if (previous !== undefined) return answerRepeat(command, fingerprint, previous);
    const outcome = this.#plan(command, movementId);
    if (outcome.kind !== 'rejected') this.#apply(outcome.movement);
    this.#outcomes.set(command.commandId, { fingerprint, outcome });
    return { kind: 'answered', outcome, replayed: false };
  }

  #plan(command: Command, movementId: string): Outcome {
    const movements = new Map<string, LoadedMovement>();
    for (const id of movementsToLoad(this.registry, command)) {
      const loaded = this.#movements.get(id);
      if (loaded !== undefined) movements.set(id, loaded);
    }
    const orders = new Map<string, OrderState>();
    for (const id of ordersToLoad(this.registry, command)) {
      const order = this.#orders.get(id);
      if (order !== undefined) orders.set(id, order);
    }
    const pot = typeof command.potId === 'string' ? this.#pots.get(command.potId) : undefined;
    return run(this.registry, command, { pot, balances: this.#balances, movements, orders }, {
      assets: this.assets,
      partitionCount: this.partitionCount,
      movementId,
    });
  }

  #apply(movement: Movement): void {
    const posted = postEntries(movement.entries, this.#balances, this.#versions);
    for (const posting of posted.postings) {
      this.#balances.set(posting.account, posting.balanceAfterMinor);
      this.#versions.set(posting.account, posting.accountVersion);
    }
    this.#postings.push(...posted.postings);
    const pot = applyPotChange(this.#pots.get(movement.potId), movement.potId, movement.potChange);
    if (pot !== undefined) this.#pots.set(movement.potId, pot);
    if (movement.orderChange !== undefined) {
      const order = applyOrderChange(this.#orders.get(movement.orderChange.orderId), movement.potId, movement.orderChange);
      if (order !== undefined) this.#orders.set(order.orderId, order);
    }
    this.#movements.set(movement.movementId, { movement });
    if (movement.reverses !== undefined) {
      const reversed = this.#movements.get(movement.reverses);
      if (reversed !== undefined) this.#movements.set(movement.reverses, { ...reversed, reversedBy: movement.movementId });
    }
  }

  /**
   * Takes open orders into an external trade, as the aggregator does at the cut-off (the one change to
   * an order that is not a movement of its pot). Returns the orders taken, in order id order.
   */
  aggregate(fund: string, dealingDateOnOrBefore: string, tradeId: string): OrderState[] {
    const taken = [...this.#orders.values()]
      .filter((order) => order.fund === fund && order.status === 'open' && order.dealingDate <= dealingDateOnOrBefore)
      .sort((a, b) => (a.orderId < b.orderId ? -1 : a.orderId > b.orderId ? 1 : 0));
    for (const order of taken) this.#orders.set(order.orderId, { ...order, status: 'aggregated', tradeId });
    return taken;
  }

  orders(): ReadonlyMap<string, OrderState> {
    return this.#orders;
  }

  /** Non-zero balances by account. */
  balances(): ReadonlyMap<AccountId, bigint> {
    return new Map([...this.#balances].filter(([, balance]) => balance !== 0n));
  }

  versions(): ReadonlyMap<AccountId, bigint> {
    return this.#versions;
  }

  pots(): ReadonlyMap<string, PotState> {
    return this.#pots;
  }

  outcome(commandId: string): Outcome | undefined {
    return this.#outcomes.get(commandId)?.outcome;
  }

  outcomes(): ReadonlyMap<string, Outcome> {
    return new Map([...this.#outcomes].map(([id, { outcome }]) => [id, outcome]));
  }

  movement(movementId: string): LoadedMovement | undefined {
    return this.#movements.get(movementId);
  }

  postings(): readonly Posting[] {
    return this.#postings;
  }
}
