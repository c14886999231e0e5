import type { z } from 'zod';
import type { PROCESSES } from '../ledger/index.js';

/**
 * `defineSaga`: one declaration of a saga, its states spelled once, the typed command each state sends,
 * and a pure transition table from each typed outcome to the next state. The engine (engine.ts) drives
 * it; the registry (registry.ts) gives its catalogue entry and its generated property test.
 *
 *     export const conversionSaga = defineSaga<ConversionData>()({
 *       name: 'conversion',
 *       describe: 'A conversion between two currencies of one pot',
 *       commandId: ({ id }) => `conversion:${id}`,              // today's id, kept (default `<saga>:<id>:<step>`)
 *       states: {
 *         requested: {
 *           step: 'convert',
 *           process: 'fx.convert',                               // typed: the payload below is fx.convert's
 *           command: (data) => ({ pot: data.pot, payload: { amount: data.amount, currency: 'EUR', … } }),
 *           to: ['applied', 'rejected'],
 *           on: (outcome) => (outcome.kind === 'applied' ? { to: 'applied' } : { to: 'rejected', reason: … }),
 *         },
 *         applied: { final: true },
 *         rejected: { final: true },
 *       },
 *       examples: [{ … }],                                       // data the generated property test walks
 *     });
 *
 * A fan-out step says `fanOut: (data) => commands` (each command with its own `key`, in its id) and its
 * `on` takes the counts: `{ kind: 'fanned-out', commands, applied, rejected }`. A paused state says
 * `paused: { decisions: { released: 'in-flight', rejected: 'refunding' } }`: an operator moves it on.
 * The states and the transitions they declare form a graph without cycles (checked here): a saga never
 * comes back to a state it left, so it always ends. `rank` gives each state's place in that forward order.
 */

type LedgerProcess = (typeof PROCESSES)[number];
/** The name of a process the ledger runs. */
export type ProcessName = LedgerProcess['name'];
/** What a process's payload schema takes (its input type). */
export type PayloadOf<N extends ProcessName> = z.input<Extract<LedgerProcess, { readonly name: N }>['payload']>;

export interface PotRef {
  readonly memberId: string;
  readonly potId: string;
}

/** One command of a step: the pot it runs on and the process's own typed payload. */
export interface CommandOf<N extends ProcessName> {
  readonly process: N;
  readonly pot: PotRef;
  readonly payload: PayloadOf<N>;
  /** A fan-out's commands each name what they are for (an order id): the id function puts it in the command id. */
  readonly key?: string;
  /** The business date; the publisher's today when absent. */
  readonly effectiveDate?: string;
}

/** A command of any process, typed by its process name. */
export type StepCommand = { readonly [N in ProcessName]: CommandOf<N> }[ProcessName];

/** What one command of a step came to (the wire outcome, decoded once: outcome.ts). */
export type CommandOutcome =
  | { readonly kind: 'applied' }
  | { readonly kind: 'rejected'; readonly code: string; readonly reason: string }
  /** The step's id was used by another command first: nothing of this saga was applied under it. */
  | { readonly kind: 'conflict'; readonly commandId: string };

/** What a fan-out step came to: every command has an outcome; the ones not applied with their reasons. */
export interface FanOutOutcome {
  readonly kind: 'fanned-out';
  readonly commands: number;
  readonly applied: number;
  readonly rejected: readonly { readonly commandId: string; readonly code: string; readonly reason: string }[];
}

/** The next state (with why, kept on the row), or staying where it is (counted as a failed attempt, with why). */
export type Next<S extends string> = { readonly to: S; readonly reason?: string } | { readonly stay: string };

/** An operator's decision on a paused saga. */
export interface OperatorDecision {
  readonly decision: string;
  readonly by: string;
  readonly note?: string | undefined;
}

interface StepBase<S extends string> {
  /** The step's name, in its command ids (`payment:<id>:debit`). */
  readonly step: string;
  /** The states its outcomes may lead to (the catalogue shows them; the engine asserts them). */
  readonly to: readonly S[];
  /** What the step is for, in the catalogue. */
  readonly describe?: string;
}

