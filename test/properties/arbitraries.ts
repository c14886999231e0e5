import fc from 'fast-check';
import { z } from 'zod';
import {
  AMOUNT_MINOR_MAX,
  ASSET_SCALE_MAX,
  BALANCE_MINOR_MAX,
  BALANCE_MINOR_MIN,
  DEFAULT_ASSETS,
  DEFAULT_PROFILES,
  assetCatalog,
  formatAmount,
  partitionOf,
  potAccount,
  systemAccount,
  type AccountId,
  type Command,
  type Entry,
  type LoadedMovement,
  type Movement,
  type PlanContext,
  type PotChange,
  type PotState,
  type PotView,
  type OrderState,
  type OrderStatus,
  type Process,
} from '../../src/ledger/index.js';

/*
 * Shared arbitraries of the ledger's property tests. Each is built from the domain's limits (scales,
 * AMOUNT_MINOR_MAX, the id patterns, the asset catalogue) and most of them mix invalid values in, so the
 * properties cover the negative space as well as the happy path.
 */

// ---------------------------------------------------------------------------------------------------
// The fixed world the sequences run in

/** The catalogue every property runs with: the service's default assets (GBP, EUR, USD; FUND-A..C). */
export const ASSETS = assetCatalog(DEFAULT_ASSETS);
/** Few partitions, so that pots of different members sometimes share system accounts. */
export const PARTITION_COUNT = 4;
/** The catalogue's currency codes (GBP, EUR, USD). */
export const CURRENCY_CODES = DEFAULT_ASSETS.filter(({ kind }) => kind === 'currency').map(({ code }) => code);
/** The catalogue's fund codes (FUND-A, FUND-B, FUND-C). */
export const FUND_CODES = DEFAULT_ASSETS.filter(({ kind }) => kind === 'fund').map(({ code }) => code);
/** Investment pools the generated pots hold units of, and payloads name. */
export const POOL_IDS = ['ALPHA', 'BETA'] as const;
/** The members of the test world. */
export const MEMBER_IDS = ['M-1', 'M-2', 'M-3'] as const;
/** The pots of the sequences and the member each belongs to (two pots share member M-1). */
export const POT_OWNERS: ReadonlyMap<string, string> = new Map([
  ['P-1', 'M-1'],
  ['P-2', 'M-1'],
  ['P-3', 'M-2'],
  ['P-4', 'M-3'],
]);
export const POT_IDS = [...POT_OWNERS.keys()];
/** The business date and publication instant of every generated command (a repeat may carry a later instant). */
export const EFFECTIVE_DATE = '2026-03-31';
export const PRODUCED_AT = '2026-03-31T09:00:00Z';
const A_DAY_AFTER_PRODUCED_AT = '2026-04-01T09:00:00.000Z';
/** The processes that move money with an `{ amount, currency }` payload. */
export const MONEY_PROCESSES = ['cash.deposit', 'cash.withdraw', 'charge.assess', 'charge.repay'] as const;
export type MoneyProcess = (typeof MONEY_PROCESSES)[number];

/** The member a pot of the test world belongs to. */
export function ownerOf(potId: string): string {
  const owner = POT_OWNERS.get(potId);
  if (owner === undefined) throw new RangeError(`test pot ${potId} has no owner`);
  return owner;
}

/** The context the core runs with in the tests; the movement id is the caller's. */
export function planContext(movementId: string): PlanContext {
  return { assets: ASSETS, partitionCount: PARTITION_COUNT, movementId };
}

/** A command envelope for `potId` from its owner, with the fixed dates of the tests. */
export function commandOf(commandId: string, process: string, potId: string, payload: unknown, memberId = ownerOf(potId)): Command {
  return { commandId, process, memberId, potId, payload, effectiveDate: EFFECTIVE_DATE, producedAt: PRODUCED_AT };
}

const chance = (one: number, inEvery: number): fc.Arbitrary<boolean> => fc.nat({ max: inEvery - 1 }).map((n) => n < one);

/** `arbitrary` once in `inEvery` draws, null otherwise. */
const rarely = <T>(arbitrary: fc.Arbitrary<T>, inEvery: number): fc.Arbitrary<T | null> =>
  fc.oneof({ weight: inEvery - 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary });

// ---------------------------------------------------------------------------------------------------
// Decimals

/** A scale an asset may have: 0 .. ASSET_SCALE_MAX. */
export const assetScale: fc.Arbitrary<number> = fc.integer({ min: 0, max: ASSET_SCALE_MAX });

/**
 * A positive amount in minor units, 1 .. AMOUNT_MINOR_MAX: mostly everyday sizes, sometimes large, and
 * the values at the very top of the range.
 */
export const positiveMinor: fc.Arbitrary<bigint> = fc.oneof(
  { weight: 6, arbitrary: fc.bigInt(1n, 100_000n) },
  { weight: 2, arbitrary: fc.bigInt(1n, 10n ** 12n) },
  { weight: 1, arbitrary: fc.bigInt(AMOUNT_MINOR_MAX - 1_000n, AMOUNT_MINOR_MAX) },
  { weight: 1, arbitrary: fc.bigInt(1n, AMOUNT_MINOR_MAX) },
);

/** Drops trailing zeros of the fraction ("1.50" → "1.5", "2.00" → "2"): still a valid amount text. */
export function trimFraction(text: string): string {
  return text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text;
}

/**
 * A decimal string that parseAmount accepts at `scale`, with the minor units it means: canonical
 * ("100.50") or with trailing fraction zeros dropped ("100.5", "100").
 */
export function validAmountText(scale: number, minor: fc.Arbitrary<bigint> = positiveMinor): fc.Arbitrary<{ text: string; minor: bigint }> {
  return fc.tuple(minor, fc.boolean()).map(([value, trim]) => {
    const text = formatAmount(value, scale);
    return { text: trim ? trimFraction(text) : text, minor: value };
  });
}

/** A named way an amount can be wrong, and the offending value. */
export interface InvalidAmount {
  readonly why: string;
  readonly value: unknown;
}

