import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Log } from './log.js';
import { createHash } from 'node:crypto';
import type { Names } from './names.js';

export interface OwnershipOptions {
  /** A lease not renewed for this long expires, and another worker may take the partition. */
  readonly leaseTtlMs: number;
  /** How often leases and the worker's heartbeat are renewed and the assignment is recomputed. */
  readonly tickMs: number;
}

export const OWNERSHIP_DEFAULT: OwnershipOptions = { leaseTtlMs: 5000, tickMs: 1000 };

/** What the worker does when it gains or loses a partition. */
export interface PartitionHandler {
  /** The lease is ours: claim the partition (fencing epoch) and start consuming it. */
  acquired(partition: number): Promise<void>;
  /** Stop consuming (gracefully when `graceful`, else at once: the lease is lost). */
  released(partition: number, graceful: boolean): Promise<void>;
  /** Owned partitions that can no longer go on here; they are released, to be claimed afresh. */
  failed(): readonly number[];
}

/**
 * Partition ownership through NATS KV (no home-made lock service):
 * - every worker heartbeats a key in `<prefix>-workers` (the bucket's TTL removes dead workers);
 * - each partition goes to the live worker with the highest rendezvous hash of (worker, partition),
 *   so when a worker joins or leaves only its share of partitions moves;
 * - a partition's lease is the key `p<N>` in `<prefix>-leases`: taken with `create` (atomic: only
 *   one worker can), renewed with `update` at the revision last seen (a compare-and-set: a worker
 *   paused past the TTL finds the revision moved and knows it lost the lease), and expiring with the
 *   bucket's TTL when its owner dies.
 * The lease gives liveness only. Safety comes from the fencing epoch in Postgres (fence.ts).
 */
export class Ownership {
  readonly #owned = new Map<number, { revision: number; renewedAtMs: number }>();
  #leases: KV | undefined;
  #workers: KV | undefined;
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly names: Names,
    readonly workerId: string,
    private readonly partitionCount: number,
    private readonly handler: PartitionHandler,
    private readonly log: Log,
    private readonly options: OwnershipOptions = OWNERSHIP_DEFAULT,
  ) {}

  owned(): number[] {
    return [...this.#owned.keys()].sort((a, b) => a - b);
  }

  async start(): Promise<void> {
    const kvm = new Kvm(this.nc);
    this.#leases = await kvm.create(this.names.leaseBucket, { ttl: this.options.leaseTtlMs, history: 1 });
    this.#workers = await kvm.create(this.names.workerBucket, { ttl: this.options.leaseTtlMs, history: 1 });
    await this.#tick();
    this.#timer = setInterval(() => {
      this.#ticking = this.#ticking.then(() => this.#tick()).catch((error: unknown) => this.log.warn({ err: error }, 'ownership tick failed'));
    }, this.options.tickMs);
  }

  /** Releases every partition gracefully and leaves the worker set. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.#ticking;
    for (const partition of this.owned()) await this.#release(partition);
    await this.#workers?.delete(this.workerId).catch(() => undefined);
  }

  async #tick(): Promise<void> {
    if (this.#stopped || this.#leases === undefined || this.#workers === undefined) return;
    await this.#renewLeases(); // first: a late renewal loses the lease
    await this.#workers.put(this.workerId, JSON.stringify({ at: Date.now() }));
    const live = await this.#liveWorkers();
    for (const partition of this.handler.failed()) if (this.#owned.has(partition)) await this.#release(partition);
    for (let partition = 0; partition < this.partitionCount; partition += 1) {
      const wanted = preferredWorker(live, partition) === this.workerId;
      if (wanted && !this.#owned.has(partition)) await this.#tryAcquire(partition);
      if (!wanted && this.#owned.has(partition)) await this.#release(partition);
    }
  }

  async #liveWorkers(): Promise<string[]> {
    const live = new Set<string>([this.workerId]);
    const keys = await this.#workers?.keys();
    if (keys !== undefined) for await (const key of keys) live.add(key);
    return [...live];
  }

  /** Renews every lease at once (one round trip's worth of time, not one per partition). */
  async #renewLeases(): Promise<void> {
    const leases = this.#leases;
    if (leases === undefined) return;
    await Promise.all([...this.#owned].map(([partition, lease]) => this.#renew(leases, partition, lease)));
  }

  async #renew(leases: KV, partition: number, lease: { revision: number; renewedAtMs: number }): Promise<void> {
    try {
      const revision = await leases.update(this.names.leaseKey(partition), this.#leaseValue(), lease.revision);
      if (this.#owned.has(partition)) this.#owned.set(partition, { revision, renewedAtMs: Date.now() });
    } catch (error) {
      const lost = /wrong last sequence/i.test(String(error)) || Date.now() - lease.renewedAtMs > this.options.leaseTtlMs;
      if (!lost || !this.#owned.has(partition)) return; // NATS is briefly away: the fence keeps commits safe meanwhile
      this.log.warn({ partition, err: error }, 'lease lost; stopping the partition');
      this.#owned.delete(partition);
      await this.handler.released(partition, false);
    }
  }

  async #tryAcquire(partition: number): Promise<void> {
    const leases = this.#leases;
    if (leases === undefined) return;
    let revision: number;
    try {
      revision = await leases.create(this.names.leaseKey(partition), this.#leaseValue());
    } catch {
      return; // held by another worker until it releases it or its lease expires
    }
    this.#owned.set(partition, { revision, renewedAtMs: Date.now() });
    try {
      await this.handler.acquired(partition);
    } catch (error) {
      this.log.error({ partition, err: error }, 'could not start the partition; releasing it');
      this.#owned.delete(partition);
      await leases.delete(this.names.leaseKey(partition), { previousSeq: revision }).catch(() => undefined);
    }
  }

  async #release(partition: number): Promise<void> {
    const lease = this.#owned.get(partition);
    this.#owned.delete(partition);
    await this.handler.released(partition, true);
    if (lease !== undefined) {
      await this.#leases?.delete(this.names.leaseKey(partition), { previousSeq: lease.revision }).catch(() => undefined);
    }
  }

  #leaseValue(): string {
    return JSON.stringify({ worker: this.workerId, at: Date.now() });
  }
}

/**
 * Rendezvous (highest random weight) hashing: the live worker a partition belongs to. The weight is
 * taken from sha256, whose every output bit depends on every input bit (FNV-1a, used for partitions,
 * mixes too little for ids that differ in one character).
 */
export function preferredWorker(workers: readonly string[], partition: number): string | undefined {
  let best: string | undefined;
  let bestScore = -1;
  for (const worker of workers) {
    const score = createHash('sha256').update(`${worker}/${partition}`).digest().readUIntBE(0, 6);
    if (score > bestScore || (score === bestScore && best !== undefined && worker < best)) {
      best = worker;
      bestScore = score;
    }
  }
  return best;
}
