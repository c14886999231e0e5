import { z } from 'zod';
import { DomainError, ErrorCode, type DomainStatus } from '../errors.js';
import { outcomeSchema } from './schemas/index.js';

/**
 * RFC 9457 problem details. Every error the API answers is one of these, with a stable `code` that
 * clients branch on (the title and detail are for people and may change). The codes are the domain
 * errors' own (src/errors.ts), and the API's besides.
 */
export const ProblemCode = ErrorCode;
export type ProblemCode = ErrorCode;

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

/** What a problem the API throws itself may carry besides its code, status and title. */
export type ProblemExtra = Partial<Pick<Problem, 'detail' | 'errors' | 'outcome' | 'commandId'>>;

/** A domain error of the API's own (authentication, a ledger rejection, a route's checks), answered as it says. */
export class ProblemError extends DomainError {
  constructor(
    readonly status: DomainStatus,
    readonly code: ProblemCode,
    title: string,
    readonly extra: ProblemExtra = {},
  ) {
    super(extra.detail ?? title, { title });
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

/** The one mapping of a domain error to its problem document: its status, code and title, and what it carries. */
export function problemOf(error: DomainError): Problem {
  if (error instanceof ProblemError) return problem(error.status, error.code, error.title, error.extra);
  return problem(error.status, error.code, error.title, {
    ...(error.detail === undefined ? {} : { detail: error.detail }),
    ...(error.errors === undefined ? {} : { errors: error.errors.map((item) => ({ path: item.path, message: item.message })) }),
  });
}

/**
 * What a route answers when its work stops on anything but a domain error (NATS or Postgres failed
 * while a desk drove a request): a 503 with this title, the failure logged as a warning. The request's
 * id makes the same request safe to send again. Routes without it answer such a failure 503 or 500.
 */
export interface RouteFailure {
  readonly title: string;
  /** The warning's message, and the component it is logged under. */
  readonly log: string;
  readonly component: string;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    whenUnavailable?: RouteFailure;
  }
}

export const notFound = (what: string): ProblemError => new ProblemError(404, ProblemCode.notFound, `${what} was not found`);