const digits = (minLength: number, maxLength: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789'), minLength, maxLength });

/**
 * A value that parseAmount rejects at `scale` (unsigned, zero not allowed), named by why: too many
 * decimals, a sign, an exponent, empty, whitespace, leading zeros, zero, beyond AMOUNT_MINOR_MAX, too
 * long, malformed points and non-decimal characters, and values that are not strings at all.
 */
export function invalidAmountText(scale: number): fc.Arbitrary<InvalidAmount> {
  const valid = validAmountText(scale).map(({ text }) => text);
  const named = (why: string, value: fc.Arbitrary<unknown>) => value.map((v) => ({ why, value: v }));
  return fc.oneof(
    named('too many decimals', fc.tuple(digits(1, 6).map((d) => String(BigInt(d))), digits(scale + 1, scale + 4)).map(([w, f]) => `${w}.${f}`)),
    named('a sign', fc.tuple(fc.constantFrom('+', '-'), valid).map(([sign, text]) => sign + text)),
    named('an exponent', fc.tuple(fc.integer({ min: 1, max: 9 }), fc.constantFrom('e', 'E', 'e+', 'e-'), fc.nat({ max: 20 })).map(([m, e, x]) => `${m}${e}${x}`)),
    named('empty', fc.constant('')),
    named('whitespace', fc.tuple(fc.constantFrom(' ', '\t', '\n', '\u00a0'), valid, fc.boolean()).map(([space, text, before]) => (before ? space + text : text + space))),
    named('leading zeros', fc.tuple(fc.constantFrom('0', '00'), valid).map(([zeros, text]) => (text.startsWith('0') ? `0${text}` : zeros + text))),
    named('zero', fc.nat({ max: scale }).map((places) => (places === 0 ? '0' : `0.${'0'.repeat(places)}`))),
    named('beyond AMOUNT_MINOR_MAX', fc.bigInt(AMOUNT_MINOR_MAX + 1n, AMOUNT_MINOR_MAX * 1000n).map((minor) => formatAmount(minor, scale))),
    named('longer than 64 characters', fc.integer({ min: 65, max: 80 }).map((length) => '1'.repeat(length))),
    named('malformed', fc.constantFrom('1.', '.5', '1..2', '1,5', '1_000', 'abc', 'NaN', 'Infinity', '0x10', '-0', '١٢', '1/2', '½')),
    named('not a string', fc.oneof(fc.integer(), fc.double(), fc.bigInt(), fc.constant(null), fc.constant(undefined), fc.boolean(), fc.constant([]), fc.constant({}))),
  );
}

/** A rate parseRate accepts: positive, at most 8 decimals and 18 digits, with its exact value. */
export const validRate: fc.Arbitrary<{ text: string; mantissa: bigint; scale: number }> = fc
  .tuple(fc.bigInt(1n, 10n ** 12n), fc.integer({ min: 0, max: 8 }))
  .map(([mantissa, scale]) => ({ text: formatAmount(mantissa, scale), mantissa, scale }));

// ---------------------------------------------------------------------------------------------------
// Assets and ids

/** A code of the catalogue (currency or fund). */
export const knownAssetCode: fc.Arbitrary<string> = fc.constantFrom(...DEFAULT_ASSETS.map(({ code }) => code));
/** A currency of the catalogue; GBP most of the time, as in production. */
export const knownCurrencyCode: fc.Arbitrary<string> = fc.oneof({ weight: 6, arbitrary: fc.constant('GBP') }, { weight: 2, arbitrary: fc.constantFrom(...CURRENCY_CODES) });
/** A fund code of the catalogue: a known asset of the wrong kind wherever a currency is expected. */
export const knownFundCode: fc.Arbitrary<string> = fc.constantFrom(...FUND_CODES);
/** Three upper-case letters that look like a currency but are not in the catalogue. */
export const unknownCurrencyCode: fc.Arbitrary<string> = fc.stringMatching(/^[A-Z]{3}$/).filter((code) => ASSETS.find(code) === undefined);
/** Any asset code: known, unknown but well-formed, or any string at all. */
export const assetCode: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: knownAssetCode },
  { weight: 2, arbitrary: unknownCurrencyCode },
  { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
);

/** A member of the test world. */
export const memberId: fc.Arbitrary<string> = fc.constantFrom(...MEMBER_IDS);
/** A pot of the test world. */
export const potId: fc.Arbitrary<string> = fc.constantFrom(...POT_IDS);
/** An id that breaks POT_ID / MEMBER_ID / COMMAND_ID: empty, spaces, colons, too long, non-ASCII. */
export const invalidId: fc.Arbitrary<string> = fc.constantFrom('', 'has space', 'a:b', 'x'.repeat(129), 'é', 'P/1', '\n');
/** A small pool of command ids, so that a random list of commands repeats some of them. */
export const pooledCommandId: fc.Arbitrary<string> = fc.constantFrom('C-1', 'C-2', 'C-3', 'C-4', 'C-5', 'C-6', 'C-7', 'C-8');

// ---------------------------------------------------------------------------------------------------
// Payloads and single commands

/** A valid `{ amount, currency }` payload: a known currency and an amount at its scale. */
export function moneyPayload(minor: fc.Arbitrary<bigint> = positiveMinor): fc.Arbitrary<{ amount: string; currency: string }> {
  return knownCurrencyCode.chain((currency) =>
    validAmountText(ASSETS.find(currency)?.scale ?? 2, minor).map(({ text }) => ({ amount: text, currency })),
  );
}

/**
 * A malformed money payload: an invalid amount, an unknown currency or a fund code, a missing or extra
 * field, a wrong type, or no object at all. Always plain JSON, so a ledger can fingerprint it.
 */
export const malformedMoneyPayload: fc.Arbitrary<unknown> = fc.oneof(
  invalidAmountText(2)
    .filter(({ value }) => typeof value === 'string')
    .map(({ value }) => ({ amount: value, currency: 'GBP' })),
  fc.tuple(validAmountText(2), fc.oneof(unknownCurrencyCode, knownFundCode, fc.constantFrom('gbp', 'GB', ''))).map(([{ text }, currency]) => ({ amount: text, currency })),
  fc.constantFrom<unknown>({ currency: 'GBP' }, { amount: '1.00' }, { amount: 100, currency: 'GBP' }, { amount: '1.00', currency: 'GBP', memo: 'x' }, null, [], 'GBP 1.00', 42),
);

/**
 * One command for a registered process (or an unknown one), valid or malformed, with its commandId from
 * a small pool so that lists of them repeat ids.
 */
const commandBody: fc.Arbitrary<readonly [string, unknown]> = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom<string>(...MONEY_PROCESSES), moneyPayload() as fc.Arbitrary<unknown>) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom<string>(...MONEY_PROCESSES, 'cash.transfer'), malformedMoneyPayload) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom<string>('pot.open', 'pot.close'), fc.constantFrom<unknown>({}, { extra: 1 })) },
  { weight: 1, arbitrary: fc.tuple(fc.constant<string>('movement.reverse'), fc.constantFrom<unknown>({ movementId: 'm-C-1' }, { movementId: 'm-C-2' }, { movementId: '' })) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom<string>('cash.teleport', 'pot', ''), fc.constant<unknown>({})) },
);

export const anyCommand: fc.Arbitrary<Command> = fc
  .record({ commandId: pooledCommandId, potId, wrongMember: chance(1, 10), body: commandBody })
  .map(({ commandId, potId: pot, wrongMember, body: [process, payload] }) =>
    commandOf(commandId, process, pot, payload, wrongMember ? 'M-9' : ownerOf(pot)),
  );

// ---------------------------------------------------------------------------------------------------
// Sequences of commands

/** One step of a sequence: the command and the movement id the ledger gives it if it applies. */
export interface LedgerStep {
  readonly command: Command;
  readonly movementId: string;
  /** `repeat`: an earlier command again; `conflict`: an earlier commandId with another payload. */
  readonly role: 'first' | 'repeat' | 'conflict';
}

