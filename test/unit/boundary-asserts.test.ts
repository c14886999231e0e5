import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { AccountBook, PotActor } from '../../src/actors/pot-actor.js';
import {
  AMOUNT_MINOR_MAX,
  assert,
  assetCatalog,
  DEFAULT_ASSETS,
  defineProcess,
  ENTRIES_PER_MOVEMENT_MAX,
  LedgerAssertionError,
  partitionOf,
  postEntries,
  potAccount,
  PROCESSES,
  processRegistry,
  systemAccount,
  type Command,
  type Entry,
  type PlanContext,
} from '../../src/ledger/index.js';

/*
 * The core asserts its boundaries as TigerBeetle does: what "cannot happen" (a malformed movement
 * reaching postEntries, a command handed to the wrong pot actor, the core's own bookkeeping going
 * wrong) throws LedgerAssertionError; business outcomes stay typed rejections.
 */

const PARTITION_COUNT = 4;
const ASSETS = assetCatalog(DEFAULT_ASSETS);
const PARTITION = partitionOf('M-1', PARTITION_COUNT);
const CASH = potAccount('P-1', 'cash', 'GBP');
const BANK = systemAccount(PARTITION, 'external.bank', 'GBP');
const CTX: PlanContext = { assets: ASSETS, partitionCount: PARTITION_COUNT, movementId: 'm-1' };

const entry = (overrides: Partial<Entry> = {}): Entry => ({ debit: CASH, credit: BANK, asset: 'GBP', amountMinor: 100n, ...overrides });

describe('postEntries asserts its preconditions and postconditions', () => {
  it('posts a sound movement: versions run on by one per posting, balances by the amounts', () => {
    const { postings, versions, balances } = postEntries([entry(), entry({ amountMinor: 50n })], new Map([[CASH, 10n]]), new Map([[CASH, 4n]]));
    expect(postings.map((p) => [p.account, p.accountVersion, p.balanceAfterMinor])).toEqual([
      [CASH, 5n, 110n],
      [BANK, 1n, -100n],
      [CASH, 6n, 160n],
      [BANK, 2n, -150n],
    ]);
    expect(versions).toEqual(new Map([[CASH, 6n], [BANK, 2n]]));
    expect(balances).toEqual(new Map([[CASH, 160n], [BANK, -150n]]));
  });

  it.each([
    ['a zero amount', entry({ amountMinor: 0n }), /outside/],
    ['a negative amount', entry({ amountMinor: -1n }), /outside/],
    ['an amount above AMOUNT_MINOR_MAX', entry({ amountMinor: AMOUNT_MINOR_MAX + 1n }), /outside/],
    ['one account on both sides', entry({ credit: CASH }), /debits and credits/],
    ['an account of another asset', entry({ credit: systemAccount(PARTITION, 'external.bank', 'EUR') }), /moves GBP between/],
    ['an entry of another asset than its accounts', entry({ asset: 'EUR' }), /moves EUR between/],
    ['an account id that does not parse', entry({ debit: 'not-an-account' }), /moves GBP between/],
  ])('refuses %s', (_, given, message) => {
    expect(() => postEntries([given], new Map(), new Map())).toThrow(LedgerAssertionError);
    expect(() => postEntries([given], new Map(), new Map())).toThrow(message);
  });

  it(`refuses more than ENTRIES_PER_MOVEMENT_MAX (${ENTRIES_PER_MOVEMENT_MAX}) entries`, () => {
    const entries = Array.from({ length: ENTRIES_PER_MOVEMENT_MAX + 1 }, () => entry());
    expect(() => postEntries(entries, new Map(), new Map())).toThrow(LedgerAssertionError);
    expect(() => postEntries(entries.slice(1), new Map(), new Map())).not.toThrow();
  });
});

/** Hits an internal assertion of the core while planning. */
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
const REGISTRY = processRegistry([...PROCESSES, asserting]);

function command(process: string, payload: unknown, potId = 'P-1'): Command {
  return { commandId: 'C-1', process, memberId: 'M-1', potId, payload, effectiveDate: '2026-03-31', producedAt: '2026-03-31T09:00:00Z' };
}

function openActor(): PotActor {
  return new PotActor('P-1', { potId: 'P-1', memberId: 'M-1', status: 'open' });
}

describe('PotActor.handle asserts its boundary', () => {
  it('applies a sound deposit to its book and the system book, at the next versions', () => {
    const actor = openActor();
    const system = new AccountBook();
    system.load(BANK, -500n, 7n);
    const { outcome, postings } = actor.handle(command('cash.deposit', { amount: '1.00', currency: 'GBP' }), system, REGISTRY, CTX, new Map(), new Map());
    expect(outcome.kind).toBe('applied');
    expect(postings.map((p) => [p.account, p.accountVersion])).toEqual([
      [CASH, 1n],
      [BANK, 8n],
    ]);
    expect(actor.book.versions.get(CASH)).toBe(1n);
    expect(system.versions.get(BANK)).toBe(8n);
    expect(system.balances.get(BANK)).toBe(-600n);
  });

  it('refuses a command for another pot: the directory handed it to the wrong actor', () => {
    const act = () => openActor().handle(command('cash.deposit', { amount: '1.00', currency: 'GBP' }, 'P-2'), new AccountBook(), REGISTRY, CTX, new Map(), new Map());
    expect(act).toThrow(LedgerAssertionError);
    expect(act).toThrow(/handed a command for pot P-2/);
  });

  it('lets an internal assertion of the core propagate instead of recording a rejection, and changes nothing', () => {
    const actor = openActor();
    const system = new AccountBook();
    expect(() => actor.handle(command('test.asserting', {}), system, REGISTRY, CTX, new Map(), new Map())).toThrow(LedgerAssertionError);
    expect(actor.book.versions.size + system.versions.size).toBe(0);
  });

  it('still answers business outcomes with typed rejections (insufficient funds)', () => {
    const { outcome, postings } = openActor().handle(command('cash.withdraw', { amount: '1.00', currency: 'GBP' }), new AccountBook(), REGISTRY, CTX, new Map(), new Map());
    expect(outcome.kind === 'rejected' ? outcome.code : outcome.kind).toBe('LEDGER_ERR_INSUFFICIENT_FUNDS');
    expect(postings).toEqual([]);
  });
});
