import { z } from 'zod';
import { outcomeSchema } from './schemas.js';

/**
 * RFC 9457 problem details. Every error the API answers is one of these, with a stable `code` that
 * clients branch on (the title and detail are for people and may change).
 */
export const ProblemCode = {
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
export type ProblemCode = (typeof ProblemCode)[keyof typeof ProblemCode];

export const problemSchema = z
  .object({
    type: z.string().describe('A URI naming the kind of problem: urn:potledger:problem:<code>'),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    code: z.string().describe('Stable machine-readable code'),
    requestId: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional().describe('For a validation failure: each field path and what is wrong'),
    outcome: outcomeSchema.optional().describe('For a ledger rejection: the recorded outcome'),
    commandId: z.string().optional(),
  })
  .meta({ id: 'Problem' });
export type Problem = z.infer<typeof problemSchema>;

/** An error the handlers throw to answer with a problem. */
export class ProblemError extends Error {
  constructor(
    readonly status: number,
    readonly code: ProblemCode,
    readonly title: string,
    readonly extra: Partial<Pick<Problem, 'detail' | 'errors' | 'outcome' | 'commandId'>> = {},
  ) {
    super(extra.detail ?? title);
    this.name = 'ProblemError';
  }
}

export function problem(
  status: number,
  code: string,
  title: string,
  extra: Partial<Omit<Problem, 'type' | 'title' | 'status' | 'code'>> = {},
): Problem {
  return { type: `urn:potledger:problem:${code}`, title, status, code, ...extra };
}

export const notFound = (what: string): ProblemError => new ProblemError(404, ProblemCode.notFound, `${what} was not found`);
