import { randomUUID } from 'node:crypto';
import { AckPolicy, DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import type pg from 'pg';
import type { Log } from './log.js';
import { ActorDirectory } from '../actors/directory.js';
import { AccountBook, PotActor } from '../actors/pot-actor.js';
import {
  answerRepeat,
  applyOrderChange,
  commandFingerprint,
  movementsToLoad,
  ordersToLoad,
  outcomeToWire,
  type Answer,
  type AssetCatalog,
  type Command,
  type WireOutcome,
  type LoadedMovement,
  type OrderState,
  type Outcome,
  type PotState,
  type ProcessRegistry,
} from '../ledger/index.js';
import { prepared, sqlState } from '../journal/database.js';
import { closeRequested } from '../journal/end-of-day.js';
import { findOutcomes, loadMovements, loadOrders, outcomesAfter, POT_COLUMNS, potOfRow, type CommitItem, type PotRow, type StoredOutcome } from '../journal/store.js';
import { Coalescer } from './coalescer.js';
import { EventsRefusedError, type EventBatcher } from './event-batcher.js';
import { FencedError, markEventsThrough, type Claim, type PoisonRecord } from './fence.js';
import type { GroupCommitter } from './group-committer.js';
import { LAG_STAGES, type ShardMetrics } from './metrics.js';
import { HEADER, replySubjectAllowed, type Names } from './names.js';
import type { Failpoint } from './failpoints.js';
import { isCloseMarker, PoisonCode, poisonOf, readMessage, type Received } from './parse.js';
import { nextRefusal, refusalReason, storageRejection, type StorageRefusal } from './refusals.js';

export interface ShardLimits {
  /**
   * Most messages of one partition in one batch. A batch is planned in one synchronous stretch, so this
   * also bounds how long one partition holds the event loop (about 25 ms for 250 commands), which
   * keeps lease renewals and open transactions moving under load.
   */
  readonly commitBatchMax: number;
  /** Most commands in one group commit transaction (batches of several partitions). */
  readonly groupItemsMax: number;
  /** Group commit transactions running at once (they never touch the same rows). */
  readonly groupConcurrency: number;
  /** Most messages buffered for the partition before the reader stops pulling (backpressure). */
  readonly inboxMax: number;
  /** Most pot actors kept in memory per partition; idle ones beyond are passivated. */
  readonly liveActorsMax: number;
  /** Backoff between retries of a batch after a transient failure. */
  readonly retryDelayMsMin: number;
  readonly retryDelayMsMax: number;
  /**
   * How long JetStream waits for an ack before redelivering to the same owner. Long on purpose: a new
   * owner starts its own consumer at the checkpoint and never waits for it, and a worker with a deep
   * backlog (a fan-out of 100,000 commands over 64 partitions) would otherwise be sent again, as
   * replays, what it has pulled but not yet reached.
   */
  readonly ackWaitMs: number;
}

export const SHARD_LIMITS_DEFAULT: ShardLimits = {
  commitBatchMax: 250,
  groupItemsMax: 4000,
  groupConcurrency: 2,
  inboxMax: 4000,
  liveActorsMax: 20_000,
  retryDelayMsMin: 50,
  retryDelayMsMax: 5000,
  ackWaitMs: 300_000,
};

export interface ShardContext {
  readonly pool: pg.Pool;
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly names: Names;
  readonly registry: ProcessRegistry;
  readonly assets: AssetCatalog;
  readonly partitionCount: number;
  readonly limits: ShardLimits;
  readonly metrics: ShardMetrics;
  readonly log: Log;
  readonly workerId: string;
  /** The worker's group committer: batches of several partitions share a transaction. */
  readonly committer: GroupCommitter;
  /** The worker's look-ups, shared by its partitions so that their queries are coalesced. */
  readonly lookups: ShardLookups;
  /** The worker's event publisher, shared by its partitions. */
  readonly events: EventBatcher;
  /** Called at each failpoint (tests make the process die there); a no-op in production. */
  readonly failpoint?: (name: Failpoint) => void;
}

/** A pot as loaded for its actor: its state, and its accounts' balances and versions. */
export interface LoadedPot {
  readonly pot: PotState | undefined;
  readonly accounts: readonly { readonly account: string; readonly balanceMinor: bigint; readonly version: bigint }[];
}

export interface ShardLookups {
  readonly outcomes: Coalescer<string, StoredOutcome>;
  readonly pots: Coalescer<string, LoadedPot>;
}

/** Look-ups for a worker's shards: recorded outcomes by commandId, pots by id, coalesced per turn. */
export function shardLookups(pool: pg.Pool, assets: AssetCatalog): ShardLookups {
  return {
    outcomes: new Coalescer((ids) => findOutcomes(pool, ids, assets)),
    pots: new Coalescer((ids) => loadPots(pool, ids)),
  };
}

async function loadPots(pool: pg.Pool, potIds: readonly string[]): Promise<Map<string, LoadedPot>> {
  const pots = await prepared(pool, 'potledger-load-pots')<PotRow>(`SELECT ${POT_COLUMNS} FROM pots WHERE pot_id = ANY($1::text[])`, [potIds]);
  const accounts = await prepared(pool, 'potledger-load-pot-accounts')<{ pot_id: string; account_id: string; balance_minor: bigint; version: bigint }>(
    'SELECT pot_id, account_id, balance_minor, version FROM balances WHERE pot_id = ANY($1::text[])',
    [potIds],
  );
  const loaded = new Map<string, { pot: PotState | undefined; accounts: LoadedPot['accounts'][number][] }>();
  for (const potId of potIds) loaded.set(potId, { pot: undefined, accounts: [] });
  for (const row of pots.rows) {
    const entry = loaded.get(row.pot_id);
    if (entry !== undefined) entry.pot = potOfRow(row);
  }
  for (const row of accounts.rows) loaded.get(row.pot_id)?.accounts.push({ account: row.account_id, balanceMinor: row.balance_minor, version: row.version });
  return loaded;
}

/** The event published after commit for every new outcome (applied, corrected or rejected). */
export interface LedgerEvent {
  readonly commandId: string;
  readonly partition: number;
  readonly outcomeSeq: string;
  readonly outcome: WireOutcome;
}

/** What the publisher learns about its command once the outcome is known. */
export interface OutcomeNotice {
  readonly commandId: string;
  readonly status: 'answered' | 'conflict';
  readonly replayed: boolean;
  readonly outcome: WireOutcome;
}

interface Delivery {
  readonly message: JsMsg;
  readonly receivedAtMs: number;
}


/** How often an idle shard looks again at events it could not publish. */
const IDLE_TICK_MS = 1000;

/**
 * Errors in the data of one command (a value Postgres refuses): retrying cannot help, so the command
 * is isolated, answered with a recorded LEDGER_ERR_STORAGE_REFUSED rejection and recorded as poison
 * (see refusals.ts). Privilege or schema errors are not among them: they are the operator's to fix,
 * and the commands wait.
 */
export function isDataError(error: unknown): boolean {
  const state = sqlState(error);
  return state !== undefined && /^(22|23|54)/.test(state) && state !== '23505';
}

/**
 * One partition of one ownership epoch: reads the partition's commands from its own JetStream pull
 * consumer, starting after the Postgres checkpoint, hands each to its pot actor in stream order, and
 * group-commits the batch (fenced by epoch) before acknowledging it and publishing its events.
 */
export class PartitionShard {
  readonly #ctx: ShardContext;
  readonly #claim: Claim;
  readonly #actors: ActorDirectory;
  readonly #system = new AccountBook();
  readonly #inbox: Delivery[] = [];
  #messages: ConsumerMessages | undefined;
  #wake: (() => void) | undefined;
  #space: (() => void) | undefined;
  #stopping = false;
  #failed = false;
  #systemStale = true;
  #eventsConfirmedSeq: bigint;
  #eventsBehind = false;
  #events: Promise<void> = Promise.resolve();
  #eventsPersistedSeq: bigint;
  /** Messages whose writes Postgres refused for good, by stream sequence: answered with a rejection and recorded as poison. */
  readonly #refused = new Map<bigint, StorageRefusal>();
  #loops: Promise<unknown> = Promise.resolve();
  /** The command stream no longer holds the checkpoint's message: read the partition from the start. */
  #rewound = false;

  private constructor(ctx: ShardContext, claim: Claim) {
    this.#ctx = ctx;
    this.#claim = claim;
    this.#actors = new ActorDirectory(ctx.limits.liveActorsMax);
    this.#eventsConfirmedSeq = claim.eventsThroughSeq;
    this.#eventsPersistedSeq = claim.eventsThroughSeq;
  }

  get partition(): number {
    return this.#claim.partition;
  }

  get epoch(): bigint {
    return this.#claim.epoch;
  }

  get liveActors(): number {
    return this.#actors.size;
  }

  /** Starts the shard for a partition just claimed in Postgres. */
  static async start(ctx: ShardContext, claim: Claim): Promise<PartitionShard> {
    const shard = new PartitionShard(ctx, claim);
    await shard.#checkStreams();
    await shard.#replaceConsumer();
    await shard.#republishOutbox();
    const consumer = await ctx.js.consumers.get(ctx.names.commandStream, ctx.names.consumerName(claim.partition, claim.epoch));
    // A consumer that is gone (deleted by a new owner, or lost with a nats-server store that went back
    // to an older state) ends the reading with an error instead of being retried for ever: the worker
    // then hands the partition back, and the next claim makes a consumer and checks the streams again.
    shard.#messages = await consumer.consume({ max_messages: Math.min(ctx.limits.inboxMax, 1000), expires: 5000, abort_on_missing_resource: true });
    shard.#loops = Promise.all([shard.#read(), shard.#process(), shard.#watch()]);
    return shard;
  }

  /** Stops pulling, lets the batch in flight finish, and returns when the loops have ended. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#messages?.close().catch(() => undefined);
    this.#wake?.();
    this.#space?.();
    await this.#loops;
    await this.#events;
    this.#ctx.metrics.liveActors.remove({ partition: String(this.partition) });
  }

  /**
   * Checks the streams against the journal before reading on. A single-node nats-server that lived
   * through an OS crash comes back with its store as of its last fsync (2.9 fsyncs every 60 s): the
   * command stream may have lost messages the journal has committed, and its next messages reuse their
   * sequence numbers, which a consumer started after the checkpoint would skip. When the stream does not
   * hold the checkpoint's message at the checkpoint's sequence, the partition is read from the start of
   * the stream instead: every command committed already is answered from its outcome, nothing is skipped.
   * Likewise, when the event stream's last event of the partition is older than the outbox's mark, the
   * outbox republishes from that event on.
   */
  async #checkStreams(): Promise<void> {
    const { jsm, names, log, pool } = this.#ctx;
    const checkpoint = this.#claim.checkpointSeq;
    if (checkpoint > 0n) {
      const held = await jsm.streams.getMessage(names.commandStream, { seq: Number(checkpoint) }).catch(() => null);
      let reason: string | undefined;
      if (held === null) {
        const { state } = await jsm.streams.info(names.commandStream);
        // Gone because the stream's limits aged it out is normal; gone from within the stream is not.
        if (BigInt(state.first_seq) <= checkpoint) reason = `the stream holds no message at the checkpoint (stream ${state.first_seq}..${state.last_seq})`;
      } else if (held.subject !== names.commandSubject(this.partition)) reason = `the message at the checkpoint is on ${held.subject}`;
      else if (this.#claim.checkpointMessageId !== '' && held.header.get(HEADER.messageId) !== this.#claim.checkpointMessageId) {
        reason = `the message at the checkpoint is ${held.header.get(HEADER.messageId)}, not ${this.#claim.checkpointMessageId}`;
      }
      if (reason !== undefined) {
        this.#rewound = true;
        this.#ctx.metrics.streamRewinds.inc({ stream: 'commands' });
        log.error({ partition: this.partition, checkpoint: String(checkpoint), reason }, 'the command stream lost messages the journal committed (nats-server restored an older store?): reading the partition from the start of the stream');
      }
    }
    if (this.#eventsConfirmedSeq > 0n) {
      const lastEvent = await jsm.streams.getMessage(names.eventStream, { last_by_subj: names.eventSubject(this.partition) }).catch(() => null);
      const eventId = lastEvent?.header.get(HEADER.messageId);
      if (eventId !== undefined && eventId !== '') {
        const { rows } = await pool.query<{ seq: bigint }>(
          'SELECT seq FROM command_outcomes WHERE partition = $1 AND (movement_id = $2 OR command_id = $3) ORDER BY seq LIMIT 1',
          [this.partition, eventId, eventId.startsWith('rejected-') ? eventId.slice('rejected-'.length) : eventId],
        );
        const seq = rows[0]?.seq;
        if (seq !== undefined && seq < this.#eventsConfirmedSeq) {
          this.#ctx.metrics.streamRewinds.inc({ stream: 'events' });
          log.error({ partition: this.partition, lastEvent: eventId, outboxMark: String(this.#eventsConfirmedSeq) }, 'the event stream lost events the outbox had confirmed: republishing them');
          this.#eventsConfirmedSeq = seq;
        }
      }
    }
  }

  /**
   * A fresh consumer for this epoch that starts right after the checkpoint; every older consumer of
   * the partition is deleted, so a previous owner (paused, cut off) can no longer pull from it.
   */
  async #replaceConsumer(): Promise<void> {
    const { jsm, names } = this.#ctx;
    const prefix = `${names.prefix}-p${this.partition}-e`;
    const mine = names.consumerName(this.partition, this.epoch);
    for await (const info of jsm.consumers.list(names.commandStream)) {
      if (info.name.startsWith(prefix) && info.name !== mine) await jsm.consumers.delete(names.commandStream, info.name).catch(() => false);
    }
    const start = this.#rewound ? 1n : this.#claim.checkpointSeq + 1n;
    await jsm.consumers.add(names.commandStream, {
      durable_name: mine,
      filter_subject: names.commandSubject(this.partition),
      ack_policy: AckPolicy.All,
      ack_wait: this.#ctx.limits.ackWaitMs * 1_000_000,
      max_ack_pending: this.#ctx.limits.inboxMax * 2,
      ...(start === 1n ? { deliver_policy: DeliverPolicy.All } : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: Number(start) }),
    });
  }

  /** True once the shard cannot go on (its consumer failed): the worker then hands the partition back. */
  get failed(): boolean {
    return this.#failed;
  }

  async #read(): Promise<void> {
    const messages = this.#messages;
    if (messages === undefined) return;
    try {
      for await (const message of messages) {
        if (this.#stopping) break;
        this.#inbox.push({ message, receivedAtMs: Date.now() });
        this.#wake?.();
        while (this.#inbox.length >= this.#ctx.limits.inboxMax && !this.#stopping) {
          await new Promise<void>((resolve) => (this.#space = resolve));
        }
      }
    } catch (error) {
      this.#ctx.log.error({ err: error, partition: this.partition }, 'the partition consumer failed; handing the partition back');
      this.#failed = true;
    }
    if (!this.#stopping) {
      // The consumer ended without being asked to (deleted by a new owner, or failed): stop here.
      this.#failed = true;
      this.#stopping = true;
      this.#wake?.();
    }
  }

  /**
   * The pull consumer's own notices: a limit the server reports (a 409) makes the client wait for two
   * missed heartbeats before it pulls again, so each is logged and counted where operators see it.
   */
  async #watch(): Promise<void> {
    const messages = this.#messages;
    if (messages === undefined) return;
    for await (const notice of messages.status()) {
      if (notice.type === 'heartbeat' || notice.type === 'next') continue;
      this.#ctx.metrics.consumerNotices.inc({ type: notice.type });
      if (notice.type === 'exceeded_limits' || notice.type === 'heartbeats_missed') {
        this.#ctx.log.warn({ partition: this.partition, notice }, 'the partition consumer reported a limit or missed heartbeats');
      }
    }
  }

  async #process(): Promise<void> {
    const { limits } = this.#ctx;
    let retryDelayMs = limits.retryDelayMsMin;
    let batchLimit = limits.commitBatchMax;
    while (!this.#stopping) {
      if (this.#inbox.length === 0) {
        await Promise.race([new Promise<void>((resolve) => (this.#wake = resolve)), sleep(IDLE_TICK_MS)]);
        if (!this.#stopping) await this.#whenIdle();
        continue;
      }
      const batch = this.#nextBatch(batchLimit);
      try {
        await this.#commitBatch(batch);
        this.#inbox.splice(0, batch.length);
        this.#space?.();
        retryDelayMs = limits.retryDelayMsMin;
        batchLimit = limits.commitBatchMax;
      } catch (error) {
        this.#forgetBatchState();
        this.#afterFailedCommit();
        if (error instanceof FencedError) {
          this.#ctx.metrics.fenced.inc();
          this.#ctx.log.warn({ partition: this.partition, epoch: String(this.epoch) }, 'fenced off: another worker owns the partition');
          this.#stopping = true;
          break;
        }
        const dataError = isDataError(error);
        this.#ctx.metrics.commitRetries.inc({ reason: dataError ? 'data' : 'transient' });
        this.#ctx.log.error({ err: error, partition: this.partition, batch: batch.length }, 'group commit failed; retrying in order');
        if (dataError) {
          // Narrow down to the message Postgres refuses, then answer that one with a rejection (and poison).
          const only = batch[0];
          if (batch.length > 1) batchLimit = Math.ceil(batch.length / 2);
          else if (only !== undefined) this.#refused.set(BigInt(only.message.seq), nextRefusal(error, this.#refused.get(BigInt(only.message.seq))));
          continue;
        }
        await sleep(retryDelayMs);
        retryDelayMs = Math.min(retryDelayMs * 2, limits.retryDelayMsMax);
      }
    }
  }

  /**
   * The next batch: at most `limit` messages from the head of the inbox, ending at the first close
   * marker, so that the commands before the marker in stream order are in the snapshot and none after.
   */
  #nextBatch(limit: number): Delivery[] {
    const batch = this.#inbox.slice(0, limit);
    const marker = batch.findIndex(({ message }) => isCloseMarker(message));
    return marker === -1 ? batch : batch.slice(0, marker + 1);
  }

  /** With nothing to commit: republish events that failed, and record how far events are confirmed. */
  async #whenIdle(): Promise<void> {
    if (this.#eventsBehind) this.#events = this.#events.then(() => this.#publishEvents([], []));
    await this.#events;
    if (this.#eventsConfirmedSeq <= this.#eventsPersistedSeq) return;
    const confirmed = this.#eventsConfirmedSeq;
    try {
      await markEventsThrough(this.#ctx.pool, this.partition, this.epoch, confirmed);
      this.#eventsPersistedSeq = confirmed;
    } catch (error) {
      if (error instanceof FencedError) this.#stopping = true;
      else this.#ctx.log.warn({ err: error, partition: this.partition }, 'could not record the confirmed events; will try again');
    }
  }

  /**
   * A failed commit may have committed all the same (the connection broke after Postgres committed,
   * before the reply arrived). Its retry then answers those commands as replays and publishes no events
   * for them, so the next events to publish must come from the outbox, which holds every outcome after
   * the confirmed point, or the confirmed point would move past events never sent. Queued behind the
   * events in flight, so that none of them can clear the flag after it is set.
   */
  #afterFailedCommit(): void {
    this.#events = this.#events.then(() => {
      this.#eventsBehind = true;
    });
  }

  /** After a failed attempt, in-memory state may be ahead of Postgres: drop it, reload on the next try. */
  #forgetBatchState(): void {
    this.#actors.clear();
    this.#systemStale = true;
  }

  async #commitBatch(batch: readonly Delivery[]): Promise<void> {
    const ctx = this.#ctx;
    if (this.#systemStale) await this.#loadSystemAccounts();
    const received = batch.map(({ message }): Received => {
      const refused = this.#refused.get(BigInt(message.seq));
      return refused?.answer === 'poison-only'
        ? { kind: 'poison', record: poisonOf(message, PoisonCode.storageRefused, refusalReason(refused)) }
        : readMessage(message, this.partition, ctx.partitionCount, ctx.registry);
    });
    const commands = received.flatMap((r) => (r.kind === 'command' ? [r] : []));
    const poison: PoisonRecord[] = received.flatMap((r) => (r.kind === 'poison' ? [r.record] : []));
    for (const { message } of batch) {
      const refused = this.#refused.get(BigInt(message.seq));
      if (refused?.answer === 'rejection') poison.push(poisonOf(message, PoisonCode.storageRefused, refusalReason(refused)));
    }
    const close = await this.#closeOf(received, batch, poison);
    const stored = await ctx.lookups.outcomes.load([...new Set(commands.map((c) => c.command.commandId))]);
    await this.#loadActors(commands.map((c) => c.command));
    const movements = await this.#loadReferencedMovements(commands.map((c) => c.command));
    const orders = await loadOrders(ctx.pool, [...new Set(commands.flatMap((c) => ordersToLoad(ctx.registry, c.command)))]);

    const items: CommitItem[] = [];
    const answers: { command: Command; reply: string | undefined; answer: Answer }[] = [];
    const seen = new Map<string, { fingerprint: string; outcome: Outcome }>();
    for (const { command, streamSeq, reply, audit } of commands) {
      const fingerprint = commandFingerprint(command);
      const prior = seen.get(command.commandId) ?? stored.get(command.commandId);
      if (prior !== undefined) {
        answers.push({ command, reply, answer: answerRepeat(command, fingerprint, prior) });
        continue;
      }
      const refused = this.#refused.get(streamSeq);
      const actor = this.#actors.get(command.potId);
      if (actor === undefined) throw new Error(`pot ${command.potId} was not loaded`);
      const ctxForPlan = { assets: ctx.assets, partitionCount: ctx.partitionCount, movementId: randomUUID() };
      // A command the journal refused is answered with that refusal, not planned again.
      const { outcome, postings } =
        refused === undefined ? actor.handle(command, this.#system, ctx.registry, ctxForPlan, movements, orders) : { outcome: storageRejection(refused), postings: [] };
      items.push({ command, fingerprint, partition: this.partition, outcome, postings, streamSeq, audit });
      seen.set(command.commandId, { fingerprint, outcome });
      answers.push({ command, reply, answer: { kind: 'answered', outcome, replayed: false } });
      if (outcome.kind !== 'rejected') {
        rememberMovement(movements, outcome.movement);
        rememberOrder(orders, outcome.movement);
      }
    }

    const last = batch[batch.length - 1];
    if (last === undefined) return;
    const eventsThroughSeq = this.#eventsConfirmedSeq;
    const seqs = await ctx.committer.commit({
      partition: this.partition,
      epoch: this.epoch,
      items,
      poison,
      checkpointSeq: BigInt(last.message.seq),
      checkpointMessageId: last.message.headers?.get(HEADER.messageId) ?? '',
      eventsThroughSeq,
      ...(close === undefined ? {} : { close }),
    });
    if (close !== undefined) ctx.log.info({ partition: this.partition, businessDate: close.businessDate, streamSeq: String(close.streamSeq) }, 'close marker committed');
    if (eventsThroughSeq > this.#eventsPersistedSeq) this.#eventsPersistedSeq = eventsThroughSeq;
    for (const { message } of batch) this.#refused.delete(BigInt(message.seq));
    const committedAtMs = Date.now();
    ctx.failpoint?.('after-commit-before-ack');
    last.message.ack();
    ctx.failpoint?.('after-ack-before-events');
    this.#observe(batch, items, poison, committedAtMs, answers.length - items.length);
    this.#notify(answers);
    // Events go out off the commit path, in order; the outbox covers anything not confirmed.
    this.#events = this.#events.then(() => this.#publishEvents(items, seqs));
    this.#actors.passivate(new Set());
    ctx.metrics.liveActors.set({ partition: String(this.partition) }, this.#actors.size);
  }

  /**
   * The batch's close marker (always its last message, see #nextBatch), if the close of its day was
   * requested in Postgres; a marker for a day nobody asked to close is added to `poison` instead.
   */
  async #closeOf(received: readonly Received[], batch: readonly Delivery[], poison: PoisonRecord[]): Promise<{ businessDate: string; streamSeq: bigint } | undefined> {
    const index = received.findIndex((r) => r.kind === 'close');
    const marker = received[index];
    if (marker?.kind !== 'close') return undefined;
    if (index !== received.length - 1) throw new Error(`partition ${this.partition}: a close marker inside a batch, not at its end`);
    if (await closeRequested(this.#ctx.pool, marker.businessDate)) return { businessDate: marker.businessDate, streamSeq: marker.streamSeq };
    const message = batch[index]?.message;
    if (message !== undefined) poison.push(poisonOf(message, PoisonCode.closeMarker, `a close marker for ${marker.businessDate}, whose close was never requested`));
    return undefined;
  }

  async #loadSystemAccounts(): Promise<void> {
    const { rows } = await this.#ctx.pool.query<{ account_id: string; balance_minor: bigint; version: bigint }>(
      "SELECT account_id, balance_minor, version FROM balances WHERE owner_type = 'system' AND partition = $1",
      [this.partition],
    );
    this.#system.balances.clear();
    this.#system.versions.clear();
    for (const row of rows) this.#system.load(row.account_id, row.balance_minor, row.version);
    this.#systemStale = false;
  }

  /** Loads every pot of the batch that has no live actor (absent pots included), coalesced with the other partitions. */
  async #loadActors(commands: readonly Command[]): Promise<void> {
    const missing = [...new Set(commands.map((c) => c.potId))].filter((potId) => this.#actors.get(potId) === undefined);
    if (missing.length === 0) return;
    const loaded = await this.#ctx.lookups.pots.load(missing);
    for (const potId of missing) {
      const { pot, accounts } = loaded.get(potId) ?? { pot: undefined, accounts: [] };
      const actor = new PotActor(potId, pot);
      for (const { account, balanceMinor, version } of accounts) actor.book.load(account, balanceMinor, version);
      this.#actors.add(actor);
    }
  }

  async #loadReferencedMovements(commands: readonly Command[]): Promise<Map<string, LoadedMovement>> {
    const ids = new Set(commands.flatMap((command) => movementsToLoad(this.#ctx.registry, command)));
    return loadMovements(this.#ctx.pool, [...ids]);
  }


  #observe(batch: readonly Delivery[], items: readonly CommitItem[], poison: readonly PoisonRecord[], committedAtMs: number, replays: number): void {
    const { metrics } = this.#ctx;
    const partition = String(this.partition);
    metrics.replays.inc(replays);
    for (const record of poison) metrics.poison.inc({ code: record.code });
    for (const item of items) metrics.outcomes.inc({ kind: item.outcome.kind });
    const receivedAt = new Map(batch.map((d) => [BigInt(d.message.seq), d.receivedAtMs]));
    for (const item of items) {
      const produced = Date.parse(item.command.producedAt);
      const effective = Date.parse(`${item.command.effectiveDate}T00:00:00Z`);
      const consumed = receivedAt.get(item.streamSeq ?? -1n) ?? committedAtMs;
      const lags = [produced - effective, consumed - produced, committedAtMs - consumed];
      LAG_STAGES.forEach((stage, index) => {
        const lag = lags[index];
        if (lag !== undefined && Number.isFinite(lag)) metrics.lagSeconds.observe({ partition, stage }, Math.max(0, lag) / 1000);
      });
    }
    const pending = batch[batch.length - 1]?.message.info.pending;
    if (pending !== undefined) metrics.consumerPending.set({ partition }, pending);
  }

  /**
   * Tells each waiting publisher its outcome (core NATS, best effort: the outcome is also queryable).
   * Only to a reply subject (`<prefix>.reply.…` or `_INBOX.…`, see replySubjectAllowed): a forged
   * Potledger-Reply naming a command, event or custodian subject gets nothing.
   */
  #notify(answers: readonly { command: Command; reply: string | undefined; answer: Answer }[]): void {
    for (const { command, reply, answer } of answers) {
      // A reply subject outside the notice namespaces is ignored: the outcome stays queryable.
      if (reply === undefined || !replySubjectAllowed(this.#ctx.names, reply)) continue;
      const notice: OutcomeNotice = {
        commandId: command.commandId,
        status: answer.kind,
        replayed: answer.kind === 'answered' && answer.replayed,
        outcome: outcomeToWire(answer.kind === 'answered' ? answer.outcome : answer.rejection, this.#ctx.assets),
      };
      try {
        this.#ctx.nc.publish(reply, JSON.stringify(notice));
      } catch {
        // The connection is closing; the publisher will ask for the outcome instead.
      }
    }
  }

  /**
   * Publishes an event for each new outcome, with the movement id (or the command id for a
   * rejection) as JetStream message id. Confirmed events are recorded with the next commit; events
   * that could not be published are republished from the outbox.
   */
  async #publishEvents(items: readonly CommitItem[], seqs: readonly bigint[]): Promise<void> {
    if (!this.#eventsBehind) {
      try {
        await this.#publishEventBatch(
          items.map((item, index) => ({ commandId: item.command.commandId, seq: seqs[index] ?? 0n, outcome: outcomeToWire(item.outcome, this.#ctx.assets) })),
        );
        return;
      } catch (error) {
        this.#eventsBehind = true;
        this.#ctx.log.warn({ err: error, partition: this.partition }, 'event publication failed; the outbox will republish');
      }
    }
    try {
      await this.#republishOutbox();
      this.#eventsBehind = false;
    } catch (error) {
      this.#ctx.log.warn({ err: error, partition: this.partition }, 'outbox republish failed; will try again after the next commit');
    }
  }

  /**
   * Publishes events in order through the worker's EventBatcher (the events of all partitions in one
   * turn of the event loop, each acknowledged by JetStream); the partition's confirmed point moves only
   * past events the stream acknowledged, all of them before it included.
   */
  async #publishEventBatch(events: readonly { commandId: string; seq: bigint; outcome: ReturnType<typeof outcomeToWire> }[]): Promise<void> {
    const last = events[events.length - 1];
    if (last === undefined) return;
    const subject = this.#ctx.names.eventSubject(this.partition);
    const published = this.#ctx.events.publish(
      events.map(({ commandId, seq, outcome }) => {
        const event: LedgerEvent = { commandId, partition: this.partition, outcomeSeq: seq.toString(), outcome };
        const headers = natsHeaders();
        headers.set('Potledger-Outcome', outcome.kind);
        const msgID = outcome.kind === 'rejected' ? `rejected-${commandId}` : outcome.movement.movementId;
        return { subject, data: JSON.stringify(event), headers, msgID };
      }),
    );
    try {
      await published;
    } catch (error) {
      if (!(error instanceof EventsRefusedError)) throw error;
      this.#ctx.metrics.eventsUnconfirmed.inc(error.eventCount - error.confirmedCount);
      const stored = events[error.confirmedCount - 1];
      if (stored !== undefined) this.#eventsConfirmedSeq = stored.seq;
      throw error;
    }
    this.#eventsConfirmedSeq = last.seq;
  }

  /** Publishes the events of every outcome of the partition after the confirmed point, in order. */
  async #republishOutbox(): Promise<void> {
    const pageSize = 1000;
    for (;;) {
      const page = await outcomesAfter(this.#ctx.pool, this.partition, this.#eventsConfirmedSeq, pageSize, this.#ctx.assets);
      await this.#publishEventBatch(page.map((row) => ({ commandId: row.commandId, seq: row.seq, outcome: outcomeToWire(row.outcome, this.#ctx.assets) })));
      if (page.length < pageSize) break;
    }
    if (this.#eventsConfirmedSeq > this.#eventsPersistedSeq) {
      await markEventsThrough(this.#ctx.pool, this.partition, this.epoch, this.#eventsConfirmedSeq);
      this.#eventsPersistedSeq = this.#eventsConfirmedSeq;
    }
  }
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

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
