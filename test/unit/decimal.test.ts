import { describe, expect, it } from 'vitest';
import {
  AMOUNT_MINOR_MAX,
  divideByRate,
  divideRounded,
  formatAmount,
  multiplyByRate,
  parseAmount,
  parseRate,
  type Rate,
  type RoundingMode,
} from '../../src/ledger/index.js';

function rate(text: string): Rate {
  const parsed = parseRate(text);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}

describe('parseAmount', () => {
  it.each([
    { name: 'more decimals than the scale', text: '1.001', scale: 2, reason: /3 decimal places/ },
    { name: 'a plus sign', text: '+1', scale: 2, reason: /not a plain decimal/ },
    { name: 'a minus sign on an unsigned amount', text: '-1', scale: 2, reason: /must not carry a sign/ },
    { name: 'an exponent', text: '1e3', scale: 2, reason: /not a plain decimal/ },
    { name: 'the empty string', text: '', scale: 2, reason: /must not be empty/ },
    { name: 'leading whitespace', text: ' 1', scale: 2, reason: /not a plain decimal/ },
    { name: 'trailing whitespace', text: '1 ', scale: 2, reason: /not a plain decimal/ },
    { name: 'a leading zero', text: '01', scale: 2, reason: /not a plain decimal/ },
    { name: 'a point without decimals', text: '1.', scale: 2, reason: /not a plain decimal/ },
    { name: 'decimals without a whole part', text: '.5', scale: 2, reason: /not a plain decimal/ },
    { name: 'minus zero, unsigned', text: '-0', scale: 2, reason: /must not carry a sign/ },
    { name: 'zero', text: '0', scale: 2, reason: /greater than zero/ },
    { name: 'zero with decimals', text: '0.00', scale: 2, reason: /greater than zero/ },
    { name: 'a 19-digit number', text: '1000000000000000000', scale: 0, reason: /exceeds the largest amount/ },
    { name: 'one minor unit above AMOUNT_MINOR_MAX', text: '10000000000000000.00', scale: 2, reason: /exceeds the largest amount/ },
    { name: 'a decimal comma', text: '1,50', scale: 2, reason: /not a plain decimal/ },
    { name: 'more than 64 characters', text: '1'.repeat(65), scale: 2, reason: /longer than 64/ },
  ])('rejects $name ("$text" at scale $scale)', ({ text, scale, reason }) => {
    const parsed = parseAmount(text, scale);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toMatch(reason);
  });

  it('rejects "-0" as non-canonical even where signs are allowed', () => {
    expect(parseAmount('-0', 2, { signed: true, zero: true })).toEqual({ ok: false, reason: '"-0" is not a canonical amount' });
    expect(parseAmount('-0.00', 2, { signed: true, zero: true }).ok).toBe(false);
  });

  it.each([null, undefined, 100, 1.5, 10n, {}, ['1']])('rejects the non-string %o', (value) => {
    expect(parseAmount(value, 2)).toEqual({ ok: false, reason: 'an amount must be a decimal string' });
  });

  it('reads valid amounts exactly, with fewer decimals than the scale', () => {
    expect(parseAmount('100.25', 2)).toEqual({ ok: true, value: 10025n });
    expect(parseAmount('100.5', 2)).toEqual({ ok: true, value: 10050n });
    expect(parseAmount('100', 2)).toEqual({ ok: true, value: 10000n });
    expect(parseAmount('0.000001', 6)).toEqual({ ok: true, value: 1n });
    expect(parseAmount('9999999999999999.99', 2)).toEqual({ ok: true, value: AMOUNT_MINOR_MAX });
    expect(parseAmount('999999999999999999', 0)).toEqual({ ok: true, value: AMOUNT_MINOR_MAX });
    expect(parseAmount('-0.05', 2, { signed: true })).toEqual({ ok: true, value: -5n });
    expect(parseAmount('0', 2, { zero: true })).toEqual({ ok: true, value: 0n });
  });
});

describe('formatAmount', () => {
  it.each([
    { minor: 10025n, scale: 2, text: '100.25' },
    { minor: -5n, scale: 2, text: '-0.05' },
    { minor: 0n, scale: 2, text: '0.00' },
    { minor: 7n, scale: 0, text: '7' },
    { minor: 1n, scale: 6, text: '0.000001' },
    { minor: 123456789n, scale: 12, text: '0.000123456789' },
    { minor: AMOUNT_MINOR_MAX, scale: 2, text: '9999999999999999.99' },
    { minor: -AMOUNT_MINOR_MAX, scale: 0, text: '-999999999999999999' },
  ])('formats $minor at scale $scale as "$text"', ({ minor, scale, text }) => {
    expect(formatAmount(minor, scale)).toBe(text);
  });
});

