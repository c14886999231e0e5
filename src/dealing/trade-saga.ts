/**
 * The dealing saga of one external trade (`trade-dealing`, its id the trade's): the fan-outs that turn
 * the custodian's reports into commands through the orders' own pots, as one definition of the saga
 * engine (src/sagas). Its states, in their forward order:
 *
 *   allocating ─ allocate:<order> (order.allocate) per order, residue:<trade> (trade.residue) ─→ switching
 *   switching  ─ <re-balance>:switch:<fund> (order.buy, funded by proceeds) ─→ priced
 *   priced     ─ paused until the custodian reports the settlement (decision `settled`) ─→ settling
 *   settling   ─ settle:<order> (order.settle) per order not waiting for its funding sales,
 *                settle-residue:<trade> (trade.settle-residue) ─→ releasing
 *   releasing  ─ settle:<order> for every switch purchase, of any trade, whose trade and sales have settled ─→ settled (final)
 *   unreserving ─ (the trade was rejected) allocate:<order> with nothing filled per order ─→ closing
 *   closing    ─ settle:<order> per order ─→ rejected (final)
 *
 * A priced report starts it in `allocating`, a rejected one in `unreserving`. Every step is a fan-out
 * that moves on once all its commands have outcomes: a rejection is a break the desk logs (a switch buy
 * refused for want of proceeds is only a warning), never a reason to stay. The transitions are pure; what
 * each step needs (the basis, the switches) is loaded with the saga by its store (trade-store.ts) and
 * never stored: the row keeps only the custodian's pricing as reported. `external_trades` keeps its own
 * statuses (placed, priced, settled, rejected): the custodian's view of the trade.
 */
import { defineSaga } from '../sagas/index.js';
import {
  allocationCommands,
  allocationOf,
  releaseCommands,
  releasedSwitchCommands,
  residueCommands,
  settlementCommands,
  switchCommands,
  type Pricing,
  type ReleasedSwitch,
  type Residue,
  type SellingRebalance,
  type SwitchFundTerms,
  type TradeScales,
} from './trade-steps.js';
import type { BasisOrder, Trade } from './trades.js';

/** What the saga's row keeps: the custodian's pricing, once reported (absent for a rejected trade). */
export interface TradeDealingRow {
  readonly pricing?: Pricing;
}

/** A trade's dealing saga with what its current step needs, loaded with it (trade-store.ts); every list is empty unless the step reads it. */
export interface TradeDealing extends TradeDealingRow {
  readonly trade: Trade;
  readonly scales: TradeScales;
  /** The allocation basis (allocating, settling, unreserving, closing): every order of the trade. */
  readonly basis: readonly BasisOrder[];
  /** Settling: the residue the execution left to ACME. */
  readonly residue?: Residue;
  /** Settling: the switch purchases of the trade whose funding sales have not all settled. */
  readonly awaitingSales: readonly string[];
  /** Switching: the re-balances that sold in the trade, and the terms of a buy placed now per fund. */
  readonly rebalances: readonly SellingRebalance[];
  readonly switchFunds: Readonly<Record<string, SwitchFundTerms>>;
  /** Releasing: the switch purchases now free to settle. */
  readonly released: readonly ReleasedSwitch[];
}

export const TRADE_DEALING_SAGA = 'trade-dealing';

/** The basis loaded for a step is the whole trade's (paired with the count aggregation recorded). */
function wholeBasis(data: TradeDealing): readonly BasisOrder[] {
  if (data.basis.length !== data.trade.orders) throw new Error(`trade ${data.trade.tradeId}: a basis of ${data.basis.length} orders, the trade has ${data.trade.orders}`);
  return data.basis;
}

function allocations(data: TradeDealing) {
  if (data.pricing === undefined) throw new Error(`trade ${data.trade.tradeId}: allocating without the custodian's pricing`);
  const basis = wholeBasis(data);
  const allocation = allocationOf(basis, data.pricing, data.scales);
  return [...allocationCommands(data.trade, basis, allocation, data.pricing.price, data.scales), ...residueCommands('residue', data.trade, allocation, data.scales)];
}

function settlements(data: TradeDealing) {
  const waiting = new Set(data.awaitingSales);
  const due = wholeBasis(data).filter((order) => !waiting.has(order.orderId));
  const residue = data.residue === undefined ? [] : residueCommands('settle-residue', data.trade, data.residue, data.scales);
  return [...settlementCommands(data.trade, due), ...residue];
}