/** The movement id of a command: derived from its commandId, so inserting repeats does not change it. */
export const movementIdOf = (commandId: string): string => `m-${commandId}`;

/** `stray`: the intent keeps its pot even if that pot was never opened (else it moves to an opened pot). */
interface OnPot {
  readonly potId: string;
  readonly stray: boolean;
}

type Intent =
  | ({ readonly type: 'open' } & OnPot)
  | ({ readonly type: 'close' } & OnPot)
  | ({ readonly type: 'money'; readonly process: MoneyProcess; readonly currency: string; readonly amountMinor: bigint; readonly wrongMember: boolean } & OnPot)
  | ({ readonly type: 'transfer'; readonly currency: string; readonly amountMinor: bigint; readonly toPrepaid: boolean } & OnPot)
  | ({ readonly type: 'reverse'; readonly back: number; readonly missing: boolean } & OnPot)
  | ({ readonly type: 'malformed'; readonly process: string; readonly override: Partial<Command> } & OnPot)
  | { readonly type: 'repeat'; readonly back: number; readonly laterProducedAt: boolean }
  | { readonly type: 'conflict'; readonly back: number };

/** Amounts of a sequence: small enough that withdrawals and charges often fit, now and then huge. */
const sequenceMinor = (maxMinor: bigint): fc.Arbitrary<bigint> =>
  fc.oneof({ weight: 30, arbitrary: fc.bigInt(1n, maxMinor) }, { weight: 1, arbitrary: fc.bigInt(AMOUNT_MINOR_MAX / 2n, AMOUNT_MINOR_MAX) });
/** Deposits are larger than what leaves, so that balances build up. */
const depositMinor = sequenceMinor(50_000n);
const outgoingMinor = sequenceMinor(15_000n);
/** Most commands go to a pot that was opened; one in ten may go anywhere. */
const stray: fc.Arbitrary<boolean> = chance(1, 10);
const sequenceCurrency: fc.Arbitrary<string> = fc.oneof({ weight: 8, arbitrary: fc.constant('GBP') }, { weight: 1, arbitrary: fc.constant('EUR') });

const moneyIntent = (process: MoneyProcess): fc.Arbitrary<Intent> =>
  fc
    .record({ potId, stray: stray, currency: sequenceCurrency, amountMinor: process === 'cash.deposit' ? depositMinor : outgoingMinor, wrongMember: chance(1, 25) })
    .map((fields) => ({ type: 'money', process, ...fields }));

const malformedOverride: fc.Arbitrary<Partial<Command>> = fc.oneof(
  { weight: 4, arbitrary: malformedMoneyPayload.map((payload) => ({ payload })) },
  { weight: 1, arbitrary: fc.constantFrom<Partial<Command>>({ process: 'cash.teleport' }, { process: 'POT.OPEN' }) },
  { weight: 1, arbitrary: fc.constantFrom('2026-02-30', '31/03/2026', '').map((effectiveDate) => ({ effectiveDate })) },
  { weight: 1, arbitrary: fc.constantFrom('', 'has space', 'x'.repeat(129)).map((commandId) => ({ commandId })) },
);

/** With `repeats`, the intents include repeats of earlier commands and conflicting reuses of their ids. */
function intent(repeats: boolean): fc.Arbitrary<Intent> {
  const base: fc.WeightedArbitrary<Intent>[] = [
    { weight: 6, arbitrary: moneyIntent('cash.deposit') },
    { weight: 3, arbitrary: moneyIntent('cash.withdraw') },
    { weight: 3, arbitrary: moneyIntent('charge.assess') },
    { weight: 3, arbitrary: moneyIntent('charge.repay') },
    {
      weight: 2,
      arbitrary: fc.record({ potId, stray, currency: sequenceCurrency, amountMinor: outgoingMinor, toPrepaid: fc.boolean() }).map((f) => ({ type: 'transfer' as const, ...f })),
    },
    { weight: 3, arbitrary: fc.record({ potId, stray, back: fc.nat({ max: 6 }), missing: chance(1, 12) }).map((f) => ({ type: 'reverse' as const, ...f })) },
    { weight: 1, arbitrary: potId.map((pot) => ({ type: 'open' as const, potId: pot, stray: true })) },
    { weight: 1, arbitrary: fc.record({ potId, stray }).map((f) => ({ type: 'close' as const, ...f })) },
    {
      weight: 1,
      arbitrary: fc
        .record({ potId, stray, process: fc.constantFrom<string>(...MONEY_PROCESSES, 'cash.transfer'), override: malformedOverride })
        .map((f) => ({ type: 'malformed' as const, ...f })),
    },
  ];
  if (!repeats) return fc.oneof(...base);
  return fc.oneof(
    ...base,
    { weight: 3, arbitrary: fc.record({ back: fc.nat({ max: 30 }), laterProducedAt: fc.boolean() }).map((f) => ({ type: 'repeat' as const, ...f })) },
    { weight: 1, arbitrary: fc.record({ back: fc.nat({ max: 30 }) }).map((f) => ({ type: 'conflict' as const, ...f })) },
  );
}

/** The same meaning, another payload: a bigger amount, or (for payloads without one) another pot. */
export function conflictingCommand(command: Command): Command {
  const payload = command.payload;
  if (typeof payload === 'object' && payload !== null && typeof (payload as { amount?: unknown }).amount === 'string') {
    return { ...command, payload: { ...payload, amount: `1${(payload as { amount: string }).amount}` } };
  }
  if (typeof payload === 'object' && payload !== null && typeof (payload as { movementId?: unknown }).movementId === 'string') {
    return { ...command, payload: { movementId: `${(payload as { movementId: string }).movementId}x` } };
  }
  return { ...command, potId: command.potId === 'P-1' ? 'P-2' : 'P-1' };
}

