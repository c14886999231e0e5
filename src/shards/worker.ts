import { randomUUID } from 'node:crypto';
import { jetstream, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type pg from 'pg';
import type { Log } from './log.js';
import { outcomeToWire, type AssetCatalog, type ProcessRegistry } from '../ledger/index.js';
import { findOutcomes } from '../journal/store.js';
import { claimPartition } from './fence.js';
import { EventBatcher } from './event-batcher.js';
import { GroupCommitter } from './group-committer.js';
import type { Failpoint } from './failpoints.js';
import type { ShardMetrics } from './metrics.js';
import { names as namesFor, type Names } from './names.js';
import { Ownership, OWNERSHIP_DEFAULT, type OwnershipOptions } from './ownership.js';
import { PartitionShard, SHARD_LIMITS_DEFAULT, shardLookups, type ShardLimits, type ShardLookups } from './partition-shard.js';
import { provisionStreams, STREAM_LIMITS_DEFAULT, type StreamLimits } from './streams.js';
import type { OutcomeLookupReply } from '../wire/index.js';

export interface WorkerOptions {
  readonly pool: pg.Pool;
  readonly nc: NatsConnection;
  readonly prefix: string;
  readonly registry: ProcessRegistry;
  readonly assets: AssetCatalog;
  readonly partitionCount: number;
  readonly metrics: ShardMetrics;
  readonly log: Log;
  readonly workerId?: string;
  readonly limits?: Partial<ShardLimits>;
  readonly ownership?: Partial<OwnershipOptions>;
  readonly failpoint?: (name: Failpoint) => void;
  readonly streamLimits?: Partial<StreamLimits>;
}

/**
 * A shard worker process: provisions the streams, takes its share of the partitions through leases,
 * runs one PartitionShard per owned partition, and answers outcome lookups.
 */
export class ShardWorker {
  readonly workerId: string;
  readonly names: Names;
  readonly #shards = new Map<number, PartitionShard>();
  readonly #options: WorkerOptions;
  #ownership: Ownership | undefined;
  #lookup: Subscription | undefined;
  #jsm: JetStreamManager | undefined;
  #committer: GroupCommitter | undefined;
  #lookups: ShardLookups | undefined;
  #events: EventBatcher | undefined;

  constructor(options: WorkerOptions) {
    this.#options = options;
    this.workerId = options.workerId ?? `worker-${randomUUID()}`;
    this.names = namesFor(options.prefix);
  }

  ownedPartitions(): number[] {
    return [...this.#shards.keys()].sort((a, b) => a - b);
  }

  liveActors(): number {
    let total = 0;
    for (const shard of this.#shards.values()) total += shard.liveActors;
    return total;
  }

  async start(): Promise<void> {
    const { nc, log } = this.#options;
    const limits = { ...SHARD_LIMITS_DEFAULT, ...this.#options.limits };
    this.#committer = new GroupCommitter(this.#options.pool, this.#options.assets, limits.groupItemsMax, (batches, items, seconds) => {
      this.#options.metrics.commitSeconds.observe(seconds);
      this.#options.metrics.batchSize.observe(items);
      this.#options.metrics.groupBatches.observe(batches);
    }, limits.groupConcurrency);
    this.#lookups = shardLookups(this.#options.pool, this.#options.assets);
    this.#events = new EventBatcher(nc);
    this.#jsm = await provisionStreams(nc, this.names, { ...STREAM_LIMITS_DEFAULT, ...this.#options.streamLimits });
    this.#lookup = nc.subscribe(this.names.outcomeLookupSubject, { queue: `${this.names.prefix}-outcome-lookup` });
    void this.#answerLookups(this.#lookup);
    this.#ownership = new Ownership(
      nc,
      this.names,
      this.workerId,
      this.#options.partitionCount,
      {
        acquired: (p) => this.#acquired(p),
        released: (p, graceful) => this.#released(p, graceful),
        failed: () => [...this.#shards.values()].filter((shard) => shard.failed).map((shard) => shard.partition),
      },
      log,
      { ...OWNERSHIP_DEFAULT, ...this.#options.ownership },
    );
    await this.#ownership.start();
    log.info({ workerId: this.workerId, partitions: this.ownedPartitions() }, 'shard worker started');
  }

  async stop(): Promise<void> {
    await this.#ownership?.stop();
    this.#lookup?.unsubscribe();
    await Promise.all([...this.#shards.values()].map((shard) => shard.stop()));
    this.#shards.clear();
    this.#events?.close();
  }

  async #acquired(partition: number): Promise<void> {
    const { pool, nc, log, metrics } = this.#options;
    const jsm = this.#jsm;
    const committer = this.#committer;
    const lookups = this.#lookups;
    const events = this.#events;
    if (jsm === undefined || committer === undefined || lookups === undefined || events === undefined) throw new Error('worker not started');
    const claim = await claimPartition(pool, partition, this.workerId);
    const shard = await PartitionShard.start(
      {
        pool,
        nc,
        js: jetstream(nc),
        jsm,
        names: this.names,
        registry: this.#options.registry,
        assets: this.#options.assets,
        partitionCount: this.#options.partitionCount,
        limits: { ...SHARD_LIMITS_DEFAULT, ...this.#options.limits },
        metrics,
        log,
        workerId: this.workerId,
        committer,
        lookups,
        events,
        ...(this.#options.failpoint === undefined ? {} : { failpoint: this.#options.failpoint }),
      },
      claim,
    );
    this.#shards.set(partition, shard);
    metrics.ownedPartitions.set(this.#shards.size);
    log.info({ partition, epoch: String(claim.epoch), checkpoint: String(claim.checkpointSeq) }, 'partition acquired');
  }

  async #released(partition: number, graceful: boolean): Promise<void> {
    const shard = this.#shards.get(partition);
    this.#shards.delete(partition);
    this.#options.metrics.ownedPartitions.set(this.#shards.size);
    if (shard !== undefined) await shard.stop();
    this.#options.log.info({ partition, graceful }, 'partition released');
  }

  async #answerLookups(subscription: Subscription): Promise<void> {
    const { pool, assets, log } = this.#options;
    for await (const message of subscription) {
      let commandId = '';
      let request: { commandId?: unknown; fingerprint?: unknown };
      try {
        request = message.json<{ commandId?: unknown; fingerprint?: unknown }>();
      } catch {
        // A malformed request is the asker's fault: answered, not logged (a flood of them must not flood the logs).
        message.respond(JSON.stringify({ commandId: '', known: false, error: 'the request is not JSON' }));
        continue;
      }
      try {
        commandId = typeof request?.commandId === 'string' ? request.commandId : '';
        const stored = (await findOutcomes(pool, [commandId], assets)).get(commandId);
        const same = typeof request?.fingerprint === 'string' && stored !== undefined ? { sameCommand: stored.fingerprint === request.fingerprint } : {};
        const reply: OutcomeLookupReply =
          stored === undefined ? { commandId, known: false } : { commandId, known: true, outcome: outcomeToWire(stored.outcome, assets), ...same };
        message.respond(JSON.stringify(reply));
      } catch (error) {
        log.warn({ err: error, commandId }, 'outcome lookup failed');
        message.respond(JSON.stringify({ commandId, known: false, error: 'lookup failed' }));
      }
    }
  }
}
