import { z } from 'zod';
import type { AssetCatalog } from './assets.js';
import type { Rejection } from './errors.js';
import type { BalanceMap, Movement, MovementDraft, PotChange, Violation } from './movement.js';
import { MEMBER_ID, POT_ID } from './accounts.js';
import type { OrderState } from './orders.js';

/** The envelope every command carries; the payload is the process's own. */
export interface Command {
  readonly commandId: string;
  readonly process: string;
  readonly memberId: string;
  readonly potId: string;
  readonly payload: unknown;
  /** The business date the command is for (YYYY-MM-DD). */
  readonly effectiveDate: string;
  /** When the publisher produced it (ISO 8601 instant); for lag metrics, not for the ledger's meaning. */
  readonly producedAt: string;
}

export const COMMAND_ID = /^[A-Za-z0-9_.:-]{1,128}$/;
const PROCESS_NAME = /^[a-z][a-z0-9-]*(?:\.[a-z][a-z0-9-]*)+$/;

/** A calendar date YYYY-MM-DD that exists (no 2026-02-30), from year 1 (Postgres has no year 0). */
export const isoDate = z.iso.date().refine((date) => !date.startsWith('0000-'), 'a date from 0001-01-01');

export const commandSchema = z.strictObject({
  commandId: z.string().regex(COMMAND_ID, 'letters, digits and _.:- only, 1 to 128 characters'),
  process: z.string().regex(/^[\x21-\x7E]{1,128}$/, 'printable ASCII, 1 to 128 characters'),
  memberId: z.string().regex(MEMBER_ID, 'letters, digits, _ and - only, 1 to 64 characters'),
  potId: z.string().regex(POT_ID, 'letters, digits, _ and - only, 1 to 64 characters'),
  payload: z.unknown(),
  effectiveDate: isoDate,
  producedAt: z.iso.datetime({ offset: true }),
});

export type PotStatus = 'open' | 'closed';

/** A pot as the ledger knows it. */
export interface PotState {
  readonly potId: string;
  readonly memberId: string;
  readonly status: PotStatus;
  /** The risk profile it follows, if any. */
  readonly profile?: string;
  /** The last business day it was re-balanced for. */
  readonly rebalancedOn?: string;
  /** Its open holds, by hold id. */
  readonly holds?: Readonly<Record<string, HoldState>>;
}

/** An open hold: cash of the pot reserved for a payee until it is posted, voided or expires. */
export interface HoldState {
  readonly payee: { readonly memberId: string; readonly potId: string };
  readonly currency: string;
  readonly amountMinor: bigint;
  readonly expiresAt: string;
}

/** The pot after a movement's pot change (undefined before it is opened). */
export function applyPotChange(pot: PotState | undefined, potId: string, change: PotChange | undefined): PotState | undefined {
  if (change === undefined) return pot;
  switch (change.type) {
    case 'open':
      return { potId, memberId: change.memberId, status: 'open', ...(change.profile === undefined ? {} : { profile: change.profile }) };
    case 'close':
      return pot === undefined ? undefined : { ...pot, status: 'closed' };
    case 'profile':
      return pot === undefined ? undefined : { ...pot, profile: change.profile };
    case 'rebalance':
      return pot === undefined ? undefined : { ...pot, rebalancedOn: change.date };
    case 'hold': {
      if (pot === undefined) return undefined;
      const hold: HoldState = { payee: change.payee, currency: change.currency, amountMinor: BigInt(change.amountMinor), expiresAt: change.expiresAt };
      return { ...pot, holds: { ...pot.holds, [change.holdId]: hold } };
    }
    case 'hold-end': {
      if (pot === undefined) return undefined;
      const { [change.holdId]: _ended, ...open } = pot.holds ?? {};
      return Object.keys(open).length === 0 ? withoutHolds(pot) : { ...pot, holds: open };
    }
  }
}

function withoutHolds(pot: PotState): PotState {
  const { holds: _holds, ...rest } = pot;
  return rest;
}

/** A movement the shell loaded because the process asked for it, and the reversal that undid it, if any. */
export interface LoadedMovement {
  readonly movement: Movement;
  readonly reversedBy?: string;
}