describe('parseRate', () => {
  it('reads rates exactly', () => {
    expect(parseRate('1.2345')).toEqual({ ok: true, value: { mantissa: 12345n, scale: 4 } });
    expect(parseRate('0.00000001')).toEqual({ ok: true, value: { mantissa: 1n, scale: 8 } });
    expect(parseRate('2')).toEqual({ ok: true, value: { mantissa: 2n, scale: 0 } });
    expect(parseRate('1.50')).toEqual({ ok: true, value: { mantissa: 150n, scale: 2 } });
    expect(parseRate('123456789012345678')).toEqual({ ok: true, value: { mantissa: 123456789012345678n, scale: 0 } });
  });

  it.each([
    { name: 'zero', text: '0', reason: /greater than zero/ },
    { name: 'zero with decimals', text: '0.00000000', reason: /greater than zero/ },
    { name: 'nine decimals', text: '0.000000001', reason: /more than 8 decimal places/ },
    { name: 'a sign', text: '-1.5', reason: /not a plain positive decimal/ },
    { name: 'an exponent', text: '1e2', reason: /not a plain positive decimal/ },
    { name: 'a leading zero', text: '01.5', reason: /not a plain positive decimal/ },
    { name: 'the empty string', text: '', reason: /must not be empty/ },
    { name: '19 digits', text: '1234567890123456789', reason: /too many digits/ },
    { name: '19 digits with decimals', text: '12345678901.23456789', reason: /too many digits/ },
  ])('rejects $name ("$text")', ({ text, reason }) => {
    const parsed = parseRate(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toMatch(reason);
  });

  it('rejects a number', () => {
    expect(parseRate(1.2345)).toEqual({ ok: false, reason: 'a rate must be a decimal string' });
  });
});

describe('S1: buying fund units at 1.2345 for three pots', () => {
  const price = rate('1.2345');
  const cash = [10_000n, 25_000n, 3_333n]; // 100.00, 250.00, 33.33 GBP

  it('gives each pot its units rounded down: 81.004455, 202.511138, 26.998784', () => {
    const units = cash.map((pence) => divideByRate(pence, 2, price, 6, 'down'));
    expect(units).toEqual([81_004_455n, 202_511_138n, 26_998_784n]);
    expect(units.map((minor) => formatAmount(minor, 6))).toEqual(['81.004455', '202.511138', '26.998784']);
  });

  it('leaves 0.000001 units of the 310.514378 executed once the pots have theirs (310.514377)', () => {
    const allocated = cash.map((pence) => divideByRate(pence, 2, price, 6, 'down')).reduce((sum, units) => sum + units, 0n);
    expect(formatAmount(allocated, 6)).toBe('310.514377');
    const executed = parseAmount('310.514378', 6);
    expect(executed.ok && formatAmount(executed.value - allocated, 6)).toBe('0.000001');
  });

  it('rounds the other way up, and back to cash below what was paid', () => {
    expect(divideByRate(10_000n, 2, price, 6, 'up')).toBe(81_004_456n);
    expect(multiplyByRate(81_004_455n, 6, price, 2, 'down')).toBe(9_999n); // 99.99999... GBP
    expect(multiplyByRate(81_004_455n, 6, price, 2, 'half-even')).toBe(10_000n);
  });
});

describe('divideRounded', () => {
  it.each<[bigint, bigint, RoundingMode, bigint]>([
    [7n, 2n, 'down', 3n],
    [-7n, 2n, 'down', -3n],
    [-1n, 3n, 'down', 0n],
    [6n, 3n, 'down', 2n],
    [7n, 2n, 'up', 4n],
    [-7n, 2n, 'up', -4n],
    [1n, 3n, 'up', 1n],
    [-1n, 3n, 'up', -1n],
    [-6n, 3n, 'up', -2n],
    [5n, 2n, 'half-even', 2n],
    [7n, 2n, 'half-even', 4n],
    [-5n, 2n, 'half-even', -2n],
    [-7n, 2n, 'half-even', -4n],
    [-3n, 2n, 'half-even', -2n],
    [11n, 4n, 'half-even', 3n],
    [-11n, 4n, 'half-even', -3n],
    [9n, 4n, 'half-even', 2n],
    [-9n, 4n, 'half-even', -2n],
    [-2n, 3n, 'half-even', -1n],
    [0n, 5n, 'half-even', 0n],
  ])('%d ÷ %d rounded %s is %d', (numerator, denominator, mode, expected) => {
    expect(divideRounded(numerator, denominator, mode)).toBe(expected);
  });

  it('refuses a denominator that is not positive', () => {
    expect(() => divideRounded(1n, 0n, 'down')).toThrow(RangeError);
    expect(() => divideRounded(1n, -2n, 'up')).toThrow(RangeError);
  });
});
