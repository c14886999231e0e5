/**
 * The store of the re-balance batches' sagas: their rows in the engine's generic `sagas` table, and,
 * with each row read, what its current step needs: the batch's pots with their committed balances,
 * screened at the day's closing prices (rebalancing), or the re-balances of those pots that applied for
 * the day (placing). Nothing loaded here is stored: a step built again reads afresh and sends the same
 * ids. Contract: as the generic store's (`move` is a compare-and-set on the state); the reads lock nothing.
 */
import type pg from 'pg';
import { z } from 'zod';
import { readPrices, type AccountId, type AssetCatalog, type RebalanceLeg, type RiskProfile } from '../ledger/index.js';
import { genericSagaStore, type SagaRecord, type SagaStore } from '../sagas/index.js';
import { pricesOn } from './prices.js';
import { rebalanceBatchSaga, rebalanceId, screen, type RebalanceBatch, type RebalanceBatchRow, type RebalanceBatchState, type Decided } from './rebalance-saga.js';

/**
 * The most pots one batch holds (the rebalancer's batch option is at most this): a batch's pots, their
 * balances and its commands are held in memory at once.
 */
export const REBALANCE_BATCH_MAX = 10_000;

const rowSchema = z.looseObject({ date: z.iso.date(), after: z.string(), last: z.string().min(1) });

export interface RebalanceBatchStore extends SagaStore<RebalanceBatchState, RebalanceBatch> {
  /** Records the batch's saga, ready to re-balance, the first time; true when this call recorded it. */
  start(row: RebalanceBatchRow): Promise<boolean>;
  /** The batch's data as the step of `state` needs it (for a step the saga has passed: a repeated run). */
  dataFor(record: SagaRecord<RebalanceBatchState, RebalanceBatch>, state: RebalanceBatchState): Promise<RebalanceBatch>;
}

export interface RebalanceBatchStoreOptions {
  readonly pool: pg.Pool;
  readonly profiles: ReadonlyMap<string, RiskProfile>;
  readonly assets: AssetCatalog;
}

/** A batch's id names its whole range, so that a run paged otherwise (another batch size) never takes an earlier run's batch for its own. */
export const batchIdOf = (row: RebalanceBatchRow): string => `${row.date}:${row.after}:${row.last}`;

export function rebalanceBatchStore(options: RebalanceBatchStoreOptions): RebalanceBatchStore {
  const rows = genericSagaStore<RebalanceBatchState, RebalanceBatchRow>(options.pool, rebalanceBatchSaga, (data) => {
    const { date, after, last } = rowSchema.parse(data);
    return { date, after, last };
  });
  const loaded = async (state: RebalanceBatchState, row: RebalanceBatchRow): Promise<RebalanceBatch> => {
    const { date, after, last } = row;
    const empty: RebalanceBatch = { date, after, last, pots: [], screening: { screened: 0, later: 0, unknownProfile: 0 }, decided: [] };
    if (state === 'rebalancing') return { ...empty, ...(await screened(options, row)) };
    if (state === 'placing') return { ...empty, decided: await decided(options, row) };
    return empty;
  };
  const withData = async (record: SagaRecord<RebalanceBatchState, RebalanceBatchRow> | undefined) =>
    record === undefined ? undefined : { ...record, data: await loaded(record.state, record.data) };
  return {
    start: (row) => rows.start(batchIdOf(row), 'rebalancing', row),
    load: async (id) => withData(await rows.load(id)),
    move: async (id, from, to, change) => withData(await rows.move(id, from, to, change)),
    fail: (id, state, error) => rows.fail(id, state, error),
    unfinished: (states, attemptsMax, limit) => rows.unfinished(states, attemptsMax, limit),
    count: (states, attemptsMax) => rows.count(states, attemptsMax),
    dataFor: (record, state) => loaded(state, { date: record.data.date, after: record.data.after, last: record.data.last }),
  };
}

interface PotRow {
  readonly pot_id: string;
  readonly member_id: string;
  readonly risk_profile: string;
  readonly rebalanced_on: string | null;
}

