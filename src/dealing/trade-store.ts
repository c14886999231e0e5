/**
 * The store of the trades' dealing sagas: their rows in the engine's generic `sagas` table
 * (src/journal/sagas.ts), and, with each row read, what its current step needs from the trade's own
 * tables (its basis, the switches it releases), so that the saga's definition stays pure over data.
 * Nothing loaded here is stored: a step built again reads the trade afresh and sends the same ids.
 * Contract: as the generic store's (`move` is a compare-and-set on the state); `load` and `move` also
 * read the trade, its basis and the switch queries (switches.ts), none of which locks.
 */
import type pg from 'pg';
import { z } from 'zod';
import { addBusinessDays, dealingDateAt, dealingOf, type AssetCatalog } from '../ledger/index.js';
import { genericSagaStore, type SagaRecord, type SagaStore } from '../sagas/index.js';
import { rebalancesSellingIn, releasedSwitches, switchesAwaitingSales } from './switches.js';
import { tradeDealingSaga, type TradeDealing, type TradeDealingRow, type TradeDealingState } from './trade-saga.js';
import { scalesOf, type SwitchFundTerms } from './trade-steps.js';
import { findTrade, tradeBasis, tradeExecution, type Trade } from './trades.js';

const decimal = z.string().regex(/^(0|[1-9][0-9]*)(\.[0-9]+)?$/);
/** The row's data: the pricing as reported (an operator's decision, which the engine adds, is kept on the row and not read here). */
const rowSchema = z.looseObject({
  pricing: z.strictObject({ price: decimal, buyCashFilled: decimal, sellUnitsFilled: decimal }).optional(),
});

export interface TradeDealingStore extends SagaStore<TradeDealingState, TradeDealing> {
  /** Records the trade's saga in `state` the first time; true when this call recorded it. */
  start(tradeId: string, state: TradeDealingState, row: TradeDealingRow): Promise<boolean>;
  /**
   * The saga's data as the step of `state` needs it: for a step the saga has passed, sent again for a
   * repeated report (`fallback`: what the report says, where the saga's row does not).
   */
  dataFor(record: SagaRecord<TradeDealingState, TradeDealing>, state: TradeDealingState, fallback: TradeDealingRow): Promise<TradeDealing>;
}

export interface TradeDealingStoreOptions {
  readonly pool: pg.Pool;
  readonly assets: AssetCatalog;
  /** The business clock: a switch buy placed now deals at its fund's next cut-off. */
  readonly now: () => Date;
}

export function tradeDealingStore(options: TradeDealingStoreOptions): TradeDealingStore {
  const rows = genericSagaStore<TradeDealingState, TradeDealingRow>(options.pool, tradeDealingSaga, (data) => {
    const { pricing } = rowSchema.parse(data);
    return pricing === undefined ? {} : { pricing };
  });
  const loaded = async (tradeId: string, state: TradeDealingState, row: TradeDealingRow): Promise<TradeDealing> => {
    const trade = await findTrade(options.pool, tradeId);
    if (trade === undefined) throw new Error(`the dealing saga of ${tradeId}, a trade that does not exist`);
    return { ...row, ...(await stepInputs(options, trade, state)) };
  };
  const withData = async (record: SagaRecord<TradeDealingState, TradeDealingRow> | undefined) =>
    record === undefined ? undefined : { ...record, data: await loaded(record.id, record.state, record.data) };
  return {
    start: (tradeId, state, row) => rows.start(tradeId, state, row),
    load: async (id) => withData(await rows.load(id)),
    move: async (id, from, to, change) => withData(await rows.move(id, from, to, change)),
    fail: (id, state, error) => rows.fail(id, state, error),
    unfinished: (states, attemptsMax, limit) => rows.unfinished(states, attemptsMax, limit),
    count: (states, attemptsMax) => rows.count(states, attemptsMax),
    dataFor: (record, state, fallback) => {
      const pricing = record.data.pricing ?? fallback.pricing;
      return loaded(record.id, state, pricing === undefined ? {} : { pricing });
    },
  };
}

/** What the step of `state` reads, loaded from the trade's tables; empty for what it does not read. */
async function stepInputs(options: TradeDealingStoreOptions, trade: Trade, state: TradeDealingState): Promise<Omit<TradeDealing, keyof TradeDealingRow>> {
  const { pool, assets } = options;
  const none = { trade, scales: scalesOf(assets, trade), basis: [], awaitingSales: [], rebalances: [], switchFunds: {}, released: [] };
  switch (state) {
    case 'allocating':
    case 'unreserving':
    case 'closing':
      return { ...none, basis: await tradeBasis(pool, trade.tradeId) };
    case 'switching': {
      const rebalances = await rebalancesSellingIn(pool, trade.tradeId);
      const funds = new Set(rebalances.flatMap((rebalance) => rebalance.legs.map((leg) => leg.fund)));
      return { ...none, rebalances, switchFunds: switchTerms(assets, [...funds], options.now()) };
    }
    case 'settling': {
      const execution = await tradeExecution(pool, trade.tradeId);
      const awaitingSales = [...(await switchesAwaitingSales(pool, trade.tradeId))];
      return { ...none, basis: await tradeBasis(pool, trade.tradeId), awaitingSales, ...(execution === undefined ? {} : { residue: execution }) };
    }
    case 'releasing':
      return { ...none, released: await releasedSwitches(pool) };
    case 'priced':
    case 'settled':
    case 'rejected':
      return none;
  }
}

/** Per fund that deals: its currency, and the day a buy placed at `now` settles (its next dealing day, plus its settlement period). */
function switchTerms(assets: AssetCatalog, funds: readonly string[], now: Date): Record<string, SwitchFundTerms> {
  const terms: Record<string, SwitchFundTerms> = {};
  for (const fund of funds) {
    const dealing = dealingOf(assets, fund);
    if (dealing === undefined) continue;
    const dealt = dealingDateAt(dealing.calendar, dealing.cutoff, now.toISOString());
    terms[fund] = { currency: dealing.currency, settlesOn: addBusinessDays(dealing.calendar, dealt, dealing.settlementDays) };
  }
  return terms;
}
