/**
 * Stable rejection codes of the ledger core. A code never changes meaning once published: clients,
 * dashboards and the journal key on it. HTTP statuses are chosen in src/api, never here.
 */
export const RejectionCode = {
  /** The command names a process that is not registered. */
  unknownProcess: 'LEDGER_ERR_UNKNOWN_PROCESS',
  /** The payload failed the process's schema (field paths in the reason). */
  invalidPayload: 'LEDGER_ERR_INVALID_PAYLOAD',
  /** The command envelope itself is malformed (ids, dates). */
  invalidCommand: 'LEDGER_ERR_INVALID_COMMAND',
  /** A decimal string could not be read as an amount of its asset. */
  invalidAmount: 'LEDGER_ERR_INVALID_AMOUNT',
  /** The asset code is not in the catalogue. */
  unknownAsset: 'LEDGER_ERR_UNKNOWN_ASSET',
  /** The asset exists but is not of the kind the process needs (units where cash is expected). */
  wrongAssetKind: 'LEDGER_ERR_WRONG_ASSET_KIND',
  /** The pot does not exist. */
  potNotFound: 'LEDGER_ERR_POT_NOT_FOUND',
  /** The pot exists already (opening it twice). */
  potExists: 'LEDGER_ERR_POT_EXISTS',
  /** The pot is closed and takes no more movements. */
  potClosed: 'LEDGER_ERR_POT_CLOSED',
  /** The pot belongs to another member than the command says. */
  potMemberMismatch: 'LEDGER_ERR_POT_MEMBER_MISMATCH',
  /** Closing a pot that still holds a balance. */
  potNotEmpty: 'LEDGER_ERR_POT_NOT_EMPTY',
  /** A pot account would go below what it must hold (never negative, reserved within held). */
  insufficientFunds: 'LEDGER_ERR_INSUFFICIENT_FUNDS',
  /** Any other account invariant would break and the process has no correction for it. */
  invariantViolated: 'LEDGER_ERR_INVARIANT_VIOLATED',
  /** A balance would leave the range the journal can store. */
  balanceOverflow: 'LEDGER_ERR_BALANCE_OVERFLOW',
  /** The movement the process produced is malformed (unbalanced, foreign accounts, bad amounts). */
  malformedMovement: 'LEDGER_ERR_MALFORMED_MOVEMENT',
  /** The movement to reverse does not exist or belongs to another pot. */
  movementNotFound: 'LEDGER_ERR_MOVEMENT_NOT_FOUND',
  /** The movement was reversed already, or is itself a reversal. */
  movementNotReversible: 'LEDGER_ERR_MOVEMENT_NOT_REVERSIBLE',
  /** The fund does not deal (not a fund, or no dealing terms), or the order's currency is not the fund's. */
  notDealable: 'LEDGER_ERR_NOT_DEALABLE',
  /** The order named does not exist, or belongs to another pot. */
  orderNotFound: 'LEDGER_ERR_ORDER_NOT_FOUND',
  /** The order can no longer be cancelled: its cut-off passed, or it was aggregated, settled or cancelled. */
  orderNotCancellable: 'LEDGER_ERR_ORDER_NOT_CANCELLABLE',
  /** An allocation or settlement that does not fit the order's state (wrong trade, wrong step, too much). */
  orderStateMismatch: 'LEDGER_ERR_ORDER_STATE_MISMATCH',
  /** The hold named is not open on this pot (never placed, or posted, voided or expired already), or not yet expired. */
  holdNotOpen: 'LEDGER_ERR_HOLD_NOT_OPEN',
  /** A sell of "all" units from a pot with none available. */
  nothingToSell: 'LEDGER_ERR_NOTHING_TO_SELL',
  /** The same commandId was used earlier with a different payload. Never recorded as the outcome. */
  idempotencyConflict: 'LEDGER_ERR_IDEMPOTENCY_CONFLICT',
  /** A process threw: a bug in the process, recorded as a rejection so the partition goes on. */
  processFault: 'LEDGER_ERR_PROCESS_FAULT',
  /**
   * The journal (Postgres) refused to store the command's effects for good: a data error (SQLSTATE
   * class 22, 23 or 54) on this command alone. Nothing of it was applied; the reason names the SQLSTATE
   * and Postgres's message, and the message is also recorded as poison for operators.
   */
  storageRefused: 'LEDGER_ERR_STORAGE_REFUSED',
} as const;

export type RejectionCode = (typeof RejectionCode)[keyof typeof RejectionCode];

/** A business outcome, not an exception: the command is refused with a stable code and a reason. */
export interface Rejection {
  readonly kind: 'rejected';
  readonly code: RejectionCode;
  readonly reason: string;
  /** Machine-readable detail (field paths, the violated invariants); JSON-safe, no bigint. */
  readonly details?: Readonly<Record<string, unknown>>;
}

export function reject(code: RejectionCode, reason: string, details?: Record<string, unknown>): Rejection {
  return details === undefined ? { kind: 'rejected', code, reason } : { kind: 'rejected', code, reason, details };
}

export function isRejection(value: unknown): value is Rejection {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'rejected';
}

/** A broken assumption inside the core: a bug, never a business outcome. */
export class LedgerAssertionError extends Error {
  readonly code = 'LEDGER_ERR_ASSERTION';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LedgerAssertionError';
  }
}

export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new LedgerAssertionError(message);
}
