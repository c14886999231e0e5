/**
 * Coalesces look-ups made by many partitions at about the same time into one query: keys asked for
 * within one turn of the event loop are fetched together (at most `keysMax` per query), and each
 * caller gets the values of its own keys. Semantics are those of calling `fetch` directly.
 */
interface Request<K, V> {
  readonly keys: readonly K[];
  resolve(values: Map<K, V>): void;
  reject(error: unknown): void;
}

export class Coalescer<K, V> {
  #pending: Request<K, V>[] = [];
  #scheduled = false;

  constructor(
    private readonly fetch: (keys: readonly K[]) => Promise<Map<K, V>>,
    private readonly keysMax = 10_000,
  ) {}

  load(keys: readonly K[]): Promise<Map<K, V>> {
    if (keys.length === 0) return Promise.resolve(new Map());
    return new Promise((resolve, reject) => {
      this.#pending.push({ keys, resolve, reject });
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
    let group: Request<K, V>[] = [];
    let size = 0;
    const groups: Request<K, V>[][] = [];
    for (const request of waiting) {
      if (group.length > 0 && size + request.keys.length > this.keysMax) {
        groups.push(group);
        group = [];
        size = 0;
      }
      group.push(request);
      size += request.keys.length;
    }
    if (group.length > 0) groups.push(group);
    await Promise.all(groups.map((requests) => this.#fetchGroup(requests)));
  }

  async #fetchGroup(requests: readonly Request<K, V>[]): Promise<void> {
    try {
      const values = await this.fetch([...new Set(requests.flatMap((request) => request.keys))]);
      for (const request of requests) {
        const own = new Map<K, V>();
        for (const key of request.keys) {
          const value = values.get(key);
          if (value !== undefined) own.set(key, value);
        }
        request.resolve(own);
      }
    } catch (error) {
      for (const request of requests) request.reject(error);
    }
  }
}
