/**
 * The run of a trade's dealing saga for one custodian report (saga-run.ts), with the desk's reading of
 * its outcomes: a rejected dealing command is a break, logged as an error; a switch buy refused for want
 * of proceeds is not, and is only a warning.
 */
import type { FanOutOutcome, SagaEngine } from '../sagas/index.js';
import type { Log } from '../shards/log.js';
import { SagaRun } from './saga-run.js';
import { tradeDealingSaga, type TradeDealing, type TradeDealingRow, type TradeDealingState } from './trade-saga.js';
import type { TradeDealingStore } from './trade-store.js';

/** How many rejections of one step the log shows (the count is logged in full). */
const REJECTIONS_LOGGED_MAX = 20;

/** `report`: what the report says, for a step sent again whose saga's row lacks it (a trade priced before its saga). */
export function tradeRun(engine: SagaEngine, store: TradeDealingStore, log: Log, tradeId: string, report: TradeDealingRow = {}): SagaRun<TradeDealingState, TradeDealing> {
  return new SagaRun({
    engine,
    saga: tradeDealingSaga,
    store,
    id: tradeId,
    dataFor: (record, state) => store.dataFor(record, state, report),
    seen: (state, outcome) => logBreaks(log, tradeId, state, outcome),
  });
}

function logBreaks(log: Log, tradeId: string, state: TradeDealingState, outcome: FanOutOutcome): void {
  const refused = outcome.rejected.slice(0, REJECTIONS_LOGGED_MAX);
  if (state === 'switching') {
    if (outcome.commands > 0) log.info({ tradeId, switches: outcome.applied, refused: outcome.rejected.length }, 'switch buys placed out of priced sale proceeds');
    if (refused.length > 0) log.warn({ tradeId, refused }, 'switch buys refused (no proceeds to invest)');
    return;
  }
  if (refused.length > 0) log.error({ tradeId, step: state, rejected: refused, count: outcome.rejected.length }, 'dealing commands were rejected: breaks to investigate');
}
