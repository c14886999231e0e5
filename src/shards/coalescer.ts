import { PerTurn } from './per-turn.js';

/** Most keys in one query of a coalesced look-up (`= ANY($1)` over a longer array plans badly and is one huge message). */
export const COALESCED_KEYS_MAX = 10_000;

/**
 * Coalesces look-ups made by many partitions at about the same time into one query: keys asked for
 * within one turn of the event loop are fetched together (at most `keysMax` per query), and each
 * caller gets the values of its own keys. Semantics are those of calling `fetch` directly.
 */
export class Coalescer<K, V> {
  readonly #turn: PerTurn<readonly K[], Map<K, V>>;

  constructor(
    private readonly fetch: (keys: readonly K[]) => Promise<Map<K, V>>,
    private readonly keysMax = COALESCED_KEYS_MAX,
  ) {
    this.#turn = new PerTurn((requests) => this.#fetchAll(requests));
  }

  load(keys: readonly K[]): Promise<Map<K, V>> {
    return keys.length === 0 ? Promise.resolve(new Map<K, V>()) : this.#turn.add(keys);
  }

  /** One query per `keysMax` keys; every request gets the values of its own keys. */
  async #fetchAll(requests: readonly (readonly K[])[]): Promise<Map<K, V>[]> {
    const keys = [...new Set(requests.flat())];
    const chunks: K[][] = [];
    for (let i = 0; i < keys.length; i += this.keysMax) chunks.push(keys.slice(i, i + this.keysMax));
    const values = new Map<K, V>();
    for (const found of await Promise.all(chunks.map((chunk) => this.fetch(chunk)))) for (const [key, value] of found) values.set(key, value);
    return requests.map((own) => new Map(own.flatMap((key) => (values.has(key) ? [[key, values.get(key) as V] as const] : []))));
  }
}