/** Turns intents into commands: fresh commandIds, reversals of earlier movements, repeats and conflicts. */
function buildSequence(opens: readonly string[], intents: readonly Intent[]): LedgerStep[] {
  const steps: LedgerStep[] = [];
  const firsts: LedgerStep[] = [];
  const fresh = (process: string, pot: string, payload: unknown, memberId = ownerOf(pot), override: Partial<Command> = {}): void => {
    const commandId = `c-${steps.length}`;
    const command = { ...commandOf(commandId, process, pot, payload, memberId), ...override };
    const step: LedgerStep = { command, movementId: movementIdOf(commandId), role: 'first' };
    steps.push(step);
    firsts.push(step);
  };
  const money = (currency: string, amountMinor: bigint) => ({ amount: formatAmount(amountMinor, ASSETS.find(currency)?.scale ?? 2), currency });
  const opened: string[] = [];
  const open = (pot: string) => {
    fresh('pot.open', pot, {});
    if (!opened.includes(pot)) opened.push(pot);
  };
  /** The intent's pot, or an opened one instead when the intent does not stray and its pot was never opened. */
  const aimed = <T extends Intent>(next: T): T => {
    if (!('potId' in next) || next.stray || opened.includes(next.potId) || opened.length === 0) return next;
    return { ...next, potId: opened[POT_IDS.indexOf(next.potId) % opened.length] ?? next.potId };
  };
  for (const pot of opens) open(pot);
  for (const intended of intents) {
    const next = aimed(intended);
    switch (next.type) {
      case 'open':
        open(next.potId);
        break;
      case 'close':
        fresh('pot.close', next.potId, {});
        break;
      case 'money':
        fresh(next.process, next.potId, money(next.currency, next.amountMinor), next.wrongMember ? 'M-9' : ownerOf(next.potId));
        break;
      case 'transfer': {
        const [source, target] = next.toPrepaid ? ['cash', 'cash.prepaid'] : ['cash.prepaid', 'cash'];
        fresh('cash.transfer', next.potId, { ...money(next.currency, next.amountMinor), source, target });
        break;
      }
      case 'reverse': {
        const ofPot = firsts.filter(({ command }) => command.potId === next.potId && command.process !== 'movement.reverse');
        const target = ofPot[ofPot.length - 1 - (next.back % Math.max(ofPot.length, 1))];
        fresh('movement.reverse', next.potId, { movementId: next.missing || target === undefined ? 'm-missing' : target.movementId });
        break;
      }
      case 'malformed':
        fresh(next.process, next.potId, money('GBP', 100n), ownerOf(next.potId), next.override);
        break;
      case 'repeat': {
        const original = firsts[firsts.length - 1 - (next.back % Math.max(firsts.length, 1))];
        if (original === undefined) break;
        const command = next.laterProducedAt ? { ...original.command, producedAt: '2026-03-31T09:05:00Z' } : original.command;
        steps.push({ command, movementId: `${original.movementId}-again`, role: 'repeat' });
        break;
      }
      case 'conflict': {
        const original = firsts[firsts.length - 1 - (next.back % Math.max(firsts.length, 1))];
        if (original === undefined) break;
        steps.push({ command: conflictingCommand(original.command), movementId: `${original.movementId}-conflict`, role: 'conflict' });
        break;
      }
    }
  }
  return steps;
}

/**
 * A realistic sequence over the pots of POT_OWNERS: most pots are opened first, deposits outweigh
 * withdrawals, charges are assessed and repaid, transfers move cash to and from prepaid, reversals name
 * earlier movements (sometimes missing ones), a few commands are malformed, and pots are sometimes
 * closed. With `repeats` (the default), earlier commands come again (same commandId and payload,
 * sometimes a later producedAt) and commandIds are reused with another payload.
 */
export function ledgerSequence(options: { readonly maxLength?: number; readonly repeats?: boolean } = {}): fc.Arbitrary<LedgerStep[]> {
  const { maxLength = 24, repeats = true } = options;
  return fc
    .record({ opens: fc.shuffledSubarray(POT_IDS, { minLength: 1 }), intents: fc.array(intent(repeats), { maxLength, size: 'max' }) })
    .map(({ opens, intents }) => buildSequence(opens, intents));
}

/** Where to insert a repeat of a first command: `of` picks the original, `at` a later position. */
export interface RepeatPlan {
  readonly of: number;
  readonly at: number;
  readonly conflict: boolean;
}

/** Plans for inserting repeats (and some conflicting reuses) into a sequence of first commands. */
export const repeatPlans: fc.Arbitrary<RepeatPlan[]> = fc.array(fc.record({ of: fc.nat(), at: fc.nat(), conflict: chance(1, 4) }), { maxLength: 12 });

/** Inserts each planned repeat somewhere after its original, never before it. */
export function withRepeats(steps: readonly LedgerStep[], plans: readonly RepeatPlan[]): LedgerStep[] {
  if (steps.length === 0) return [];
  const after = new Map<number, LedgerStep[]>();
  for (const { of, at, conflict } of plans) {
    const index = of % steps.length;
    const original = steps[index];
    if (original === undefined) continue;
    const position = index + (at % (steps.length - index)); // insert after step `position`
    const inserted: LedgerStep = conflict
      ? { command: conflictingCommand(original.command), movementId: `${original.movementId}-conflict`, role: 'conflict' }
      : { command: original.command, movementId: `${original.movementId}-again`, role: 'repeat' };
    after.set(position, [...(after.get(position) ?? []), inserted]);
  }
  return steps.flatMap((step, index) => [step, ...(after.get(index) ?? [])]);
}

// ---------------------------------------------------------------------------------------------------
// Consistent balances of a pot view

/** A non-negative balance: often zero, mostly small, sometimes large, rarely near the storable maximum. */
export const holdingMinor: fc.Arbitrary<bigint> = fc.oneof(
  { weight: 16, arbitrary: fc.constant(0n) },
  { weight: 32, arbitrary: fc.bigInt(1n, 100_000n) },
  { weight: 8, arbitrary: fc.bigInt(1n, 10n ** 15n) },
  { weight: 1, arbitrary: fc.bigInt(BALANCE_MINOR_MAX - AMOUNT_MINOR_MAX, BALANCE_MINOR_MAX) },
);

/** What a pot holds in one currency; prepaid and late are never both non-zero. */
export interface CurrencyHoldings {
  readonly cash: bigint;
  readonly reserved: bigint;
  readonly prepaid: bigint;
  readonly late: bigint;
  /** Sale proceeds priced, not settled (`cash.pending`). */
  readonly pending: bigint;
}

/** What a pot holds of one fund. */
export interface FundHoldings {
  readonly units: bigint;
  readonly reserved: bigint;
  readonly pending: bigint;
}

/** A part of `whole`: 0 .. whole. */
const partOf = (whole: bigint): fc.Arbitrary<bigint> => (whole === 0n ? fc.constant(0n) : fc.oneof(fc.constant(0n), fc.bigInt(0n, whole)));

/** Holdings of one currency that satisfy every pot invariant (reserved within cash; prepaid xor late). */
export const currencyHoldings: fc.Arbitrary<CurrencyHoldings> = fc
  .record({ cash: holdingMinor, owed: holdingMinor, side: fc.constantFrom('none', 'prepaid', 'late'), pending: holdingMinor })
  .chain(({ cash, owed, side, pending }) =>
    partOf(cash).map((reserved) => ({
      cash,
      reserved,
      prepaid: side === 'prepaid' ? owed : 0n,
      late: side === 'late' ? owed : 0n,
      pending,
    })),
  );

/** Holdings of one fund that satisfy every pot invariant (reserved within units). */
export const fundHoldings: fc.Arbitrary<FundHoldings> = fc
  .record({ units: holdingMinor, pending: holdingMinor })
  .chain(({ units, pending }) => partOf(units).map((reserved) => ({ units, reserved, pending })));

/** Everything one pot holds, by asset code. */
export interface PotHoldings {
  readonly currencies: ReadonlyMap<string, CurrencyHoldings>;
  readonly funds: ReadonlyMap<string, FundHoldings>;
  /** Units of investment pools, by pool units code (`POOL-ALPHA`). */
  readonly pools?: ReadonlyMap<string, bigint>;
}

