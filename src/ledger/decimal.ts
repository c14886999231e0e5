/**
 * Exact decimals for money and units. Amounts are bigint minor units of an asset whose scale (number of
 * decimal places) is known; on the wire they are decimal strings. Nothing here uses floating point.
 */

/** The largest amount one entry may carry, in minor units (18 digits). */
export const AMOUNT_MINOR_MAX = 10n ** 18n - 1n;
/** The range a balance must stay within: what a Postgres bigint holds. */
export const BALANCE_MINOR_MAX = 2n ** 63n - 1n;
export const BALANCE_MINOR_MIN = -(2n ** 63n);
/** Rates (prices, FX) carry at most this many decimal places. */
export const RATE_SCALE_MAX = 8;
/** Rates carry at most this many digits in all. */
export const RATE_DIGITS_MAX = 18;
/** An asset's scale is at most this (fund units use 6 by default). */
export const ASSET_SCALE_MAX = 12;

export const minBigint = (a: bigint, b: bigint): bigint => (a < b ? a : b);
export const maxBigint = (a: bigint, b: bigint): bigint => (a > b ? a : b);

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = <T>(reason: string): Parsed<T> => ({ ok: false, reason });

const UNSIGNED_DECIMAL = /^(0|[1-9][0-9]*)(?:\.([0-9]+))?$/;

export interface ParseAmountOptions {
  /** Accept a leading '-' (for signed quantities such as balances); amounts on commands never are. */
  readonly signed?: boolean;
  /** Accept zero; entries and commands never carry a zero amount. */
  readonly zero?: boolean;
}

/**
 * Reads a decimal string as minor units of an asset with `scale` decimals. Strict: no exponent, no '+',
 * no leading zeros, no whitespace, no more decimals than the scale (never rounded), at most
 * AMOUNT_MINOR_MAX in magnitude.
 */
export function parseAmount(text: unknown, scale: number, options: ParseAmountOptions = {}): Parsed<bigint> {
  if (typeof text !== 'string') return fail('an amount must be a decimal string');
  if (text.length === 0) return fail('an amount must not be empty');
  if (text.length > 64) return fail('an amount must not be longer than 64 characters');
  const negative = text.startsWith('-');
  if (negative && options.signed !== true) return fail(`"${text}" must not carry a sign`);
  const body = negative ? text.slice(1) : text;
  const match = UNSIGNED_DECIMAL.exec(body);
  if (match === null) return fail(`"${text}" is not a plain decimal number (digits, one optional point)`);
  const whole = match[1] ?? '0';
  const fraction = match[2] ?? '';
  if (fraction.length > scale) {
    return fail(`"${text}" has ${fraction.length} decimal places; this asset allows at most ${scale}`);
  }
  const magnitude = BigInt(whole + fraction.padEnd(scale, '0'));
  if (magnitude > AMOUNT_MINOR_MAX) return fail(`"${text}" exceeds the largest amount allowed`);
  if (magnitude === 0n && negative) return fail('"-0" is not a canonical amount');
  if (magnitude === 0n && options.zero !== true) return fail('an amount must be greater than zero');
  return ok(negative ? -magnitude : magnitude);
}

/** Formats minor units with exactly `scale` decimals: (10025n, 2) → "100.25", (-5n, 2) → "-0.05". */
export function formatAmount(minor: bigint, scale: number): string {
  const negative = minor < 0n;
  const digits = (negative ? -minor : minor).toString().padStart(scale + 1, '0');
  const whole = digits.slice(0, digits.length - scale);
  const fraction = digits.slice(digits.length - scale);
  return (negative ? '-' : '') + (scale === 0 ? whole : `${whole}.${fraction}`);
}

/** An exact positive decimal rate (a price per unit, an FX rate): value = mantissa / 10^scale. */
export interface Rate {
  readonly mantissa: bigint;
  readonly scale: number;
}

/** Reads a rate: a positive decimal string with at most RATE_SCALE_MAX decimals. */
export function parseRate(text: unknown): Parsed<Rate> {
  if (typeof text !== 'string') return fail('a rate must be a decimal string');
  if (text.length === 0) return fail('a rate must not be empty');
  const match = UNSIGNED_DECIMAL.exec(text);
  if (match === null) return fail(`"${text}" is not a plain positive decimal number`);
  const whole = match[1] ?? '0';
  const fraction = match[2] ?? '';
  if (fraction.length > RATE_SCALE_MAX) return fail(`"${text}" has more than ${RATE_SCALE_MAX} decimal places`);
  const mantissa = BigInt(whole + fraction);
  if ((whole + fraction).replace(/^0+/, '').length > RATE_DIGITS_MAX) return fail(`"${text}" has too many digits`);
  if (mantissa === 0n) return fail('a rate must be greater than zero');
  return ok({ mantissa, scale: fraction.length });
}

export function formatRate(rate: Rate): string {
  return formatAmount(rate.mantissa, rate.scale);
}

/**
 * How a division that does not come out exact is rounded:
 * - `down`: toward zero (truncate);
 * - `up`: away from zero;
 * - `half-even`: to the nearest, ties to the even neighbour (banker's rounding).
 */
export type RoundingMode = 'down' | 'up' | 'half-even';

/** numerator ÷ denominator rounded by `mode`; the denominator must be positive. */
export function divideRounded(numerator: bigint, denominator: bigint, mode: RoundingMode): bigint {
  if (denominator <= 0n) throw new RangeError('divideRounded: the denominator must be positive');
  const quotient = numerator / denominator; // truncates toward zero
  const remainder = numerator % denominator; // takes the sign of the numerator
  if (remainder === 0n) return quotient;
  const away = numerator < 0n ? quotient - 1n : quotient + 1n;
  switch (mode) {
    case 'down':
      return quotient;
    case 'up':
      return away;
    case 'half-even': {
      const twice = (remainder < 0n ? -remainder : remainder) * 2n;
      if (twice < denominator) return quotient;
      if (twice > denominator) return away;
      return quotient % 2n === 0n ? quotient : away;
    }
  }
}

const pow10 = (exponent: number): bigint => 10n ** BigInt(exponent);

/**
 * amount × rate, from an asset of `amountScale` into one of `resultScale`, rounded by `mode`.
 * Example: units × price → cash (seller's proceeds, rounded down).
 */
export function multiplyByRate(
  amountMinor: bigint,
  amountScale: number,
  rate: Rate,
  resultScale: number,
  mode: RoundingMode,
): bigint {
  return divideRounded(amountMinor * rate.mantissa * pow10(resultScale), pow10(amountScale + rate.scale), mode);
}

/**
 * amount ÷ rate, from an asset of `amountScale` into one of `resultScale`, rounded by `mode`.
 * Example: cash ÷ price → units (buyer's units, rounded down).
 */
export function divideByRate(
  amountMinor: bigint,
  amountScale: number,
  rate: Rate,
  resultScale: number,
  mode: RoundingMode,
): bigint {
  return divideRounded(amountMinor * pow10(rate.scale + resultScale), rate.mantissa * pow10(amountScale), mode);
}
