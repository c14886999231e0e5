import { PotActor } from './pot-actor.js';

/**
 * The live pot actors of a shard, at most `liveActorsMax` of them. Idle actors are passivated (dropped;
 * their state is in Postgres) least recently used first, so memory stays bounded however many pots
 * the partition has. Actors pinned by the batch in flight are never passivated.
 */
export class ActorDirectory {
  readonly #actors = new Map<string, PotActor>();

  constructor(readonly liveActorsMax: number) {
    if (!Number.isInteger(liveActorsMax) || liveActorsMax < 1) throw new RangeError('liveActorsMax must be a positive integer');
  }

  get size(): number {
    return this.#actors.size;
  }

  /** The live actor of the pot, marked as just used; undefined when passivated or never loaded. */
  get(potId: string): PotActor | undefined {
    const actor = this.#actors.get(potId);
    if (actor !== undefined) {
      this.#actors.delete(potId);
      this.#actors.set(potId, actor);
    }
    return actor;
  }

  add(actor: PotActor): void {
    this.#actors.delete(actor.potId);
    this.#actors.set(actor.potId, actor);
  }

  /** Drops the actor (its in-memory state can no longer be trusted, or its pot moved away). */
  drop(potId: string): void {
    this.#actors.delete(potId);
  }

  clear(): void {
    this.#actors.clear();
  }

  /** Passivates the least recently used actors beyond the bound, sparing the pinned ones. */
  passivate(pinned: ReadonlySet<string>): number {
    let dropped = 0;
    for (const potId of this.#actors.keys()) {
      if (this.#actors.size <= this.liveActorsMax) break;
      if (pinned.has(potId)) continue;
      this.#actors.delete(potId);
      dropped += 1;
    }
    return dropped;
  }
}