/** The holdings of a pot: a few currencies (GBP most often) and funds, each consistent. */
export const potHoldings: fc.Arbitrary<PotHoldings> = fc
  .record({
    currencies: fc.uniqueArray(knownCurrencyCode, { maxLength: 3 }).chain((codes) => fc.tuple(...codes.map((code) => currencyHoldings.map((h) => [code, h] as const)))),
    funds: fc.subarray(FUND_CODES, { maxLength: 2 }).chain((codes) => fc.tuple(...codes.map((code) => fundHoldings.map((h) => [code, h] as const)))),
    pools: fc.subarray([...POOL_IDS], { maxLength: 2 }).chain((ids) => fc.tuple(...ids.map((id) => holdingMinor.map((units) => [`POOL-${id}`, units] as const)))),
  })
  .map(({ currencies, funds, pools }) => ({ currencies: new Map(currencies), funds: new Map(funds), pools: new Map(pools) }));

/** No holdings at all: an absent, new or closed pot. */
export const EMPTY_HOLDINGS: PotHoldings = { currencies: new Map(), funds: new Map() };

/**
 * The balances of the pots' accounts and of the partition's system accounts that hold their contra, so
 * each asset sums to zero: cash and prepaid against `external.bank` (with what ACME collected in
 * `acme.fees` also paid in through the bank), late against `charges.due`, reserved cash and units
 * against `reservations`, pending sale proceeds against `dealing.cash`, settled units against
 * `custodian.units` and pending units against `custodian.pending`.
 */
export function balancesOf(partition: number, pots: ReadonlyMap<string, PotHoldings>, feesMinor: ReadonlyMap<string, bigint> = new Map()): Map<AccountId, bigint> {
  const balances = new Map<AccountId, bigint>();
  const add = (account: AccountId, amount: bigint) => {
    if (amount === 0n) return;
    const next = (balances.get(account) ?? 0n) + amount;
    if (next === 0n) balances.delete(account);
    else balances.set(account, next);
  };
  for (const [code, fees] of feesMinor) {
    add(systemAccount(partition, 'acme.fees', code), fees);
    add(systemAccount(partition, 'external.bank', code), -fees);
  }
  for (const [pot, holdings] of pots) {
    for (const [code, { cash, reserved, prepaid, late, pending }] of holdings.currencies) {
      add(potAccount(pot, 'cash.pending', code), pending);
      add(systemAccount(partition, 'dealing.cash', code), -pending);
      add(potAccount(pot, 'cash', code), cash);
      add(potAccount(pot, 'cash.prepaid', code), prepaid);
      add(systemAccount(partition, 'external.bank', code), -(cash + prepaid));
      add(potAccount(pot, 'cash.reserved', code), reserved);
      add(systemAccount(partition, 'reservations', code), -reserved);
      add(potAccount(pot, 'charges.late', code), late);
      add(systemAccount(partition, 'charges.due', code), -late);
    }
    for (const [code, { units, reserved, pending }] of holdings.funds) {
      add(potAccount(pot, 'units', code), units);
      add(potAccount(pot, 'units.reserved', code), reserved);
      add(potAccount(pot, 'units.pending', code), pending);
      add(systemAccount(partition, 'custodian.units', code), -units);
      add(systemAccount(partition, 'reservations', code), -reserved);
      add(systemAccount(partition, 'custodian.pending', code), -pending);
    }
    for (const [code, units] of holdings.pools ?? []) {
      add(potAccount(pot, 'pool.units', code), units);
      add(systemAccount(partition, 'pool.issued', code), -units);
    }
  }
  return balances;
}

const withinStorableRange = (balances: ReadonlyMap<AccountId, bigint>): boolean =>
  [...balances.values()].every((balance) => balance >= BALANCE_MINOR_MIN && balance <= BALANCE_MINOR_MAX);

/**
 * Consistent balances for a view of `pot` in `partition`: the pot's own holdings (none when `empty`), a
 * neighbouring pot of the same partition whose contra shares the system accounts, and fees ACME
 * collected earlier. Every account satisfies its kind's invariants and each asset sums to zero.
 */
export function consistentBalances(pot: string, partition: number, empty = false): fc.Arbitrary<Map<AccountId, bigint>> {
  return fc
    .record({
      own: empty ? fc.constant(EMPTY_HOLDINGS) : fc.oneof({ weight: 1, arbitrary: fc.constant(EMPTY_HOLDINGS) }, { weight: 5, arbitrary: potHoldings }),
      neighbour: fc.option(potHoldings, { freq: 3 }), // present two times in three
      fees: fc.uniqueArray(fc.tuple(knownCurrencyCode, holdingMinor), { maxLength: 2, selector: ([code]) => code }),
    })
    .map(({ own, neighbour, fees }) => {
      const pots = new Map<string, PotHoldings>([[pot, own]]);
      if (neighbour !== null) pots.set(`${pot}-neighbour`, neighbour);
      return balancesOf(partition, pots, new Map(fees));
    })
    .filter(withinStorableRange);
}

// ---------------------------------------------------------------------------------------------------
// Loaded orders (for the order processes)

/** The state of an order each order process acts on. */
const ORDER_STATUS_ACTED_ON: Readonly<Record<string, OrderStatus>> = { 'order.cancel': 'open', 'order.allocate': 'aggregated', 'order.settle': 'allocated' };

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** The profile a payload names (re-balances carry the whole profile), for the pot to follow it. */
/**
 * For a command naming a hold (`holdId`), an open pot holds it (with what its `cash.reserved` holds,
 * when it holds some), so that posting, voiding and expiring apply as often as they reject.
 */
function withHold(pot: PotState | undefined, payload: unknown, balances: ReadonlyMap<AccountId, bigint>): PotState | undefined {
  if (pot === undefined || pot.status !== 'open' || typeof payload !== 'object' || payload === null || !('holdId' in payload) || typeof payload.holdId !== 'string') return pot;
  const reserved = balances.get(potAccount(pot.potId, 'cash.reserved', 'GBP')) ?? 0n;
  if (reserved <= 0n || 'payee' in payload) return pot;
  const expiresAt = payload.holdId.length % 2 === 0 ? A_DAY_AFTER_PRODUCED_AT : PRODUCED_AT;
  return { ...pot, holds: { [payload.holdId]: { payee: { memberId: 'M-9', potId: 'P-payee' }, currency: 'GBP', amountMinor: reserved, expiresAt } } };
}

function profileOf(payload: unknown): string | undefined {
  if (typeof payload !== 'object' || payload === null || !('profile' in payload)) return undefined;
  const { profile } = payload;
  if (typeof profile === 'object' && profile !== null && 'id' in profile && typeof profile.id === 'string') return profile.id;
  return undefined;
}

/** The trade a payload names, if it names one. */
function tradeIdOf(payload: unknown): string | undefined {
  return typeof payload === 'object' && payload !== null && 'tradeId' in payload && typeof payload.tradeId === 'string' ? payload.tradeId : undefined;
}

/**
 * An order as the shell would load it for `orderId`: mostly of `pot`, in any status, with amounts
 * drawn mostly within what the pot's balances can carry (its reservations, pending units and
 * proceeds), so that the order processes apply as often as they reject.
 */
