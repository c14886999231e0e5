/**
 * The batch planner: turns one batch of a partition's messages, and the state loaded for it, into the
 * commit items, poison records and answers of the batch. No NATS, no Postgres, no clock; ids come in as
 * an argument. The shell (partition-shard.ts) reads what `stateToLoad` asks for, plans, and commits;
 * planning the same batch on the same state always gives the same plan. The pot actors and system
 * accounts of the state are handed over and advanced in place (copying them for every batch cost about
 * a quarter of the planning CPU); everything else the plan returns is new.
 *
 * Before it hands items to the journal the planner asserts (LedgerAssertionError: a bug, never a
 * rejection) that every movement balances per asset and that every touched account's version goes up
 * by exactly one per posting from its loaded version; the journal asserts the same as it writes.
 */
import { AccountBook, PotActor } from '../actors/pot-actor.js';
import {
  answerRepeat,
  applyOrderChange,
  assert,
  commandFingerprint,
  LedgerAssertionError,
  movementsToLoad,
  ordersToLoad,
  type AccountId,
  type Answer,
  type AssetCatalog,
  type Command,
  type LoadedMovement,
  type OrderState,
  type Outcome,
  type ProcessRegistry,
} from '../ledger/index.js';
import type { LoadedAccount, LoadedPot } from '../journal/partition-reads.js';
import type { PoisonRecord } from '../journal/poison-records.js';
import type { CommitItem } from '../journal/store.js';
import { PoisonCode, poisonOf, readMessage, type CommandMessage, type Received } from './parse.js';
import { refusalReason, storageRejection, type StorageRefusal } from './refusals.js';

/** What planning needs to know of the partition and the ledger (fixed for the shard's life). */
export interface PlannerSetup {
  readonly partition: number;
  readonly partitionCount: number;
  readonly registry: ProcessRegistry;
  readonly assets: AssetCatalog;
}

type ReceivedCommand = Extract<Received, { kind: 'command' }>;

/** A batch as read: its commands in stream order, its poison so far, and the close marker that ends it. */
export interface ReadBatch {
  readonly commands: readonly ReceivedCommand[];
  readonly poison: readonly PoisonRecord[];
  readonly closeMarker?: { readonly businessDate: string; readonly streamSeq: bigint; readonly message: CommandMessage };
}

/**
 * Reads each message of the batch. A message whose writes the journal refused twice is poison only; one
 * refused once gets a poison record too (its command is answered with the refusal when planned). A
 * close marker must be the batch's last message (the reader ends a batch at one).
 */
export function readBatch(setup: PlannerSetup, messages: readonly CommandMessage[], refused: ReadonlyMap<bigint, StorageRefusal>): ReadBatch {
  const commands: ReceivedCommand[] = [];
  const poison: PoisonRecord[] = [];
  let closeMarker: ReadBatch['closeMarker'];
  messages.forEach((message, index) => {
    const refusal = refused.get(BigInt(message.seq));
    const received: Received =
      refusal?.answer === 'poison-only'
        ? { kind: 'poison', record: poisonOf(message, PoisonCode.storageRefused, refusalReason(refusal)) }
        : readMessage(message, setup.partition, setup.partitionCount, setup.registry);
    if (received.kind === 'command') commands.push(received);
    else if (received.kind === 'poison') poison.push(received.record);
    else {
      assert(index === messages.length - 1, `partition ${setup.partition}: a close marker inside a batch, not at its end`);
      closeMarker = { businessDate: received.businessDate, streamSeq: received.streamSeq, message };
    }
  });
  for (const message of messages) {
    const refusal = refused.get(BigInt(message.seq));
    if (refusal?.answer === 'rejection') poison.push(poisonOf(message, PoisonCode.storageRefused, refusalReason(refusal)));
  }
  return closeMarker === undefined ? { commands, poison } : { commands, poison, closeMarker };
}

