import { createInbox, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { HEADER } from '../wire/index.js';
import { PerTurn } from './per-turn.js';

export interface EventMessage {
  readonly subject: string;
  readonly data: string;
  readonly headers: MsgHdrs;
  readonly msgID: string;
}

/**
 * How long the batcher waits for JetStream's acknowledgements of one turn's events. Past it, the events
 * not acknowledged count as not stored (the outbox publishes them again under the same ids).
 */
export const EVENT_ACK_WAIT_MS = 5000;

/**
 * Some events of a caller's batch were not stored: JetStream refused one (a full stream under
 * `discard: new`, a message over the stream's size limit) or its acknowledgement never came. The
 * first `confirmedCount` events of the batch were stored, in order; the rest are not confirmed (some
 * may be stored) and are to be published again from the outbox (same message ids).
 */
export class EventsRefusedError extends Error {
  readonly code = 'SHARD_ERR_EVENTS_REFUSED';
  constructor(
    readonly confirmedCount: number,
    readonly eventCount: number,
    options: { cause: unknown },
  ) {
    super(`${eventCount - confirmedCount} of ${eventCount} events not confirmed by JetStream: ${messageOf(options.cause)}`, options);
    this.name = 'EventsRefusedError';
  }
}

function messageOf(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

/** A caller's batch as published: how many of its events were stored in a row from the first, and why not the next. */
interface BatchResult {
  readonly confirmedCount: number;
  readonly refusal?: unknown;
}

/** Settles one event: with undefined once JetStream stored it, with the reason otherwise. */
type Settle = (failure: Error | undefined) => void;

/**
 * Publishes the events of all of a worker's partitions gathered in one turn of the event loop, and
 * confirms each by its own JetStream acknowledgement: nothing is inferred from another message's,
 * since JetStream refuses a single message (a full stream under `discard: new`, a message over its
 * size limit) without breaking the connection and goes on storing the next.
 *
 * Cheaply: each event is a plain publish whose reply subject is a token under one inbox of the
 * batcher's own, where JetStream sends its acknowledgement (or refusal), so there is no request, timer
 * or promise per event as with `js.publish`, one subscription for all, and one timer per turn. The
 * publishes go out in order on the one connection (so they are stored in order). A caller's promise
 * resolves once every one of its events is acknowledged, or rejects with EventsRefusedError saying how
 * many of its first events were.
 */
export class EventBatcher {
  readonly #turn: PerTurn<readonly EventMessage[], BatchResult>;
  readonly #inbox: string;
  readonly #waiting = new Map<string, Settle>();
  readonly #acknowledgements: Subscription;
  #nextToken = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly ackWaitMs = EVENT_ACK_WAIT_MS,
  ) {
    this.#turn = new PerTurn((batches) => this.#publishAll(batches));
    // Under the connection's own inbox prefix, which its user may subscribe to (see nats-permissions.ts).
    this.#inbox = createInbox((nc as NatsConnection & { options?: { inboxPrefix?: string } }).options?.inboxPrefix);
    this.#acknowledgements = nc.subscribe(`${this.#inbox}.*`, { callback: (_error, message) => this.#acknowledged(message) });
  }

  async publish(messages: readonly EventMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const result = await this.#turn.add(messages);
    if (result.confirmedCount < messages.length) throw new EventsRefusedError(result.confirmedCount, messages.length, { cause: result.refusal });
  }

  /** Stops listening for acknowledgements; events still waiting count as not stored. */
  close(): void {
    this.#acknowledgements.unsubscribe();
    for (const settle of this.#waiting.values()) settle(new Error('the event batcher was closed'));
  }

  async #publishAll(batches: readonly (readonly EventMessage[])[]): Promise<BatchResult[]> {
    const tokens: string[] = [];
    const acknowledged = batches.map((batch) => batch.map((message) => this.#send(message, tokens)));
    const timer = setTimeout(() => {
      for (const token of tokens) this.#waiting.get(token)?.(new Error(`no acknowledgement from JetStream within ${this.ackWaitMs} ms`));
    }, this.ackWaitMs);
    try {
      return await Promise.all(acknowledged.map(async (acks) => confirmedPrefix(await Promise.all(acks))));
    } finally {
      clearTimeout(timer);
    }
  }

  /** Publishes one event with its own reply token; resolves with undefined once stored, or the reason it was not. */
  #send(message: EventMessage, tokens: string[]): Promise<Error | undefined> {
    const token = String(this.#nextToken++);
    tokens.push(token);
    const settled = new Promise<Error | undefined>((resolve) => {
      this.#waiting.set(token, (failure) => {
        this.#waiting.delete(token);
        resolve(failure);
      });
    });
    try {
      message.headers.set(HEADER.messageId, message.msgID);
      this.nc.publish(message.subject, message.data, { headers: message.headers, reply: `${this.#inbox}.${token}` });
    } catch (error) {
      this.#waiting.get(token)?.(error instanceof Error ? error : new Error(String(error)));
    }
    return settled;
  }

  #acknowledged(message: Msg): void {
    const token = message.subject.slice(this.#inbox.length + 1);
    this.#waiting.get(token)?.(refusalOf(message));
  }
}

/**
 * Undefined when a JetStream acknowledgement says the message is stored (a duplicate of a stored one
 * included); the reason otherwise (an API error such as "maximum bytes exceeded", or a status message
 * with no body, such as "no responders" when no stream takes the subject).
 */
function refusalOf(message: Msg): Error | undefined {
  if (message.data.length === 0) return new Error(`JetStream did not store the event (status ${message.headers?.code ?? 'unknown'} ${message.headers?.description ?? ''})`);
  try {
    const ack = message.json<{ stream?: string; error?: { code?: number; err_code?: number; description?: string } }>();
    const { error } = ack;
    if (error !== undefined) return new Error(`JetStream refused the event: ${error.description ?? 'no description'} (${error.code ?? '?'}/${error.err_code ?? '?'})`);
    if (typeof ack.stream === 'string' && ack.stream !== '') return undefined;
    return new Error('JetStream answered without naming a stream');
  } catch {
    return new Error('JetStream answered with something that is not an acknowledgement');
  }
}

/** How many acknowledgements in a row, from the first, succeeded; and the first failure. */
function confirmedPrefix(failures: readonly (Error | undefined)[]): BatchResult {
  const firstFailure = failures.findIndex((failure) => failure !== undefined);
  return firstFailure === -1 ? { confirmedCount: failures.length } : { confirmedCount: firstFailure, refusal: failures[firstFailure] };
}