export function orderOf(
  orderId: string,
  pot: string,
  partition: number,
  balances: ReadonlyMap<AccountId, bigint>,
  hint: { readonly tradeId?: string; readonly status?: OrderStatus } = {},
): fc.Arbitrary<OrderState> {
  const tradeHint = hint.tradeId;
  const within = (account: AccountId) => {
    const held = balances.get(account) ?? 0n;
    // All of it most often (an order's whole reservation), a part of it, or anything.
    return held > 0n
      ? fc.oneof({ weight: 3, arbitrary: fc.constant(held) }, { weight: 2, arbitrary: fc.bigInt(1n, held) }, { weight: 1, arbitrary: fc.bigInt(1n, 100_000n) })
      : fc.bigInt(1n, 100_000n);
  };
  const bank = -(balances.get(systemAccount(partition, 'external.bank', 'GBP')) ?? 0n);
  return fc
    .record({
      ofPot: fc.oneof({ weight: 8, arbitrary: fc.constant(pot) }, { weight: 1, arbitrary: fc.constant('P-other') }),
      fund: knownFundCode,
      side: fc.constantFrom<'buy' | 'sell'>('buy', 'sell'),
      // Mostly the state the process acts on (as with the pot's situation), any state sometimes.
      status: fc.oneof(
        { weight: hint.status === undefined ? 0 : 3, arbitrary: fc.constant<OrderStatus>(hint.status ?? 'open') },
        { weight: 2, arbitrary: fc.constantFrom<OrderStatus>('open', 'aggregated', 'allocated', 'settled', 'cancelled') },
      ),
      // The trade the command names, most often, so that allocations and settlements can apply.
      tradeId:
        tradeHint === undefined
          ? fc.constantFrom(...TRADE_ID_POOL)
          : fc.oneof({ weight: 3, arbitrary: fc.constant(tradeHint) }, { weight: 1, arbitrary: fc.constantFrom(...TRADE_ID_POOL) }),
      dealingDate: fc.constantFrom(EFFECTIVE_DATE, '2026-03-30'),
    })
    .chain(({ ofPot, fund, side, status, tradeId, dealingDate }) => {
      const reserved = side === 'buy' ? potAccount(pot, 'cash.reserved', 'GBP') : potAccount(pot, 'units.reserved', fund);
      return fc
        .record({
          amountMinor: within(reserved),
          units: within(side === 'buy' ? potAccount(pot, 'units.pending', fund) : potAccount(pot, 'units.reserved', fund)),
          cash: side === 'buy' ? (bank > 0n ? fc.bigInt(1n, bank) : fc.bigInt(1n, 1000n)) : within(potAccount(pot, 'cash.pending', 'GBP')),
        })
        .map(({ amountMinor, units, cash }): OrderState => ({
          orderId,
          potId: ofPot,
          fund,
          currency: 'GBP',
          side,
          amountMinor,
          dealingDate,
          status,
          ...(status === 'open' ? {} : { tradeId }),
          ...(status === 'allocated' || status === 'settled' ? { allocation: { filledMinor: side === 'buy' ? cash : units, unitsMinor: units, cashMinor: cash } } : {}),
        }));
    });
}

// ---------------------------------------------------------------------------------------------------
// Loaded movements (for processes with `loads`)

/** The entries of a movement of `pot` as the registered processes write them, in one currency. */
function entryTemplates(pot: string, partition: number, code: string, amountMinor: bigint): Entry[][] {
  const entry = (debit: AccountId, credit: AccountId): Entry => ({ debit, credit, asset: code, amountMinor });
  const cash = potAccount(pot, 'cash', code);
  const prepaid = potAccount(pot, 'cash.prepaid', code);
  const late = potAccount(pot, 'charges.late', code);
  const bank = systemAccount(partition, 'external.bank', code);
  const fees = systemAccount(partition, 'acme.fees', code);
  const due = systemAccount(partition, 'charges.due', code);
  return [
    [entry(cash, bank)], // deposit
    [entry(bank, cash)], // withdrawal
    [entry(prepaid, cash)], // transfer to prepaid
    [entry(cash, prepaid)], // transfer to cash
    [entry(late, due)], // charge assessed late
    [entry(fees, prepaid)], // charge paid from prepaid
    [entry(fees, cash), entry(due, late)], // repayment
  ];
}

/**
 * A committed movement as the shell would load it for `movementId`: entries shaped like the registered
 * processes' (mostly of `pot`, sometimes of another pot), sometimes reversed already, itself a reversal,
 * or a pot lifecycle movement.
 */
export function loadedMovement(movementId: string, pot: string, member: string, partition: number): fc.Arbitrary<LoadedMovement> {
  return fc
    .record({
      ofPot: fc.oneof({ weight: 8, arbitrary: fc.constant(pot) }, { weight: 1, arbitrary: fc.constant('P-other') }),
      code: knownCurrencyCode,
      amountMinor: fc.oneof({ weight: 4, arbitrary: fc.bigInt(1n, 20_000n) }, { weight: 1, arbitrary: positiveMinor }),
      template: fc.nat({ max: 6 }),
      lifecycle: rarely(fc.constantFrom<PotChange>({ type: 'open', memberId: member }, { type: 'close' }), 8),
      reverses: rarely(fc.constant('m-earlier'), 8),
      reversedBy: rarely(fc.constant('m-later'), 6),
    })
    .map(({ ofPot, code, amountMinor, template, lifecycle, reverses, reversedBy }) => {
      const entries = lifecycle === null ? (entryTemplates(ofPot, partition, code, amountMinor)[template] ?? []) : [];
      const movement: Movement = {
        movementId,
        commandId: `command-of-${movementId}`,
        process: 'cash.deposit',
        processVersion: 1,
        memberId: member,
        potId: ofPot,
        partition,
        effectiveDate: EFFECTIVE_DATE,
        entries,
        ...(lifecycle === null ? {} : { potChange: lifecycle }),
        ...(reverses === null ? {} : { reverses }),
      };
      return reversedBy === null ? { movement } : { movement, reversedBy };
    });
}

// ---------------------------------------------------------------------------------------------------
// Payloads derived from a process's zod schema

/** The parts of JSON Schema (draft 2020-12, as z.toJSONSchema writes it) that payload schemas use. */
export interface JsonSchema {
  readonly type?: string | readonly string[];
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly required?: readonly string[];
  readonly additionalProperties?: boolean | JsonSchema;
  readonly items?: JsonSchema;
  readonly prefixItems?: readonly JsonSchema[];
  readonly enum?: readonly unknown[];
  readonly const?: unknown;
  readonly pattern?: string;
  readonly format?: string;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly exclusiveMinimum?: number;
  readonly exclusiveMaximum?: number;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly anyOf?: readonly JsonSchema[];
  readonly oneOf?: readonly JsonSchema[];
  readonly allOf?: readonly JsonSchema[];
  /** The ledger's own tag (src/ledger/payload.ts): amount, currency, movementId. */
  readonly domain?: string;
}

