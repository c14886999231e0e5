import type { Process } from './process.js';

/** The processes the ledger runs, by name. Lookups are exact; names are unique. */
export interface ProcessRegistry {
  find(name: string): Process | undefined;
  list(): readonly Process[];
}

export function processRegistry(processes: readonly Process[]): ProcessRegistry {
  const byName = new Map<string, Process>();
  for (const process of processes) {
    if (byName.has(process.name)) throw new RangeError(`process ${process.name} is registered twice`);
    byName.set(process.name, process);
  }
  const list = Object.freeze([...byName.values()].sort((a, b) => (a.name < b.name ? -1 : 1)));
  return { find: (name) => byName.get(name), list: () => list };
}
