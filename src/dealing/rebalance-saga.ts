/**
 * The saga of one batch of a day's re-balance run (`rebalance-batch`, id `<day>:<after pot>:<last pot>`): the pots
 * after one pot id up to another, in pot order, that follow a profile. Its states, in forward order:
 *
 *   rebalancing ─ rebalance:<pot>:<day> (pot.rebalance) per pot the screening keeps ─→ placing
 *   placing     ─ rebalance:<pot>:<day>:sell|buy:<fund> (order.sell, order.buy) per leg the pots decided,
 *                 but the switch buys (the dealing desk places those once the sales are priced) ─→ placed (final)
 *
 * A refused re-balance (orders in flight, no price) defers its pot; a refused order is a break the
 * rebalancer counts; neither keeps the batch from moving on. The screening (the pure decision of which
 * pots to send) and the legs are computed here from what the store loads (rebalance-store.ts); the row
 * keeps only the day and the range of pots.
 */
import { rebalanceDecision, type AccountId, type AssetCatalog, type Rate, type RebalanceLeg, type RiskProfile } from '../ledger/index.js';
import { defineSaga, type CommandOf } from '../sagas/index.js';

/** What the batch's row keeps: the day, and its pots (after, last] in pot order. */
export interface RebalanceBatchRow {
  readonly date: string;
  readonly after: string;
  readonly last: string;
}

/** A pot the screening sends a re-balance, with what its command carries. */
export interface RebalancePot {
  readonly potId: string;
  readonly memberId: string;
  readonly profile: RiskProfile;
  /** The day's closing price of each fund of its profile. */
  readonly prices: Readonly<Record<string, string>>;
}

/** What the screening left alone: pots within their band (or every leg under the minimum), re-balanced for a later day, or of an unknown profile. */
export interface Screening {
  readonly screened: number;
  readonly later: number;
  readonly unknownProfile: number;
}

/** A pot's re-balance as it applied: its legs, and the currency its profile buys in. */
export interface Decided {
  readonly rebalanceId: string;
  readonly memberId: string;
  readonly potId: string;
  readonly currency: string;
  readonly legs: readonly RebalanceLeg[];
}

/** A batch with what its current step reads, loaded with it (rebalance-store.ts); empty unless the step reads it. */
export interface RebalanceBatch extends RebalanceBatchRow {
  /** Rebalancing: the pots to send, and what the screening left alone. */
  readonly pots: readonly RebalancePot[];
  readonly screening: Screening;
  /** Placing: the re-balances of the batch's pots that applied for the day. */
  readonly decided: readonly Decided[];
}

/** A pot of a batch as read, with its committed balances. */
export interface ScreenedRow {
  readonly potId: string;
  readonly memberId: string;
  readonly riskProfile: string;
  readonly rebalancedOn: string | null;
  readonly balances: ReadonlyMap<AccountId, bigint>;
}

export interface ScreeningTerms {
  readonly date: string;
  readonly profiles: ReadonlyMap<string, RiskProfile>;
  readonly priceText: Readonly<Record<string, string>>;
  readonly prices: ReadonlyMap<string, Rate>;
  readonly assets: AssetCatalog;
}

/**
 * Each pot's committed balances through the same pure `rebalanceDecision` the pot itself runs: a pot
 * within its band, or whose every leg is under the minimum, gets no command; nor does one re-balanced
 * for a later day. A pot re-balanced for the day already is sent again, so that its legs are surely placed.
 */
export function screen(rows: readonly ScreenedRow[], terms: ScreeningTerms): { readonly pots: RebalancePot[]; readonly screening: Screening } {
  const pots: RebalancePot[] = [];
  const screening = { screened: 0, later: 0, unknownProfile: 0 };
  for (const row of rows) {
    const profile = terms.profiles.get(row.riskProfile);
    if (profile === undefined) {
      screening.unknownProfile += 1;
      continue;
    }
    if (row.rebalancedOn !== null && row.rebalancedOn > terms.date) {
      screening.later += 1;
      continue;
    }
    if (row.rebalancedOn !== terms.date) {
      const decision = rebalanceDecision(profile, row.potId, row.balances, terms.prices, terms.assets);
      if (decision.kind === 'within-band' || decision.legs.length === 0) {
        screening.screened += 1;
        continue;
      }
    }
    const prices = Object.fromEntries(profile.targets.map((target) => [target.fund, terms.priceText[target.fund] ?? '0']));
    pots.push({ potId: row.potId, memberId: row.memberId, profile, prices });
  }
  return { pots, screening };
}

