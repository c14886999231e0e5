/**
 * One custodian report's run of a trade's dealing saga: drives the saga through the engine (or takes
 * the custodian's decision on it), keeps each step's outcome as it comes, and answers the report with
 * the outcomes of the steps it asked for. A step the saga had passed already (a repeated or late
 * report) is sent again under the same ids, as the desk has always done: the journal answers each
 * from its recorded outcome and nothing applies twice. Rejections are breaks, logged here.
 */
import type { FanOutOutcome, OperatorDecision, Saga, SagaEngine, SagaRecord } from '../sagas/index.js';
import type { Log } from '../shards/log.js';
import type { FanOut } from './fan-out.js';
import { tradeDealingSaga, type TradeDealing, type TradeDealingRow, type TradeDealingState } from './trade-saga.js';
import type { TradeDealingStore } from './trade-store.js';

/** How many rejections of one step the log shows (the count is logged in full). */
const REJECTIONS_LOGGED_MAX = 20;

const order = (state: TradeDealingState): number => tradeDealingSaga.states.indexOf(state);

export class TradeRun {
  readonly #outcomes = new Map<TradeDealingState, FanOutOutcome>();
  readonly #saga: Saga<TradeDealingState, TradeDealing>;
  #record: SagaRecord<TradeDealingState, TradeDealing> | undefined;

  constructor(
    private readonly engine: SagaEngine,
    private readonly store: TradeDealingStore,
    private readonly log: Log,
    readonly tradeId: string,
  ) {
    // The engine applies the definition's transition to each step's outcome: seen here on its way.
    this.#saga = {
      ...tradeDealingSaga,
      transition: (state, outcome, data) => {
        if (outcome.kind === 'fanned-out') this.#seen(state, outcome);
        return tradeDealingSaga.transition(state, outcome, data);
      },
    };
  }

  /** Drives the saga as far as it goes; throws (the report is redelivered) when it stops short of `reach`. */
  async drive(reach: TradeDealingState): Promise<void> {
    this.#record = await this.engine.drive(this.#saga, this.store, this.tradeId);
    this.#check(reach);
  }

  /** The custodian's decision on the saga paused for it; nothing when the saga is not (or no longer) paused for it. */
  async decide(decision: OperatorDecision, reach: TradeDealingState): Promise<void> {
    const decided = await this.engine.decide(this.#saga, this.store, this.tradeId, decision);
    this.#record = decided.moved ? decided.record : await this.engine.drive(this.#saga, this.store, this.tradeId);
    this.#check(reach);
  }

  /**
   * The outcomes of `steps`, as one: each from this run, or sent again when the saga had passed it
   * before (with the report's `row` where the saga's own lacks it: a trade priced before its saga).
   */
  async answer(steps: readonly TradeDealingState[], row: TradeDealingRow = {}): Promise<FanOut> {
    const record = this.#record;
    if (record === undefined) throw new Error(`trade ${this.tradeId}: answered before its saga was driven`);
    let answer: FanOut = { commands: 0, applied: 0, rejected: [] };
    for (const step of steps) {
      let outcome = this.#outcomes.get(step);
      if (outcome === undefined) {
        const commands = tradeDealingSaga.commands(step, this.tradeId, await this.store.dataFor(record, step, row));
        outcome = await this.engine.fanOut(commands);
        this.#seen(step, outcome);
      }
      answer = { commands: answer.commands + outcome.commands, applied: answer.applied + outcome.applied, rejected: [...answer.rejected, ...outcome.rejected] };
    }
    return answer;
  }

  #check(reach: TradeDealingState): void {
    const record = this.#record;
    if (record === undefined) throw new Error(`trade ${this.tradeId} has no dealing saga`);
    if (order(record.state) < order(reach)) {
      throw new Error(`trade ${this.tradeId}: its dealing saga is ${record.state}, short of ${reach}${record.error === undefined ? '' : ` (${record.error})`}`);
    }
  }

  #seen(state: TradeDealingState, outcome: FanOutOutcome): void {
    this.#outcomes.set(state, outcome);
    const { tradeId } = this;
    const refused = outcome.rejected.slice(0, REJECTIONS_LOGGED_MAX);
    if (state === 'switching') {
      // A switch buy the pot refuses (nothing was sold, so there are no proceeds) is no break.
      if (outcome.commands > 0) this.log.info({ tradeId, switches: outcome.applied, refused: outcome.rejected.length }, 'switch buys placed out of priced sale proceeds');
      if (refused.length > 0) this.log.warn({ tradeId, refused }, 'switch buys refused (no proceeds to invest)');
      return;
    }
    if (refused.length > 0) this.log.error({ tradeId, step: state, rejected: refused, count: outcome.rejected.length }, 'dealing commands were rejected: breaks to investigate');
  }
}
