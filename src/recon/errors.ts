/** The errors of reconciliation, each with its stable code and status (src/errors.ts). */
import { DomainError, ErrorCode } from '../errors.js';

/**
 * Reconciliation refused before comparing anything: the day is not closed (there is no close to
 * compare), or the two statements are of different days.
 */
export class ReconciliationRefusedError extends DomainError {
  readonly code = ErrorCode.businessDayNotClosed;
  readonly status = 409;
}