export const rebalanceId = (potId: string, date: string): string => `rebalance:${potId}:${date}`;

function rebalances(batch: RebalanceBatch): CommandOf<'pot.rebalance'>[] {
  return batch.pots.map((pot) => ({
    process: 'pot.rebalance',
    key: rebalanceId(pot.potId, batch.date),
    pot: { memberId: pot.memberId, potId: pot.potId },
    payload: { date: batch.date, profile: pot.profile, prices: pot.prices },
  }));
}

/** The orders the pots decided, as `order.sell` and `order.buy`; a switch leg waits for the sales' pricing (the dealing desk places it). */
export function legCommands(batch: Pick<RebalanceBatch, 'decided'>): (CommandOf<'order.sell'> | CommandOf<'order.buy'>)[] {
  return batch.decided.flatMap((decided) =>
    decided.legs.flatMap((leg): (CommandOf<'order.sell'> | CommandOf<'order.buy'>)[] => {
      const pot = { memberId: decided.memberId, potId: decided.potId };
      const key = `${decided.rebalanceId}:${leg.side}:${leg.fund}`;
      if (leg.side === 'sell') return [{ process: 'order.sell', key, pot, payload: { fund: leg.fund, units: leg.units } }];
      if (leg.funding === 'proceeds') return [];
      return [{ process: 'order.buy', key, pot, payload: { fund: leg.fund, amount: leg.amount, currency: decided.currency } }];
    }),
  );
}

/** The switch legs the pots decided (placed later by the dealing desk). */
export function switchLegs(batch: Pick<RebalanceBatch, 'decided'>): number {
  return batch.decided.reduce((switches, decided) => switches + decided.legs.filter((leg) => leg.side === 'buy' && leg.funding === 'proceeds').length, 0);
}

const profile: RiskProfile = {
  id: 'balanced', currency: 'GBP', targets: [{ fund: 'FUND-A', weight: '60.00' }, { fund: 'FUND-B', weight: '40.00' }],
  band: { absolute: '5.00' }, minimumTrade: '1.00', cashBuffer: '0.00',
};

export const rebalanceBatchSaga = defineSaga<RebalanceBatch>()({
  name: 'rebalance-batch',
  describe: "A batch of a day's re-balance run: one re-balance per pot the screening keeps, then the orders the pots decided",
  // A re-balancing command's key is its whole id, as the rebalancer has always named it.
  commandId: ({ saga, id, step, key }) => key ?? `${saga}:${id}:${step}`,
  states: {
    rebalancing: {
      step: 'rebalance',
      describe: 'rebalance:<pot>:<day> per pot the screening keeps',
      processes: ['pot.rebalance'],
      fanOut: rebalances,
      to: ['placing'],
      on: () => ({ to: 'placing' as const }),
    },
    placing: {
      step: 'place',
      describe: 'rebalance:<pot>:<day>:sell:<fund> and …:buy:<fund> per leg the pots decided (switch buys wait for the desk)',
      processes: ['order.sell', 'order.buy'],
      fanOut: legCommands,
      to: ['placed'],
      on: () => ({ to: 'placed' as const }),
    },
    placed: { final: true, describe: 'every pot of the batch re-balanced or deferred, and its orders placed' },
  },
  examples: [
    {
      date: '2026-06-01', after: '', last: 'P-2',
      pots: [{ potId: 'P-1', memberId: 'M-1', profile, prices: { 'FUND-A': '1.25', 'FUND-B': '1.00' } }],
      screening: { screened: 1, later: 0, unknownProfile: 0 },
      decided: [
        {
          rebalanceId: 'rebalance:P-1:2026-06-01', memberId: 'M-1', potId: 'P-1', currency: 'GBP',
          legs: [
            { side: 'sell', fund: 'FUND-A', units: '48.000000', value: '60.00' },
            { side: 'buy', fund: 'FUND-B', amount: '20.00' },
            { side: 'buy', fund: 'FUND-B', amount: '40.00', funding: 'proceeds' },
          ],
        },
      ],
    },
  ],
});

export type RebalanceBatchState = (typeof rebalanceBatchSaga.states)[number];