/** What the shell must load before planning a batch. */
export interface StateToLoad {
  /** Commands whose recorded outcome, if any, answers them (idempotency). */
  readonly commandIds: readonly string[];
  readonly potIds: readonly string[];
  readonly movementIds: readonly string[];
  readonly orderIds: readonly string[];
  /** The business date of the batch's close marker: was its close requested? */
  readonly closeDate?: string;
}

export function stateToLoad(setup: PlannerSetup, batch: ReadBatch): StateToLoad {
  const commands = batch.commands.map((c) => c.command);
  const unique = (values: readonly string[]): string[] => [...new Set(values)];
  return {
    commandIds: unique(commands.map((c) => c.commandId)),
    potIds: unique(commands.map((c) => c.potId)),
    movementIds: unique(commands.flatMap((c) => movementsToLoad(setup.registry, c))),
    orderIds: unique(commands.flatMap((c) => ordersToLoad(setup.registry, c))),
    ...(batch.closeMarker === undefined ? {} : { closeDate: batch.closeMarker.businessDate }),
  };
}

/** An outcome recorded under a commandId, with the fingerprint of the command that got it. */
export interface RecordedOutcome {
  readonly fingerprint: string;
  readonly outcome: Outcome;
}

/** The state a batch is planned on; a plan's `after` is the same shape, ready to plan the next batch. */
export interface PlanState {
  /**
   * The actor of every pot the batch's commands name (an absent pot's has no state and no accounts).
   * Handed over: planning advances them in place; if the batch does not commit, the shell drops them.
   */
  readonly pots: ReadonlyMap<string, PotActor>;
  /** The partition's system accounts, handed over like the actors. */
  readonly system: AccountBook;
  readonly recorded: ReadonlyMap<string, RecordedOutcome>;
  readonly movements: ReadonlyMap<string, LoadedMovement>;
  readonly orders: ReadonlyMap<string, OrderState>;
}

/** Ids and the close's permission, handed in so that planning stays pure. */
export interface PlanArguments {
  /** The id of the movement of the next command planned (one call per command planned). */
  readonly newMovementId: () => string;
  /** Whether the close of the batch's close marker's day was requested. */
  readonly closeRequested: boolean;
  /** Messages whose writes the journal refused, by stream sequence. */
  readonly refused: ReadonlyMap<bigint, StorageRefusal>;
}

/** A command's answer and where to send it. */
export interface PlannedAnswer {
  readonly command: Command;
  readonly reply: string | undefined;
  readonly answer: Answer;
}

export interface BatchPlan {
  /** The new outcomes to commit, in stream order. */
  readonly items: readonly CommitItem[];
  readonly poison: readonly PoisonRecord[];
  /** One per command, new outcomes and repeats alike, in stream order. */
  readonly answers: readonly PlannedAnswer[];
  readonly close?: { readonly businessDate: string; readonly streamSeq: bigint };
  /** The state once the batch is committed. */
  readonly after: PlanState;
}

/**
 * Plans a batch: each command in stream order is answered from its recorded outcome (or an earlier
 * one of the batch) when its commandId was seen, with its storage refusal when the journal refused it,
 * and otherwise run by its pot's actor against the pot and the partition's system accounts.
 */
