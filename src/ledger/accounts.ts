import type { AssetKind } from './assets.js';

/**
 * Accounts. Every account belongs to a pot (a member's, ACME's, a pool's) or to a partition's system
 * books, has a kind, and holds one asset. Its id is canonical text:
 *
 *     pot:<potId>:<kind>:<asset>          pot:P-42:cash:GBP
 *     system:p<partition>:<kind>:<asset>  system:p17:external.bank:GBP
 *
 * Balances are signed: an entry adds its amount to the debit account and subtracts it from the credit
 * account, so every asset sums to zero over the whole ledger. A pot's holdings are positive; the
 * external world's contra accounts are negative.
 */
export type AccountId = string;

export type AccountOwner =
  | { readonly type: 'pot'; readonly potId: string }
  | { readonly type: 'system'; readonly partition: number };

export interface AccountRef {
  readonly owner: AccountOwner;
  readonly kind: string;
  readonly asset: string;
}

export const POT_ID = /^[A-Za-z0-9_-]{1,64}$/;
export const MEMBER_ID = /^[A-Za-z0-9_-]{1,64}$/;
const KIND_NAME = /^[a-z][a-z-]*(?:\.[a-z][a-z-]*)*$/;
const ASSET_IN_ID = /^[A-Z][A-Z0-9-]{0,31}$/;
/** Partitions are numbered 0 .. PARTITION_COUNT_MAX - 1 at most. */
export const PARTITION_COUNT_MAX = 4096;

export function potAccount(potId: string, kind: string, asset: string): AccountId {
  return `pot:${potId}:${kind}:${asset}`;
}

export function systemAccount(partition: number, kind: string, asset: string): AccountId {
  return `system:p${partition}:${kind}:${asset}`;
}

export function accountIdOf(ref: AccountRef): AccountId {
  return ref.owner.type === 'pot'
    ? potAccount(ref.owner.potId, ref.kind, ref.asset)
    : systemAccount(ref.owner.partition, ref.kind, ref.asset);
}

/** Parsed account ids, memoised: the same few accounts are parsed over and over on a hot path. */
const PARSED_CACHE_MAX = 100_000;
const parsedCache = new Map<string, AccountRef | undefined>();

/** Reads an account id; undefined when it is not canonical. */
export function parseAccountId(id: string): AccountRef | undefined {
  // One look-up on a hit (the common case); has() only for an id remembered as not canonical.
  const cached = parsedCache.get(id);
  if (cached !== undefined || parsedCache.has(id)) return cached;
  if (parsedCache.size >= PARSED_CACHE_MAX) parsedCache.clear();
  const ref = parseAccountIdUncached(id);
  parsedCache.set(id, ref === undefined ? undefined : Object.freeze(ref));
  return ref;
}

function parseAccountIdUncached(id: string): AccountRef | undefined {
  const parts = id.split(':');
  if (parts.length !== 4) return undefined;
  const [type, ownerText, kind, asset] = parts as [string, string, string, string];
  if (!KIND_NAME.test(kind) || !ASSET_IN_ID.test(asset)) return undefined;
  if (type === 'pot' && POT_ID.test(ownerText)) return { owner: { type: 'pot', potId: ownerText }, kind, asset };
  if (type === 'system' && /^p(0|[1-9][0-9]{0,3})$/.test(ownerText)) {
    const partition = Number(ownerText.slice(1));
    if (partition < PARTITION_COUNT_MAX) return { owner: { type: 'system', partition }, kind, asset };
  }
  return undefined;
}

/**
 * What a kind of account promises about its balance, checked after every movement that touches the
 * account or a sibling (same owner, same asset) that the invariant names.
 */
export type Invariant =
  | { readonly type: 'nonNegative' }
  | { readonly type: 'nonPositive' }
  /** balance ≤ balance of the sibling of `kind` (a reserved part within what is held). */
  | { readonly type: 'atMost'; readonly kind: string }
  /** this balance and the sibling of `kind` are never both non-zero. */
  | { readonly type: 'exclusiveWith'; readonly kind: string };

export interface AccountKind {
  readonly name: string;
  readonly owner: AccountOwner['type'];
  /** Which assets it may hold. */
  readonly assets: AssetKind | 'any';
  readonly invariants: readonly Invariant[];
  readonly description: string;
}

const nonNegative: Invariant = { type: 'nonNegative' };
const nonPositive: Invariant = { type: 'nonPositive' };

