import type pg from 'pg';
import type { Registry } from 'prom-client';
import { fanOut, FAN_OUT_TIMEOUT_MS } from '../dealing/fan-out.js';
import type { SagaRecord, SagaStore } from '../journal/sagas.js';
import type { LedgerPublisher } from '../sdk/publisher.js';
import type { Log } from '../shards/log.js';
import type { CommandOutcome, FanOutOutcome, OperatorDecision, Saga, StepCommand } from './define.js';
import { isFanOutSpec } from './define.js';
import { sagaMetrics, type SagaMetrics } from './metrics.js';
import { decodeOutcome } from './outcome.js';
import { requestOf } from './send.js';

/**
 * The saga engine: drives any saga of defineSaga (define.ts) over a store (src/journal/sagas.ts). It
 * sends the current state's step (its ids make a repeat harmless), awaits the typed outcome, applies the
 * definition's pure transition with a compare-and-set on the state, and loops until the saga is final,
 * paused, or has no outcome yet. A step that fails (no outcome in time, an error, a refusal the saga stays
 * on) is counted on the row; `sweep` resumes unfinished sagas, at most SAGA_SWEEP_MAX at a time, and
 * leaves one past SAGA_STEP_ATTEMPTS_MAX in its state, marked, logged and counted, for an operator.
 * `send` is the single "submit a command, wait for its outcome, decode it" of the house.
 */
export interface SagaEngineOptions {
  readonly pool: pg.Pool;
  readonly publisher: LedgerPublisher;
  readonly log: Log;
  /** What sends the commands, for the audit trail (`payments-desk`, `dealing-desk`). */
  readonly source: string;
  /** How long one single-command step waits for its outcome before the saga is left for a sweep. */
  readonly stepTimeoutMs?: number;
  /** How long a fan-out step may take before it gives up (its saga is swept again later). */
  readonly fanOutTimeoutMs?: number;
  /** The failed attempts of one step after which a sweep leaves the saga alone (SAGA_STEP_ATTEMPTS_MAX). */
  readonly attemptsMax?: number;
  /** Where the metrics are registered (once per registry). */
  readonly metrics?: Registry;
}

/** The most sagas one sweep drives: the rest wait for the next sweep (a sweep runs steps one at a time). */
export const SAGA_SWEEP_MAX = 1000;
/**
 * Failed attempts of one step before sweeps stop sending it: with the desks' sweep every 10 s and a step's
 * own wait, about half an hour of a step without an outcome, far past any restart of a worker.
 */
export const SAGA_STEP_ATTEMPTS_MAX = 100;
export const SAGA_STEP_TIMEOUT_MS = 30_000;

/** A step's command with its id. */
export type IdentifiedCommand = StepCommand & { readonly commandId: string };

/** How one send may differ from the engine's defaults. */
export interface SendOptions {
  readonly timeoutMs?: number;
  readonly principal?: string;
  readonly source?: string;
}

/** How one drive call or sweep may differ from the engine's defaults (an API call waits less). */
export interface DriveOptions<S extends string, D> extends SendOptions {
  /** The saga as the caller just read it (saves a read). */
  readonly known?: SagaRecord<S, D>;
}

export interface SweepResult {
  /** Sagas driven. */
  readonly driven: number;
  /** Of them, finished by this sweep. */
  readonly finished: number;
}

export class SagaEngine {
  readonly #metrics: SagaMetrics;

  constructor(private readonly options: SagaEngineOptions) {
    this.#metrics = sagaMetrics(options.metrics);
  }

  get attemptsMax(): number {
    return this.options.attemptsMax ?? SAGA_STEP_ATTEMPTS_MAX;
  }

  /** Sends one command and waits for its typed outcome; undefined when none came in time (send it again later, same id). */
  async send(command: IdentifiedCommand, options: SendOptions = {}): Promise<CommandOutcome | undefined> {
    const sent = await this.options.publisher.submit(command.process, requestOf(command, { source: options.source ?? this.options.source, principal: options.principal }));
    const notice = await sent.outcome(options.timeoutMs ?? this.options.stepTimeoutMs ?? SAGA_STEP_TIMEOUT_MS).catch((error: unknown) => {
      this.options.log.warn({ err: error, commandId: command.commandId }, 'a command has no outcome yet; it is sent again later under the same id');
      return undefined;
    });
    return notice === undefined ? undefined : decodeOutcome(notice);
  }

  /** Sends many commands at once and follows them all (src/dealing/fan-out.ts); throws when they take too long. */
  async fanOut(commands: readonly IdentifiedCommand[], options: Omit<SendOptions, 'principal'> = {}): Promise<FanOutOutcome> {
    const source = options.source ?? this.options.source;
    const done = await fanOut(
      {
        pool: this.options.pool, publisher: this.options.publisher, log: this.options.log, source,
        timeoutMs: options.timeoutMs ?? this.options.fanOutTimeoutMs ?? FAN_OUT_TIMEOUT_MS,
      },
      commands.map((command) => ({ process: command.process, request: requestOf(command, { source }) })),
    );
    return { kind: 'fanned-out', commands: done.commands, applied: done.applied, rejected: done.rejected };
  }

