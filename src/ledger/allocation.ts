/**
 * Largest-remainder allocation: shares an amount over weights so that the shares sum to the amount
 * exactly. Each share is first rounded down (floor of total × weight ÷ Σweights); the units left over go
 * one each to the largest remainders; equal remainders go to the smaller key (string order, then the
 * position in the input), so the result depends on nothing but the input.
 */

export interface Weighted<K extends string = string> {
  readonly key: K;
  readonly weight: bigint;
}

export interface Share<K extends string = string> {
  readonly key: K;
  readonly amountMinor: bigint;
}

/** The most parties one allocation may share over. */
export const ALLOCATION_PARTIES_MAX = 10_000_000;

/**
 * Shares `totalMinor` (≥ 0) over `weights` (each ≥ 0, at least one > 0) and returns one share per input,
 * in input order. Throws RangeError on input that breaks those preconditions: callers validate first.
 */
export function allocateLargestRemainder<K extends string>(
  totalMinor: bigint,
  weights: readonly Weighted<K>[],
): Share<K>[] {
  if (totalMinor < 0n) throw new RangeError('allocate: the total must not be negative');
  if (weights.length === 0) throw new RangeError('allocate: at least one weight is needed');
  if (weights.length > ALLOCATION_PARTIES_MAX) throw new RangeError('allocate: too many parties');
  let weightSum = 0n;
  for (const { weight } of weights) {
    if (weight < 0n) throw new RangeError('allocate: weights must not be negative');
    weightSum += weight;
  }
  if (weightSum === 0n) throw new RangeError('allocate: the weights must not all be zero');

  const floors: bigint[] = [];
  const remainders: bigint[] = [];
  let allocated = 0n;
  for (const { weight } of weights) {
    const product = totalMinor * weight;
    const floor = product / weightSum;
    floors.push(floor);
    remainders.push(product % weightSum);
    allocated += floor;
  }

  const leftover = totalMinor - allocated; // < weights.length, since each remainder < weightSum
  const order = weights.map((_, index) => index);
  order.sort((a, b) => {
    const ra = remainders[a] ?? 0n;
    const rb = remainders[b] ?? 0n;
    if (ra !== rb) return ra > rb ? -1 : 1;
    const ka = weights[a]?.key ?? '';
    const kb = weights[b]?.key ?? '';
    if (ka !== kb) return ka < kb ? -1 : 1;
    return a - b;
  });
  for (let i = 0n; i < leftover; i += 1n) {
    const index = order[Number(i)];
    if (index === undefined) throw new RangeError('allocate: leftover exceeds the parties (a bug)');
    floors[index] = (floors[index] ?? 0n) + 1n;
  }
  return weights.map(({ key }, index) => ({ key, amountMinor: floors[index] ?? 0n }));
}
