import type pg from 'pg';
import type { AssetCatalog } from '../ledger/index.js';
import { commitShardBatches, FencedError, FencedPartitionsError, type ShardBatch } from './fence.js';

interface Waiting {
  readonly batch: ShardBatch;
  resolve(seqs: bigint[]): void;
  reject(error: unknown): void;
}

/**
 * Group commit across the partitions of a worker: batches handed in while a transaction is running
 * are committed together in the next one. Under light load a batch commits at once (low latency);
 * under heavy load many partitions' batches share one transaction (high throughput). Up to
 * `concurrency` transactions run at once: they never touch the same rows, because a partition has at
 * most one batch here at a time (which also keeps its order) and every account and pot belongs to
 * exactly one partition.
 */
export class GroupCommitter {
  readonly #queue: Waiting[] = [];
  #running = 0;

  constructor(
    private readonly pool: pg.Pool,
    private readonly assets: AssetCatalog,
    /** Most items (commands) in one transaction. */
    private readonly itemsMax: number,
    private readonly observe: (batches: number, items: number, seconds: number) => void = () => undefined,
    private readonly concurrency = 2,
  ) {}

  /** Resolves with the outbox sequences of the batch's outcomes once committed. */
  commit(batch: ShardBatch): Promise<bigint[]> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ batch, resolve, reject });
      if (this.#running < this.concurrency) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#running += 1;
    try {
      while (this.#queue.length > 0) {
        const group = this.#take();
        await this.#commitGroup(group);
      }
    } finally {
      this.#running -= 1;
    }
  }

  #take(): Waiting[] {
    const group: Waiting[] = [];
    let items = 0;
    while (this.#queue.length > 0) {
      const next = this.#queue[0];
      if (next === undefined) break;
      if (group.length > 0 && items + next.batch.items.length > this.itemsMax) break;
      group.push(next);
      items += next.batch.items.length;
      this.#queue.shift();
    }
    return group;
  }

  async #commitGroup(group: Waiting[]): Promise<void> {
    let pending = group;
    while (pending.length > 0) {
      const started = performance.now();
      try {
        const seqs = await commitShardBatches(this.pool, pending.map((waiting) => waiting.batch), this.assets);
        this.observe(pending.length, pending.reduce((sum, w) => sum + w.batch.items.length, 0), (performance.now() - started) / 1000);
        pending.forEach((waiting, index) => waiting.resolve(seqs[index] ?? []));
        return;
      } catch (error) {
        if (!(error instanceof FencedPartitionsError)) {
          // One partition's bad batch must not hold the others back: commit each alone.
          if (pending.length === 1) pending[0]?.reject(error);
          else for (const waiting of pending) await this.#commitGroup([waiting]);
          return;
        }
        // Fenced partitions fail alone; the others are committed without them.
        const fenced = new Set(error.partitions);
        for (const waiting of pending) {
          if (fenced.has(waiting.batch.partition)) waiting.reject(new FencedError(waiting.batch.partition, waiting.batch.epoch));
        }
        pending = pending.filter((waiting) => !fenced.has(waiting.batch.partition));
      }
    }
  }
}
