/**
 * One partition of one ownership epoch, coordinated: the reader (partition-reader.ts) pulls its
 * commands, the batch planner (batch-planner.ts) plans each batch on the state loaded here, the group
 * committer writes it fenced by epoch, and only then is it acknowledged, answered, and handed to the
 * event outbox (event-outbox.ts). Retries, the narrowing down of data errors, and stopping on a fence
 * or a bug are decided here.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type pg from 'pg';
import { ActorDirectory } from '../actors/directory.js';
import type { AccountBook, PotActor } from '../actors/pot-actor.js';
import { LedgerAssertionError, type AssetCatalog, type ProcessRegistry } from '../ledger/index.js';
import { sqlState } from '../journal/database.js';
import { closeRequested } from '../journal/end-of-day.js';
import { loadPotsWithAccounts, loadSystemAccounts, type LoadedPot } from '../journal/partition-reads.js';
import { findOutcomes, loadMovements, loadOrders, type StoredOutcome } from '../journal/store.js';
import { HEADER } from '../wire/index.js';
import { actorFromSnapshot, bookOf, planBatch, readBatch, stateToLoad, type PlannerSetup, type PlanState, type ReadBatch } from './batch-planner.js';
import { Coalescer } from './coalescer.js';
import type { EventBatcher } from './event-batcher.js';
import { EventOutbox } from './event-outbox.js';
import { FencedError, type Claim } from './fence.js';
import type { Failpoint } from './failpoints.js';
import type { GroupCommitter } from './group-committer.js';
import type { Log } from './log.js';
import { observeBatch, type ShardMetrics } from './metrics.js';
import type { Names } from './names.js';
import { sendNotices } from './outcome-notices.js';
import { PartitionReader, type Delivery } from './partition-reader.js';
import { nextRefusal, type StorageRefusal } from './refusals.js';

export type { LoadedPot };

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
  /**
   * Backoff between retries of a batch after a transient failure. The retries have no count limit on
   * purpose: a partition waits out a Postgres outage in stream order; the wait between two is bounded.
   */
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
  /** Called at each failpoint (tests make the process die, or fail, there); a no-op in production. */
  readonly failpoint?: (name: Failpoint) => void;
}

export interface ShardLookups {
  readonly outcomes: Coalescer<string, StoredOutcome>;
  readonly pots: Coalescer<string, LoadedPot>;
}