/** What a process needs loaded before it plans. */
export interface Loads {
  readonly movementIds: readonly string[];
  readonly orderIds?: readonly string[];
}

/** What the shell gives the core beside the command. All of it is data; time and ids come in here. */
export interface PlanContext {
  readonly assets: AssetCatalog;
  readonly partitionCount: number;
  /** The id the movement will carry if the command is applied. */
  readonly movementId: string;
}

/** What the shell loaded for the command's pot before running it. */
export interface PotView {
  readonly pot: PotState | undefined;
  /** Every account of the pot, and the partition's system accounts the process may touch. */
  readonly balances: BalanceMap;
  /** The movements named by the process's `loads`. */
  readonly movements: ReadonlyMap<string, LoadedMovement>;
  /** The orders named by the process's `loads`, as they stand now (absent: no such order). */
  readonly orders?: ReadonlyMap<string, OrderState>;
}

export interface PlanInput<P> extends PotView {
  readonly command: Command;
  readonly payload: P;
  readonly partition: number;
  readonly ctx: PlanContext;
}

/**
 * Which pot lifecycle a process needs: `absent` (it opens the pot) or `open` (every other process).
 */
export type PotRequirement = 'absent' | 'open';

export interface ProcessDefinition<N extends string, S extends z.ZodType> {
  readonly name: N;
  readonly version: number;
  readonly payload: S;
  readonly describe: string;
  /**
   * The service that sends it, when only that service may (it fixes what the payload must not be
   * trusted to say: a rate, an allocation): the process is then kept off the generic HTTP command route.
   */
  readonly drivenBy?: string;
  readonly pot?: PotRequirement;
  /** The key whose hash picks the partition; the member ID unless said otherwise. */
  readonly partitionKey?: (command: Command) => string;
  /** Movements (for reversals) and orders the shell must load before planning. */
  readonly loads?: (payload: z.output<S>) => Loads;
  /** The movement the command asks for, or a rejection. Pure. */
  readonly plan: (input: PlanInput<z.output<S>>) => MovementDraft | Rejection;
  /**
   * When the planned movement would break invariants: a corrected movement (Nubank: a repayment larger
   * than the debt splits into settling the debt and a prepaid balance), or a rejection. Pure.
   */
  readonly correct?: (
    input: PlanInput<z.output<S>>,
    planned: MovementDraft,
    violations: readonly Violation[],
  ) => MovementDraft | Rejection;
}

/**
 * A registered process. Its name and payload schema keep their types (the SDK and the API derive typed
 * methods from them); everything else takes the payload as `unknown`, as the runner holds it.
 */
export interface Process<N extends string = string, S extends z.ZodType = z.ZodType> {
  readonly name: N;
  readonly version: number;
  readonly payload: S;
  readonly describe: string;
  readonly drivenBy: string | undefined;
  readonly pot: PotRequirement;
  readonly partitionKey: (command: Command) => string;
  readonly loads: (payload: unknown) => Loads;
  readonly plan: (input: PlanInput<unknown>) => MovementDraft | Rejection;
  readonly correct: ((input: PlanInput<unknown>, planned: MovementDraft, violations: readonly Violation[]) => MovementDraft | Rejection) | undefined;
}

const byMember = (command: Command): string => command.memberId;
const loadsNothing = (): Loads => ({ movementIds: [] });

/** Declares a process. Registering it (see registry.ts) is all it takes to route, expose and test it. */
export function defineProcess<const N extends string, S extends z.ZodType>(definition: ProcessDefinition<N, S>): Process<N, S> {
  if (!PROCESS_NAME.test(definition.name)) throw new RangeError(`process name "${definition.name}" must look like noun.verb`);
  if (!Number.isInteger(definition.version) || definition.version < 1) throw new RangeError(`${definition.name}: version must be a positive integer`);
  return Object.freeze({
    name: definition.name,
    version: definition.version,
    payload: definition.payload,
    describe: definition.describe,
    drivenBy: definition.drivenBy,
    pot: definition.pot ?? 'open',
    partitionKey: definition.partitionKey ?? byMember,
    loads: (definition.loads ?? loadsNothing) as Process['loads'],
    plan: definition.plan as Process['plan'],
    correct: definition.correct as Process['correct'],
  });
}