/** The open pots of the batch that follow a profile, in pot order. */
async function batchPots(pool: pg.Pool, row: RebalanceBatchRow): Promise<PotRow[]> {
  const { rows } = await pool.query<PotRow>(
    `SELECT pot_id, member_id, risk_profile, rebalanced_on::text AS rebalanced_on FROM pots
      WHERE risk_profile IS NOT NULL AND status = 'open' AND pot_id > $1 AND pot_id <= $2
      ORDER BY pot_id LIMIT $3`,
    [row.after, row.last, REBALANCE_BATCH_MAX + 1],
  );
  if (rows.length > REBALANCE_BATCH_MAX) throw new Error(`the re-balance batch ${batchIdOf(row)} holds more than ${REBALANCE_BATCH_MAX} pots`);
  return rows;
}

/** The batch's pots through the screening, with their committed balances at the day's closing prices. */
async function screened(options: RebalanceBatchStoreOptions, row: RebalanceBatchRow): Promise<Pick<RebalanceBatch, 'pots' | 'screening'>> {
  const priceText = Object.fromEntries((await pricesOn(options.pool, row.date)).map((price) => [price.fund, price.price]));
  const prices = readPrices(priceText);
  if (typeof prices === 'string') throw new Error(`the closing prices of ${row.date}: ${prices}`);
  const pots = await batchPots(options.pool, row);
  const { rows: held } = await options.pool.query<{ pot_id: string; account_id: AccountId; balance_minor: bigint }>(
    'SELECT pot_id, account_id, balance_minor FROM balances WHERE pot_id = ANY($1::text[]) AND balance_minor <> 0',
    [pots.map((pot) => pot.pot_id)],
  );
  const balancesOf = new Map<string, Map<AccountId, bigint>>();
  for (const balance of held) {
    const balances = balancesOf.get(balance.pot_id) ?? new Map<AccountId, bigint>();
    balances.set(balance.account_id, balance.balance_minor);
    balancesOf.set(balance.pot_id, balances);
  }
  const screenedRows = pots.map((pot) => ({
    potId: pot.pot_id,
    memberId: pot.member_id,
    riskProfile: pot.risk_profile,
    rebalancedOn: pot.rebalanced_on,
    balances: balancesOf.get(pot.pot_id) ?? new Map<AccountId, bigint>(),
  }));
  return screen(screenedRows, { date: row.date, profiles: options.profiles, priceText, prices, assets: options.assets });
}

/**
 * The re-balances of the batch's pots that applied for the day: those the first step sent (a pot of a
 * known profile, not re-balanced for a later day), with their legs and the currency their profile buys in.
 */
async function decided(options: RebalanceBatchStoreOptions, row: RebalanceBatchRow): Promise<Decided[]> {
  const later = (pot: PotRow) => pot.rebalanced_on !== null && pot.rebalanced_on > row.date;
  const sent = (await batchPots(options.pool, row)).filter((pot) => options.profiles.has(pot.risk_profile) && !later(pot));
  const currencyOf = new Map(sent.map((pot) => [rebalanceId(pot.pot_id, row.date), options.profiles.get(pot.risk_profile)?.currency]));
  const { rows } = await options.pool.query<{ command_id: string; member_id: string; pot_id: string; pot_change: { legs?: readonly RebalanceLeg[] } | null }>(
    `SELECT o.command_id, m.member_id, m.pot_id, m.pot_change
       FROM command_outcomes o JOIN movements m ON m.movement_id = o.movement_id
      WHERE o.command_id = ANY($1::text[]) AND o.status = 'applied'`,
    [[...currencyOf.keys()]],
  );
  return rows.map((applied) => {
    const currency = currencyOf.get(applied.command_id);
    if (currency === undefined) throw new Error(`a re-balance outcome ${applied.command_id} that this batch did not send`);
    return { rebalanceId: applied.command_id, memberId: applied.member_id, potId: applied.pot_id, currency, legs: applied.pot_change?.legs ?? [] };
  });
}