/** The JSON Schema of a process's payload, as its input is written on the wire. */
export function payloadSchema(process: Process): JsonSchema {
  return z.toJSONSchema(process.payload, { unrepresentable: 'any', io: 'input' }) as JsonSchema;
}

/** The order and trade ids that generated `orderId` and `tradeId` fields draw from most of the time. */
export const ORDER_ID_POOL = ['o-1', 'o-2'] as const;
export const TRADE_ID_POOL = ['t-1', 't-2'] as const;

/** The movement ids that generated `movementId` fields draw from most of the time. */
export const MOVEMENT_ID_POOL = ['m-1', 'm-2', 'm-3'] as const;

/** What a field's value may depend on: the scale of the asset its sibling `currency` field names. */
interface FieldContext {
  readonly scale: number;
}

/** Values of a field tagged with a ledger domain: realistic mostly, any string of the pattern sometimes. */
function domainValue(schema: JsonSchema, context: FieldContext): fc.Arbitrary<unknown> | undefined {
  const random = stringFromSchema(schema);
  switch (schema.domain) {
    case 'amount':
      return fc.oneof(
        {
          weight: 8,
          arbitrary: validAmountText(context.scale, fc.oneof({ weight: 4, arbitrary: fc.bigInt(1n, 50_000n) }, { weight: 1, arbitrary: positiveMinor })).map(({ text }) => text),
        },
        { weight: 1, arbitrary: invalidAmountText(context.scale).map(({ value }) => value) },
        { weight: 1, arbitrary: random },
      );
    case 'currency':
      return fc.oneof({ weight: 8, arbitrary: knownCurrencyCode }, { weight: 2, arbitrary: assetCode }, { weight: 1, arbitrary: random });
    case 'movementId':
      return fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...MOVEMENT_ID_POOL) }, { weight: 2, arbitrary: random });
    case 'fund':
      return fc.oneof({ weight: 8, arbitrary: knownFundCode }, { weight: 1, arbitrary: knownCurrencyCode }, { weight: 1, arbitrary: random });
    case 'orderId':
      return fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...ORDER_ID_POOL) }, { weight: 2, arbitrary: random });
    case 'poolId':
      return fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...POOL_IDS) }, { weight: 1, arbitrary: random });
    case 'tradeId':
      return fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...TRADE_ID_POOL) }, { weight: 2, arbitrary: random });
    case 'profile':
      return fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...DEFAULT_PROFILES.map((p) => p.id)) }, { weight: 1, arbitrary: random });
    case 'riskProfile':
      return fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...DEFAULT_PROFILES) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) });
    case 'prices':
      return fc.oneof(
        {
          weight: 8,
          arbitrary: fc
            .tuple(...FUND_CODES.map(() => fc.integer({ min: 1, max: 99_999 })))
            .map((mantissas) => Object.fromEntries(FUND_CODES.map((fund, i) => [fund, formatAmount(BigInt(mantissas[i] ?? 1), 2)]))),
        },
        { weight: 1, arbitrary: fc.dictionary(fc.constantFrom(...FUND_CODES), fc.string({ maxLength: 6 })) },
      );
    case 'price':
      return fc.oneof(
        { weight: 8, arbitrary: fc.tuple(fc.integer({ min: 1, max: 99_999 }), fc.integer({ min: 0, max: 4 })).map(([mantissa, scale]) => formatAmount(BigInt(mantissa), scale)) },
        { weight: 1, arbitrary: random },
      );
    default:
      return undefined;
  }
}

function stringFromSchema(schema: JsonSchema): fc.Arbitrary<string> {
  const minLength = schema.minLength ?? 0;
  const maxLength = schema.maxLength ?? Math.max(minLength, 16);
  // Formats first: their patterns are too large for stringMatching. An instant is the command's own or a day after.
  if (schema.format === 'date') return fc.constantFrom(EFFECTIVE_DATE, '2024-02-29');
  if (schema.format === 'date-time') return fc.constantFrom(PRODUCED_AT, A_DAY_AFTER_PRODUCED_AT);
  if (schema.pattern !== undefined) {
    const pattern = new RegExp(schema.pattern);
    return fc.stringMatching(pattern, { size: 'small' }).filter((text) => text.length >= minLength && text.length <= maxLength);
  }
  return fc.string({ minLength, maxLength });
}

function numberFromSchema(schema: JsonSchema, integer: boolean): fc.Arbitrary<number> {
  const min = schema.minimum ?? (schema.exclusiveMinimum === undefined ? undefined : schema.exclusiveMinimum + (integer ? 1 : Number.EPSILON));
  const max = schema.maximum ?? (schema.exclusiveMaximum === undefined ? undefined : schema.exclusiveMaximum - (integer ? 1 : Number.EPSILON));
  if (integer) return fc.integer({ min: Math.max(min ?? -1e6, Number.MIN_SAFE_INTEGER), max: Math.min(max ?? 1e6, Number.MAX_SAFE_INTEGER) });
  return fc.double({ min: min ?? -1e6, max: max ?? 1e6, noNaN: true });
}

function objectFromSchema(schema: JsonSchema): fc.Arbitrary<Record<string, unknown>> {
  const properties = Object.entries(schema.properties ?? {});
  const required = schema.required ?? [];
  const hasCurrency = properties.some(([, property]) => property.domain === 'currency');
  const records = new Map<number, fc.Arbitrary<Record<string, unknown>>>();
  const build = (context: FieldContext): fc.Arbitrary<Record<string, unknown>> => {
    const known = records.get(context.scale);
    if (known !== undefined) return known;
    const record = fc.record(Object.fromEntries(properties.map(([key, property]) => [key, valueFromSchema(property, context)])), {
      requiredKeys: properties.map(([key]) => key).filter((key) => required.includes(key)),
    });
    records.set(context.scale, record);
    return record;
  };
  if (!hasCurrency) return build({ scale: 2 });
  // Draw the currency first so that the amount is written at its scale.
  const currencyKey = properties.find(([, property]) => property.domain === 'currency')?.[0] ?? 'currency';
  return fc.tuple(build({ scale: 0 }), fc.nat({ max: 9 })).chain(([draft, roll]) => {
    const code = draft[currencyKey];
    const scale = typeof code === 'string' ? (ASSETS.find(code)?.scale ?? roll % (ASSET_SCALE_MAX + 1)) : 2;
    return build({ scale }).map((values) => (currencyKey in draft ? { ...values, [currencyKey]: code } : values));
  });
}

const valueArbitraries = new WeakMap<JsonSchema, Map<number, fc.Arbitrary<unknown>>>();

/**
 * A value of `schema`, with the ledger's domain tags drawn realistically. Built once per schema node and
 * scale: building arbitraries (stringMatching parses its regex) costs far more than drawing from them.
 */
export function valueFromSchema(schema: JsonSchema, context: FieldContext = { scale: 2 }): fc.Arbitrary<unknown> {
  const byScale = valueArbitraries.get(schema) ?? new Map<number, fc.Arbitrary<unknown>>();
  valueArbitraries.set(schema, byScale);
  const known = byScale.get(context.scale);
  if (known !== undefined) return known;
  const built = buildValue(schema, context);
  byScale.set(context.scale, built);
  return built;
}

