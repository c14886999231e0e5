import { describe, expect, it } from 'vitest';
import { allocateLargestRemainder } from '../../src/ledger/index.js';

describe('allocateLargestRemainder', () => {
  it('S5: shares 1234.56 over pots weighted 310/350/200/140 as 382.71, 432.10, 246.91, 172.84', () => {
    const shares = allocateLargestRemainder(123_456n, [
      { key: 'P-1', weight: 310n },
      { key: 'P-2', weight: 350n },
      { key: 'P-3', weight: 200n },
      { key: 'P-4', weight: 140n },
    ]);
    expect(shares).toEqual([
      { key: 'P-1', amountMinor: 38_271n },
      { key: 'P-2', amountMinor: 43_210n },
      { key: 'P-3', amountMinor: 24_691n },
      { key: 'P-4', amountMinor: 17_284n },
    ]);
  });

  it('gives the unit left over from equal weights to the smallest key, wherever it stands', () => {
    const shares = allocateLargestRemainder(100_000n, [
      { key: 'P-c', weight: 1n },
      { key: 'P-a', weight: 1n },
      { key: 'P-b', weight: 1n },
    ]);
    expect(shares).toEqual([
      { key: 'P-c', amountMinor: 33_333n },
      { key: 'P-a', amountMinor: 33_334n },
      { key: 'P-b', amountMinor: 33_333n },
    ]);
  });

  it('gives nothing to a zero weight, even with units left over', () => {
    expect(allocateLargestRemainder(10n, [{ key: 'a', weight: 0n }, { key: 'b', weight: 3n }, { key: 'c', weight: 3n }, { key: 'd', weight: 3n }])).toEqual([
      { key: 'a', amountMinor: 0n },
      { key: 'b', amountMinor: 4n },
      { key: 'c', amountMinor: 3n },
      { key: 'd', amountMinor: 3n },
    ]);
  });

  it('shares zero as zeros', () => {
    expect(allocateLargestRemainder(0n, [{ key: 'a', weight: 1n }])).toEqual([{ key: 'a', amountMinor: 0n }]);
  });

  it('refuses input that breaks its preconditions', () => {
    expect(() => allocateLargestRemainder(-1n, [{ key: 'a', weight: 1n }])).toThrow(RangeError);
    expect(() => allocateLargestRemainder(1n, [])).toThrow(RangeError);
    expect(() => allocateLargestRemainder(1n, [{ key: 'a', weight: -1n }, { key: 'b', weight: 2n }])).toThrow(RangeError);
    expect(() => allocateLargestRemainder(1n, [{ key: 'a', weight: 0n }])).toThrow(RangeError);
  });
});