const example: TradeDealing = {
  trade: {
    tradeId: 'T-FUND-A-2026-06-01', fund: 'FUND-A', currency: 'GBP', dealingDate: '2026-06-01', settlementDate: '2026-06-03',
    buyCashMinor: 13_333n, sellUnitsMinor: 48_000_000n, orders: 3, status: 'priced',
  },
  scales: { fund: 6, currency: 2 },
  // 100.00 and 33.33 at 1.2345 are 81.004455 and 26.998784 units; the 133.33 bought 108.003240: a residue of one unit.
  pricing: { price: '1.2345', buyCashFilled: '133.33', sellUnitsFilled: '48.000000' },
  basis: [
    { orderId: 'O-1', potId: 'P-1', memberId: 'M-1', side: 'buy', amountMinor: 10_000n },
    { orderId: 'O-2', potId: 'P-3', memberId: 'M-3', side: 'buy', amountMinor: 3_333n },
    { orderId: 'rebalance:P-2:2026-06-01:sell:FUND-A', potId: 'P-2', memberId: 'M-2', side: 'sell', amountMinor: 48_000_000n },
  ],
  residue: { residueUnitsMinor: 1n, residueCashMinor: 0n },
  awaitingSales: [],
  rebalances: [
    {
      rebalanceId: 'rebalance:P-2:2026-06-01', memberId: 'M-2', potId: 'P-2', sellsOpen: 0, salesSettle: '2026-06-03',
      legs: [{ side: 'sell', fund: 'FUND-A', units: '48.000000', value: '59.25' }, { side: 'buy', fund: 'FUND-B', amount: '59.25', funding: 'proceeds' }],
    },
  ],
  switchFunds: { 'FUND-B': { currency: 'GBP', settlesOn: '2026-06-04' } },
  released: [],
};

export const tradeDealingSaga = defineSaga<TradeDealing>()({
  name: TRADE_DEALING_SAGA,
  describe:
    "The dealing of one external trade: the allocation of its orders once priced (or their release once rejected), the re-balances' switch buys its sales fund, and the settlement",
  // A dealing command's key is its whole id, as the desk has always named it: a saga started before the upgrade resends the same ids.
  commandId: ({ saga, id, step, key }) => key ?? `${saga}:${id}:${step}`,
  // The desk starts it from the report: priced → allocating, rejected → unreserving (a settled trade with none: priced).
  startsIn: (data) => (data.trade.status === 'rejected' ? 'unreserving' : 'allocating'),
  states: {
    allocating: {
      step: 'allocate',
      describe: 'allocate:<order> per order at the price, residue:<trade> for ACME',
      processes: ['order.allocate', 'trade.residue'],
      fanOut: allocations,
      to: ['switching'],
      on: () => ({ to: 'switching' as const }),
    },
    switching: {
      step: 'switch',
      describe: "<re-balance>:switch:<fund>, the buys of re-balances whose sales are all priced, out of the proceeds",
      processes: ['order.buy'],
      fanOut: (data) => switchCommands(data.rebalances, data.switchFunds),
      to: ['priced'],
      on: () => ({ to: 'priced' as const }),
    },
    priced: { paused: { decisions: { settled: 'settling' } }, describe: "allocated; waits for the custodian's settlement report (the decision `settled`)" },
    settling: {
      step: 'settle',
      describe: 'settle:<order> per order (a switch purchase once its funding sales settle), settle-residue:<trade>',
      processes: ['order.settle', 'trade.settle-residue'],
      fanOut: settlements,
      to: ['releasing'],
      on: () => ({ to: 'releasing' as const }),
    },
    releasing: {
      step: 'release-switches',
      describe: 'settle:<order> of every switch purchase, of any trade, whose trade and sales have settled',
      processes: ['order.settle'],
      fanOut: (data) => releasedSwitchCommands(data.released),
      to: ['settled'],
      on: () => ({ to: 'settled' as const }),
    },
    settled: { final: true, describe: 'every order settled' },
    unreserving: {
      step: 'unreserve',
      describe: 'allocate:<order> with nothing filled, per order',
      processes: ['order.allocate'],
      fanOut: (data) => releaseCommands(data.trade, wholeBasis(data)),
      to: ['closing'],
      on: () => ({ to: 'closing' as const }),
    },
    closing: {
      step: 'close',
      describe: 'settle:<order> per order',
      processes: ['order.settle'],
      fanOut: (data) => settlementCommands(data.trade, wholeBasis(data)),
      to: ['rejected'],
      on: () => ({ to: 'rejected' as const }),
    },
    rejected: { final: true, describe: 'the custodian rejected the trade; every reservation released' },
  },
  examples: [example, { ...example, trade: { ...example.trade, status: 'rejected' }, residue: { residueUnitsMinor: 0n, residueCashMinor: 0n } }],
});

export type TradeDealingState = (typeof tradeDealingSaga.states)[number];
