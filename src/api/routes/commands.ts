import { createHash, randomUUID } from 'node:crypto';
import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type pg from 'pg';
import { z } from 'zod';
import { claimIdempotencyKey, commandAccepted } from '../../journal/api-requests.js';
import { findOutcomes } from '../../journal/store.js';
import { canonicalJson, isoDate, outcomeToWire, type AssetCatalog, type ProcessRegistry, type WireOutcome } from '../../ledger/index.js';
import { OutcomeTimeoutError, PublishValidationError, type LedgerPublisher } from '../../sdk/publisher.js';
import { principalOf } from '../auth.js';
import { ProblemCode, ProblemError, problemSchema } from '../problems.js';
import {
  commandIdSchema,
  commandStateSchema,
  idempotencyHeaders,
  idParams,
  memberIdSchema,
  outcomeOfWire,
  potIdSchema,
  waitQuerySchema,
  type ApiOutcome,
} from '../schemas/index.js';

export interface CommandDeps {
  readonly pool: pg.Pool;
  /** Absent when the process has no NATS connection: command routes then answer 503. */
  readonly publisher: LedgerPublisher | undefined;
  readonly registry: ProcessRegistry;
  readonly assets: AssetCatalog;
  readonly waitTimeoutMs: number;
}

export interface CommandAsk {
  readonly process: string;
  readonly memberId: string;
  readonly potId: string;
  readonly payload: unknown;
  readonly effectiveDate?: string | undefined;
}

/** A command's answer when it was not refused: 202 accepted (or pending), 200 with the outcome. */
export interface CommandAnswer {
  readonly statusCode: 200 | 202;
  readonly body: { commandId: string; process: string; status: 'accepted' | 'pending' | 'applied' | 'corrected'; outcome?: ApiOutcome };
}

/** What the stored idempotency record keeps of a command: enough to re-send exactly the same one. */
const storedCommandSchema = z.object({ commandId: z.string(), effectiveDate: z.string() });

const ROUTE_ROLES = ['service', 'operator'] as const;

/** What a command route's answers mean (the document's wording; publishCommand decides which). */
export const COMMAND_RESPONSES = {
  200: 'Committed (?wait=true): the outcome, applied or corrected, with its movement',
  202:
    'Accepted: JetStream stored the command (status accepted), or with ?wait=true no outcome came within the wait (status pending); ' +
    'GET /commands/{commandId} (the Location header) answers later',
  409: 'The Idempotency-Key was used for another request (API_ERR_IDEMPOTENCY_KEY_REUSED), or the ledger holds another command under this commandId (API_ERR_COMMAND_ID_CONFLICT)',
  422: 'The ledger rejected the command (?wait=true): `outcome` is the recorded rejection with its code (API_ERR_REJECTED_BY_LEDGER)',
} as const;

/**
 * Publishes a command for an HTTP request, once per Idempotency-Key: the first request claims the key
 * (with the fingerprint of what it asked) and gets a new commandId; a retry with the same request
 * re-sends the same command (JetStream or the ledger recognise it) and so gets the first answer; the
 * same key with another request is a 409.
 */
export async function publishCommand(
  deps: CommandDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  ask: CommandAsk,
  options: { route: string; idempotencyKey: string; wait: boolean },
): Promise<CommandAnswer> {
  const publisher = deps.publisher;
  if (publisher === undefined) throw new ProblemError(503, ProblemCode.unavailable, 'this process does not publish commands');
  const fingerprint = createHash('sha256')
    .update(canonicalJson({ process: ask.process, memberId: ask.memberId, potId: ask.potId, payload: ask.payload, effectiveDate: ask.effectiveDate ?? null }))
    .digest('hex');
  const first = { commandId: randomUUID(), effectiveDate: ask.effectiveDate ?? new Date().toISOString().slice(0, 10) };
  const claim = await claimIdempotencyKey(deps.pool, {
    principal: principalOf(request).keyId,
    key: options.idempotencyKey,
    route: options.route,
    fingerprint,
    resourceId: first.commandId,
    request: first,
  });
  if (claim.kind === 'conflict') {
    throw new ProblemError(409, ProblemCode.idempotencyKeyReused, 'this Idempotency-Key was used for another request', {
      detail: `the key was first used for ${claim.route} with a different body; use a new key for a new request`,
    });
  }
  const command = claim.kind === 'first' ? first : storedCommandSchema.parse(claim.request);
  void reply.header('location', `/commands/${command.commandId}`);
  const accepted = { commandId: command.commandId, process: ask.process, status: 'accepted' as const };
  if (claim.kind === 'retry' && options.wait) {
    // A retry whose outcome is committed already is answered from the journal at once.
    const stored = (await findOutcomes(deps.pool, [command.commandId], deps.assets)).get(command.commandId);
    if (stored !== undefined) return answerWith(command.commandId, ask.process, outcomeToWire(stored.outcome, deps.assets));
  }
  let sent;
  try {
    sent = await publisher.submit(ask.process, {
      commandId: command.commandId,
      memberId: ask.memberId,
      potId: ask.potId,
      payload: ask.payload,
      effectiveDate: command.effectiveDate,
      principal: `key:${principalOf(request).keyId}`,
      source: 'api',
    });
  } catch (error) {
    if (error instanceof PublishValidationError) {
      throw new ProblemError(400, ProblemCode.validationFailed, error.message, { errors: error.issues.map((issue) => ({ path: 'body', message: issue })) });
    }
    throw new ProblemError(503, ProblemCode.unavailable, 'the command could not be stored in JetStream; retry with the same Idempotency-Key');
  }
  if (!options.wait) return { statusCode: 202, body: accepted };
  let notice;
  try {
    notice = await sent.outcome(deps.waitTimeoutMs);
  } catch (error) {
    if (error instanceof OutcomeTimeoutError) return { statusCode: 202, body: { ...accepted, status: 'pending' } };
    throw error;
  }
  if (notice.status === 'conflict') {
    const extra = { commandId: command.commandId, outcome: outcomeOfWire(notice.outcome) };
    throw new ProblemError(409, ProblemCode.commandIdConflict, 'the ledger holds another command under this commandId', extra);
  }
  return answerWith(command.commandId, ask.process, notice.outcome);
}

