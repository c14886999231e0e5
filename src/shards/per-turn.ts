interface Waiting<T, R> {
  readonly request: T;
  resolve(result: R): void;
  reject(error: unknown): void;
}

/**
 * Gathers the requests made within one turn of the event loop and hands them to `flush` together;
 * each caller gets its own result (or the flush's error). The base of the shards' coalesced
 * look-ups and of their shared event publication.
 */
export class PerTurn<T, R> {
  #waiting: Waiting<T, R>[] = [];
  #scheduled = false;

  /** `flush` returns one result per request, in order. */
  constructor(private readonly flush: (requests: readonly T[]) => Promise<readonly R[]>) {}

  add(request: T): Promise<R> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ request, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => void this.#run());
      }
    });
  }

  async #run(): Promise<void> {
    const waiting = this.#waiting;
    this.#waiting = [];
    this.#scheduled = false;
    try {
      const results = await this.flush(waiting.map((w) => w.request));
      waiting.forEach((w, index) => w.resolve(results[index] as R));
    } catch (error) {
      for (const w of waiting) w.reject(error);
    }
  }
}
