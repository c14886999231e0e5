/**
 * Row building for a commit: what a batch of commit items writes to each table, computed from the
 * items alone (pure, no I/O), in commit order. The SQL that writes them is in commit.ts and its
 * neighbours.
 */
import {
  parseAccountId,
  type AccountId,
  type AccountRef,
  type Command,
  type Movement,
  type OrderChange,
  type Outcome,
  type PotChange,
  type Posting,
} from '../ledger/index.js';

/** One command's result, ready to be written. */
export interface CommitItem {
  readonly command: Command;
  readonly fingerprint: string;
  readonly partition: number;
  readonly outcome: Outcome;
  /** The postings of the movement (none for a rejection), with balances and versions after each. */
  readonly postings: readonly Posting[];
  /** The JetStream sequence of the message that carried the command, when it came from the stream. */
  readonly streamSeq?: bigint;
  /** Who asked for the command and through what (the publisher's headers), for the audit trail. */
  readonly audit?: { readonly principal: string | undefined; readonly source: string | undefined };
}

/** The most items one commit writes; callers split larger batches. */
export const COMMIT_BATCH_MAX = 5_000;

export function movementOf(item: CommitItem): Movement {
  if (item.outcome.kind === 'rejected') throw new Error('movementOf: a rejection has no movement');
  return item.outcome.movement;
}

/** A posting's signed amount: a debit adds to the account, a credit takes away. */
export function signedAmount(posting: Pick<Posting, 'side' | 'amountMinor'>): bigint {
  return posting.side === 'debit' ? posting.amountMinor : -posting.amountMinor;
}

function accountRef(account: AccountId, where: string): AccountRef {
  const ref = parseAccountId(account);
  if (ref === undefined) throw new Error(`${where}: ${account} is not an account id`);
  return ref;
}

/** One entry side, as the entries table holds it. */
export interface EntryRow {
  readonly movementId: string;
  readonly posting: Posting;
}

export function entryRows(items: readonly CommitItem[]): EntryRow[] {
  return items.flatMap((item) => item.postings.map((posting) => ({ movementId: movementOf(item).movementId, posting })));
}

/**
 * One account's balance snapshot after the batch: its last posting, and what the journal must hold
 * before the batch for the postings to follow on from it (the version and balance before its first
 * posting in the batch).
 */
export interface BalanceRow {
  readonly ref: AccountRef;
  readonly last: Posting;
  readonly movementId: string;
  readonly versionBefore: bigint;
  readonly balanceBeforeMinor: bigint;
}

/** Every account the batch posts to, in the order of its first posting. */
export function balanceRows(items: readonly CommitItem[]): BalanceRow[] {
  const rows = new Map<AccountId, { first: Posting; last: Posting; movementId: string }>();
  for (const item of items) {
    for (const posting of item.postings) {
      const movementId = movementOf(item).movementId;
      const row = rows.get(posting.account);
      rows.set(posting.account, row === undefined ? { first: posting, last: posting, movementId } : { ...row, last: posting, movementId });
    }
  }
  return [...rows.values()].map(({ first, last, movementId }) => ({
    ref: accountRef(last.account, 'balanceRows'),
    last,
    movementId,
    versionBefore: first.accountVersion - 1n,
    balanceBeforeMinor: first.balanceAfterMinor - signedAmount(first),
  }));
}

/** What a batch adds to one partition's total of one account kind and asset. */
export interface PartitionTotalRow {
  readonly partition: number;
  readonly kind: string;
  readonly asset: string;
  deltaMinor: bigint;
}

/**
 * Each posting's signed amount (debit +, credit −) summed per partition, kind and asset. Sorted, so
 * that two transactions touching the same rows lock them in the same order.
 */
export function partitionTotalRows(items: readonly CommitItem[]): PartitionTotalRow[] {
  const totals = new Map<string, PartitionTotalRow>();
  for (const item of items) {
    for (const posting of item.postings) {
      const ref = accountRef(posting.account, 'partitionTotalRows');
      const partition = ref.owner.type === 'system' ? ref.owner.partition : item.partition;
      const key = `${partition}|${ref.kind}|${ref.asset}`;
      const total = totals.get(key);
      if (total === undefined) totals.set(key, { partition, kind: ref.kind, asset: ref.asset, deltaMinor: signedAmount(posting) });
      else total.deltaMinor += signedAmount(posting);
    }
  }
  return [...totals.values()].sort((a, b) => a.partition - b.partition || a.kind.localeCompare(b.kind) || a.asset.localeCompare(b.asset));
}

/** The pots a batch opens, closes and changes, each list in commit order. */
export interface PotChangeRows {
  readonly opened: { potId: string; memberId: string; partition: number; movementId: string; profile: string | null }[];
  readonly closed: { potId: string; movementId: string }[];
  readonly profiled: { potId: string; profile: string }[];
  readonly rebalanced: { potId: string; date: string }[];
  /** Holds placed and ended. */
  readonly held: { potId: string; change: Extract<PotChange, { type: 'hold' | 'hold-end' }> }[];
}

export function potChangeRows(items: readonly CommitItem[]): PotChangeRows {
  const rows: PotChangeRows = { opened: [], closed: [], profiled: [], rebalanced: [], held: [] };
  for (const item of items) {
    const { potId, partition, movementId, potChange: change } = movementOf(item);
    if (change === undefined) continue;
    switch (change.type) {
      case 'open':
        rows.opened.push({ potId, memberId: change.memberId, partition, movementId, profile: change.profile ?? null });
        break;
      case 'close':
        rows.closed.push({ potId, movementId });
        break;
      case 'profile':
        rows.profiled.push({ potId, profile: change.profile });
        break;
      case 'rebalance':
        rows.rebalanced.push({ potId, date: change.date });
        break;
      case 'hold':
      case 'hold-end':
        rows.held.push({ potId, change });
        break;
    }
  }
  return rows;
}

/** One order change of a batch, with the movement that carries it. */
export interface OrderChangeRow<T extends OrderChange['type']> {
  readonly movement: Movement;
  readonly change: Extract<OrderChange, { type: T }>;
}

/** The order changes of a batch by kind, each list in commit order. */
export interface OrderChangeRows {
  readonly placed: OrderChangeRow<'place'>[];
  readonly cancels: OrderChangeRow<'cancel'>[];
  readonly allocations: OrderChangeRow<'allocate'>[];
  readonly settlements: OrderChangeRow<'settle'>[];
}

export function orderChangeRows(items: readonly CommitItem[]): OrderChangeRows {
  const rows: OrderChangeRows = { placed: [], cancels: [], allocations: [], settlements: [] };
  for (const item of items) {
    const movement = movementOf(item);
    const change = movement.orderChange;
    if (change === undefined) continue;
    switch (change.type) {
      case 'place':
        rows.placed.push({ movement, change });
        break;
      case 'cancel':
        rows.cancels.push({ movement, change });
        break;
      case 'allocate':
        rows.allocations.push({ movement, change });
        break;
      case 'settle':
        rows.settlements.push({ movement, change });
        break;
    }
  }
  return rows;
}
