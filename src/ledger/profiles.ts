import { z } from 'zod';
import { potAccount } from './accounts.js';
import { allocateLargestRemainder } from './allocation.js';
import type { AssetCatalog } from './assets.js';
import { divideByRate, divideRounded, formatAmount, maxBigint as maxBig, minBigint as minBig, multiplyByRate, parseAmount, parseRate, type Rate } from './decimal.js';
import { balanceOf, type BalanceMap, type RebalanceLeg } from './movement.js';

/**
 * Risk profiles and re-balancing, pure. A profile is a model portfolio: target weights per fund that sum
 * to exactly 100.00 %, a drift band (absolute percentage points, or relative to the target), a minimum
 * trade and a cash buffer. Weights and bands are percentages with two decimals, held as hundredths of a
 * percent (6000 = 60.00 %); values are in the currency's minor units, rounded down to the penny.
 */
const percent = z.string().regex(/^(0|[1-9][0-9]{0,2})(\.[0-9]{1,2})?$/, 'a percentage with at most 2 decimals, such as "60.00"');

export const riskProfileSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'lower-case letters, digits and -'),
  currency: z.string().regex(/^[A-Z]{3}$/),
  targets: z.array(z.strictObject({ fund: z.string().min(1).max(32), weight: percent })).min(1).max(16),
  band: z.union([z.strictObject({ absolute: percent }), z.strictObject({ relative: percent })]),
  minimumTrade: z.string().regex(/^(0|[1-9][0-9]*)(\.[0-9]+)?$/, 'an amount of the currency'),
  cashBuffer: percent,
}).meta({ domain: 'riskProfile', description: 'A risk profile: target weights per fund (summing to 100.00 %), a drift band, a minimum trade and a cash buffer.' });
export type RiskProfile = z.infer<typeof riskProfileSchema>;

/** Hundredths of a percent in 100.00 %. */
const WHOLE = 10_000n;

function hundredths(text: string): bigint {
  const parsed = parseAmount(text, 2, { zero: true });
  if (!parsed.ok) throw new RangeError(parsed.reason);
  return parsed.value;
}

/** What is wrong with a profile (an empty list when it is sound). */
export function profileProblems(profile: RiskProfile, assets: AssetCatalog): string[] {
  const problems: string[] = [];
  const total = profile.targets.reduce((sum, target) => sum + hundredths(target.weight), 0n);
  if (total !== WHOLE) problems.push(`the target weights sum to ${formatAmount(total, 2)} %, not 100.00 %`);
  const funds = new Set<string>();
  for (const { fund } of profile.targets) {
    if (funds.has(fund)) problems.push(`${fund} is listed twice`);
    funds.add(fund);
    if (assets.find(fund)?.kind !== 'fund') problems.push(`${fund} is not a fund`);
  }
  if (assets.find(profile.currency)?.kind !== 'currency') problems.push(`${profile.currency} is not a currency`);
  else if (!parseAmount(profile.minimumTrade, assets.find(profile.currency)?.scale ?? 2, { zero: true }).ok) problems.push('the minimum trade is not an amount of the currency');
  if (hundredths(profile.cashBuffer) >= WHOLE) problems.push('the cash buffer must be below 100 %');
  return problems;
}

/** The profiles the Trust offers (configured in code, like its assets). */
export const DEFAULT_PROFILES: readonly RiskProfile[] = [
  {
    id: 'cautious',
    currency: 'GBP',
    targets: [{ fund: 'FUND-A', weight: '30.00' }, { fund: 'FUND-B', weight: '70.00' }],
    band: { absolute: '5.00' },
    minimumTrade: '1.00',
    cashBuffer: '2.00',
  },
  {
    id: 'balanced',
    currency: 'GBP',
    targets: [{ fund: 'FUND-A', weight: '60.00' }, { fund: 'FUND-B', weight: '40.00' }],
    band: { absolute: '5.00' },
    minimumTrade: '1.00',
    cashBuffer: '0.00',
  },
  {
    id: 'adventurous',
    currency: 'GBP',
    targets: [{ fund: 'FUND-A', weight: '50.00' }, { fund: 'FUND-B', weight: '20.00' }, { fund: 'FUND-C', weight: '30.00' }],
    band: { relative: '20.00' },
    minimumTrade: '1.00',
    cashBuffer: '0.00',
  },
];

export type RebalanceDecision =
  | { readonly kind: 'within-band'; readonly weights: Readonly<Record<string, string>> }
  | { readonly kind: 'trade'; readonly weights: Readonly<Record<string, string>>; readonly legs: readonly RebalanceLeg[] };

