import { parseAccountId } from './accounts.js';
import { isRejection, LedgerAssertionError, reject, RejectionCode, type Rejection } from './errors.js';
import {
  balancesAfter,
  describeViolation,
  invariantViolations,
  movementProblems,
  netChanges,
  type Movement,
  type MovementDraft,
  type Violation,
} from './movement.js';
import { partitionOf } from './partition.js';
import { commandSchema, type Command, type PlanContext, type PlanInput, type PotView, type Process } from './process.js';
import type { ProcessRegistry } from './registry.js';

/** The command was applied as planned. */
export interface Applied {
  readonly kind: 'applied';
  readonly movement: Movement;
}

/** The planned movement would have broken invariants; the process's correction was applied instead. */
export interface Corrected {
  readonly kind: 'corrected';
  readonly movement: Movement;
  readonly original: MovementDraft;
  readonly violations: readonly string[];
}

export type Outcome = Applied | Corrected | Rejection;

/**
 * Runs a command against the pot's current state. Pure: the same command, view and context always give
 * the same outcome. Never throws for bad input; a process that throws is recorded as a rejection
 * (LEDGER_ERR_PROCESS_FAULT) so one faulty process cannot stall a partition. An internal assertion
 * that fails (LedgerAssertionError: the core's own bookkeeping is wrong, not the process's input) is
 * not a business outcome and propagates: the shell crashes and the command is retried, never recorded.
 */
export function run(registry: ProcessRegistry, command: Command, view: PotView, ctx: PlanContext): Outcome {
  const malformed = envelopeRejection(command);
  if (malformed !== undefined) return malformed;
  const process = registry.find(command.process);
  if (process === undefined) return reject(RejectionCode.unknownProcess, `no process is registered as "${command.process}"`);
  const payload = process.payload.safeParse(command.payload);
  if (!payload.success) {
    const issues = issuesOf(payload.error.issues);
    return reject(RejectionCode.invalidPayload, `the payload does not fit ${process.name} v${process.version}: ${issues.join('; ')}`, { issues });
  }
  const potProblem = checkPot(process, command, view);
  if (potProblem !== undefined) return potProblem;
  try {
    const partition = partitionOf(process.partitionKey(command), ctx.partitionCount);
    return plan(process, { ...view, command, payload: payload.data, partition, ctx });
  } catch (error) {
    if (error instanceof LedgerAssertionError) throw error;
    return reject(RejectionCode.processFault, `${process.name} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * A rejection when the command's envelope (ids, dates) is malformed. Such a command cannot be recorded
 * under its commandId, so the shells answer it without recording it.
 */
export function envelopeRejection(command: unknown): Rejection | undefined {
  const envelope = commandSchema.safeParse(command);
  if (envelope.success) return undefined;
  const issues = issuesOf(envelope.error.issues);
  return reject(RejectionCode.invalidCommand, `the command envelope is malformed: ${issues.join('; ')}`, { issues });
}

function plan(process: Process, input: PlanInput<unknown>): Outcome {
  const planned = process.plan(input);
  if (isRejection(planned)) return planned;
  const checked = check(planned, input);
  if (isRejection(checked)) return checked;
  if (checked.length === 0) return { kind: 'applied', movement: movementOf(planned, process, input) };
  if (process.correct === undefined) return violationRejection(checked);

  const corrected = process.correct(input, planned, checked);
  if (isRejection(corrected)) return corrected;
  const recheck = check(corrected, input);
  if (isRejection(recheck)) return recheck;
  if (recheck.length > 0) return violationRejection(recheck);
  return {
    kind: 'corrected',
    movement: movementOf(corrected, process, input),
    original: planned,
    violations: checked.map(describeViolation),
  };
}

/** Structural problems become a rejection; otherwise the invariants the movement would break. */
function check(draft: MovementDraft, input: PlanInput<unknown>): Violation[] | Rejection {
  const problems = movementProblems(draft, { potId: input.command.potId, partition: input.partition, assets: input.ctx.assets });
  if (problems.length > 0) {
    return reject(RejectionCode.malformedMovement, `${input.command.process} produced a malformed movement`, {
      problems: problems.map(({ entryIndex, problem }) => `entry ${entryIndex}: ${problem}`),
    });
  }
  const changes = netChanges(draft.entries);
  return invariantViolations(balancesAfter(input.balances, changes), changes.keys());
}

/**
 * The rejection for broken invariants. A pot account going below what it must hold is the cause the
 * member can act on (insufficient funds): the reason then names the pot's accounts only, so it does
 * not depend on what other pots did to the partition's system accounts.
 */
function violationRejection(violations: readonly Violation[]): Rejection {
  const short = violations.filter(
    ({ account, invariant }) => parseAccountId(account)?.owner.type === 'pot' && (invariant.type === 'nonNegative' || invariant.type === 'atMost'),
  );
  const named = short.length > 0 ? short : violations;
  const code =
    short.length > 0
      ? RejectionCode.insufficientFunds
      : violations.some(({ invariant }) => invariant.type === 'range')
        ? RejectionCode.balanceOverflow
        : RejectionCode.invariantViolated;
  const reasons = named.map(describeViolation);
  return reject(code, reasons.join('; '), { violations: reasons });
}

function checkPot(process: Process, command: Command, view: PotView): Rejection | undefined {
  const { pot } = view;
  if (process.pot === 'absent') {
    return pot === undefined ? undefined : reject(RejectionCode.potExists, `pot ${command.potId} exists already`);
  }
  if (pot === undefined) return reject(RejectionCode.potNotFound, `pot ${command.potId} does not exist`);
  if (pot.memberId !== command.memberId) {
    return reject(RejectionCode.potMemberMismatch, `pot ${command.potId} does not belong to member ${command.memberId}`);
  }
  if (pot.status === 'closed') return reject(RejectionCode.potClosed, `pot ${command.potId} is closed`);
  return undefined;
}

function movementOf(draft: MovementDraft, process: Process, input: PlanInput<unknown>): Movement {
  const { command, partition, ctx } = input;
  return {
    ...draft,
    movementId: ctx.movementId,
    commandId: command.commandId,
    process: process.name,
    processVersion: process.version,
    memberId: command.memberId,
    potId: command.potId,
    partition,
    effectiveDate: command.effectiveDate,
  };
}

/** zod issues as "path: message" lines, JSON-safe. */
export function issuesOf(issues: readonly { readonly path: readonly PropertyKey[]; readonly message: string }[]): string[] {
  return issues.slice(0, 20).map(({ path, message }) => `${path.length === 0 ? '(root)' : path.map(String).join('.')}: ${message}`);
}