export function planBatch(setup: PlannerSetup, batch: ReadBatch, state: PlanState, args: PlanArguments): BatchPlan {
  const { system } = state;
  // The accounts as they were before the batch, for the assertions: the system's now, a pot's when first used.
  const before = new Map<AccountId, AccountBefore>();
  rememberBefore(before, system);
  const touched = new Set<string>();
  const movements = new Map(state.movements);
  const orders = new Map(state.orders);
  const recorded = new Map(state.recorded);
  const items: CommitItem[] = [];
  const answers: PlannedAnswer[] = [];
  for (const { command, streamSeq, reply, audit } of batch.commands) {
    const fingerprint = commandFingerprint(command);
    const prior = recorded.get(command.commandId);
    if (prior !== undefined) {
      answers.push({ command, reply, answer: answerRepeat(command, fingerprint, prior) });
      continue;
    }
    const refusal = args.refused.get(streamSeq);
    // A command the journal refused is answered with that refusal, not planned again.
    const { outcome, postings } =
      refusal === undefined
        ? actorOf(state.pots, command.potId, touched, before).handle(command, system, setup.registry, planContext(setup, args), movements, orders)
        : { outcome: storageRejection(refusal), postings: [] };
    items.push({ command, fingerprint, partition: setup.partition, outcome, postings, streamSeq, audit });
    recorded.set(command.commandId, { fingerprint, outcome });
    answers.push({ command, reply, answer: { kind: 'answered', outcome, replayed: false } });
    if (outcome.kind !== 'rejected') {
      rememberMovement(movements, outcome.movement);
      rememberOrder(orders, outcome.movement);
    }
  }
  assertItemsAdvance(items, before);
  const { poison, close } = closeOf(batch, args.closeRequested);
  return {
    items,
    poison,
    answers,
    ...(close === undefined ? {} : { close }),
    after: { pots: state.pots, system, recorded, movements, orders },
  };
}

function planContext(setup: PlannerSetup, args: PlanArguments): { assets: AssetCatalog; partitionCount: number; movementId: string } {
  return { assets: setup.assets, partitionCount: setup.partitionCount, movementId: args.newMovementId() };
}

/** The actor of a pot; the first time the batch uses it, its accounts are remembered as they were. */
function actorOf(pots: ReadonlyMap<string, PotActor>, potId: string, touched: Set<string>, before: Map<AccountId, AccountBefore>): PotActor {
  const actor = pots.get(potId);
  if (actor === undefined) fail(`pot ${potId} was not loaded`);
  if (!touched.has(potId)) {
    touched.add(potId);
    rememberBefore(before, actor.book);
  }
  return actor;
}

/** An account's balance and version before the batch. */
export interface AccountBefore {
  readonly balanceMinor: bigint;
  readonly version: bigint;
}

/** Remembers the accounts of `book` as they are now (the first time each is seen). */
function rememberBefore(before: Map<AccountId, AccountBefore>, book: AccountBook): void {
  for (const [account, balanceMinor] of book.balances) {
    if (!before.has(account)) before.set(account, { balanceMinor, version: book.versions.get(account) ?? 0n });
  }
}

/** The close the batch commits, or a poison record for a marker whose day nobody asked to close. */
function closeOf(batch: ReadBatch, closeRequested: boolean): { poison: readonly PoisonRecord[]; close?: { businessDate: string; streamSeq: bigint } } {
  const marker = batch.closeMarker;
  if (marker === undefined) return { poison: batch.poison };
  if (closeRequested) return { poison: batch.poison, close: { businessDate: marker.businessDate, streamSeq: marker.streamSeq } };
  const refused = poisonOf(marker.message, PoisonCode.closeMarker, `a close marker for ${marker.businessDate}, whose close was never requested`);
  return { poison: [...batch.poison, refused] };
}

/**
 * Asserts what the journal will take on trust: every movement balances per asset (its postings' signed
 * amounts sum to zero for each asset), has two postings per entry, and every posting moves its account
 * from the balance and version it had (as loaded, or as left by the batch's earlier postings) to the
 * next version, one up. A rejection has no postings.
 *
 * Cheap enough for every batch: `before` is read, not copied; the batch's latest posting per account is
 * remembered (the posting itself, no new object); the sums per asset are kept in two short arrays.
 */
