/**
 * Partitioning: partition = stableHash(key) mod partitionCount, with FNV-1a (32-bit) over the key's
 * UTF-8 bytes. Stable across processes, versions and machines; changing it moves every member, so it
 * never changes. The key is the member ID for every process that acts on a member's pots.
 */
export const PARTITION_COUNT_DEFAULT = 64;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const encoder = new TextEncoder();

export function stableHash(key: string): number {
  let hash = FNV_OFFSET;
  for (const byte of encoder.encode(key)) {
    hash ^= byte;
    hash = Math.imul(hash, FNV_PRIME) >>> 0;
  }
  return hash >>> 0;
}

export function partitionOf(key: string, partitionCount: number): number {
  if (!Number.isInteger(partitionCount) || partitionCount < 1) throw new RangeError('partitionCount must be a positive integer');
  return stableHash(key) % partitionCount;
}
