import type { NatsConnection } from '@nats-io/transport-node';

/**
 * Counts the times a NATS connection broke (a disconnect, a reconnect, a stale connection). A batch
 * published as plain messages followed by one acknowledged message is confirmed by that acknowledgement
 * only if the connection did not break in between: plain messages written to a socket that then died
 * are lost, while the last one, sent again after the reconnect, is acknowledged. Compare `count` before
 * and after and treat a changed count as a failed publication.
 */
export class ConnectionBreaks {
  #count = 0;

  constructor(nc: NatsConnection) {
    void this.#watch(nc);
  }

  get count(): number {
    return this.#count;
  }

  async #watch(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect' || status.type === 'reconnect' || status.type === 'staleConnection') this.#count += 1;
    }
  }
}

/** The connection broke while a batch was published: nothing of it is confirmed; publish it again (same ids). */
export class ConnectionBrokeError extends Error {
  readonly code = 'NATS_CONNECTION_BROKE';
  constructor(what: string) {
    super(`the connection to NATS broke while ${what} were published: not confirmed, publish them again`);
    this.name = 'ConnectionBrokeError';
  }
}