/** 200 with an applied or corrected outcome; a rejection is a 422 problem carrying the outcome. */
function answerWith(commandId: string, process: string, outcome: WireOutcome): CommandAnswer {
  if (outcome.kind === 'rejected') {
    const extra = { detail: outcome.reason, commandId, outcome: outcomeOfWire(outcome) };
    throw new ProblemError(422, ProblemCode.rejectedByLedger, `the ledger rejected the command: ${outcome.code}`, extra);
  }
  return { statusCode: 200, body: { commandId, process, status: outcome.kind, outcome: outcomeOfWire(outcome) } };
}

const commandBodyBase = z.object({
  memberId: memberIdSchema,
  potId: potIdSchema,
  effectiveDate: isoDate.optional().describe('The business date (YYYY-MM-DD); today (UTC) when absent'),
});

/** A process's operation: `submit` and its name in words, e.g. cash.deposit → submitCashDeposit. */
export function operationIdOf(processName: string): string {
  return `submit${processName.split(/[.-]/).map((word) => `${word.slice(0, 1).toUpperCase()}${word.slice(1)}`).join('')}`;
}

/** One route per registered process, generated from the registry, and the outcome look-up. */
export const commandRoutes: FastifyPluginCallback<CommandDeps> = (app, deps, done) => {
  const typed = app.withTypeProvider<ZodTypeProvider>();
  // A process a service drives (fixing a rate, an allocation) is not for callers to send directly.
  for (const process of deps.registry.list().filter((p) => p.drivenBy === undefined)) {
    const route = `/commands/${process.name}`;
    typed.post(
      route,
      {
        config: { roles: ROUTE_ROLES, responseDescriptions: COMMAND_RESPONSES },
        schema: {
          operationId: operationIdOf(process.name),
          tags: ['commands'],
          summary: process.name,
          description:
            `${process.describe}\n\nAnswers 202 once JetStream has stored the command; ` +
            'with ?wait=true, 200 with the outcome once committed (422 if the ledger rejects it, 202 "pending" if no outcome within the wait limit).',
          headers: idempotencyHeaders,
          querystring: waitQuerySchema,
          body: commandBodyBase.extend({ payload: process.payload }).strict(),
          response: {
            200: commandStateSchema,
            202: commandStateSchema,
            400: problemSchema,
            409: problemSchema,
            422: problemSchema,
          },
        },
      },
      async (request, reply) => {
        const answer = await publishCommand(deps, request, reply, { process: process.name, ...request.body }, {
          route: `POST ${route}`,
          idempotencyKey: request.headers['idempotency-key'],
          wait: request.query.wait === 'true',
        });
        return reply.code(answer.statusCode).send(answer.body);
      },
    );
  }

  typed.get(
    '/commands/:commandId',
    {
      config: { roles: ROUTE_ROLES },
      schema: {
        operationId: 'getCommand', tags: ['commands'],
        summary: "A command's outcome",
        description: 'applied, corrected or rejected once committed; pending while the API accepted it and no outcome is committed yet.',
        params: idParams('commandId', commandIdSchema),
        response: { 200: commandStateSchema, 404: problemSchema },
      },
    },
    async (request) => {
      const { commandId } = request.params;
      const stored = (await findOutcomes(deps.pool, [commandId], deps.assets)).get(commandId);
      if (stored !== undefined) {
        return { commandId, status: stored.outcome.kind, outcome: outcomeOfWire(outcomeToWire(stored.outcome, deps.assets)), recordedAt: stored.recordedAt };
      }
      if (await commandAccepted(deps.pool, commandId)) return { commandId, status: 'pending' as const };
      throw new ProblemError(404, ProblemCode.notFound, `command ${commandId} is not known`);
    },
  );
  done();
};