export function assertItemsAdvance(items: readonly CommitItem[], before: ReadonlyMap<AccountId, AccountBefore>): void {
  const latest = new Map<AccountId, CommitItem['postings'][number]>();
  const assets: string[] = [];
  const sums: bigint[] = [];
  for (const item of items) {
    const { commandId } = item.command;
    if (item.outcome.kind === 'rejected') {
      if (item.postings.length !== 0) fail(`command ${commandId}: a rejection with postings`);
      continue;
    }
    const { entries } = item.outcome.movement;
    if (item.postings.length !== 2 * entries.length) fail(`command ${commandId}: ${item.postings.length} postings for ${entries.length} entries`);
    assets.length = 0;
    sums.length = 0;
    for (const posting of item.postings) {
      const signed = posting.side === 'debit' ? posting.amountMinor : -posting.amountMinor;
      const slot = assets.indexOf(posting.asset);
      if (slot === -1) {
        assets.push(posting.asset);
        sums.push(signed);
      } else {
        sums[slot] = sums[slot]! + signed;
      }
      const earlier = latest.get(posting.account);
      const loaded = earlier === undefined ? (before.get(posting.account) ?? NEVER_WRITTEN) : undefined;
      const balanceBefore = earlier?.balanceAfterMinor ?? loaded!.balanceMinor;
      const versionBefore = earlier?.accountVersion ?? loaded!.version;
      if (posting.accountVersion !== versionBefore + 1n) fail(`command ${commandId}: ${posting.account} goes from version ${versionBefore} to ${posting.accountVersion}`);
      if (posting.balanceAfterMinor !== balanceBefore + signed) {
        fail(`command ${commandId}: ${posting.account} goes from ${balanceBefore} to ${posting.balanceAfterMinor} by ${signed}`);
      }
      latest.set(posting.account, posting);
    }
    sums.forEach((sum, slot) => {
      if (sum !== 0n) fail(`command ${commandId}: the movement does not balance in ${assets[slot]} (off by ${sum})`);
    });
  }
}

/** A broken assertion (LedgerAssertionError, as `assert` throws); the message is built only then, not on every passing check. */
function fail(message: string): never {
  throw new LedgerAssertionError(message);
}

/** An account absent from the books: balance zero, version zero. */
const NEVER_WRITTEN: AccountBefore = { balanceMinor: 0n, version: 0n };

/** An account book holding loaded accounts. */
export function bookOf(accounts: readonly LoadedAccount[]): AccountBook {
  const book = new AccountBook();
  for (const { account, balanceMinor, version } of accounts) book.load(account, balanceMinor, version);
  return book;
}

/** A pot actor holding a loaded pot's state. */
export function actorFromSnapshot(potId: string, loaded: LoadedPot): PotActor {
  const actor = new PotActor(potId, loaded.pot);
  for (const { account, balanceMinor, version } of loaded.accounts) actor.book.load(account, balanceMinor, version);
  return actor;
}

/** A pot actor's state as a loaded pot (a copy). */
export function snapshotOf(actor: PotActor): LoadedPot {
  return { pot: actor.pot, accounts: accountsOf(actor.book) };
}

/** An account book's accounts (a copy). */
export function accountsOf(book: AccountBook): LoadedAccount[] {
  const accounts: LoadedAccount[] = [];
  for (const [account, balanceMinor] of book.balances) accounts.push({ account, balanceMinor, version: book.versions.get(account) ?? 0n });
  return accounts;
}

/** Applies a movement's order change to the batch's orders, so a later command of the batch sees it. */
function rememberOrder(orders: Map<string, OrderState>, movement: LoadedMovement['movement']): void {
  const change = movement.orderChange;
  if (change === undefined) return;
  const next = applyOrderChange(orders.get(change.orderId), movement.potId, change);
  if (next !== undefined) orders.set(change.orderId, next);
}

/** Adds a movement committed in this batch, so a later reversal in the same batch can find it. */
function rememberMovement(movements: Map<string, LoadedMovement>, movement: LoadedMovement['movement']): void {
  movements.set(movement.movementId, { movement });
  if (movement.reverses !== undefined) {
    const reversed = movements.get(movement.reverses);
    if (reversed !== undefined) movements.set(movement.reverses, { ...reversed, reversedBy: movement.movementId });
  }
}
