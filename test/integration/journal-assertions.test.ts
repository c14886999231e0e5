import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inTransaction } from '../../src/journal/database.js';
import { createExecutor } from '../../src/journal/executor.js';
import { commitItems, loadPot, type CommitItem } from '../../src/journal/store.js';
import { verifyLedger } from '../../src/journal/verify.js';
import {
  assetCatalog,
  commandFingerprint,
  DEFAULT_ASSETS,
  LedgerAssertionError,
  ledgerProcesses,
  partitionOf,
  postEntries,
  potAccount,
  run,
  systemAccount,
  type Applied,
  type Command,
  type Entry,
  type Posting,
} from '../../src/ledger/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

/*
 * The journal's half of the paired assertions: a commit item the planner got wrong (a movement that does
 * not balance per asset, postings that skip a version or do not follow on from what the journal holds)
 * is refused with LedgerAssertionError before anything is written, and the transaction rolls back.
 */

const PARTITIONS = 8;
const assets = assetCatalog(DEFAULT_ASSETS);
let db: TestDatabase;

const MEMBER = 'M-A';
const POT = 'P-A';
const PARTITION = partitionOf(MEMBER, PARTITIONS);
const CASH = potAccount(POT, 'cash', 'GBP');

beforeAll(async () => {
  db = await createTestDatabase('journal_assertions');
  const executor = createExecutor(db.service, { registry: ledgerProcesses, assets, partitionCount: PARTITIONS });
  await executor.execute(command('setup-open', 'pot.open', {}));
  await executor.execute(command('setup-deposit', 'cash.deposit', { amount: '100.00', currency: 'GBP' }));
});
afterAll(async () => {
  await db?.drop();
});

function command(commandId: string, process: string, payload: unknown): Command {
  return { commandId, process, memberId: MEMBER, potId: POT, payload, effectiveDate: '2026-11-30', producedAt: '2026-11-30T09:00:00Z' };
}

/** A commit item of an applied command. */
type AppliedItem = CommitItem & { readonly outcome: Applied };

/** A deposit planned by the core against what the journal holds now: a sound commit item. */
async function plannedDeposit(commandId: string, amount: string): Promise<AppliedItem> {
  const given = command(commandId, 'cash.deposit', { amount, currency: 'GBP' });
  const snapshot = await loadPot(db.service, POT, PARTITION);
  const outcome = run(ledgerProcesses, given, { pot: snapshot.pot, balances: snapshot.balances, movements: new Map(), orders: new Map() }, {
    assets,
    partitionCount: PARTITIONS,
    movementId: `mv-${commandId}`,
  });
  if (outcome.kind !== 'applied') throw new Error(`the deposit was not applied: ${outcome.kind}`);
  const { postings } = postEntries(outcome.movement.entries, snapshot.balances, snapshot.versions);
  return { command: given, fingerprint: commandFingerprint(given), partition: PARTITION, outcome, postings };
}

/** The same item with its movement's entries (and postings) replaced. */
function withEntries(item: AppliedItem, entries: readonly Entry[], postings: readonly Posting[]): CommitItem {
  return { ...item, outcome: { ...item.outcome, movement: { ...item.outcome.movement, entries } }, postings };
}

/** Every row count the commit path writes, and the pot's cash balance row. */
async function journalState(): Promise<unknown> {
  const { rows } = await db.owner.query(
    `SELECT (SELECT count(*) FROM movements) AS movements, (SELECT count(*) FROM entries) AS entries,
            (SELECT count(*) FROM command_outcomes) AS outcomes, (SELECT count(*) FROM balances) AS accounts,
            (SELECT json_agg(t ORDER BY t.partition, t.kind, t.asset) FROM partition_totals t) AS totals,
            (SELECT row_to_json(b) FROM (SELECT balance_minor::text, version::text FROM balances WHERE account_id = $1) b) AS cash`,
    [CASH],
  );
  return rows[0];
}

/** Commits `items` in a transaction of their own; expects LedgerAssertionError naming `message`, and nothing written. */
async function expectRefused(items: readonly CommitItem[], message: RegExp): Promise<void> {
  const before = await journalState();
  const failure = await inTransaction(db.service, (client) => commitItems(client, items, assets)).catch((error: unknown) => error);
  expect(failure).toBeInstanceOf(LedgerAssertionError);
  expect((failure as Error).message).toMatch(message);
  expect(await journalState()).toEqual(before);
  expect((await verifyLedger(db.owner)).ok).toBe(true);
}

