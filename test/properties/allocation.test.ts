import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocateLargestRemainder, AMOUNT_MINOR_MAX, type Weighted } from '../../src/ledger/index.js';
import { checkProperty } from '../support/fast-check.js';

/** A total to share: zero, small (many ties), or anything up to AMOUNT_MINOR_MAX. */
const total = fc.oneof(fc.constant(0n), fc.bigInt(0n, 100n), fc.bigInt(0n, 1_000_000n), fc.bigInt(0n, AMOUNT_MINOR_MAX));

/** A weight: often tiny (equal remainders, so tie-breaks matter), sometimes zero, sometimes large. */
const weight = fc.oneof(fc.constant(0n), fc.bigInt(1n, 3n), fc.bigInt(0n, 1_000n), fc.bigInt(0n, 10n ** 15n));

/** Parties with unique keys (pot-like ids and arbitrary strings) and at least one positive weight. */
const parties: fc.Arbitrary<Weighted[]> = fc
  .uniqueArray(fc.record({ key: fc.oneof(fc.stringMatching(/^P-[0-9]{1,3}$/), fc.string({ maxLength: 4 })), weight }), {
    minLength: 1,
    maxLength: 12,
    selector: ({ key }) => key,
  })
  .filter((list) => list.some(({ weight: w }) => w > 0n));

describe('allocateLargestRemainder', () => {
  it('shares exactly: floor or floor+1 each, zero for zero weights, larger remainders then smaller keys first', () => {
    checkProperty(
      'allocation sums exactly',
      fc.property(total, parties, (amount, weights) => {
        const shares = allocateLargestRemainder(amount, weights);
        const weightSum = weights.reduce((sum, { weight: w }) => sum + w, 0n);
        expect(shares.map(({ key }) => key)).toEqual(weights.map(({ key }) => key));
        expect(shares.reduce((sum, { amountMinor }) => sum + amountMinor, 0n)).toBe(amount);
        const extra = weights.map(({ weight: w }, index) => {
          const floor = (amount * w) / weightSum;
          const share = shares[index]?.amountMinor ?? -1n;
          expect(share === floor || share === floor + 1n, `share ${share} of weight ${w} is not floor ${floor} or floor + 1`).toBe(true);
          if (w === 0n) expect(share).toBe(0n);
          return { key: weights[index]?.key ?? '', remainder: (amount * w) % weightSum, extra: share - floor };
        });
        // Whoever got an extra unit ranks before whoever did not: larger remainder, then smaller key.
        for (const winner of extra.filter((party) => party.extra === 1n)) {
          for (const loser of extra.filter((party) => party.extra === 0n)) {
            const ranksBefore = winner.remainder > loser.remainder || (winner.remainder === loser.remainder && winner.key < loser.key);
            expect(ranksBefore, `${winner.key} got the extra unit before ${loser.key}`).toBe(true);
          }
        }
      }),
    );
  });

  it('gives each key the same share whatever the order of the input', () => {
    checkProperty(
      'allocation ignores input order',
      fc.property(
        total,
        parties.chain((list) => fc.tuple(fc.constant(list), fc.shuffledSubarray(list, { minLength: list.length, maxLength: list.length }))),
        (amount, [weights, permuted]) => {
          const byKey = (shares: readonly { key: string; amountMinor: bigint }[]) =>
            new Map(shares.map(({ key, amountMinor }) => [key, amountMinor]));
          expect(byKey(allocateLargestRemainder(amount, permuted))).toEqual(byKey(allocateLargestRemainder(amount, weights)));
        },
      ),
    );
  });
});
