import { reject, RejectionCode, type Rejection } from '../ledger/index.js';
import { sqlState } from '../journal/database.js';

/**
 * A message whose writes Postgres refused for good (a data error on that message alone). The first
 * time, its command is answered with a rejection (LEDGER_ERR_STORAGE_REFUSED) recorded as its outcome,
 * and the message is recorded as poison for operators. Should Postgres refuse that rejection too, the
 * message is recorded as poison only, so that the partition never stalls on it.
 */
export interface StorageRefusal {
  /** The SQLSTATE Postgres answered with. */
  readonly sqlState: string;
  /** Postgres's message. */
  readonly message: string;
  /** 'rejection': answer the command with a recorded rejection; 'poison-only': the rejection was refused too. */
  readonly answer: 'rejection' | 'poison-only';
}

/** The reason written in the poison record and the rejection: the SQLSTATE and Postgres's message. */
export function refusalReason(refusal: StorageRefusal): string {
  return `the journal refused to store it (SQLSTATE ${refusal.sqlState}): ${refusal.message}`;
}

/** The refusal recorded after `error` refused a batch of this one message, `earlier` the refusal already known for it. */
export function nextRefusal(error: unknown, earlier: StorageRefusal | undefined): StorageRefusal {
  return {
    sqlState: sqlState(error) ?? '',
    message: error instanceof Error ? error.message : String(error),
    answer: earlier === undefined ? 'rejection' : 'poison-only',
  };
}

/** The outcome of a command the journal refused to store. */
export function storageRejection(refusal: StorageRefusal): Rejection {
  return reject(RejectionCode.storageRefused, refusalReason(refusal), { sqlState: refusal.sqlState });
}
