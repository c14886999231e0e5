import { z } from 'zod';
import type { CommandOutcome } from './define.js';

/**
 * The one decoder of a command's outcome notice into a saga's typed outcome. A notice comes from NATS
 * as JSON, typed by the sender but never checked: it is parsed here, once, and a notice that is not an
 * outcome is a bug (it throws). `corrected` is an applied command whose movement the ledger corrected.
 */
const wireOutcome = z.discriminatedUnion('kind', [
  z.looseObject({ kind: z.literal('applied') }),
  z.looseObject({ kind: z.literal('corrected') }),
  z.looseObject({ kind: z.literal('rejected'), code: z.string(), reason: z.string() }),
]);

/** An outcome notice as the publisher hands it over (src/shards: OutcomeNotice). */
export interface NoticeLike {
  readonly commandId: string;
  readonly status: 'answered' | 'conflict';
  readonly outcome: unknown;
}

export function decodeOutcome(notice: NoticeLike): CommandOutcome {
  if (notice.status === 'conflict') return { kind: 'conflict', commandId: notice.commandId };
  const outcome = wireOutcome.parse(notice.outcome);
  return outcome.kind === 'rejected' ? { kind: 'rejected', code: outcome.code, reason: outcome.reason } : { kind: 'applied' };
}

/** The reason text the desks have always kept for a refused step: `<code>: <reason>`, or the conflict's. */
export function refusalReason(outcome: Exclude<CommandOutcome, { kind: 'applied' }>): string {
  return outcome.kind === 'conflict' ? `${outcome.commandId} was used by another command` : `${outcome.code}: ${outcome.reason}`;
}
