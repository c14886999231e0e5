import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import {
  assert,
  assetCatalog,
  currency,
  DEFAULT_ASSETS,
  defineProcess,
  fund,
  LedgerAssertionError,
  partitionOf,
  PROCESSES,
  potAccount,
  processRegistry,
  RejectionCode,
  run,
  systemAccount,
  type AccountId,
  type AssetCatalog,
  type Command,
  type Outcome,
  type PotView,
} from '../../src/ledger/index.js';

const PARTITION_COUNT = 4;
const ASSETS = assetCatalog(DEFAULT_ASSETS);
const PARTITION = partitionOf('M-1', PARTITION_COUNT);

/** Plans an entry whose debit account holds GBP and whose credit account holds EUR. */
const unbalanced = defineProcess({
  name: 'test.unbalanced',
  version: 1,
  describe: 'A faulty process for tests: its entry does not balance.',
  payload: z.strictObject({}),
  plan: ({ command, partition }) => ({
    entries: [{ debit: potAccount(command.potId, 'cash', 'GBP'), credit: systemAccount(partition, 'external.bank', 'EUR'), asset: 'GBP', amountMinor: 100n }],
  }),
});

/** Throws while planning. */
const throwing = defineProcess({
  name: 'test.throwing',
  version: 1,
  describe: 'A faulty process for tests: its plan throws.',
  payload: z.strictObject({}),
  plan: () => {
    throw new Error('the plan fell over');
  },
});

/** Hits an internal assertion of the core while planning (a bug in the core, not in its input). */
const asserting = defineProcess({
  name: 'test.asserting',
  version: 1,
  describe: 'A faulty process for tests: the core asserts while it plans.',
  payload: z.strictObject({}),
  plan: () => {
    assert(false, 'the books do not add up');
    return { entries: [] };
  },
});

const REGISTRY = processRegistry([...PROCESSES, unbalanced, throwing, asserting]);

function command(process: string, payload: unknown, overrides: Partial<Command> = {}): Command {
  return {
    commandId: 'C-1',
    process,
    memberId: 'M-1',
    potId: 'P-1',
    payload,
    effectiveDate: '2026-03-31',
    producedAt: '2026-03-31T09:00:00Z',
    ...overrides,
  };
}

function openPot(balances: Record<AccountId, bigint> = {}): PotView {
  return { pot: { potId: 'P-1', memberId: 'M-1', status: 'open' }, balances: new Map(Object.entries(balances)), movements: new Map() };
}

function runOn(given: Command, view: PotView = openPot(), assets: AssetCatalog = ASSETS): Outcome {
  return run(REGISTRY, given, view, { assets, partitionCount: PARTITION_COUNT, movementId: 'm-1' });
}

function expectRejected(outcome: Outcome, code: RejectionCode): Extract<Outcome, { kind: 'rejected' }> {
  expect(outcome.kind === 'rejected' ? outcome.code : `${outcome.kind} (not rejected)`).toBe(code);
  if (outcome.kind !== 'rejected') throw new Error('unreachable');
  expect(outcome.reason.length).toBeGreaterThan(0);
  return outcome;
}

const deposit = (amount: unknown, code: unknown = 'GBP') => command('cash.deposit', { amount, currency: code });

