import type { JetStreamClient } from '@nats-io/jetstream';
import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import { ConnectionBreaks, ConnectionBrokeError } from './connection-breaks.js';
import { HEADER } from './names.js';
import { PerTurn } from './per-turn.js';

export interface EventMessage {
  readonly subject: string;
  readonly data: string;
  readonly headers: MsgHdrs;
  readonly msgID: string;
}

/**
 * Publishes the events of all of a worker's partitions with one JetStream acknowledgement per turn of
 * the event loop: every message but the last goes out as a plain publish (JetStream stores it and
 * dedupes by Nats-Msg-Id), the last one as a JetStream publish that waits for its acknowledgement.
 * One connection delivers in order and the stream stores in order, so that acknowledgement confirms
 * every message before it, provided the connection did not break in between (a break fails the batch,
 * and the outbox republishes it); each caller's promise resolves (or rejects) with it.
 */
export class EventBatcher {
  readonly #turn: PerTurn<readonly EventMessage[], void>;
  readonly #breaks: ConnectionBreaks;

  constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
  ) {
    this.#turn = new PerTurn((batches) => this.#publishAll(batches));
    this.#breaks = new ConnectionBreaks(nc);
  }

  publish(messages: readonly EventMessage[]): Promise<void> {
    return messages.length === 0 ? Promise.resolve() : this.#turn.add(messages);
  }

  async #publishAll(batches: readonly (readonly EventMessage[])[]): Promise<void[]> {
    const all = batches.flat();
    const breaks = this.#breaks.count;
    for (const message of all.slice(0, -1)) {
      message.headers.set(HEADER.messageId, message.msgID);
      this.nc.publish(message.subject, message.data, { headers: message.headers });
    }
    const last = all[all.length - 1];
    if (last !== undefined) await this.js.publish(last.subject, last.data, { msgID: last.msgID, headers: last.headers });
    if (all.length > 1 && this.#breaks.count !== breaks) throw new ConnectionBrokeError(`${all.length} events`);
    return batches.map(() => undefined);
  }
}
