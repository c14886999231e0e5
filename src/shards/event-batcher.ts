import type { JetStreamClient } from '@nats-io/jetstream';
import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import { HEADER } from './names.js';

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
  #pending: { messages: readonly EventMessage[]; resolve: () => void; reject: (error: unknown) => void }[] = [];
  #scheduled = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
  ) {}

  publish(messages: readonly EventMessage[]): Promise<void> {
    if (messages.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#pending.push({ messages, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => void this.#flush());
      }
    });
  }

  async #flush(): Promise<void> {
    const waiting = this.#pending;
    this.#pending = [];
    this.#scheduled = false;
    const all = waiting.flatMap((request) => request.messages);
    const last = all[all.length - 1];
    try {
      for (const message of all.slice(0, -1)) {
        message.headers.set(HEADER.messageId, message.msgID);
        this.nc.publish(message.subject, message.data, { headers: message.headers });
      }
      if (last !== undefined) await this.js.publish(last.subject, last.data, { msgID: last.msgID, headers: last.headers });
      for (const request of waiting) request.resolve();
    } catch (error) {
      for (const request of waiting) request.reject(error);
    }
  }
}