/**
 * What a pot of `balances` should trade to return to `profile` at `prices`:
 * - the pot's value = its settled and pending units at the prices (each rounded down to the penny),
 *   plus its cash and its pending sale proceeds; each fund's weight is its value over that total;
 * - if any fund (a held fund outside the profile has target 0) drifts beyond the band, every fund is
 *   traded back to its target on the value less the cash buffer: overweight funds sell the excess
 *   (units = excess ÷ price, rounded down), underweight funds buy with the cash available above the
 *   buffer, then with the sales' expected proceeds (their value at these prices) as switch legs
 *   (`funding: 'proceeds'`, placed once the sales are priced, each up to its amount) — each budget
 *   shared by largest remainder over the shortfalls when it does not cover them all;
 * - a leg worth less than the minimum trade is skipped; nothing is ever bought with more cash than
 *   the pot has available, and nothing sold that is not settled and free.
 */
export function rebalanceDecision(
  profile: RiskProfile,
  potId: string,
  balances: BalanceMap,
  prices: ReadonlyMap<string, Rate>,
  assets: AssetCatalog,
): RebalanceDecision {
  const currency = profile.currency;
  const currencyScale = assets.find(currency)?.scale ?? 2;
  const held = (kind: string, asset: string) => balanceOf(balances, potAccount(potId, kind, asset));
  const positions = positionsOf(profile, potId, balances, prices, assets, currencyScale);
  const cashAvailable = held('cash', currency) - held('cash.reserved', currency);
  const total = positions.reduce((sum, p) => sum + p.valueMinor, 0n) + cashAvailable + held('cash.pending', currency);
  const weights = Object.fromEntries(
    positions.map((p) => [p.fund, total === 0n ? '0.000' : formatAmount(divideRounded(p.valueMinor * 100_000n, total, 'half-even'), 3)]),
  );
  if (total === 0n || !driftsBeyondBand(profile, positions, total)) return { kind: 'within-band', weights };

  const minimum = parseAmount(profile.minimumTrade, currencyScale, { zero: true });
  const minimumMinor = minimum.ok ? minimum.value : 0n;
  const investable = total - divideRounded(total * hundredths(profile.cashBuffer), WHOLE, 'up');
  const { sells, shortfalls } = sellsAndShortfalls(positions, investable, minimumMinor, currencyScale);
  // Underweight funds buy first with the cash available above the buffer, then with what the sales
  // are expected to bring (their value at these prices), placed once the sales are priced (a switch).
  const spendable = maxBig(0n, cashAvailable - (total - investable));
  const buys = buyLegs(shortfalls, sells, spendable, minimumMinor, currencyScale);
  return { kind: 'trade', weights, legs: [...sells, ...buys] };
}

/** One fund of a pot as a re-balance sees it: its units' value at the price and its target weight. */
interface Position {
  readonly fund: string;
  readonly scale: number;
  readonly price: Rate | undefined;
  /** Units settled and free to sell. */
  readonly settled: bigint;
  /** Settled and pending units at the price, rounded down, in the profile's currency. */
  readonly valueMinor: bigint;
  /** Target weight in hundredths of a percent (0 for a held fund outside the profile). */
  readonly target: bigint;
}

/** The profile's funds and every fund the pot holds units of, sorted by fund. */
function positionsOf(
  profile: RiskProfile,
  potId: string,
  balances: BalanceMap,
  prices: ReadonlyMap<string, Rate>,
  assets: AssetCatalog,
  currencyScale: number,
): Position[] {
  const held = (kind: string, asset: string) => balanceOf(balances, potAccount(potId, kind, asset));
  const funds = new Set([...profile.targets.map((t) => t.fund), ...[...balances.keys()].flatMap((account) => fundOfUnitsAccount(account, potId))]);
  return [...funds].sort().map((fund) => {
    const scale = assets.find(fund)?.scale ?? 6;
    const price = prices.get(fund);
    const settled = held('units', fund) - held('units.reserved', fund);
    const units = held('units', fund) + held('units.pending', fund);
    const valueMinor = price === undefined ? 0n : multiplyByRate(units, scale, price, currencyScale, 'down');
    const target = hundredths(profile.targets.find((t) => t.fund === fund)?.weight ?? '0');
    return { fund, scale, price, settled, valueMinor, target };
  });
}