describe('run rejects bad input with typed rejections and never throws', () => {
  it.each([
    { name: 'more decimals than GBP has', amount: '1.001', code: RejectionCode.invalidAmount },
    { name: 'zero', amount: '0', code: RejectionCode.invalidAmount },
    { name: 'zero with decimals', amount: '0.00', code: RejectionCode.invalidAmount },
    { name: 'beyond AMOUNT_MINOR_MAX', amount: '10000000000000000.00', code: RejectionCode.invalidAmount },
    { name: 'a leading zero', amount: '01', code: RejectionCode.invalidPayload },
    { name: 'an exponent', amount: '1e3', code: RejectionCode.invalidPayload },
    { name: 'a sign', amount: '-1', code: RejectionCode.invalidPayload },
    { name: 'whitespace', amount: ' 1', code: RejectionCode.invalidPayload },
    { name: 'the empty string', amount: '', code: RejectionCode.invalidPayload },
    { name: 'a number', amount: 100, code: RejectionCode.invalidPayload },
  ])('malformed decimal: $name', ({ amount, code }) => {
    expectRejected(runOn(deposit(amount)), code);
  });

  it('wrong scale: "1.5" of a currency with no decimals', () => {
    const withYen = assetCatalog([...DEFAULT_ASSETS, currency('JPY', 0)]);
    expectRejected(runOn(deposit('1.5', 'JPY'), openPot(), withYen), RejectionCode.invalidAmount);
    expect(runOn(deposit('15', 'JPY'), openPot(), withYen).kind).toBe('applied');
  });

  it('unknown asset', () => {
    const outcome = expectRejected(runOn(deposit('1.00', 'XYZ')), RejectionCode.unknownAsset);
    expect(outcome.details).toEqual({ asset: 'XYZ' });
  });

  it('wrong asset kind: a fund code where a currency is expected', () => {
    // The catalogue's fund codes (FUND-A) fail the payload's currency pattern before the kind is checked.
    expectRejected(runOn(deposit('1.00', 'FUND-A')), RejectionCode.invalidPayload);
    // A fund whose code looks like a currency reaches the kind check.
    const withFund = assetCatalog([...DEFAULT_ASSETS, fund('VWR')]);
    expectRejected(runOn(deposit('1.00', 'VWR'), openPot(), withFund), RejectionCode.wrongAssetKind);
  });

  it('unknown process', () => {
    expectRejected(runOn(command('cash.teleport', {})), RejectionCode.unknownProcess);
  });

  it('payload failing its schema: the details list the field paths', () => {
    const outcome = expectRejected(runOn(command('cash.transfer', { amount: 5, currency: 'gbp', source: 'cash', target: 'cash', memo: 'x' })), RejectionCode.invalidPayload);
    const issues = (outcome.details?.issues ?? []) as string[];
    expect(issues.some((issue) => issue.startsWith('amount:'))).toBe(true);
    expect(issues.some((issue) => issue.startsWith('currency:'))).toBe(true);
    expect(issues.some((issue) => issue.includes('memo'))).toBe(true);
    expect(outcome.reason).toContain('cash.transfer');
  });

  it('payload failing its schema: the reason itself names the field paths, as errors.ts documents', () => {
    const outcome = expectRejected(runOn(deposit(5)), RejectionCode.invalidPayload);
    expect(outcome.reason).toContain('amount');
  });

  it.each([
    { name: 'a commandId with a space', overrides: { commandId: 'has space' }, path: 'commandId' },
    { name: 'an empty commandId', overrides: { commandId: '' }, path: 'commandId' },
    { name: 'a date that does not exist', overrides: { effectiveDate: '2026-02-30' }, path: 'effectiveDate' },
    { name: 'a date in another format', overrides: { effectiveDate: '31/03/2026' }, path: 'effectiveDate' },
    { name: 'an instant without offset', overrides: { producedAt: '2026-03-31 09:00' }, path: 'producedAt' },
    { name: 'a pot id with a colon', overrides: { potId: 'P:1' }, path: 'potId' },
  ])('malformed envelope: $name', ({ overrides, path }) => {
    const outcome = expectRejected(runOn(command('cash.deposit', { amount: '1.00', currency: 'GBP' }, overrides)), RejectionCode.invalidCommand);
    expect((outcome.details?.issues ?? []) as string[]).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`^${path}:`))]));
  });

  it('malformed envelope: not even an object with the right fields', () => {
    expectRejected(
      run(REGISTRY, { commandId: 'C-1' } as unknown as Command, openPot(), { assets: ASSETS, partitionCount: PARTITION_COUNT, movementId: 'm-1' }),
      RejectionCode.invalidCommand,
    );
  });

  it('a process planning an unbalanced entry (debit GBP, credit EUR): malformed movement', () => {
    const outcome = expectRejected(runOn(command('test.unbalanced', {})), RejectionCode.malformedMovement);
    expect(JSON.stringify(outcome.details)).toContain('does not balance');
  });

  it('a process whose plan throws: process fault', () => {
    const outcome = expectRejected(runOn(command('test.throwing', {})), RejectionCode.processFault);
    expect(outcome.reason).toContain('the plan fell over');
  });

  it('an internal assertion that fails while planning is no rejection: it propagates (the worker crashes, the command is retried)', () => {
    expect(() => runOn(command('test.asserting', {}))).toThrow(LedgerAssertionError);
    expect(() => runOn(command('test.asserting', {}))).toThrow('the books do not add up');
  });

  it('pot lifecycle: absent, closed, another member, opened twice', () => {
    expectRejected(runOn(deposit('1.00'), { ...openPot(), pot: undefined }), RejectionCode.potNotFound);
    expectRejected(runOn(deposit('1.00'), { ...openPot(), pot: { potId: 'P-1', memberId: 'M-1', status: 'closed' } }), RejectionCode.potClosed);
    expectRejected(runOn(command('cash.deposit', { amount: '1.00', currency: 'GBP' }, { memberId: 'M-2' })), RejectionCode.potMemberMismatch);
    expectRejected(runOn(command('pot.open', {})), RejectionCode.potExists);
  });
});