/** Look-ups for a worker's shards: recorded outcomes by commandId, pots by id, coalesced per turn. */
export function shardLookups(pool: pg.Pool, assets: AssetCatalog): ShardLookups {
  return {
    outcomes: new Coalescer((ids) => findOutcomes(pool, ids, assets)),
    pots: new Coalescer((ids) => loadPotsWithAccounts(pool, ids)),
  };
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

/** A broken assumption (the planner's or the journal's): a bug, which stops the partition here. */
export function isAssertionFailure(error: unknown): boolean {
  return error instanceof LedgerAssertionError || (error instanceof Error && (error as { code?: unknown }).code === 'LEDGER_ERR_ASSERTION');
}

/**
 * One partition of one ownership epoch. Which loop owns what: the reader's own loops own the inbox
 * (inside PartitionReader); the outbox's chain of event work owns the events marks (inside EventOutbox);
 * the processing loop (`#process`) owns everything here that changes: the actor cache, the system
 * accounts and the refusals.
 */
export class PartitionShard {
  readonly #ctx: ShardContext;
  readonly #claim: Claim;
  readonly #setup: PlannerSetup;
  readonly #reader: PartitionReader;
  readonly #outbox: EventOutbox;
  /** The live pot actors (a bounded cache; handed to the planner, which advances them; dropped after a failed batch). */
  readonly #actors: ActorDirectory;
  /** The partition's system accounts (handed to the planner like the actors); undefined: load them again. */
  #system: AccountBook | undefined;
  /** Messages whose writes Postgres refused for good, by stream sequence: answered with a rejection and recorded as poison. */
  readonly #refused = new Map<bigint, StorageRefusal>();
  #processing: Promise<void> = Promise.resolve();

  private constructor(ctx: ShardContext, claim: Claim) {
    this.#ctx = ctx;
    this.#claim = claim;
    this.#setup = { partition: claim.partition, partitionCount: ctx.partitionCount, registry: ctx.registry, assets: ctx.assets };
    this.#actors = new ActorDirectory(ctx.limits.liveActorsMax);
    this.#reader = new PartitionReader({ ...ctx, inboxMax: ctx.limits.inboxMax, ackWaitMs: ctx.limits.ackWaitMs }, claim);
    this.#outbox = new EventOutbox({ ...ctx, partition: claim.partition, epoch: claim.epoch }, claim.eventsThroughSeq);
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

  /** True once the shard cannot go on (its consumer failed, or a bug): the worker then hands the partition back. */
  get failed(): boolean {
    return this.#reader.failed;
  }

  /** Starts the shard for a partition just claimed in Postgres: checks the streams, then reads. */
  static async start(ctx: ShardContext, claim: Claim): Promise<PartitionShard> {
    const shard = new PartitionShard(ctx, claim);
    await shard.#reader.checkCommandStream();
    await shard.#outbox.checkEventStream(ctx.jsm);
    await shard.#reader.replaceConsumer();
    await shard.#outbox.republish();
    await shard.#reader.startReading();
    shard.#processing = shard.#process();
    return shard;
  }

  /** Stops pulling, lets the batch in flight finish, and returns when the loops have ended. */
  async stop(): Promise<void> {
    await this.#reader.stop();
    await this.#processing;
    await this.#outbox.settled();
    this.#ctx.metrics.liveActors.remove({ partition: String(this.partition) });
  }

  async #process(): Promise<void> {
    const { limits } = this.#ctx;
    let retryDelayMs = limits.retryDelayMsMin;
    let batchLimit = limits.commitBatchMax;
    while (!this.#reader.stopping) {
      if (!this.#reader.hasMessages) {
        await this.#reader.waitForMessages(IDLE_TICK_MS);
        if (!this.#reader.stopping) await this.#whenIdle();
        continue;
      }
      const batch = this.#reader.nextBatch(batchLimit);
      try {
        await this.#commitBatch(batch);
        this.#reader.take(batch.length);
        retryDelayMs = limits.retryDelayMsMin;
        batchLimit = limits.commitBatchMax;
      } catch (error) {
        const next = this.#afterFailure(error, batch);
        if (next === 'stop') break;
        if (next === 'narrow') batchLimit = Math.ceil(batch.length / 2);
        if (next !== 'retry') continue;
        await sleep(retryDelayMs);
        retryDelayMs = Math.min(retryDelayMs * 2, limits.retryDelayMsMax);
      }
    }
  }

  /**
   * After a failed batch: in-memory state may be ahead of Postgres (the commit may have gone through),
   * so it is dropped. A fence stops the partition; a bug (an assertion) stops it and hands it back, so
   * that the next claim reads its commands again (none is answered, none is poison); a data error is
   * narrowed down to its message, which is then answered with a rejection (and poison); anything else
   * is retried in order after a delay.
   */
  #afterFailure(error: unknown, batch: readonly Delivery[]): 'stop' | 'narrow' | 'again' | 'retry' {
    const { metrics, log } = this.#ctx;
    this.#actors.clear();
    this.#system = undefined;
    this.#outbox.afterFailedCommit();
    if (error instanceof FencedError) {
      metrics.fenced.inc();
      log.warn({ partition: this.partition, epoch: String(this.epoch) }, 'fenced off: another worker owns the partition');
      this.#reader.halt(false);
      return 'stop';
    }
    if (isAssertionFailure(error)) {
      log.error(
        { err: error, partition: this.partition, epoch: String(this.epoch), batch: batch.length },
        'an internal assertion failed: stopping the partition, to be claimed again and its commands read again',
      );
      this.#reader.halt(true);
      return 'stop';
    }
    const dataError = isDataError(error);
    metrics.commitRetries.inc({ reason: dataError ? 'data' : 'transient' });
    log.error({ err: error, partition: this.partition, batch: batch.length }, 'group commit failed; retrying in order');
    if (!dataError) return 'retry';
    // Narrow down to the message Postgres refuses, then answer that one with a rejection (and poison).
    const only = batch[0];
    if (batch.length > 1) return 'narrow';
    if (only !== undefined) this.#refused.set(BigInt(only.message.seq), nextRefusal(error, this.#refused.get(BigInt(only.message.seq))));
    return 'again';
  }

  /** With nothing to commit: the outbox republishes what failed and records how far events are confirmed. */
  async #whenIdle(): Promise<void> {
    try {
      await this.#outbox.whenIdle();
    } catch (error) {
      if (!(error instanceof FencedError)) throw error;
      this.#reader.halt(false);
    }
  }

  async #commitBatch(batch: readonly Delivery[]): Promise<void> {
    const ctx = this.#ctx;
    const last = batch[batch.length - 1];
    if (last === undefined) return;
    const read = readBatch(this.#setup, batch.map((delivery) => delivery.message), this.#refused);
    const { state, closeAsked } = await this.#load(read);
    const plan = planBatch(this.#setup, read, state, { newMovementId: randomUUID, closeRequested: closeAsked, refused: this.#refused });
    ctx.failpoint?.('after-plan-before-commit');
    const eventsThroughSeq = this.#outbox.confirmedSeq;
    const seqs = await ctx.committer.commit({
      partition: this.partition,
      epoch: this.epoch,
      items: plan.items,
      poison: plan.poison,
      checkpointSeq: BigInt(last.message.seq),
      checkpointMessageId: last.message.headers?.get(HEADER.messageId) ?? '',
      eventsThroughSeq,
      ...(plan.close === undefined ? {} : { close: plan.close }),
    });
    const { close } = plan;
    if (close !== undefined) ctx.log.info({ partition: this.partition, businessDate: close.businessDate, streamSeq: String(close.streamSeq) }, 'close marker committed');
    for (const { message } of batch) this.#refused.delete(BigInt(message.seq));
    this.#remember(plan.after);
    const committedAtMs = Date.now();
    ctx.failpoint?.('after-commit-before-ack');
    last.message.ack();
    ctx.failpoint?.('after-ack-before-events');
    observeBatch(ctx.metrics, {
      partition: this.partition,
      receivedAtMs: new Map(batch.map((d) => [BigInt(d.message.seq), d.receivedAtMs])),
      items: plan.items,
      poison: plan.poison,
      replays: plan.answers.length - plan.items.length,
      committedAtMs,
      pending: last.message.info.pending,
    });
    sendNotices(ctx.nc, ctx.names, ctx.assets, plan.answers);
    // Events go out off the commit path, in order; the outbox covers anything not confirmed.
    this.#outbox.committed(eventsThroughSeq, plan.items.map((item, index) => ({ commandId: item.command.commandId, seq: seqs[index] ?? 0n, outcome: item.outcome })));
    this.#actors.passivate(new Set());
    ctx.metrics.liveActors.set({ partition: String(this.partition) }, this.#actors.size);
  }

  /** Loads what the batch needs: system accounts (once), its close's permission, recorded outcomes, pots, movements, orders. */
  async #load(read: ReadBatch): Promise<{ state: PlanState; closeAsked: boolean }> {
    const { pool, lookups } = this.#ctx;
    const wanted = stateToLoad(this.#setup, read);
    const system = this.#system ?? bookOf(await loadSystemAccounts(pool, this.partition));
    this.#system = system;
    const closeAsked = wanted.closeDate !== undefined && (await closeRequested(pool, wanted.closeDate));
    const recorded = await lookups.outcomes.load(wanted.commandIds);
    const pots = await this.#loadPots(wanted.potIds);
    const movements = await loadMovements(pool, wanted.movementIds);
    const orders = await loadOrders(pool, wanted.orderIds);
    return { state: { pots, system, recorded, movements, orders }, closeAsked };
  }

  /** The batch's pots' actors: the live ones, and new ones for the others, loaded (coalesced with the other partitions' look-ups). */
  async #loadPots(potIds: readonly string[]): Promise<Map<string, PotActor>> {
    const pots = new Map<string, PotActor>();
    const missing: string[] = [];
    for (const potId of potIds) {
      const actor = this.#actors.get(potId);
      if (actor === undefined) missing.push(potId);
      else pots.set(potId, actor);
    }
    if (missing.length === 0) return pots;
    const loaded = await this.#ctx.lookups.pots.load(missing);
    for (const potId of missing) pots.set(potId, actorFromSnapshot(potId, loaded.get(potId) ?? { pot: undefined, accounts: [] }));
    return pots;
  }

  /** The committed batch's state is the partition's: its pots' actors (new ones included) and the system accounts. */
  #remember(after: PlanState): void {
    for (const actor of after.pots.values()) this.#actors.add(actor);
    this.#system = after.system;
  }
}
