import { randomUUID } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { DiscardPolicy, jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { EventBatcher, type EventMessage } from '../src/shards/event-batcher.js';
import { numberFlag, percentile, requireEnv, round } from './support.js';

/**
 * What confirming every event costs the worker: the shards' EventBatcher (each event acknowledged by
 * JetStream, through one inbox) against the two ways it could be done instead: `last-ack` (plain
 * publishes and one acknowledged publish per turn, which took the last acknowledgement as proof for
 * all and missed an event a full stream refused: what the batcher did before issue 16) and
 * `js-publish` (one `js.publish`, a request, per event). Only the publishing client and nats-server
 * work; no Postgres. Runs of the modes alternate; each figure is the median of its runs.
 *
 *   npm run bench -- events [--events 60000] [--runs 3] [--batch 250] [--partitions 8] [--bytes 700]
 */
const MODES = ['batcher', 'last-ack', 'js-publish'] as const;
type Mode = (typeof MODES)[number];

interface Shape {
  readonly events: number;
  /** Events of one partition's batch. */
  readonly batch: number;
  /** Partitions whose batches share one turn of the event loop. */
  readonly partitions: number;
  readonly bytes: number;
}

export async function events(options: Map<string, string>): Promise<Record<string, unknown>> {
  const shape: Shape = {
    events: numberFlag(options, 'events', 60_000),
    batch: numberFlag(options, 'batch', 250),
    partitions: numberFlag(options, 'partitions', 8),
    bytes: numberFlag(options, 'bytes', 700),
  };
  const runs = numberFlag(options, 'runs', 3);
  const nc = await connect({ servers: requireEnv('NATS_URL'), name: 'potledger-bench-events' });
  const conditions = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    loadAverage1m: round(loadavg()[0] ?? 0, 2),
    node: process.version,
    natsServer: nc.info?.version ?? 'unknown',
  };
  const measured = new Map<Mode, { eventsPerSec: number; cpuMicrosPerEvent: number }[]>(MODES.map((mode) => [mode, []]));
  try {
    for (let run = 0; run < runs; run += 1) {
      for (const mode of MODES) measured.get(mode)?.push(await measure(nc, mode, shape));
    }
  } finally {
    await nc.close();
  }
  const median = (values: number[]) => percentile([...values].sort((a, b) => a - b), 0.5);
  const figures = Object.fromEntries(
    MODES.map((mode) => {
      const results = measured.get(mode) ?? [];
      return [mode, { eventsPerSec: Math.round(median(results.map((r) => r.eventsPerSec))), cpuMicrosPerEvent: round(median(results.map((r) => r.cpuMicrosPerEvent))) }];
    }),
  );
  return { benchmark: 'events', conditions: { ...conditions, ...shape, runs }, ...figures };
}

/** Publishes `shape.events` events into a stream of its own, the way `mode` does; the client's CPU and the wall time. */
async function measure(nc: NatsConnection, mode: Mode, shape: Shape): Promise<{ eventsPerSec: number; cpuMicrosPerEvent: number }> {
  const jsm = await jetstreamManager(nc);
  const stream = `benchevents${randomUUID().slice(0, 8)}`;
  await jsm.streams.add({ name: stream, subjects: [`${stream}.>`], storage: StorageType.File, discard: DiscardPolicy.New, max_bytes: 2 * 1024 ** 3 });
  const publish = publisherFor(nc, mode);
  const body = 'x'.repeat(shape.bytes);
  const cpuBefore = process.cpuUsage();
  const startedMs = performance.now();
  for (let sent = 0; sent < shape.events; ) {
    const turn: EventMessage[][] = [];
    for (let partition = 0; partition < shape.partitions && sent < shape.events; partition += 1) {
      const batch: EventMessage[] = Array.from({ length: Math.min(shape.batch, shape.events - sent) }, () => ({
        subject: `${stream}.evt.${partition}`,
        data: body,
        headers: headers(),
        msgID: randomUUID(),
      }));
      sent += batch.length;
      turn.push(batch);
    }
    await publish(turn);
  }
  const seconds = (performance.now() - startedMs) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const stored = (await jsm.streams.info(stream)).state.messages;
  await jsm.streams.delete(stream);
  if (stored !== shape.events) throw new Error(`${mode}: the stream holds ${stored} of ${shape.events} events`);
  publish.close?.();
  return { eventsPerSec: shape.events / seconds, cpuMicrosPerEvent: (cpu.user + cpu.system) / shape.events };
}

/** Publishes one turn's batches (one per partition). */
type Publish = ((batches: readonly (readonly EventMessage[])[]) => Promise<void>) & { close?: () => void };

function publisherFor(nc: NatsConnection, mode: Mode): Publish {
  const js = jetstream(nc);
  if (mode === 'batcher') {
    const batcher = new EventBatcher(nc);
    const publish = async (batches: readonly (readonly EventMessage[])[]) => void (await Promise.all(batches.map((batch) => batcher.publish(batch))));
    return Object.assign(publish, { close: () => batcher.close() });
  }
  if (mode === 'js-publish') return async (batches) => void (await Promise.all(batches.flat().map((m) => js.publish(m.subject, m.data, { msgID: m.msgID, headers: m.headers }))));
  // One acknowledgement per turn, for the events of every partition (as the batcher did before).
  return async (batches) => {
    const batch = batches.flat();
    for (const m of batch.slice(0, -1)) {
      m.headers.set('Nats-Msg-Id', m.msgID);
      nc.publish(m.subject, m.data, { headers: m.headers });
    }
    const last = batch[batch.length - 1];
    if (last !== undefined) await js.publish(last.subject, last.data, { msgID: last.msgID, headers: last.headers });
  };
}
