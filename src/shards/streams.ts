import { jetstreamManager, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Names } from './names.js';

export interface StreamLimits {
  /** How long commands and events stay in their streams (replay, audit of the transport). */
  readonly maxAgeMs: number;
  /** JetStream's dedupe window for message ids: a first line of defence only (Postgres is the second). */
  readonly duplicateWindowMs: number;
  /**
   * Most bytes a stream may hold before it refuses new messages (backpressure, not loss). JetStream
   * reserves it from the server's file store when the stream is created.
   */
  readonly maxBytes: number;
}

export const STREAM_LIMITS_DEFAULT: StreamLimits = {
  maxAgeMs: 7 * 24 * 3600 * 1000,
  duplicateWindowMs: 2 * 60 * 1000,
  maxBytes: 1024 ** 3,
};

const msToNs = (ms: number): number => ms * 1_000_000;

function streamConfig(name: string, subjects: string[], limits: StreamLimits): Partial<StreamConfig> & { name: string } {
  return {
    name,
    subjects,
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    max_age: msToNs(limits.maxAgeMs),
    duplicate_window: msToNs(limits.duplicateWindowMs),
    max_bytes: limits.maxBytes,
    // Refuse new messages when full, never silently drop old ones.
    discard: 'new',
    num_replicas: 1,
  };
}

/**
 * Creates the command and event streams, or brings their configuration up to date. Idempotent: every
 * worker and publisher calls it at start-up.
 */
export async function provisionStreams(connection: NatsConnection, streamNames: Names, limits = STREAM_LIMITS_DEFAULT): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(connection);
  await ensureStream(jsm, streamNames.commandStream, [`${streamNames.prefix}.cmd.*`], limits);
  await ensureStream(jsm, streamNames.eventStream, [`${streamNames.prefix}.evt.*`], limits);
  return jsm;
}

/** Creates a stream, or brings its configuration up to date (idempotent, safe against a racing creator). */
export async function ensureStream(jsm: JetStreamManager, name: string, subjects: string[], limits = STREAM_LIMITS_DEFAULT): Promise<void> {
  const config = streamConfig(name, subjects, limits);
  const exists = await jsm.streams.info(config.name).then(() => true, () => false);
  if (exists) await jsm.streams.update(config.name, config);
  else await jsm.streams.add(config).catch(async (error: unknown) => {
    // Another process created it between our look and our add.
    if (!(await jsm.streams.info(config.name).then(() => true, () => false))) throw error;
  });
}
