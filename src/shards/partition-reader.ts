/**
 * The reader of a partition: its JetStream pull consumer for one ownership epoch, from the checks made
 * before it starts (does the stream still hold the checkpoint?) to its stop, and the flow control
 * between the consumer and the shard's processing loop (a bounded inbox, back-pressure, idle ticks).
 */
import { AckPolicy, DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import type { Claim } from './fence.js';
import type { Log } from './log.js';
import type { ShardMetrics } from './metrics.js';
import { HEADER } from '../wire/index.js';
import type { Names } from './names.js';
import { isCloseMarker } from './parse.js';

/** A message as pulled, with the time it arrived (for the consumed → committed lag). */
export interface Delivery {
  readonly message: JsMsg;
  readonly receivedAtMs: number;
}

export interface ReaderContext {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly names: Names;
  readonly metrics: ShardMetrics;
  readonly log: Log;
  /** Most messages buffered before the reader stops pulling (back-pressure). */
  readonly inboxMax: number;
  /** How long JetStream waits for an ack before redelivering. */
  readonly ackWaitMs: number;
}

/** Most messages one pull asks for; fewer when the inbox is smaller. */
const PULL_MESSAGES_MAX = 1000;
/** How long one pull request waits on the server before the client asks again. */
const PULL_EXPIRES_MS = 5000;

/**
 * Reads one partition for one epoch. Its fields are written by its own loops (`#read` fills the inbox
 * and waits for space; `#watch` only counts) and by the shard's processing loop through `take` and
 * `halt`; `stopping` is the one flag both sides set.
 */
export class PartitionReader {
  readonly #ctx: ReaderContext;
  readonly #claim: Claim;
  /** Messages pulled and not yet committed, in stream order. Filled by #read, emptied by take(). */
  readonly #inbox: Delivery[] = [];
  #messages: ConsumerMessages | undefined;
  /** Wakes the processing loop waiting for messages (set by waitForMessages). */
  #wake: (() => void) | undefined;
  /** Wakes #read waiting for space in the inbox (set by #read). */
  #space: (() => void) | undefined;
  #stopping = false;
  #failed = false;
  /** The command stream no longer holds the checkpoint's message: read the partition from the start. */
  #rewound = false;
  #loops: Promise<unknown> = Promise.resolve();

  constructor(ctx: ReaderContext, claim: Claim) {
    this.#ctx = ctx;
    this.#claim = claim;
  }

  get partition(): number {
    return this.#claim.partition;
  }

  /** True once the shard is to stop: asked to, fenced off, or its consumer ended. */
  get stopping(): boolean {
    return this.#stopping;
  }

  /** True once the partition cannot go on here (its consumer failed, or a bug): the worker hands it back. */
  get failed(): boolean {
    return this.#failed;
  }

  /**
   * Checks the command stream against the journal before reading on. A single-node nats-server that
   * lived through an OS crash comes back with its store as of its last fsync (2.9 fsyncs every 60 s): the
   * stream may have lost messages the journal has committed, and its next messages reuse their sequence
   * numbers, which a consumer started after the checkpoint would skip. When the stream does not hold the
   * checkpoint's message at the checkpoint's sequence, the partition is read from the start of the
   * stream instead: every command committed already is answered from its outcome, nothing is skipped.
   */
  async checkCommandStream(): Promise<void> {
    const { jsm, names, log } = this.#ctx;
    const checkpoint = this.#claim.checkpointSeq;
    if (checkpoint === 0n) return;
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
    if (reason === undefined) return;
    this.#rewound = true;
    this.#ctx.metrics.streamRewinds.inc({ stream: 'commands' });
    log.error(
      { partition: this.partition, checkpoint: String(checkpoint), reason },
      'the command stream lost messages the journal committed (nats-server restored an older store?): reading the partition from the start of the stream',
    );
  }

  /**
   * A fresh consumer for this epoch that starts right after the checkpoint; every older consumer of
   * the partition is deleted, so a previous owner (paused, cut off) can no longer pull from it.
   */
  async replaceConsumer(): Promise<void> {
    const { jsm, names } = this.#ctx;
    const prefix = `${names.prefix}-p${this.partition}-e`;
    const mine = names.consumerName(this.partition, this.#claim.epoch);
    for await (const info of jsm.consumers.list(names.commandStream)) {
      if (info.name.startsWith(prefix) && info.name !== mine) await jsm.consumers.delete(names.commandStream, info.name).catch(() => false);
    }
    const start = this.#rewound ? 1n : this.#claim.checkpointSeq + 1n;
    await jsm.consumers.add(names.commandStream, {
      durable_name: mine,
      filter_subject: names.commandSubject(this.partition),
      ack_policy: AckPolicy.All,
      ack_wait: this.#ctx.ackWaitMs * 1_000_000,
      max_ack_pending: this.#ctx.inboxMax * 2,
      ...(start === 1n ? { deliver_policy: DeliverPolicy.All } : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: Number(start) }),
    });
  }

  /** Starts pulling from the consumer made by replaceConsumer. */
  async startReading(): Promise<void> {
    const { js, names, inboxMax } = this.#ctx;
    const consumer = await js.consumers.get(names.commandStream, names.consumerName(this.partition, this.#claim.epoch));
    // A consumer that is gone (deleted by a new owner, or lost with a nats-server store that went back
    // to an older state) ends the reading with an error instead of being retried for ever: the worker
    // then hands the partition back, and the next claim makes a consumer and checks the streams again.
    this.#messages = await consumer.consume({ max_messages: Math.min(inboxMax, PULL_MESSAGES_MAX), expires: PULL_EXPIRES_MS, abort_on_missing_resource: true });
    this.#loops = Promise.all([this.#read(this.#messages), this.#watch(this.#messages)]);
  }

  /** True when messages wait in the inbox. */
  get hasMessages(): boolean {
    return this.#inbox.length > 0;
  }

  /** Resolves when a message arrives, the reader stops, or `idleMs` pass. */
  async waitForMessages(idleMs: number): Promise<void> {
    if (this.#inbox.length > 0 || this.#stopping) return;
    // A plain timer, cleared on wake: aborting a timers/promises sleep instead built a DOMException
    // (AbortError, with its stack) on every wake, about 10 µs of worker CPU per command under load.
    let idle: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      idle = setTimeout(resolve, idleMs);
    });
    clearTimeout(idle);
  }

  /**
   * The next batch: at most `limit` messages from the head of the inbox, ending at the first close
   * marker, so that the commands before the marker in stream order are in the snapshot and none after.
   * They stay in the inbox until `take`.
   */
  nextBatch(limit: number): readonly Delivery[] {
    const batch = this.#inbox.slice(0, limit);
    const marker = batch.findIndex(({ message }) => isCloseMarker(message));
    return marker === -1 ? batch : batch.slice(0, marker + 1);
  }

  /** The first `count` messages are committed: drops them from the inbox and lets the reader pull again. */
  take(count: number): void {
    this.#inbox.splice(0, count);
    this.#space?.();
  }

  /** Stops the partition here: the processing loop ends; with `failed`, the worker hands the partition back. */
  halt(failed: boolean): void {
    if (failed) this.#failed = true;
    this.#stopping = true;
    this.#wake?.();
    this.#space?.();
  }

  /** Stops pulling and returns once the reader's loops have ended. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#messages?.close().catch(() => undefined);
    this.#wake?.();
    this.#space?.();
    await this.#loops;
  }

  async #read(messages: ConsumerMessages): Promise<void> {
    try {
      for await (const message of messages) {
        if (this.#stopping) break;
        this.#inbox.push({ message, receivedAtMs: Date.now() });
        this.#wake?.();
        // Back-pressure: a full inbox stops the pulling until the processing loop takes a batch.
        while (this.#inbox.length >= this.#ctx.inboxMax && !this.#stopping) {
          await new Promise<void>((resolve) => (this.#space = resolve));
        }
      }
    } catch (error) {
      this.#ctx.log.error({ err: error, partition: this.partition }, 'the partition consumer failed; handing the partition back');
      this.#failed = true;
    }
    // The consumer ended without being asked to (deleted by a new owner, or failed): stop here.
    if (!this.#stopping) this.halt(true);
  }

  /**
   * The pull consumer's own notices: a limit the server reports (a 409) makes the client wait for two
   * missed heartbeats before it pulls again, so each is logged and counted where operators see it.
   */
  async #watch(messages: ConsumerMessages): Promise<void> {
    for await (const notice of messages.status()) {
      if (notice.type === 'heartbeat' || notice.type === 'next') continue;
      this.#ctx.metrics.consumerNotices.inc({ type: notice.type });
      if (notice.type === 'exceeded_limits' || notice.type === 'heartbeats_missed') {
        this.#ctx.log.warn({ partition: this.partition, notice }, 'the partition consumer reported a limit or missed heartbeats');
      }
    }
  }
}
