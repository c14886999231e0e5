/**
 * A partition's event outbox: publishes an event for every committed outcome (through the worker's
 * EventBatcher, which confirms each by its own JetStream acknowledgement), keeps how far the events are
 * confirmed, and republishes from `command_outcomes` whatever was not confirmed. Every outcome after
 * the confirmed point is in the journal, so nothing is lost when a publication fails or the worker dies.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import type pg from 'pg';
import type { AssetCatalog, Outcome } from '../ledger/index.js';
import { outcomeSeqOfEvent } from '../journal/partition-reads.js';
import { outcomesAfter } from '../journal/store.js';
import { eventMessageId, eventMessageIdTarget, HEADER, ledgerEvent } from '../wire/index.js';
import { EventsRefusedError, type EventBatcher } from './event-batcher.js';
import { FencedError, markEventsThrough } from './fence.js';
import type { Log } from './log.js';
import type { ShardMetrics } from './metrics.js';
import type { Names } from './names.js';

/** Most outcomes read from the journal per page when republishing (a page is one batch of events). */
export const OUTBOX_PAGE_MAX = 1000;
/**
 * Most pages one republication goes through before it yields to the next commit: a partition far
 * behind (a long outage of the event stream) catches up over several rounds, not in one unbounded loop.
 */
export const OUTBOX_PAGES_PER_ROUND_MAX = 100;

export interface OutboxContext {
  readonly pool: pg.Pool;
  readonly names: Names;
  readonly assets: AssetCatalog;
  readonly events: EventBatcher;
  readonly metrics: ShardMetrics;
  readonly log: Log;
  readonly partition: number;
  readonly epoch: bigint;
}

/** An outcome to publish: its command and its outbox sequence. */
export interface CommittedOutcome {
  readonly commandId: string;
  readonly seq: bigint;
  readonly outcome: Outcome;
}

/**
 * The outbox of one partition and epoch. Its fields are written only by the chain of event work it
 * runs one step at a time (`#chain`), and by `committed`, which the shard's processing loop calls
 * between two of its own steps.
 */
export class EventOutbox {
  readonly #ctx: OutboxContext;
  /** Every outcome up to here has its event confirmed by JetStream. */
  #confirmedSeq: bigint;
  /** How far the journal records the events as confirmed (partition_owners.events_through_seq). */
  #persistedSeq: bigint;
  /** Events were lost or not confirmed: the next ones come from the journal, not from the batch. */
  #behind = false;
  /** The event work of the partition, one step after another, in commit order. */
  #chain: Promise<void> = Promise.resolve();

  constructor(ctx: OutboxContext, eventsThroughSeq: bigint) {
    this.#ctx = ctx;
    this.#confirmedSeq = eventsThroughSeq;
    this.#persistedSeq = eventsThroughSeq;
  }

  /** Outcomes up to here have their events confirmed: recorded with the next commit. */
  get confirmedSeq(): bigint {
    return this.#confirmedSeq;
  }

