/** The shard workers' Prometheus metrics: their names, and what a committed batch adds to them. */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The shard's signals for Prometheus. The three lags are Nubank's: effective date → produced (how late
 * a command is for its business date), produced → consumed (transport), consumed → committed
 * (the ledger itself), per partition.
 */
export interface ShardMetrics {
  readonly registry: Registry;
  readonly lagSeconds: Histogram<'partition' | 'stage'>;
  readonly outcomes: Counter<'kind'>;
  readonly replays: Counter;
  readonly poison: Counter<'code'>;
  readonly batchSize: Histogram;
  readonly groupBatches: Histogram;
  readonly commitSeconds: Histogram;
  readonly commitRetries: Counter<'reason'>;
  readonly fenced: Counter;
  readonly streamRewinds: Counter<"stream">;
  readonly liveActors: Gauge<'partition'>;
  readonly ownedPartitions: Gauge;
  readonly consumerPending: Gauge<'partition'>;
  readonly consumerNotices: Counter<'type'>;
  readonly eventsUnconfirmed: Counter;
}

export const LAG_STAGES = ['effective_to_produced', 'produced_to_consumed', 'consumed_to_committed'] as const;

export function createShardMetrics(registry = new Registry()): ShardMetrics {
  return {
    registry,
    lagSeconds: new Histogram({
      name: 'potledger_lag_seconds',
      help: 'Lag of commands by stage: effective date to produced, produced to consumed, consumed to committed',
      labelNames: ['partition', 'stage'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60, 3600, 86400, 7 * 86400],
      registers: [registry],
    }),
    outcomes: new Counter({ name: 'potledger_outcomes_total', help: 'Outcomes committed, by kind', labelNames: ['kind'], registers: [registry] }),
    replays: new Counter({ name: 'potledger_replays_total', help: 'Commands answered from their recorded outcome', registers: [registry] }),
    poison: new Counter({ name: 'potledger_poison_total', help: 'Messages recorded as poison, by code', labelNames: ['code'], registers: [registry] }),
    batchSize: new Histogram({
      name: 'potledger_commit_batch_size',
      help: 'Commands per group commit transaction',
      buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2000],
      registers: [registry],
    }),
    groupBatches: new Histogram({
      name: 'potledger_commit_group_partitions',
      help: 'Partition batches sharing one group commit transaction',
      buckets: [1, 2, 4, 8, 16, 32, 64],
      registers: [registry],
    }),
    commitSeconds: new Histogram({
      name: 'potledger_commit_seconds',
      help: 'Duration of a group commit transaction',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers: [registry],
    }),
    commitRetries: new Counter({ name: 'potledger_commit_retries_total', help: 'Group commits retried after a transient failure', labelNames: ['reason'], registers: [registry] }),
    streamRewinds: new Counter({
      name: 'potledger_stream_rewinds_total',
      help: 'Claims that found a stream missing what the journal had committed (an older nats-server store), by stream',
      labelNames: ['stream'],
      registers: [registry],
    }),
    fenced: new Counter({ name: 'potledger_fenced_total', help: 'Commits refused because the partition moved to another worker', registers: [registry] }),
    liveActors: new Gauge({ name: 'potledger_live_actors', help: 'Pot actors in memory, per partition', labelNames: ['partition'], registers: [registry] }),
    ownedPartitions: new Gauge({ name: 'potledger_owned_partitions', help: 'Partitions this worker owns', registers: [registry] }),
    consumerNotices: new Counter({
      name: 'potledger_consumer_notices_total',
      help: "Notices of the partitions' pull consumers (exceeded limits, missed heartbeats, discards), by type",
      labelNames: ['type'],
      registers: [registry],
    }),
    eventsUnconfirmed: new Counter({
      name: 'potledger_events_unconfirmed_total',
      help: 'Events JetStream did not acknowledge (refused by a full event stream, say, or after such an event): left to the outbox',
      registers: [registry],
    }),
    consumerPending: new Gauge({ name: 'potledger_consumer_pending', help: 'Command messages not yet delivered, per partition', labelNames: ['partition'], registers: [registry] }),
  };
}

/** A committed command, as far as the metrics look at it. */
export interface CommittedItem {
  readonly command: { readonly producedAt: string; readonly effectiveDate: string };
  readonly outcome: { readonly kind: string };
  readonly streamSeq?: bigint;
}

/** What a committed batch contributes to the metrics: its outcomes, poison, replays and lags. */
export interface CommittedBatch {
  readonly partition: number;
  /** When each message of the batch arrived, by stream sequence. */
  readonly receivedAtMs: ReadonlyMap<bigint, number>;
  readonly items: readonly CommittedItem[];
  readonly poison: readonly { readonly code: string }[];
  readonly replays: number;
  readonly committedAtMs: number;
  /** Messages the consumer has not delivered yet (from the batch's last message), if known. */
  readonly pending: number | undefined;
}

/** Records a committed batch: outcome and poison counts, replays, the three lags, the consumer's backlog. */
export function observeBatch(metrics: ShardMetrics, batch: CommittedBatch): void {
  const partition = String(batch.partition);
  metrics.replays.inc(batch.replays);
  for (const record of batch.poison) metrics.poison.inc({ code: record.code });
  for (const item of batch.items) metrics.outcomes.inc({ kind: item.outcome.kind });
  for (const item of batch.items) {
    const produced = Date.parse(item.command.producedAt);
    const effective = Date.parse(`${item.command.effectiveDate}T00:00:00Z`);
    const consumed = batch.receivedAtMs.get(item.streamSeq ?? -1n) ?? batch.committedAtMs;
    const lags = [produced - effective, consumed - produced, batch.committedAtMs - consumed];
    LAG_STAGES.forEach((stage, index) => {
      const lag = lags[index];
      if (lag !== undefined && Number.isFinite(lag)) metrics.lagSeconds.observe({ partition, stage }, Math.max(0, lag) / 1000);
    });
  }
  if (batch.pending !== undefined) metrics.consumerPending.set({ partition }, batch.pending);
}
