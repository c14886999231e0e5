import type { JetStreamClient } from '@nats-io/jetstream';
import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node';
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
 * every message before it; each caller's promise resolves (or rejects) with it.
 */
export class EventBatcher {
  readonly #turn: PerTurn<readonly EventMessage[], void>;

  constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
  ) {
    this.#turn = new PerTurn((batches) => this.#publishAll(batches));
  }

  publish(messages: readonly EventMessage[]): Promise<void> {
    return messages.length === 0 ? Promise.resolve() : this.#turn.add(messages);
  }

  async #publishAll(batches: readonly (readonly EventMessage[])[]): Promise<void[]> {
    const all = batches.flat();
    for (const message of all.slice(0, -1)) {
      message.headers.set(HEADER.messageId, message.msgID);
      this.nc.publish(message.subject, message.data, { headers: message.headers });
    }
    const last = all[all.length - 1];
    if (last !== undefined) await this.js.publish(last.subject, last.data, { msgID: last.msgID, headers: last.headers });
    return batches.map(() => undefined);
  }
}
