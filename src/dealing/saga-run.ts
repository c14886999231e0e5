/**
 * One run of a fan-out saga for a caller that must answer with its steps' outcomes (a custodian report,
 * a re-balance batch): drives the saga through the engine (or takes a decision on it), keeps each step's
 * outcome with the data it was built from as the engine applies the transition, and answers with the
 * steps asked for. A step the saga had passed already (a repeated report, a repeated run) is sent again
 * under the same ids, as the dealing desk and the rebalancer have always done: the journal answers each
 * command from its recorded outcome and nothing applies twice.
 */
import type { FanOutOutcome, OperatorDecision, Saga, SagaEngine, SagaRecord, SagaStore } from '../sagas/index.js';
import type { FanOut } from './fan-out.js';

export interface SagaRunOptions<S extends string, D> {
  readonly engine: SagaEngine;
  readonly saga: Saga<S, D>;
  readonly store: SagaStore<S, D>;
  readonly id: string;
  /** The data the step of `state` is built from, for a step the saga has passed (its store loads it afresh). */
  readonly dataFor: (record: SagaRecord<S, D>, state: S) => Promise<D>;
  /** Each step's outcome, with the data it was built from, as it comes (logging, tallies). */
  readonly seen?: (state: S, outcome: FanOutOutcome, data: D) => void;
}

export class SagaRun<S extends string, D> {
  readonly #outcomes = new Map<S, FanOutOutcome>();
  readonly #observed: Saga<S, D>;
  #record: SagaRecord<S, D> | undefined;

  constructor(private readonly options: SagaRunOptions<S, D>) {
    const { saga } = options;
    // The engine applies the definition's transition to each step's outcome: seen here on its way.
    this.#observed = {
      ...saga,
      transition: (state, outcome, data) => {
        if (outcome.kind === 'fanned-out') this.#seen(state, outcome, data);
        return saga.transition(state, outcome, data);
      },
    };
  }

  get record(): SagaRecord<S, D> | undefined {
    return this.#record;
  }

  /** Drives the saga as far as it goes; throws when it stops short of `reach` (its step has no outcomes yet: try again later). */
  async drive(reach: S): Promise<void> {
    this.#record = await this.options.engine.drive(this.#observed, this.options.store, this.options.id);
    this.#check(reach);
  }

  /** A decision on the saga paused for it, then as far as it goes; when it is not (or no longer) paused for it, only the drive. */
  async decide(decision: OperatorDecision, reach: S): Promise<void> {
    const { engine, store, id } = this.options;
    const decided = await engine.decide(this.#observed, store, id, decision);
    this.#record = decided.moved ? decided.record : await engine.drive(this.#observed, store, id);
    this.#check(reach);
  }

  /** The outcomes of `steps`, as one: each from this run, or sent again when the saga had passed it before. */
  async answer(steps: readonly S[]): Promise<FanOut> {
    const record = this.#record;
    if (record === undefined) throw new Error(`saga ${this.options.saga.name} ${this.options.id}: answered before it was driven`);
    let answer: FanOut = { commands: 0, applied: 0, rejected: [] };
    for (const step of steps) {
      let outcome = this.#outcomes.get(step);
      if (outcome === undefined) {
        const data = await this.options.dataFor(record, step);
        outcome = await this.options.engine.fanOut(this.options.saga.commands(step, this.options.id, data));
        this.#seen(step, outcome, data);
      }
      answer = { commands: answer.commands + outcome.commands, applied: answer.applied + outcome.applied, rejected: [...answer.rejected, ...outcome.rejected] };
    }
    return answer;
  }

  #check(reach: S): void {
    const { saga, id } = this.options;
    const record = this.#record;
    if (record === undefined) throw new Error(`saga ${saga.name} ${id} does not exist`);
    if (saga.rank(record.state) < saga.rank(reach)) {
      throw new Error(`saga ${saga.name} ${id} is ${record.state}, short of ${reach}${record.error === undefined ? '' : ` (${record.error})`}`);
    }
  }

  #seen(state: S, outcome: FanOutOutcome, data: D): void {
    this.#outcomes.set(state, outcome);
    this.options.seen?.(state, outcome, data);
  }
}