  /**
   * Takes the saga through its remaining steps; returns it as it stands when it is final, paused, or
   * its step has no outcome yet (undefined: no such saga). A saga moved meanwhile by another process is
   * read afresh and carried on from there. Throws what sending a step threw, once it is counted on the row.
   */
  async drive<S extends string, D>(saga: Saga<S, D>, store: SagaStore<S, D>, id: string, options: DriveOptions<S, D> = {}): Promise<SagaRecord<S, D> | undefined> {
    let record = options.known ?? (await store.load(id));
    // Forward-only: at most one move per state, so a drive that loops more is a bug.
    for (let moves = 0; record !== undefined; moves += 1) {
      if (moves > saga.states.length) throw new Error(`saga ${saga.name} ${id} moved more often than it has states`);
      if (!saga.driven.includes(record.state)) return record;
      const outcome = await this.#step(saga, store, record, options);
      if (outcome === undefined) return record;
      const next = saga.transition(record.state, outcome, record.data);
      if ('stay' in next) {
        this.options.log.error({ saga: saga.name, id, state: record.state, reason: next.stay }, 'a saga step was refused; the saga stays where it is');
        await this.#failed(saga, store, record, next.stay);
        return (await store.load(id)) ?? record;
      }
      const moved = await store.move(id, record.state, next.to, { reason: next.reason, final: saga.isFinal(next.to) });
      if (moved !== undefined) this.#metrics.moves.inc({ saga: saga.name, from: record.state, to: next.to });
      record = moved ?? (await store.load(id));
    }
    return record;
  }

  /**
   * An operator's decision on a paused saga: moves it (compare-and-set) to the state the decision leads
   * to, then drives it. `moved` is false when it was not in a state that takes that decision (decided
   * already, say): the saga is returned as it is.
   */
  async decide<S extends string, D>(
    saga: Saga<S, D>, store: SagaStore<S, D>, id: string, decision: OperatorDecision, options: DriveOptions<S, D> = {},
  ): Promise<{ readonly record: SagaRecord<S, D> | undefined; readonly moved: boolean }> {
    const record = await store.load(id);
    if (record === undefined) return { record, moved: false };
    const next = saga.decide(record.state, decision, record.data);
    if (next === undefined) return { record, moved: false };
    const moved = await store.move(id, record.state, next.to, { reason: next.reason, decision, final: saga.isFinal(next.to) });
    if (moved === undefined) return { record: await store.load(id), moved: false };
    this.#metrics.moves.inc({ saga: saga.name, from: record.state, to: next.to });
    return { record: await this.drive(saga, store, id, { ...options, known: moved }), moved: true };
  }

  /** Drives up to `limit` unfinished sagas (oldest first) whose step is within its retry bound, and counts them all. */
  async sweep<S extends string, D>(saga: Saga<S, D>, store: SagaStore<S, D>, limit = SAGA_SWEEP_MAX, options: Omit<DriveOptions<S, D>, 'known'> = {}): Promise<SweepResult> {
    if (!Number.isInteger(limit) || limit < 1 || limit > SAGA_SWEEP_MAX) throw new RangeError(`a sweep drives 1 to ${SAGA_SWEEP_MAX} sagas`);
    this.#metrics.sweeps.inc({ saga: saga.name });
    const ids = await store.unfinished(saga.driven, this.attemptsMax, limit);
    let finished = 0;
    for (const id of ids) {
      // A step that threw is counted on its row and logged already (#step): the sweep goes on to the next saga.
      const record = await this.drive(saga, store, id, options).catch(() => undefined);
      if (record !== undefined && saga.isFinal(record.state)) finished += 1;
    }
    const counts = await store.count([...saga.driven, ...saga.paused], this.attemptsMax);
    for (const state of [...saga.driven, ...saga.paused]) this.#metrics.sagas.set({ saga: saga.name, state }, counts.find((count) => count.state === state)?.sagas ?? 0);
    return { driven: ids.length, finished };
  }

  /**
   * The step's outcome; undefined when it sends nothing or has none yet (counted). When sending throws
   * (NATS down, a fan-out past its time), the failure is counted on the row and the error goes on to
   * the caller: a request answers 503 and is sent again, a report is redelivered, a sweep moves on.
   */
  async #step<S extends string, D>(
    saga: Saga<S, D>, store: SagaStore<S, D>, record: SagaRecord<S, D>, options: DriveOptions<S, D>,
  ): Promise<CommandOutcome | FanOutOutcome | undefined> {
    const spec = saga.spec(record.state);
    if (!('step' in spec)) return undefined;
    const commands = saga.commands(record.state, record.id, record.data);
    if (commands.length === 0 && !isFanOutSpec(spec)) return undefined;
    // A bug, not a failed attempt: it crashes the drive rather than being counted and retried.
    if (!isFanOutSpec(spec) && commands.length !== 1) throw new Error(`saga ${saga.name}: the single-command step ${spec.step} gave ${commands.length} commands`);
    const [single] = commands;
    this.#metrics.stepsSent.inc({ saga: saga.name, step: spec.step });
    try {
      const outcome = isFanOutSpec(spec) || single === undefined ? await this.fanOut(commands, options) : await this.send(single, options);
      this.#metrics.outcomes.inc({ saga: saga.name, kind: outcome?.kind ?? 'none' });
      if (outcome === undefined) await this.#failed(saga, store, record, `step ${spec.step} has no outcome yet`);
      return outcome;
    } catch (error) {
      this.#metrics.outcomes.inc({ saga: saga.name, kind: 'error' });
      this.options.log.warn({ err: error, saga: saga.name, id: record.id, step: spec.step }, 'a saga step failed; the saga is swept again later');
      await this.#failed(saga, store, record, `step ${spec.step}: ${error instanceof Error ? error.message : String(error)}`);
      throw error;
    }
  }

  async #failed<S extends string, D>(saga: Saga<S, D>, store: SagaStore<S, D>, record: SagaRecord<S, D>, error: string): Promise<void> {
    const attempts = await store.fail(record.id, record.state, error);
    if (attempts !== undefined && attempts === this.attemptsMax) {
      this.#metrics.exhausted.inc({ saga: saga.name });
      this.options.log.error({ saga: saga.name, id: record.id, state: record.state, attempts, error }, 'a saga step is past its retry bound: left in its state for an operator');
    }
  }
}