describe('exact outcomes of the processes', () => {
  const cash = potAccount('P-1', 'cash', 'GBP');
  const prepaid = potAccount('P-1', 'cash.prepaid', 'GBP');
  const late = potAccount('P-1', 'charges.late', 'GBP');
  const bank = systemAccount(PARTITION, 'external.bank', 'GBP');
  const due = systemAccount(PARTITION, 'charges.due', 'GBP');
  const fees = systemAccount(PARTITION, 'acme.fees', 'GBP');

  it('pot.close refuses a pot that still holds a balance', () => {
    const outcome = expectRejected(runOn(command('pot.close', {}), openPot({ [cash]: 1n, [bank]: -1n })), RejectionCode.potNotEmpty);
    expect(outcome.reason).toContain(cash);
    expect(runOn(command('pot.close', {}), openPot({ [bank]: -1n })).kind).toBe('applied'); // system balances do not count
  });

  it('charge.repay of 150.00 against 100.00 late: corrected into 100.00 settled and 50.00 prepaid', () => {
    const view = openPot({ [cash]: 20_000n, [bank]: -20_000n, [late]: 10_000n, [due]: -10_000n });
    const outcome = runOn(command('charge.repay', { amount: '150.00', currency: 'GBP' }), view);
    expect(outcome.kind).toBe('corrected');
    if (outcome.kind !== 'corrected') return;
    expect(outcome.movement.entries).toEqual([
      { debit: fees, credit: cash, asset: 'GBP', amountMinor: 10_000n },
      { debit: due, credit: late, asset: 'GBP', amountMinor: 10_000n },
      { debit: prepaid, credit: cash, asset: 'GBP', amountMinor: 5_000n },
    ]);
    expect(outcome.original.entries).toEqual([
      { debit: fees, credit: cash, asset: 'GBP', amountMinor: 15_000n },
      { debit: due, credit: late, asset: 'GBP', amountMinor: 15_000n },
    ]);
    expect(outcome.violations).toEqual([`${late} would be negative (-5000 minor units)`, `${due} would be positive (5000 minor units)`]);
    expect(outcome.movement).toMatchObject({ movementId: 'm-1', commandId: 'C-1', process: 'charge.repay', potId: 'P-1', partition: PARTITION });
  });

  it('charge.assess of 30.00 with 20.00 prepaid: corrected into 20.00 paid from prepaid and 10.00 late', () => {
    const view = openPot({ [cash]: 1_000n, [prepaid]: 2_000n, [bank]: -3_000n });
    const outcome = runOn(command('charge.assess', { amount: '30.00', currency: 'GBP' }), view);
    expect(outcome.kind).toBe('corrected');
    if (outcome.kind !== 'corrected') return;
    expect(outcome.movement.entries).toEqual([
      { debit: fees, credit: prepaid, asset: 'GBP', amountMinor: 2_000n },
      { debit: late, credit: due, asset: 'GBP', amountMinor: 1_000n },
    ]);
  });

  it('cash.withdraw beyond the cash held: insufficient funds', () => {
    expectRejected(runOn(command('cash.withdraw', { amount: '10.01', currency: 'GBP' }), openPot({ [cash]: 1_000n, [bank]: -1_000n })), RejectionCode.insufficientFunds);
  });

  it('cash.transfer into prepaid while a charge is late: invariant violated', () => {
    const view = openPot({ [cash]: 1_000n, [bank]: -1_000n, [late]: 500n, [due]: -500n });
    expectRejected(runOn(command('cash.transfer', { amount: '1.00', currency: 'GBP', source: 'cash', target: 'cash.prepaid' }), view), RejectionCode.invariantViolated);
  });
});