  /**
   * Compares the event stream with the outbox's mark: when the partition's last event in the stream is
   * older than the mark (nats-server restored an older store), the outbox republishes from that event.
   */
  async checkEventStream(jsm: JetStreamManager): Promise<void> {
    if (this.#confirmedSeq === 0n) return;
    const { names, pool, partition, log, metrics } = this.#ctx;
    const lastEvent = await jsm.streams.getMessage(names.eventStream, { last_by_subj: names.eventSubject(partition) }).catch(() => null);
    const eventId = lastEvent?.header.get(HEADER.messageId);
    if (eventId === undefined || eventId === '') return;
    const seq = await outcomeSeqOfEvent(pool, partition, eventMessageIdTarget(eventId));
    if (seq !== undefined && seq < this.#confirmedSeq) {
      metrics.streamRewinds.inc({ stream: 'events' });
      log.error({ partition, lastEvent: eventId, outboxMark: String(this.#confirmedSeq) }, 'the event stream lost events the outbox had confirmed: republishing them');
      this.#confirmedSeq = seq;
    }
  }

  /**
   * A batch was committed with the events mark `eventsThroughSeq`: its outcomes' events go out off
   * the commit path, in order, after the event work in flight.
   */
  committed(eventsThroughSeq: bigint, outcomes: readonly CommittedOutcome[]): void {
    if (eventsThroughSeq > this.#persistedSeq) this.#persistedSeq = eventsThroughSeq;
    this.#chain = this.#chain.then(() => this.#publishCommitted(outcomes));
  }

  /**
   * A failed commit may have committed all the same (the connection broke after Postgres committed,
   * before the reply arrived). Its retry then answers those commands as replays and publishes no events
   * for them, so the next events to publish must come from the outbox, which holds every outcome after
   * the confirmed point, or the confirmed point would move past events never sent. Queued behind the
   * events in flight, so that none of them can clear the flag after it is set.
   */
  afterFailedCommit(): void {
    this.#chain = this.#chain.then(() => {
      this.#behind = true;
    });
  }

  /**
   * With nothing to commit: republishes events that failed, and records how far events are confirmed.
   * Throws FencedError when the partition has moved to another owner.
   */
  async whenIdle(): Promise<void> {
    if (this.#behind) this.#chain = this.#chain.then(() => this.#publishCommitted([]));
    await this.#chain;
    if (this.#confirmedSeq <= this.#persistedSeq) return;
    const confirmed = this.#confirmedSeq;
    try {
      await markEventsThrough(this.#ctx.pool, this.#ctx.partition, this.#ctx.epoch, confirmed);
      this.#persistedSeq = confirmed;
    } catch (error) {
      if (error instanceof FencedError) throw error;
      this.#ctx.log.warn({ err: error, partition: this.#ctx.partition }, 'could not record the confirmed events; will try again');
    }
  }

  /** Resolves once the event work queued so far has ended (it never rejects). */
  settled(): Promise<void> {
    return this.#chain;
  }

  /**
   * Publishes the events of every outcome of the partition after the confirmed point, in order (at most
   * OUTBOX_PAGES_PER_ROUND_MAX pages: the outbox stays behind until a later round has caught up), and
   * records how far they are confirmed. Throws when a publication fails.
   */
  async republish(): Promise<void> {
    const { pool, partition, assets, epoch } = this.#ctx;
    let caughtUp = false;
    for (let page = 0; page < OUTBOX_PAGES_PER_ROUND_MAX && !caughtUp; page += 1) {
      const outcomes = await outcomesAfter(pool, partition, this.#confirmedSeq, OUTBOX_PAGE_MAX, assets);
      await this.#publish(outcomes);
      caughtUp = outcomes.length < OUTBOX_PAGE_MAX;
    }
    this.#behind = !caughtUp;
    if (this.#confirmedSeq > this.#persistedSeq) {
      await markEventsThrough(pool, partition, epoch, this.#confirmedSeq);
      this.#persistedSeq = this.#confirmedSeq;
    }
  }

  /** A batch's events, or (when behind) a republication from the journal; failures leave the outbox behind. */
  async #publishCommitted(outcomes: readonly CommittedOutcome[]): Promise<void> {
    if (!this.#behind) {
      try {
        await this.#publish(outcomes);
        return;
      } catch (error) {
        this.#behind = true;
        this.#ctx.log.warn({ err: error, partition: this.#ctx.partition }, 'event publication failed; the outbox will republish');
      }
    }
    try {
      await this.republish();
    } catch (error) {
      this.#ctx.log.warn({ err: error, partition: this.#ctx.partition }, 'outbox republish failed; will try again after the next commit');
    }
  }

  /**
   * Publishes events in order through the worker's EventBatcher (the events of all partitions in one
   * turn of the event loop, each acknowledged by JetStream); the confirmed point moves only past events
   * the stream acknowledged, all of them before it included.
   */
  async #publish(outcomes: readonly CommittedOutcome[]): Promise<void> {
    const last = outcomes[outcomes.length - 1];
    if (last === undefined) return;
    const { names, partition, assets, events, metrics } = this.#ctx;
    const subject = names.eventSubject(partition);
    const published = events.publish(
      outcomes.map(({ commandId, seq, outcome }) => {
        const event = ledgerEvent(commandId, partition, seq, outcome, assets);
        const headers = natsHeaders();
        headers.set(HEADER.outcome, event.outcome.kind);
        return { subject, data: JSON.stringify(event), headers, msgID: eventMessageId(event) };
      }),
    );
    try {
      await published;
    } catch (error) {
      if (!(error instanceof EventsRefusedError)) throw error;
      metrics.eventsUnconfirmed.inc(error.eventCount - error.confirmedCount);
      const stored = outcomes[error.confirmedCount - 1];
      if (stored !== undefined) this.#confirmedSeq = stored.seq;
      throw error;
    }
    this.#confirmedSeq = last.seq;
  }
}
