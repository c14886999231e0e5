/**
 * The base of every domain error, and the stable codes they carry: an error a caller can fix (a
 * conflict, a bad request, a missing record) says what it is once, where it is thrown, and the API's
 * one mapper (src/api/problems.ts `problemOf`) turns it into a problem document. Anything that is not a
 * DomainError is a fault or an unavailable dependency, never the caller's mistake.
 *
 * The codes are the API's (`API_ERR_…`): clients branch on them, so a code once answered never changes.
 */
export const ErrorCode = {
  validationFailed: 'API_ERR_VALIDATION_FAILED',
  malformedBody: 'API_ERR_MALFORMED_BODY',
  unsupportedMediaType: 'API_ERR_UNSUPPORTED_MEDIA_TYPE',
  bodyTooLarge: 'API_ERR_BODY_TOO_LARGE',
  unauthenticated: 'API_ERR_UNAUTHENTICATED',
  forbidden: 'API_ERR_FORBIDDEN',
  notFound: 'API_ERR_NOT_FOUND',
  routeNotFound: 'API_ERR_ROUTE_NOT_FOUND',
  methodNotAllowed: 'API_ERR_METHOD_NOT_ALLOWED',
  idempotencyKeyReused: 'API_ERR_IDEMPOTENCY_KEY_REUSED',
  memberExists: 'API_ERR_MEMBER_EXISTS',
  memberErased: 'API_ERR_MEMBER_ERASED',
  businessDayNotClosed: 'API_ERR_BUSINESS_DAY_NOT_CLOSED',
  rejectedByLedger: 'API_ERR_REJECTED_BY_LEDGER',
  pricesRejected: 'API_ERR_PRICES_REJECTED',
  commandIdConflict: 'API_ERR_COMMAND_ID_CONFLICT',
  rateLimited: 'API_ERR_RATE_LIMITED',
  unavailable: 'API_ERR_UNAVAILABLE',
  badRequest: 'API_ERR_BAD_REQUEST',
  alertAcknowledged: 'API_ERR_ALERT_ACKNOWLEDGED',
  holdNotOpen: 'API_ERR_HOLD_NOT_OPEN',
  paymentNotInReview: 'API_ERR_PAYMENT_NOT_IN_REVIEW',
  rateRecorded: 'API_ERR_RATE_RECORDED',
  internal: 'API_ERR_INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The statuses a domain error answers with: the caller's mistake (4xx), or a dependency to retry (503). */
export type DomainStatus = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 503;

/** One field of a request and what is wrong with it (a validation failure's `errors`). */
export interface FieldProblem {
  readonly path: string;
  readonly message: string;
}

/** What a domain error says beyond its code and status; every part is optional. */
export interface DomainErrorDetails {
  /** The problem's title, for people; the error's message when absent. */
  readonly title?: string;
  /** More words for people (the problem's `detail`). */
  readonly detail?: string;
  /** For a validation failure: each field and what is wrong. */
  readonly errors?: readonly FieldProblem[];
  readonly cause?: unknown;
}

/**
 * A caller's mistake or a state that refuses the request, with its stable code and status. Subclasses
 * name the code and status as fields, e.g. `readonly code = ErrorCode.idempotencyKeyReused; readonly status = 409;`.
 */
export abstract class DomainError extends Error {
  abstract readonly code: ErrorCode;
  abstract readonly status: DomainStatus;
  readonly title: string;
  readonly detail: string | undefined;
  readonly errors: readonly FieldProblem[] | undefined;

  constructor(message: string, details: DomainErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.title = details.title ?? message;
    this.detail = details.detail;
    this.errors = details.errors;
  }
}

/** A request whose body the domain refuses as a whole: a 422 naming the body as the field at fault. */
export function bodyProblem(message: string): DomainErrorDetails {
  return { errors: [{ path: 'body', message }] };
}
