/**
 * The seeded population, pure from (seed, member index): deterministic draws (no Math.random, no
 * floating point in any amount), each member's name, address and risk profile, the holdings of their
 * pot invested as that profile says, and the two commands that give the pot those holdings.
 */
import type { MemberFields } from '../journal/members.js';
import { assert, DEFAULT_PROFILES, formatAmount, type AssetCatalog, type Command, type RiskProfile } from '../ledger/index.js';

export const SEED_CURRENCY = 'GBP';
export const SEED_FUNDS = ['FUND-A', 'FUND-B', 'FUND-C'] as const;
export const SEED_RISK_PROFILES = ['cautious', 'balanced', 'adventurous'] as const;

// ---------------------------------------------------------------------------------------------------
// Draws: deterministic integers, no Math.random and no floating point in any amount.

function mix32(value: number): number {
  let x = value >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

export const TWO_TO_32 = 2 ** 32;
const TWO_TO_53 = 2 ** 53;

/**
 * A SplitMix32-style generator (a Weyl sequence through murmur3's finaliser): one independent stream
 * per (seed, member), so a member's data depends on nothing else and any member can be re-derived.
 * Bounded draws reject the biased tail, so they are exactly uniform; every intermediate value is an
 * integer below 2^53, held exactly.
 */
export class SeedDraws {
  #state: number;

  constructor(seed: number, stream: number) {
    this.#state = mix32(seed ^ mix32(stream + 0x6a09e667));
  }

  next(): number {
    this.#state = (this.#state + 0x9e3779b9) >>> 0;
    return mix32(this.#state);
  }

  /** Uniform in [0, bound), bound from 1 to 2^32. */
  below(bound: number): number {
    assert(Number.isInteger(bound) && bound >= 1 && bound <= TWO_TO_32, `below: bound ${bound} out of range`);
    const limit = TWO_TO_32 - (TWO_TO_32 % bound);
    let drawn = this.next();
    while (drawn >= limit) drawn = this.next();
    return drawn % bound;
  }

  /** Uniform in [low, high) minor units, the span at most 2^53. */
  between(low: bigint, high: bigint): bigint {
    const span = Number(high - low);
    assert(Number.isSafeInteger(span) && span >= 1, `between: span ${high - low} out of range`);
    const limit = TWO_TO_53 - (TWO_TO_53 % span);
    let drawn = (this.next() >>> 11) * TWO_TO_32 + this.next();
    while (drawn >= limit) drawn = (this.next() >>> 11) * TWO_TO_32 + this.next();
    return low + BigInt(drawn % span);
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.below(items.length)];
    assert(item !== undefined, 'pick: empty list');
    return item;
  }
}

/** A band of amounts [lowMinor, highMinor) drawn with `percent` probability. */
interface Band {
  readonly percent: number;
  readonly lowMinor: bigint;
  readonly highMinor: bigint;
}

/** What a pot is worth in all, in pence: from £10.00 to £250,000.00, most a few thousand. */
const VALUE_BANDS: readonly Band[] = [
  { percent: 15, lowMinor: 1_000n, highMinor: 100_000n },
  { percent: 45, lowMinor: 100_000n, highMinor: 2_000_000n },
  { percent: 30, lowMinor: 2_000_000n, highMinor: 10_000_000n },
  { percent: 10, lowMinor: 10_000_000n, highMinor: 25_000_001n },
];

/**
 * Each fund's weight strays from its target by up to this many hundredths of a percentage point
 * either way (the last fund takes up the others' strays), inside every default profile's band.
 */
const WEIGHT_STRAY_MAX = 150;
/** On top of its profile's cash buffer, a pot holds up to this share of its value in cash, in hundredths of a percent. */
const SPARE_CASH_MAX = 50;
/**
 * The price every fund is seeded at (1.000000 GBP a unit), so that a pot's units are its value: a
 * penny buys 10,000 millionths of a unit. The seeded pots lie within their profile's band at it.
 */
export const SEED_PRICE = '1.000000';
const UNITS_PER_PENNY = 10_000n;

function drawFromBands(draws: SeedDraws, bands: readonly Band[]): bigint {
  let roll = draws.below(100);
  for (const band of bands) {
    if (roll < band.percent) return draws.between(band.lowMinor, band.highMinor);
    roll -= band.percent;
  }
  throw new RangeError('drawFromBands: the bands do not add up to 100 %');
}

/**
 * A pot invested as its profile says, as a managed pension is: a value drawn from the bands, its cash
 * buffer and a little spare cash, the rest split over the profile's funds at their targets, each
 * weight strayed a little, all at `SEED_PRICE`. Amounts are rounded down to the penny.
 */
function profiledHoldings(draws: SeedDraws, profile: RiskProfile): Pick<SeededMember, 'cashMinor' | 'units'> {
  const valueMinor = drawFromBands(draws, VALUE_BANDS);
  const hundredths = (percent: string) => BigInt(percent.replace('.', ''));
  const bufferShare = hundredths(profile.cashBuffer) + BigInt(draws.below(SPARE_CASH_MAX + 1));
  const cashMinor = (valueMinor * bufferShare) / 10_000n;
  const investedMinor = valueMinor - cashMinor;
  let strayed = 0n;
  const units = profile.targets.map(({ fund, weight }, index) => {
    const last = index === profile.targets.length - 1;
    const stray = last ? -strayed : BigInt(draws.below(2 * WEIGHT_STRAY_MAX + 1) - WEIGHT_STRAY_MAX);
    strayed += stray;
    const fundMinor = (investedMinor * (hundredths(weight) + stray)) / 10_000n;
    return { fund, unitsMinor: fundMinor * UNITS_PER_PENNY };
  });
  return { cashMinor, units: units.filter((u) => u.unitsMinor > 0n).sort((a, b) => a.fund.localeCompare(b.fund)) };
}

// ---------------------------------------------------------------------------------------------------
// The population: pure, from (seed, member index).

const FIRST_NAMES = [
  'Olivia', 'Amelia', 'Isla', 'Ava', 'Mia', 'Ivy', 'Lily', 'Isabella', 'Rosie', 'Sophia', 'Grace', 'Freya', 'Evie', 'Poppy', 'Ella', 'Ruby',
  'Noah', 'Oliver', 'George', 'Arthur', 'Muhammad', 'Leo', 'Harry', 'Oscar', 'Archie', 'Henry', 'Theodore', 'Jack', 'Charlie', 'Thomas', 'Jacob', 'Alfie',
] as const;
const SURNAMES = [
  'Smith', 'Jones', 'Williams', 'Taylor', 'Brown', 'Davies', 'Evans', 'Wilson', 'Thomas', 'Johnson', 'Roberts', 'Robinson', 'Thompson', 'Wright',
  'Walker', 'White', 'Edwards', 'Hughes', 'Green', 'Hall', 'Lewis', 'Harris', 'Clarke', 'Patel', 'Jackson', 'Wood', 'Turner', 'Martin', 'Cooper', 'Hill',
] as const;
const STREETS = [
  'High Street', 'Station Road', 'Main Street', 'Park Road', 'Church Road', 'Church Street', 'London Road', 'Victoria Road', 'Green Lane', 'Manor Road', 'Mill Lane',
  'Queens Road',
] as const;
const TOWNS = [
  ['Leeds', 'LS'], ['Bristol', 'BS'], ['Norwich', 'NR'], ['York', 'YO'], ['Exeter', 'EX'], ['Cardiff', 'CF'], ['Glasgow', 'G'], ['Belfast', 'BT'],
  ['Manchester', 'M'], ['Leicester', 'LE'], ['Brighton', 'BN'], ['Derby', 'DE'],
] as const;
const POSTCODE_LETTERS = [...'ABDEFGHJLNPQRSTUWXYZ'];

export interface SeededMember {
  readonly index: number;
  readonly memberId: string;
  readonly potId: string;
  readonly fields: MemberFields;
  /** Pence of GBP to import; 0 for none. */
  readonly cashMinor: bigint;
  /** Settled units to import, in fund order, each > 0. */
  readonly units: readonly { readonly fund: string; readonly unitsMinor: bigint }[];
}

/** Ids sort in creation order (8 digits), so the journal's indexes grow at their right edge. */
function ordinal(index: number): string {
  return String(index + 1).padStart(8, '0');
}

export function seedMember(seed: number, index: number): SeededMember {
  const draws = new SeedDraws(seed, index);
  const first = draws.pick(FIRST_NAMES);
  const last = draws.pick(SURNAMES);
  const [town, area] = draws.pick(TOWNS);
  const postcode = `${area}${1 + draws.below(20)} ${draws.below(10)}${draws.pick(POSTCODE_LETTERS)}${draws.pick(POSTCODE_LETTERS)}`;
  const riskProfile = draws.pick(SEED_RISK_PROFILES);
  const profile = DEFAULT_PROFILES.find((p) => p.id === riskProfile);
  assert(profile !== undefined, `seed: no default profile ${riskProfile}`);
  const { cashMinor, units } = profiledHoldings(draws, profile);
  return {
    index,
    memberId: `SM-${ordinal(index)}`,
    potId: `SP-${ordinal(index)}`,
    fields: {
      name: `${first} ${last}`,
      email: `${first}.${last}.${index + 1}@example.org`.toLowerCase(),
      address: `${1 + draws.below(240)} ${draws.pick(STREETS)}, ${town} ${postcode}`,
      riskProfile,
    },
    cashMinor,
    units,
  };
}

/** The two commands that give the member's pot its holdings; each command's movement takes its commandId as id. */
export function seedCommands(member: SeededMember, asOf: string, assets: AssetCatalog): readonly [Command, Command] {
  const envelope = { memberId: member.memberId, potId: member.potId, effectiveDate: asOf, producedAt: `${asOf}T00:00:00.000Z` };
  const scale = (code: string) => assets.find(code)?.scale ?? 0;
  const cash = member.cashMinor === 0n ? [] : [{ amount: formatAmount(member.cashMinor, scale(SEED_CURRENCY)), currency: SEED_CURRENCY }];
  const units = member.units.map(({ fund, unitsMinor }) => ({ units: formatAmount(unitsMinor, scale(fund)), fund }));
  return [
    { ...envelope, commandId: `seed-${ordinal(member.index)}-open`, process: 'pot.open', payload: { profile: member.fields.riskProfile } },
    { ...envelope, commandId: `seed-${ordinal(member.index)}-import`, process: 'pot.import', payload: { cash, units } },
  ];
}
