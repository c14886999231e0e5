import type { MovementDetail, StatementLine } from '../journal/reads.js';
import { parseAccountId, type PotChange, type WireMovement } from '../ledger/index.js';

/**
 * What a member key sees of its own movements. A movement writes one pot's accounts and its
 * partition's system accounts (external.bank, clearing, liquidity, ...), and those system accounts
 * carry every member of the partition: their balances and versions would tell one member of the
 * others' flows. So a member sees its own pot's figures in full and, of any other account, the account
 * (its kind) and the amount of the posting only. Nor does it see another member's ids: a hold it
 * placed says for how much and until when, not whose pot it is held for.
 */

type HoldChange = Extract<PotChange, { type: 'hold' }>;

/** A pot change as a member reads it: a hold without its payee. */
export type MemberPotChange = Exclude<PotChange, HoldChange> | Omit<HoldChange, 'payee'>;

export type MemberMovement = Omit<WireMovement, 'potChange'> & { readonly potChange?: MemberPotChange };

type Posting = MovementDetail['postings'][number];

/** A posting on an account not the member's: its account and amount, no balance after it, no version. */
export type MemberPosting = Omit<Posting, 'balanceAfter' | 'accountVersion'> & Partial<Pick<Posting, 'balanceAfter' | 'accountVersion'>>;

export type MemberMovementDetail = Omit<MovementDetail, 'movement' | 'postings'> & {
  readonly movement: MemberMovement;
  readonly postings: readonly MemberPosting[];
};

export function movementForMember(movement: WireMovement): MemberMovement {
  const { potChange, ...rest } = movement;
  if (potChange === undefined) return rest;
  if (potChange.type !== 'hold') return { ...rest, potChange };
  const { payee: _payee, ...hold } = potChange;
  return { ...rest, potChange: hold };
}

export function movementDetailForMember(detail: MovementDetail): MemberMovementDetail {
  const potId = detail.movement.potId;
  return {
    ...detail,
    movement: movementForMember(detail.movement),
    postings: detail.postings.map((posting) => (isAccountOfPot(posting.account, potId) ? posting : withoutFigures(posting))),
  };
}

export function statementLineForMember(line: StatementLine): Omit<StatementLine, 'movement'> & { readonly movement: MemberMovement } {
  return { ...line, movement: movementForMember(line.movement) };
}

function isAccountOfPot(account: string, potId: string): boolean {
  const owner = parseAccountId(account)?.owner;
  return owner?.type === 'pot' && owner.potId === potId;
}

function withoutFigures(posting: Posting): MemberPosting {
  const { balanceAfter: _balanceAfter, accountVersion: _accountVersion, ...shown } = posting;
  return shown;
}
