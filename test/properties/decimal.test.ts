import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AMOUNT_MINOR_MAX,
  ASSET_SCALE_MAX,
  divideByRate,
  divideRounded,
  formatAmount,
  formatRate,
  multiplyByRate,
  parseAmount,
  parseRate,
  type RoundingMode,
} from '../../src/ledger/index.js';
import { checkProperty } from '../support/fast-check.js';
import { assetScale, invalidAmountText, trimFraction, validRate } from './arbitraries.js';

const SCALES = Array.from({ length: ASSET_SCALE_MAX + 1 }, (_, scale) => scale);
const MODES: readonly RoundingMode[] = ['down', 'up', 'half-even'];

/** numerator ÷ denominator rounded by `mode`, computed from the definitions on magnitudes. */
function referenceDivide(numerator: bigint, denominator: bigint, mode: RoundingMode): bigint {
  const sign = numerator < 0n ? -1n : 1n;
  const magnitude = numerator < 0n ? -numerator : numerator;
  const floor = magnitude / denominator;
  const remainder = magnitude - floor * denominator;
  if (remainder === 0n) return sign * floor;
  if (mode === 'down') return sign * floor;
  if (mode === 'up') return sign * (floor + 1n);
  const twice = 2n * remainder;
  if (twice < denominator) return sign * floor;
  if (twice > denominator) return sign * (floor + 1n);
  return sign * (floor % 2n === 0n ? floor : floor + 1n);
}

describe('exact decimals', () => {
  it('round-trips every amount through formatAmount and parseAmount at every scale 0..12', () => {
    checkProperty(
      'amount round trip',
      fc.property(fc.oneof(fc.bigInt(-1_000_000n, 1_000_000n), fc.bigInt(-AMOUNT_MINOR_MAX, AMOUNT_MINOR_MAX)), (minor) => {
        for (const scale of SCALES) {
          const text = formatAmount(minor, scale);
          expect(parseAmount(text, scale, { signed: true, zero: true })).toEqual({ ok: true, value: minor });
          // Dropping trailing zeros of the fraction reads the same amount.
          expect(parseAmount(trimFraction(text), scale, { signed: true, zero: true })).toEqual({ ok: true, value: minor });
          if (minor > 0n) expect(parseAmount(text, scale)).toEqual({ ok: true, value: minor });
        }
      }),
    );
  });

  it('rejects every invalid amount text with a reason', () => {
    checkProperty(
      'invalid amounts are rejected',
      fc.property(assetScale.chain((scale) => fc.tuple(fc.constant(scale), invalidAmountText(scale))), ([scale, { why, value }]) => {
        const parsed = parseAmount(value, scale);
        expect(parsed.ok, `${why}: ${String(value)} at scale ${scale}`).toBe(false);
        if (!parsed.ok) expect(parsed.reason.length).toBeGreaterThan(0);
      }),
    );
  });

  it('round-trips rates through formatRate and parseRate', () => {
    checkProperty(
      'rate round trip',
      fc.property(validRate, ({ text, mantissa, scale }) => {
        expect(parseRate(text)).toEqual({ ok: true, value: { mantissa, scale } });
        expect(formatRate({ mantissa, scale })).toBe(text);
      }),
    );
  });

  it('divides with down, up and half-even rounding exactly as the rational reference', () => {
    checkProperty(
      'divideRounded against an exact reference',
      fc.property(
        fc.oneof(fc.bigInt(-1_000n, 1_000n), fc.bigInt(-(10n ** 30n), 10n ** 30n)),
        fc.oneof(fc.bigInt(1n, 20n), fc.bigInt(1n, 10n ** 20n)),
        (numerator, denominator) => {
          for (const mode of MODES) {
            const result = divideRounded(numerator, denominator, mode);
            expect(result, mode).toBe(referenceDivide(numerator, denominator, mode));
            const error = result * denominator - numerator; // (result - exact) × denominator
            expect(error < denominator && error > -denominator, `${mode} is within one unit`).toBe(true);
            if (mode === 'half-even') expect(2n * (error < 0n ? -error : error) <= denominator).toBe(true);
            if (mode === 'down') expect((result < 0n ? -result : result) * denominator <= (numerator < 0n ? -numerator : numerator)).toBe(true);
            if (mode === 'up') expect((result < 0n ? -result : result) * denominator >= (numerator < 0n ? -numerator : numerator)).toBe(true);
          }
        },
      ),
    );
  });

  it('bounds multiplyByRate and divideByRate: down ≤ exact ≤ up, at most one minor unit apart', () => {
    checkProperty(
      'rate conversions are bounded',
      fc.property(fc.bigInt(0n, AMOUNT_MINOR_MAX), assetScale, assetScale, validRate, (amount, amountScale, resultScale, { mantissa, scale }) => {
        const rate = { mantissa, scale };
        const conversions = [
          // amount × rate as the fraction numerator / denominator in result minor units
          { name: 'multiplyByRate', convert: multiplyByRate, numerator: amount * mantissa * 10n ** BigInt(resultScale), denominator: 10n ** BigInt(amountScale + scale) },
          { name: 'divideByRate', convert: divideByRate, numerator: amount * 10n ** BigInt(scale + resultScale), denominator: mantissa * 10n ** BigInt(amountScale) },
        ];
        for (const { name, convert, numerator, denominator } of conversions) {
          const down = convert(amount, amountScale, rate, resultScale, 'down');
          const up = convert(amount, amountScale, rate, resultScale, 'up');
          const halfEven = convert(amount, amountScale, rate, resultScale, 'half-even');
          expect(down * denominator <= numerator, `${name} down ≤ exact`).toBe(true);
          expect(up * denominator >= numerator, `${name} exact ≤ up`).toBe(true);
          expect(up - down, name).toBe(numerator % denominator === 0n ? 0n : 1n);
          expect(halfEven === down || halfEven === up, `${name} half-even is one of them`).toBe(true);
        }
      }),
    );
  });
});