/** A step that sends one command: `command` gives it (or undefined: nothing to send, the saga waits). */
export type SingleStep<S extends string, D> = {
  readonly [N in ProcessName]: StepBase<S> & {
    readonly process: N;
    readonly command: (data: D) => Omit<CommandOf<N>, 'process'> | undefined;
    readonly on: (outcome: CommandOutcome, data: D) => Next<S>;
  };
}[ProcessName];

/** A step that sends many commands at once and follows them all (src/dealing/fan-out.ts). */
export interface FanOutStep<S extends string, D> extends StepBase<S> {
  /** The processes its commands may run (for the catalogue; the engine asserts each command's). */
  readonly processes: readonly ProcessName[];
  readonly process?: never;
  readonly fanOut: (data: D) => readonly StepCommand[];
  readonly on: (outcome: FanOutOutcome, data: D) => Next<S>;
}

export interface FinalState {
  readonly final: true;
  readonly process?: never;
  readonly describe?: string;
}

export interface PausedState<S extends string, D> {
  readonly process?: never;
  readonly paused: {
    /** Each decision an operator may take, and the state it leads to. */
    readonly decisions: Readonly<Record<string, S>>;
    /** The reason kept on the row for a decision (none: the row's reason is left as it was). */
    readonly reason?: (decision: OperatorDecision, data: D) => string | undefined;
  };
  readonly describe?: string;
}

export type StateSpec<S extends string, D> = SingleStep<S, D> | FanOutStep<S, D> | FinalState | PausedState<S, D>;

/** How a saga's command ids are made: by default `<saga>:<id>:<step>` (and `:<key>` for a fan-out's command). */
export type CommandIdOf = (at: { readonly saga: string; readonly id: string; readonly step: string; readonly key?: string | undefined }) => string;

export interface SagaDefinition<T, D> {
  /** Lower-case words and dashes: `payment`, `dealing-fills`. */
  readonly name: string;
  readonly describe: string;
  /** The states, each final, paused or with the step it sends (the order is the catalogue's and the API's). */
  readonly states: T;
  readonly commandId?: CommandIdOf;
  /** The state a saga of this data starts in, when not the first declared (payments recorded in flight). */
  readonly startsIn?: (data: D) => Extract<keyof T, string>;
  /** Data of real sagas of this kind: the generated property test walks each (at least one). */
  readonly examples: readonly D[];
}

type States<T> = Extract<keyof T, string>;
type FinalOf<T> = { [K in keyof T]: T[K] extends FinalState ? K : never }[keyof T] & string;
type PausedOf<T> = { [K in keyof T]: T[K] extends { readonly paused: unknown } ? K : never }[keyof T] & string;

/** A registered saga: its definition, checked, with what the engine and the catalogue read from it. */
export interface Saga<S extends string = string, D = unknown> {
  readonly name: string;
  readonly describe: string;
  /** Every state, as declared. */
  readonly states: readonly S[];
  /** A state's place in the forward order: every transition goes to a state of a higher rank. */
  rank(state: S): number;
  /** The states where it ends. */
  readonly final: readonly S[];
  /** The states an operator moves on. */
  readonly paused: readonly S[];
  /** The states the engine drives (neither final nor paused). */
  readonly driven: readonly S[];
  readonly examples: readonly D[];
  /** The state a saga of this data starts in (the first declared unless the definition says). */
  startsIn(data: D): S;
  spec(state: S): StateSpec<S, D>;
  isFinal(state: S): boolean;
  /** Whether `state` is one of this saga's (a row read back is checked with it). */
  has(state: string): state is S;
  commandId(id: string, step: string, key?: string): string;
  /** The commands the state's step sends for `data`, with their ids (none: a final or paused state, or nothing to send). */
  commands(state: S, id: string, data: D): readonly (StepCommand & { readonly commandId: string })[];
  /** The next state after a step's outcome: pure, and asserted to be one of the step's declared states. */
  transition(state: S, outcome: CommandOutcome | FanOutOutcome, data: D): Next<S>;
  /** The state an operator's decision leads to, or undefined when the state takes no such decision. */
  decide(state: S, decision: OperatorDecision, data: D): { readonly to: S; readonly reason?: string } | undefined;
}

const SAGA_NAME = /^[a-z][a-z0-9-]{0,39}$/;
const STEP_NAME = /^[a-z][a-z0-9-]{0,39}$/;
/** The most states one saga declares: each is a row's status and a line of the catalogue. */
export const SAGA_STATES_MAX = 32;