/** The account kinds of the ledger. Adding one is adding an entry here. */
export const ACCOUNT_KINDS: readonly AccountKind[] = [
  {
    name: 'cash',
    owner: 'pot',
    assets: 'currency',
    invariants: [nonNegative],
    description: "The pot's cash, including any part reserved for orders or holds.",
  },
  {
    name: 'cash.reserved',
    owner: 'pot',
    assets: 'currency',
    invariants: [nonNegative, { type: 'atMost', kind: 'cash' }],
    description: 'The part of `cash` reserved for pending orders and holds (a memo within cash; contra `reservations`).',
  },
  {
    name: 'cash.prepaid',
    owner: 'pot',
    assets: 'currency',
    invariants: [nonNegative, { type: 'exclusiveWith', kind: 'charges.late' }],
    description: 'Cash paid in advance against future charges; cannot coexist with a late charge.',
  },
  {
    name: 'charges.late',
    owner: 'pot',
    assets: 'currency',
    invariants: [nonNegative, { type: 'exclusiveWith', kind: 'cash.prepaid' }],
    description: 'Charges the pot owes and has not paid (a memo; contra `charges.due`).',
  },
  {
    name: 'cash.pending',
    owner: 'pot',
    assets: 'currency',
    invariants: [nonNegative],
    description: 'Sale proceeds priced but not yet settled by the custodian; they become `cash` at settlement.',
  },
  {
    name: 'cash.pending.reserved',
    owner: 'pot',
    assets: 'currency',
    invariants: [nonNegative, { type: 'atMost', kind: 'cash.pending' }],
    description:
      'The part of `cash.pending` reserved for buy orders funded by those proceeds (a switch: a memo within ' +
      'cash.pending; contra `reservations`). It follows the money into `cash.reserved` when the sale settles first.',
  },
  {
    name: 'units',
    owner: 'pot',
    assets: 'fund',
    invariants: [nonNegative],
    description: "Settled units of a fund held by the pot, including any part reserved for sell orders.",
  },
  {
    name: 'units.reserved',
    owner: 'pot',
    assets: 'fund',
    invariants: [nonNegative, { type: 'atMost', kind: 'units' }],
    description: 'The part of `units` reserved for pending sell orders (a memo within units; contra `reservations`).',
  },
  {
    name: 'units.pending',
    owner: 'pot',
    assets: 'fund',
    invariants: [nonNegative],
    description: 'Units bought and priced but not yet settled by the custodian.',
  },
  {
    name: 'pool.units',
    owner: 'pot',
    assets: 'pool',
    invariants: [nonNegative],
    description: "Units of an investment pool the pot holds (`POOL-<id>`, issued at par: one unit per 1.00 of the pool's currency).",
  },
  {
    name: 'external.bank',
    owner: 'system',
    assets: 'currency',
    invariants: [nonPositive],
    description: "Contra of cash paid in or out through the Trust's bank account, per partition.",
  },
  {
    name: 'reservations',
    owner: 'system',
    assets: 'any',
    invariants: [nonPositive],
    description: 'Contra of the reserved memo accounts of the partition.',
  },
  {
    name: 'charges.due',
    owner: 'system',
    assets: 'currency',
    invariants: [nonPositive],
    description: 'Contra of the late charges of the partition.',
  },
  {
    name: 'dealing.cash',
    owner: 'system',
    assets: 'currency',
    invariants: [],
    description:
      "Cash of the partition's priced trades not yet settled: debited by buyers' cash, credited by sellers' " +
      "proceeds; settlement clears it against the bank, so it nets to zero once every trade has settled.",
  },
  {
    name: 'payments.clearing',
    owner: 'system',
    assets: 'currency',
    invariants: [],
    description:
      "Payments between pots in flight through the partition: credited by a payer's cash, debited by a payee's " +
      "(or the payer's refund); over all partitions it nets to zero once every payment has finished.",
  },
  {
    name: 'fx.liquidity',
    owner: 'system',
    assets: 'currency',
    invariants: [],
    description:
      "The partition's foreign-exchange position per currency: debited by the currency a pot sells in a conversion or a " +
      "cross-currency payment, credited by the currency it buys; treasury squares the positions with the bank.",
  },
  {
    name: 'custodian.units',
    owner: 'system',
    assets: 'fund',
    invariants: [nonPositive],
    description: "Contra of the settled units the custodian holds for the partition's pots (the Trust's custodian holding account, per partition).",
  },
  {
    name: 'custodian.pending',
    owner: 'system',
    assets: 'fund',
    invariants: [nonPositive],
    description: "Contra of the partition's `units.pending`: units priced at the custodian, not yet settled.",
  },
  {
    name: 'pool.issued',
    owner: 'system',
    assets: 'pool',
    invariants: [nonPositive],
    description: "Contra of the pool units held by the partition's pots: units issued on subscription, cancelled on redemption.",
  },
  {
    name: 'acme.fees',
    owner: 'system',
    assets: 'currency',
    invariants: [nonNegative],
    description: 'Charges collected by ACME from the pots of the partition.',
  },
];

const KINDS_BY_NAME = new Map(ACCOUNT_KINDS.map((kind) => [kind.name, kind]));

export function accountKind(name: string): AccountKind | undefined {
  return KINDS_BY_NAME.get(name);
}

/** For each kind, the sibling kinds whose invariants name it (so touching it must re-check them). */
const DEPENDENTS = new Map<string, string[]>();
for (const kind of ACCOUNT_KINDS) {
  for (const invariant of kind.invariants) {
    if (invariant.type === 'atMost' || invariant.type === 'exclusiveWith') {
      DEPENDENTS.set(invariant.kind, [...(DEPENDENTS.get(invariant.kind) ?? []), kind.name]);
    }
  }
}

export function dependentKinds(kindName: string): readonly string[] {
  return DEPENDENTS.get(kindName) ?? [];
}