/** Whether any fund drifts beyond the band: |value/total − target| > band, compared exactly in hundredths of a percent. */
function driftsBeyondBand(profile: RiskProfile, positions: readonly Position[], total: bigint): boolean {
  const band = 'absolute' in profile.band ? hundredths(profile.band.absolute) : hundredths(profile.band.relative);
  return positions.some((p) => {
    const drift = abs(p.valueMinor * WHOLE - total * p.target); // in (total × hundredths)
    return 'absolute' in profile.band ? drift > band * total : drift * WHOLE > band * p.target * total || (p.target === 0n && p.valueMinor > 0n);
  });
}

/** Sell legs for overweight funds (never more than the settled units) and the shortfalls of underweight ones. */
function sellsAndShortfalls(
  positions: readonly Position[],
  investable: bigint,
  minimumMinor: bigint,
  currencyScale: number,
): { sells: RebalanceLeg[]; shortfalls: { fund: string; needMinor: bigint }[] } {
  const sells: RebalanceLeg[] = [];
  const shortfalls: { fund: string; needMinor: bigint }[] = [];
  for (const p of positions) {
    const targetValue = divideRounded(investable * p.target, WHOLE, 'down');
    if (p.valueMinor > targetValue && p.price !== undefined) {
      const units = minBig(divideByRate(p.valueMinor - targetValue, currencyScale, p.price, p.scale, 'down'), p.settled);
      const value = multiplyByRate(units, p.scale, p.price, currencyScale, 'down');
      if (units > 0n && value >= minimumMinor) sells.push({ side: 'sell', fund: p.fund, units: formatAmount(units, p.scale), value: formatAmount(value, currencyScale) });
    } else if (p.valueMinor < targetValue && p.price !== undefined) {
      shortfalls.push({ fund: p.fund, needMinor: targetValue - p.valueMinor });
    }
  }
  return { sells, shortfalls };
}

/** Buy legs for the shortfalls: from `spendable` cash first, then from the sells' expected proceeds (switch legs). */
function buyLegs(
  shortfalls: readonly { fund: string; needMinor: bigint }[],
  sells: readonly RebalanceLeg[],
  spendable: bigint,
  minimumMinor: bigint,
  currencyScale: number,
): RebalanceLeg[] {
  const fromCash = share(shortfalls, spendable);
  const left = shortfalls.map((s) => ({ fund: s.fund, needMinor: s.needMinor - (fromCash.get(s.fund) ?? 0n) }));
  const expectedProceeds = sells.reduce((sum, leg) => sum + (leg.side === 'sell' ? parseValue(leg.value, currencyScale) : 0n), 0n);
  const fromProceeds = share(left, expectedProceeds);
  const buys: RebalanceLeg[] = [];
  for (const { fund } of shortfalls) {
    const cash = fromCash.get(fund) ?? 0n;
    const proceeds = fromProceeds.get(fund) ?? 0n;
    if (cash > 0n && cash >= minimumMinor) buys.push({ side: 'buy', fund, amount: formatAmount(cash, currencyScale) });
    if (proceeds > 0n && proceeds >= minimumMinor) buys.push({ side: 'buy', fund, amount: formatAmount(proceeds, currencyScale), funding: 'proceeds' });
  }
  return buys;
}

/** `budget` shared over the shortfalls (all of each when it covers them, else by largest remainder), by fund. */
function share(shortfalls: readonly { fund: string; needMinor: bigint }[], budget: bigint): Map<string, bigint> {
  const need = shortfalls.reduce((sum, s) => sum + s.needMinor, 0n);
  if (need <= 0n || budget <= 0n) return new Map();
  const shares = allocateLargestRemainder(minBig(need, budget), shortfalls.filter((s) => s.needMinor > 0n).map((s) => ({ key: s.fund, weight: s.needMinor })));
  return new Map(shares.map((s) => [s.key, s.amountMinor]));
}

function parseValue(text: string, scale: number): bigint {
  const parsed = parseAmount(text, scale, { zero: true });
  if (!parsed.ok) throw new RangeError(parsed.reason);
  return parsed.value;
}

/** Reads the prices of a re-balance: fund → decimal text. */
export function readPrices(prices: Readonly<Record<string, string>>): Map<string, Rate> | string {
  const read = new Map<string, Rate>();
  for (const [fund, text] of Object.entries(prices)) {
    const rate = parseRate(text);
    if (!rate.ok) return `${fund}: ${rate.reason}`;
    read.set(fund, rate.value);
  }
  return read;
}

function fundOfUnitsAccount(account: string, potId: string): string[] {
  const prefix = `pot:${potId}:units:`;
  return account.startsWith(prefix) ? [account.slice(prefix.length)] : [];
}

const abs = (value: bigint): bigint => (value < 0n ? -value : value);