const defaultCommandId: CommandIdOf = ({ saga, id, step, key }) => (key === undefined ? `${saga}:${id}:${step}` : `${saga}:${id}:${step}:${key}`);

export function isFinalSpec<S extends string, D>(spec: StateSpec<S, D>): spec is FinalState {
  return 'final' in spec;
}

export function isPausedSpec<S extends string, D>(spec: StateSpec<S, D>): spec is PausedState<S, D> {
  return 'paused' in spec;
}

export function isFanOutSpec<S extends string, D>(spec: StateSpec<S, D>): spec is FanOutStep<S, D> {
  return 'fanOut' in spec;
}

/** The states a state may lead to (its step's, or its decisions'); none for a final state. */
export function targetsOf<S extends string, D>(spec: StateSpec<S, D>): readonly S[] {
  if (isFinalSpec(spec)) return [];
  if (isPausedSpec(spec)) return Object.values(spec.paused.decisions);
  return spec.to;
}

/**
 * Declares a saga over data `D`: `defineSaga<Payment>()({ … })`. The states' names become the union
 * `S`; which are final and which are paused is read from their declarations, not written again.
 */
export function defineSaga<D>() {
  return <const T extends { readonly [K in keyof T]: StateSpec<States<T>, D> }>(
    definition: SagaDefinition<T, D>,
  ): Saga<States<T>, D> & { readonly finalStates: readonly FinalOf<T>[]; readonly pausedStates: readonly PausedOf<T>[] } => {
    const specs = definition.states as Readonly<Record<States<T>, StateSpec<States<T>, D>>>;
    const states = Object.keys(specs) as States<T>[];
    checkDefinition(definition.name, states, specs, definition.examples.length);
    const order = forwardRanks(definition.name, states, (state) => specs[state]);
    const first = states[0];
    if (first === undefined) throw new Error(`saga ${definition.name}: no states`);
    const spec = (state: States<T>): StateSpec<States<T>, D> => {
      const found = specs[state] as StateSpec<States<T>, D> | undefined;
      if (found === undefined) throw new Error(`saga ${definition.name}: no state ${state}`);
      return found;
    };
    const commandIdOf = definition.commandId ?? defaultCommandId;
    const commandId = (id: string, step: string, key?: string): string => commandIdOf({ saga: definition.name, id, step, key });
    const final = states.filter((state): state is FinalOf<T> & States<T> => isFinalSpec(spec(state)));
    const paused = states.filter((state): state is PausedOf<T> & States<T> => isPausedSpec(spec(state)));
    const forward = (from: States<T>, to: States<T>, what: string): void => {
      if (!targetsOf(spec(from)).includes(to)) throw new Error(`saga ${definition.name}: ${what} from ${from} to ${to}, which ${from} does not declare`);
      if ((order.get(to) ?? -1) <= (order.get(from) ?? 0)) throw new Error(`saga ${definition.name}: ${what} from ${from} back to ${to}`);
    };
    return Object.freeze({
      name: definition.name,
      describe: definition.describe,
      states,
      final,
      paused,
      finalStates: final,
      pausedStates: paused,
      driven: states.filter((state) => !isFinalSpec(spec(state)) && !isPausedSpec(spec(state))),
      examples: definition.examples,
      startsIn: (data: D) => definition.startsIn?.(data) ?? first,
      spec,
      isFinal: (state: States<T>) => isFinalSpec(spec(state)),
      has: (state: string): state is States<T> => order.has(state as States<T>),
      rank: (state: States<T>) => order.get(state) ?? -1,
      commandId,
      commands: (state: States<T>, id: string, data: D) => stepCommands(spec(state), (step, key) => commandId(id, step, key), data),
      transition(state: States<T>, outcome: CommandOutcome | FanOutOutcome, data: D): Next<States<T>> {
        const step = spec(state);
        if (isFinalSpec(step) || isPausedSpec(step)) throw new Error(`saga ${definition.name}: an outcome in ${state}, which sends nothing`);
        const fanned = outcome.kind === 'fanned-out';
        if (fanned !== isFanOutSpec(step)) throw new Error(`saga ${definition.name}: a ${outcome.kind} outcome for the step of ${state}`);
        const next = isFanOutSpec(step) ? step.on(outcome as FanOutOutcome, data) : step.on(outcome as CommandOutcome, data);
        if ('to' in next) forward(state, next.to, 'a transition');
        return next;
      },
      decide(state: States<T>, decision: OperatorDecision, data: D) {
        const step = spec(state);
        if (!isPausedSpec(step)) return undefined;
        const to = step.paused.decisions[decision.decision];
        if (to === undefined) return undefined;
        forward(state, to, 'a decision');
        const reason = step.paused.reason?.(decision, data);
        return reason === undefined ? { to } : { to, reason };
      },
    });
  };
}