function buildValue(schema: JsonSchema, context: FieldContext): fc.Arbitrary<unknown> {
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum !== undefined) return fc.constantFrom(...schema.enum);
  const tagged = domainValue(schema, context);
  if (tagged !== undefined) return tagged;
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives !== undefined) return fc.oneof(...alternatives.map((alternative) => valueFromSchema(alternative, context)));
  if (schema.allOf !== undefined && schema.allOf[0] !== undefined) return valueFromSchema(schema.allOf[0], context);
  const types = typeof schema.type === 'string' ? [schema.type] : (schema.type ?? []);
  if (types.length > 1) return fc.oneof(...types.map((type) => valueFromSchema({ ...schema, type }, context)));
  return valueOfType(types[0], schema, context);
}

/** A value of `schema` whose one JSON type is `type` (any JSON value when it names none). */
function valueOfType(type: string | undefined, schema: JsonSchema, context: FieldContext): fc.Arbitrary<unknown> {
  switch (type) {
    case 'object':
      return objectFromSchema(schema);
    case 'string':
      return stringFromSchema(schema);
    case 'integer':
      return numberFromSchema(schema, true);
    case 'number':
      return numberFromSchema(schema, false);
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      if (schema.prefixItems !== undefined) return fc.tuple(...schema.prefixItems.map((item) => valueFromSchema(item, context)));
      return fc.array(valueFromSchema(schema.items ?? {}, context), { minLength: schema.minItems ?? 0, maxLength: Math.min(schema.maxItems ?? 4, 4) });
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

/** A payload of `schema` made wrong: a required field dropped, an unknown field added, a field of another type. */
function malformedFromSchema(schema: JsonSchema): fc.Arbitrary<unknown> {
  const valid = valueFromSchema(schema);
  const keys = Object.keys(schema.properties ?? {});
  const mutations: fc.Arbitrary<unknown>[] = [
    fc
      .tuple(valid, fc.string({ minLength: 1, maxLength: 8 }).filter((key) => !keys.includes(key) && key !== '__proto__'), fc.jsonValue({ maxDepth: 1 }))
      .map(([value, key, extra]) => (typeof value === 'object' && value !== null && !Array.isArray(value) ? { ...value, [key]: extra } : value)),
  ];
  if (keys.length > 0) {
    const key = fc.constantFrom(...keys);
    mutations.push(
      fc.tuple(valid, key).map(([value, dropped]) => {
        if (typeof value !== 'object' || value === null) return value;
        const { [dropped]: _dropped, ...rest } = value as Record<string, unknown>;
        return rest;
      }),
      fc.tuple(valid, key, fc.jsonValue({ maxDepth: 1 })).map(([value, replaced, other]) =>
        typeof value === 'object' && value !== null ? { ...value, [replaced]: other } : value,
      ),
    );
  }
  return fc.oneof(...mutations);
}

/**
 * A payload for `process`, derived from its zod schema (via JSON Schema): mostly valid and realistic
 * (known assets, amounts at the asset's scale, movement ids from MOVEMENT_ID_POOL), sometimes malformed,
 * sometimes any JSON at all.
 */
export function payloadFor(process: Process): fc.Arbitrary<unknown> {
  const schema = payloadSchema(process);
  return fc.oneof(
    { weight: 16, arbitrary: valueFromSchema(schema) },
    { weight: 3, arbitrary: malformedFromSchema(schema) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  );
}

/** Everything `run` takes beside the registry, for one process. */
export interface ProcessInput {
  readonly command: Command;
  readonly view: PotView;
  readonly ctx: PlanContext;
}

type PotSituation = 'absent' | 'open' | 'closed';

/**
 * An input for `run` of `process`: a command with a generated payload (commandId from the pool, the pot's
 * owner mostly, another member sometimes), the pot absent, open or closed (mostly what the process
 * needs), consistent balances, and the movements the process `loads`, mostly present.
 */
export function processInput(process: Process): fc.Arbitrary<ProcessInput> {
  const situation: fc.Arbitrary<PotSituation> = fc.oneof(
    { weight: 8, arbitrary: fc.constant<PotSituation>(process.pot === 'absent' ? 'absent' : 'open') },
    { weight: 1, arbitrary: fc.constantFrom<PotSituation>('absent', 'open', 'closed') },
  );
  return fc
    .record({
      commandId: fc.oneof({ weight: 19, arbitrary: pooledCommandId }, { weight: 1, arbitrary: invalidId }),
      pot: potId,
      wrongMember: chance(1, 12),
      otherMember: memberId,
      situation,
      payload: payloadFor(process),
      movementNumber: fc.nat({ max: 999 }),
    })
    .chain(({ commandId, pot, wrongMember, otherMember, situation: state, payload, movementNumber }) => {
      const owner = ownerOf(pot);
      const command = commandOf(commandId, process.name, pot, payload, wrongMember ? (otherMember === owner ? 'M-9' : otherMember) : owner);
      const partition = partitionOf(owner, PARTITION_COUNT);
      const profile = profileOf(payload);
      const potState: PotState | undefined =
        state === 'absent' ? undefined : { potId: pot, memberId: owner, status: state, ...(profile === undefined || wrongMember ? {} : { profile }) };
      const parsed = process.payload.safeParse(payload);
      const wanted = parsed.success ? process.loads(parsed.data).movementIds : [];
      const wantedOrders = parsed.success ? (process.loads(parsed.data).orderIds ?? []) : [];
      // Present five times in six: a missing movement is answered LEDGER_ERR_MOVEMENT_NOT_FOUND.
      const loaded = fc.tuple(...wanted.map((id) => fc.option(loadedMovement(id, pot, owner, partition), { freq: 6 }).map((movement) => [id, movement] as const)));
      const orderHints = { ...optional('tradeId', tradeIdOf(parsed.success ? parsed.data : undefined)), ...optional('status', ORDER_STATUS_ACTED_ON[process.name]) };
      const ordersOf = (balances: Map<AccountId, bigint>) =>
        fc.tuple(...wantedOrders.map((id) => fc.option(orderOf(id, pot, partition, balances, orderHints), { freq: 6 }).map((order) => [id, order] as const)));
      return fc
        .record({ balances: consistentBalances(pot, partition, state !== 'open'), loaded })
        .chain(({ balances, loaded: movements }) =>
          ordersOf(balances).map((orders) => ({
            balances,
            movements,
            orders,
          })),
        )
        .map(({ balances, movements, orders }) => ({
        command,
        view: {
          pot: withHold(potState, payload, balances),
          balances,
          movements: new Map(movements.flatMap(([id, movement]) => (movement === null ? [] : [[id, movement] as const]))),
          orders: new Map(orders.flatMap(([id, order]) => (order === null ? [] : [[id, order] as const]))),
        },
        ctx: planContext(`m-new-${movementNumber}`),
      }));
    });
}
