import { reject, RejectionCode, type Rejection } from './errors.js';
import { commandFingerprint } from './fingerprint.js';
import type { Command, Loads } from './process.js';
import type { ProcessRegistry } from './registry.js';
import { envelopeRejection, type Outcome } from './runner.js';

/**
 * What every shell (the reference ledger, the direct executor, the shard workers) does with a command
 * before and around the runner, in one place.
 */

/** The answer to one attempt of a command. */
export type Answer =
  | { readonly kind: 'answered'; readonly outcome: Outcome; readonly replayed: boolean }
  | { readonly kind: 'conflict'; readonly rejection: Rejection };

/**
 * The fingerprint of a command fit to be recorded under its commandId, or the rejection that answers
 * it without recording it (a malformed envelope, a payload that is not plain JSON).
 */
export function admit(command: Command): { readonly fingerprint: string } | Rejection {
  const malformed = envelopeRejection(command);
  if (malformed !== undefined) return malformed;
  try {
    return { fingerprint: commandFingerprint(command) };
  } catch (error) {
    return reject(RejectionCode.invalidCommand, `the command is not plain JSON: ${String(error)}`);
  }
}

/** A commandId seen before: its first outcome when it is the same command, else a conflict. */
export function answerRepeat(command: Command, fingerprint: string, prior: { readonly fingerprint: string; readonly outcome: Outcome }): Answer {
  if (prior.fingerprint === fingerprint) return { kind: 'answered', outcome: prior.outcome, replayed: true };
  return {
    kind: 'conflict',
    rejection: reject(RejectionCode.idempotencyConflict, `command ${command.commandId} was used before with another payload`),
  };
}

/** The movements the command's process needs loaded (none when the process or payload is unknown or bad). */
export function movementsToLoad(registry: ProcessRegistry, command: Command): readonly string[] {
  return loadsOf(registry, command).movementIds;
}

/** The orders the command's process needs loaded. */
export function ordersToLoad(registry: ProcessRegistry, command: Command): readonly string[] {
  return loadsOf(registry, command).orderIds ?? [];
}

function loadsOf(registry: ProcessRegistry, command: Command): Loads {
  const process = registry.find(command.process);
  const parsed = process?.payload.safeParse(command.payload);
  return process !== undefined && parsed?.success === true ? process.loads(parsed.data) : { movementIds: [] };
}