function stepCommands<S extends string, D>(
  spec: StateSpec<S, D>,
  idOf: (step: string, key?: string) => string,
  data: D,
): readonly (StepCommand & { readonly commandId: string })[] {
  if (isFinalSpec(spec) || isPausedSpec(spec)) return [];
  if (isFanOutSpec(spec)) {
    const commands = spec.fanOut(data);
    const ids = new Set<string>();
    return commands.map((command) => {
      if (!spec.processes.includes(command.process)) throw new Error(`step ${spec.step} sends ${command.process}, which it does not declare`);
      if (command.key === undefined) throw new Error(`step ${spec.step}: every command of a fan-out names its key`);
      const commandId = idOf(spec.step, command.key);
      if (ids.has(commandId)) throw new Error(`step ${spec.step} sends ${commandId} twice`);
      ids.add(commandId);
      return { ...command, commandId };
    });
  }
  const command = (spec.command as (data: D) => Omit<StepCommand, 'process'> | undefined)(data);
  if (command === undefined) return [];
  return [{ ...command, process: spec.process, commandId: idOf(spec.step, command.key) } as StepCommand & { readonly commandId: string }];
}

function checkDefinition<S extends string, D>(name: string, states: readonly S[], specs: Readonly<Record<S, StateSpec<S, D>>>, examples: number): void {
  if (!SAGA_NAME.test(name)) throw new RangeError(`saga name "${name}": lower-case letters, digits and dashes`);
  if (states.length < 2 || states.length > SAGA_STATES_MAX) throw new RangeError(`saga ${name}: 2 to ${SAGA_STATES_MAX} states`);
  if (examples < 1) throw new RangeError(`saga ${name}: at least one example for its property test`);
  const known = new Set(states);
  const steps = new Set<string>();
  let finals = 0;
  for (const state of states) {
    const spec = specs[state];
    if (isFinalSpec(spec)) {
      finals += 1;
      continue;
    }
    if (!isPausedSpec(spec)) {
      if (!STEP_NAME.test(spec.step)) throw new RangeError(`saga ${name}: step name "${spec.step}"`);
      if (steps.has(spec.step)) throw new RangeError(`saga ${name}: step ${spec.step} is declared twice (a step's id must be its own)`);
      steps.add(spec.step);
    }
    const targets = targetsOf(spec);
    if (targets.length === 0) throw new RangeError(`saga ${name}: ${state} leads nowhere`);
    for (const target of targets) {
      if (!known.has(target)) throw new RangeError(`saga ${name}: ${state} leads to ${target}, which is not a state`);
    }
  }
  if (finals === 0) throw new RangeError(`saga ${name}: no final state`);
}

/**
 * Each state's rank in the saga's forward order: a topological order of the graph its steps and
 * decisions declare, which must have no cycle (a saga never comes back to a state, so it always ends).
 */
export function forwardRanks<S extends string, D>(name: string, states: readonly S[], specOf: (state: S) => StateSpec<S, D>): ReadonlyMap<S, number> {
  const ranks = new Map<S, number>();
  const visiting = new Set<S>();
  // Depth-first: a state's rank is one more than the most of its predecessors'; at most `states` deep.
  const rankOf = (state: S, depth: number): number => {
    const known = ranks.get(state);
    if (known !== undefined) return known;
    if (visiting.has(state) || depth > states.length) throw new RangeError(`saga ${name}: ${state} can be reached again from itself (a cycle)`);
    visiting.add(state);
    let rank = 0;
    for (const from of states) if (targetsOf(specOf(from)).includes(state)) rank = Math.max(rank, rankOf(from, depth + 1) + 1);
    visiting.delete(state);
    ranks.set(state, rank);
    return rank;
  };
  for (const state of states) rankOf(state, 0);
  return ranks;
}