describe('the journal asserts a commit before writing it', () => {
  it('commits a sound item (the control)', async () => {
    const item = await plannedDeposit('sound-1', '1.00');
    await inTransaction(db.service, (client) => commitItems(client, [item], assets));
    expect((await journalState()) as { cash: unknown }).toMatchObject({ cash: { balance_minor: '10100', version: '2' } });
  });

  it('refuses a movement that does not balance per asset, and writes nothing', async () => {
    const item = await plannedDeposit('unbalanced-1', '5.00');
    // GBP debited to the pot, the credit to an EUR account: each side is 500, but not of one asset.
    const bank = systemAccount(PARTITION, 'external.bank', 'EUR');
    const entries: Entry[] = [{ debit: CASH, credit: bank, asset: 'GBP', amountMinor: 500n }];
    // postEntries refuses such an entry (its own assertion): the postings are built as a faulty planner would.
    const postings: Posting[] = [
      { entryIndex: 0, side: 'debit', account: CASH, asset: 'GBP', amountMinor: 500n, balanceAfterMinor: 10_600n, accountVersion: 3n },
      { entryIndex: 0, side: 'credit', account: bank, asset: 'GBP', amountMinor: 500n, balanceAfterMinor: -500n, accountVersion: 1n },
    ];
    await expectRefused([withEntries(item, entries, postings)], /does not balance in GBP/);
  });

  it('refuses postings that are not the movement entries (an amount changed on one side)', async () => {
    const item = await plannedDeposit('tampered-1', '5.00');
    const postings = item.postings.map((posting) => (posting.side === 'credit' ? { ...posting, amountMinor: posting.amountMinor + 1n } : posting));
    await expectRefused([{ ...item, postings }], /does not balance in GBP/);
  });

  it('refuses an account version that does not follow on from the journal, and writes nothing', async () => {
    const item = await plannedDeposit('stale-1', '5.00');
    // Planned as if the journal still held the pot's cash at its first version: a stale writer.
    const postings = item.postings.map((posting) => (posting.account === CASH ? { ...posting, accountVersion: posting.accountVersion - 1n } : posting));
    await expectRefused([{ ...item, postings }], new RegExp(`${CASH} follows on from v1 .* the journal holds v2`));
  });

  it('refuses a balance that does not follow on from the journal, even at the right version', async () => {
    const item = await plannedDeposit('drifted-1', '5.00');
    const postings = item.postings.map((posting) => (posting.account === CASH ? { ...posting, balanceAfterMinor: posting.balanceAfterMinor + 7n } : posting));
    await expectRefused([{ ...item, postings }], new RegExp(`${CASH} follows on from v2 \\(10107\\), the journal holds v2 \\(10100\\)`));
  });

  it('refuses versions that skip within one batch, and writes nothing of the batch', async () => {
    const first = await plannedDeposit('batch-1', '1.00');
    const second = await plannedDeposit('batch-2', '2.00');
    // The second deposit planned from the journal, not from the first: both claim version 3 of the cash account.
    await expectRefused([first, second], new RegExp(`posts ${CASH} at version 3, after version 3`));
  });

  it('refuses an account the batch opens at a balance other than zero', async () => {
    const item = await plannedDeposit('opening-1', '5.00');
    const postings = item.postings.map((posting) => (posting.account === CASH ? { ...posting, accountVersion: 1n } : posting));
    await expectRefused([{ ...item, postings }], new RegExp(`${CASH} opens at 10100, not 0`));
  });

  it('refuses to open an account the journal holds already', async () => {
    const item = await plannedDeposit('opening-2', '5.00');
    const postings = item.postings.map((posting) => (posting.account === CASH ? { ...posting, accountVersion: 1n, balanceAfterMinor: 500n } : posting));
    await expectRefused([{ ...item, postings }], new RegExp(`${CASH} follows on from v0 \\(0\\), the journal holds v2 \\(10100\\)`));
  });
});
