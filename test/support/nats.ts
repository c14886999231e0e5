import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';

/** Every test's NATS prefix starts with this, so leftovers of an interrupted run can be found. */
export const TEST_PREFIX = 'ptest';

export function natsUrl(): string {
  const url = process.env.NATS_URL;
  if (url === undefined || url === '') throw new Error('NATS_URL is not set: run the tests with `./dev test`');
  return url;
}

export interface TestNats {
  readonly nc: NatsConnection;
  /** A prefix of its own: streams, KV buckets and subjects no running system or other test uses. */
  readonly prefix: string;
  cleanup(): Promise<void>;
}

/** A connection and a unique prefix; `cleanup` deletes every stream (KV buckets included) of the prefix. */
export async function createTestNats(label: string): Promise<TestNats> {
  const nc = await connect({ servers: natsUrl(), name: `potledger-test-${label}` });
  const prefix = `${TEST_PREFIX}${label.replace(/[^a-z0-9]/g, '').slice(0, 12)}${randomBytes(3).toString('hex')}`;
  return {
    nc,
    prefix,
    async cleanup() {
      const jsm = await jetstreamManager(nc);
      for await (const name of jsm.streams.names()) {
        if (name.startsWith(`${prefix}-`) || name.startsWith(`KV_${prefix}-`)) await jsm.streams.delete(name).catch(() => false);
      }
      await nc.close();
    },
  };
}
