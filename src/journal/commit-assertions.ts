/**
 * The journal's half of the paired assertions (TigerBeetle style): before a commit writes anything,
 * every movement balances per asset, its postings are exactly its entries, and each account's postings
 * in the batch follow one another (version +1, balance + the posting). The planner asserts the same
 * before it hands the items over; the link to what the journal already holds (the first posting of
 * each account follows the stored version and balance) is asserted by the balance write itself
 * (commit-balances.ts). A failure is a bug, never a business outcome: it throws LedgerAssertionError
 * and the caller's transaction rolls back.
 */
import { AMOUNT_MINOR_MAX, LedgerAssertionError, parseAccountId, type AccountId, type Movement, type Posting } from '../ledger/index.js';
import { signedAmount, type CommitItem } from './commit-rows.js';

/** A broken assertion: the message is built only then, so passing checks cost no strings on the commit path. */
function fail(message: string): never {
  throw new LedgerAssertionError(message);
}

/** Asserts what must hold of a batch before it is written (see the module comment). */
export function assertCommitItems(items: readonly CommitItem[]): void {
  const lastPostings = new Map<AccountId, Posting>();
  for (const item of items) {
    if (item.outcome.kind === 'rejected') {
      if (item.postings.length !== 0) fail(`commit: the rejection of ${item.command.commandId} carries postings`);
      continue;
    }
    const { movement } = item.outcome;
    if (movement.commandId !== item.command.commandId) {
      fail(`commit: movement ${movement.movementId} is of command ${movement.commandId}, not ${item.command.commandId}`);
    }
    assertBalancedPerAsset(movement.movementId, item.postings);
    assertPostingsAreEntries(movement, item.postings);
    for (const posting of item.postings) {
      assertFollows(movement.movementId, lastPostings.get(posting.account), posting);
      lastPostings.set(posting.account, posting);
    }
  }
}

/** Each entry gives exactly one debit and one credit posting of its accounts, asset and amount. */
function assertPostingsAreEntries(movement: Movement, postings: readonly Posting[]): void {
  const { movementId, entries } = movement;
  if (postings.length !== 2 * entries.length) fail(`commit: movement ${movementId} has ${postings.length} postings for ${entries.length} entries`);
  const seen = new Set<number>();
  for (const posting of postings) {
    const entry = entries[posting.entryIndex];
    if (entry === undefined) fail(`commit: movement ${movementId} posts entry ${posting.entryIndex}, which it does not have`);
    const side = 2 * posting.entryIndex + (posting.side === 'debit' ? 0 : 1);
    if (seen.has(side)) fail(`commit: movement ${movementId} posts the ${posting.side} of entry ${posting.entryIndex} twice`);
    seen.add(side);
    const account = posting.side === 'debit' ? entry.debit : entry.credit;
    if (posting.account !== account || posting.asset !== entry.asset || posting.amountMinor !== entry.amountMinor) {
      fail(`commit: movement ${movementId} entry ${posting.entryIndex}: the ${posting.side} posting is not the entry's`);
    }
    if (parseAccountId(account)?.asset !== entry.asset) fail(`commit: movement ${movementId} entry ${posting.entryIndex} posts ${entry.asset} to ${account}`);
    if (entry.debit === entry.credit) fail(`commit: movement ${movementId} entry ${posting.entryIndex} debits and credits one account`);
    if (posting.amountMinor <= 0n || posting.amountMinor > AMOUNT_MINOR_MAX) fail(`commit: movement ${movementId} entry ${posting.entryIndex}: amount out of range`);
  }
}

/** The signed amounts sum to zero per asset, the asset read from each account's id. */
function assertBalancedPerAsset(movementId: string, postings: readonly Posting[]): void {
  const sums = new Map<string, bigint>();
  for (const posting of postings) {
    const asset = parseAccountId(posting.account)?.asset;
    if (asset === undefined) fail(`commit: movement ${movementId} posts to ${posting.account}, which is not an account id`);
    sums.set(asset, (sums.get(asset) ?? 0n) + signedAmount(posting));
  }
  for (const [asset, sum] of sums) {
    if (sum !== 0n) fail(`commit: movement ${movementId} does not balance in ${asset} (off by ${sum})`);
  }
}

/** A posting follows the account's previous posting in the batch: the next version, the balance moved by its amount. */
function assertFollows(movementId: string, previous: Posting | undefined, posting: Posting): void {
  if (previous === undefined) {
    if (posting.accountVersion < 1n) fail(`commit: movement ${movementId} posts ${posting.account} at version ${posting.accountVersion}`);
    return;
  }
  if (posting.accountVersion !== previous.accountVersion + 1n) {
    fail(`commit: movement ${movementId} posts ${posting.account} at version ${posting.accountVersion}, after version ${previous.accountVersion}`);
  }
  if (posting.balanceAfterMinor !== previous.balanceAfterMinor + signedAmount(posting)) {
    fail(`commit: movement ${movementId} posts ${posting.account} to ${posting.balanceAfterMinor}, not ${previous.balanceAfterMinor} + ${signedAmount(posting)}`);
  }
}
