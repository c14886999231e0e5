import { describe, expect, it } from 'vitest';
import { legCommands, rebalanceBatchSaga, screen, switchLegs, type RebalanceBatch } from '../../src/dealing/rebalance-saga.js';
import { tradeDealingSaga, type TradeDealing, type TradeDealingState } from '../../src/dealing/trade-saga.js';
import { batchIdOf } from '../../src/dealing/rebalance-store.js';
import { assetCatalog, DEFAULT_ASSETS, DEFAULT_PROFILES, readPrices } from '../../src/ledger/index.js';
import type { FanOutOutcome } from '../../src/sagas/index.js';

/*
 * The dealing desk's and the rebalancer's sagas, pure: their states, the commands each step sends with
 * the ids the desk and the rebalancer have always used, and their transitions. No NATS, no Postgres.
 */

const [trade] = tradeDealingSaga.examples;
if (trade === undefined) throw new Error('the trade saga has an example');
const [batch] = rebalanceBatchSaga.examples;
if (batch === undefined) throw new Error('the re-balance saga has an example');

const idsOf = (state: TradeDealingState, data: TradeDealing = trade) => tradeDealingSaga.commands(state, data.trade.tradeId, data).map((command) => command.commandId);
const fannedOut = (commands: number, rejected: FanOutOutcome['rejected'] = []): FanOutOutcome => ({ kind: 'fanned-out', commands, applied: commands - rejected.length, rejected });

describe('the trade-dealing saga', () => {
  it('spells its states once: allocating … settled, and the rejected path after; priced waits for the custodian', () => {
    expect(tradeDealingSaga.states).toEqual(['allocating', 'switching', 'priced', 'settling', 'releasing', 'settled', 'unreserving', 'closing', 'rejected']);
    expect(tradeDealingSaga.final).toEqual(['settled', 'rejected']);
    expect(tradeDealingSaga.paused).toEqual(['priced']);
  });

  it("sends today's ids: allocate:<order> and residue:<trade>, <re-balance>:switch:<fund>, settle:<order> and settle-residue:<trade>", () => {
    const sale = 'rebalance:P-2:2026-06-01:sell:FUND-A';
    expect(idsOf('allocating')).toEqual(['allocate:O-1', 'allocate:O-2', `allocate:${sale}`, 'residue:T-FUND-A-2026-06-01']);
    expect(idsOf('switching')).toEqual(['rebalance:P-2:2026-06-01:switch:FUND-B']);
    expect(idsOf('settling')).toEqual(['settle:O-1', 'settle:O-2', `settle:${sale}`, 'settle-residue:T-FUND-A-2026-06-01']);
    expect(idsOf('unreserving')).toEqual(['allocate:O-1', 'allocate:O-2', `allocate:${sale}`]);
    expect(idsOf('closing')).toEqual(['settle:O-1', 'settle:O-2', `settle:${sale}`]);
    const switched = 'rebalance:P-9:2026-05-29:switch:FUND-C';
    const released = { ...trade, released: [{ orderId: switched, memberId: 'M-9', potId: 'P-9', tradeId: 'T-FUND-C-2026-06-01', settlementDate: '2026-06-04' }] };
    expect(tradeDealingSaga.commands('releasing', trade.trade.tradeId, released)).toEqual([
      expect.objectContaining({
        commandId: `settle:${switched}`, process: 'order.settle', effectiveDate: '2026-06-04', payload: { orderId: switched, tradeId: 'T-FUND-C-2026-06-01' },
      }),
    ]);
  });

  it("allocates at the custodian's price text, releases a rejected trade with nothing filled, and keeps the residue at its dates", () => {
    const [buy, , sell, residue] = tradeDealingSaga.commands('allocating', trade.trade.tradeId, trade);
    expect(buy).toMatchObject({ process: 'order.allocate', pot: { memberId: 'M-1', potId: 'P-1' }, effectiveDate: '2026-06-01', payload: { price: '1.2345', filled: '100.00' } });
    expect(sell).toMatchObject({ payload: { price: '1.2345', filled: '48.000000' } });
    expect(residue).toMatchObject({ process: 'trade.residue', pot: { potId: 'ACME-ROUNDING' }, effectiveDate: '2026-06-01', payload: { units: '0.000001', cash: '0.00' } });
    expect(tradeDealingSaga.commands('unreserving', trade.trade.tradeId, trade)[0]).toMatchObject({ payload: { orderId: 'O-1', filled: '0' } });
    const settledResidue = tradeDealingSaga.commands('settling', trade.trade.tradeId, trade).at(-1);
    expect(settledResidue).toMatchObject({ process: 'trade.settle-residue', effectiveDate: '2026-06-03', payload: { units: '0.000001', cash: '0.00' } });
  });

  it('leaves a switch purchase waiting for its sales out of the settlement, and no residue when there is none', () => {
    const waiting = { ...trade, awaitingSales: ['O-1'], residue: { residueUnitsMinor: 0n, residueCashMinor: 0n } };
    expect(idsOf('settling', waiting)).toEqual(['settle:O-2', 'settle:rebalance:P-2:2026-06-01:sell:FUND-A']);
  });

  it('places no switch while a sale of its re-balance is open, nor one whose purchase would settle before the sales', () => {
    const [rebalance] = trade.rebalances;
    if (rebalance === undefined) throw new Error('the example sells in a re-balance');
    expect(idsOf('switching', { ...trade, rebalances: [{ ...rebalance, sellsOpen: 1 }] })).toEqual([]);
    expect(idsOf('switching', { ...trade, switchFunds: { 'FUND-B': { currency: 'GBP', settlesOn: '2026-06-02' } } })).toEqual([]);
    expect(idsOf('switching', { ...trade, switchFunds: {} })).toEqual([]);
  });

  it('asserts the basis it was given is the whole trade', () => {
    expect(() => tradeDealingSaga.commands('allocating', trade.trade.tradeId, { ...trade, basis: trade.basis.slice(1) })).toThrow(/a basis of 2 orders, the trade has 3/);
  });

  it('moves each step forward once all its commands have outcomes, rejections included (they are breaks, logged)', () => {
    const rejected = [{ commandId: 'allocate:O-1', code: 'ORDER_STATE_MISMATCH', reason: 'no' }];
    expect(tradeDealingSaga.transition('allocating', fannedOut(3, rejected), trade)).toEqual({ to: 'switching' });
    expect(tradeDealingSaga.transition('switching', fannedOut(0), trade)).toEqual({ to: 'priced' });
    expect(tradeDealingSaga.decide('priced', { decision: 'settled', by: 'custodian' }, trade)).toEqual({ to: 'settling' });
    expect(tradeDealingSaga.decide('priced', { decision: 'rejected', by: 'custodian' }, trade)).toBeUndefined();
    expect(tradeDealingSaga.transition('settling', fannedOut(3), trade)).toEqual({ to: 'releasing' });
    expect(tradeDealingSaga.transition('releasing', fannedOut(0), trade)).toEqual({ to: 'settled' });
    expect(tradeDealingSaga.transition('unreserving', fannedOut(2), trade)).toEqual({ to: 'closing' });
    expect(tradeDealingSaga.transition('closing', fannedOut(2, rejected), trade)).toEqual({ to: 'rejected' });
    expect(() => tradeDealingSaga.transition('priced', fannedOut(0), trade)).toThrow(/sends nothing/);
  });
});

describe('the rebalance-batch saga', () => {
  it("sends rebalance:<pot>:<day>, then each pot's sells and cash buys as …:sell|buy:<fund>, leaving its switch buys to the desk", () => {
    expect(rebalanceBatchSaga.commands('rebalancing', '2026-06-01::P-2', batch).map((command) => [command.commandId, command.process])).toEqual([
      ['rebalance:P-1:2026-06-01', 'pot.rebalance'],
    ]);
    expect(rebalanceBatchSaga.commands('placing', '2026-06-01::P-2', batch)).toEqual([
      expect.objectContaining({ commandId: 'rebalance:P-1:2026-06-01:sell:FUND-A', process: 'order.sell', payload: { fund: 'FUND-A', units: '48.000000' } }),
      expect.objectContaining({ commandId: 'rebalance:P-1:2026-06-01:buy:FUND-B', process: 'order.buy', payload: { fund: 'FUND-B', amount: '20.00', currency: 'GBP' } }),
    ]);
    expect(switchLegs(batch)).toBe(1);
    expect(legCommands({ decided: [] })).toEqual([]);
    expect(rebalanceBatchSaga.transition('rebalancing', fannedOut(1), batch)).toEqual({ to: 'placing' });
    expect(rebalanceBatchSaga.transition('placing', fannedOut(2), batch)).toEqual({ to: 'placed' });
    expect(rebalanceBatchSaga.final).toEqual(['placed']);
  });

  it('screens: within the band, re-balanced for a later day, an unknown profile get no command; re-balanced today is sent again', () => {
    const assets = assetCatalog(DEFAULT_ASSETS);
    const priceText = { 'FUND-A': '1.25', 'FUND-B': '1.00' };
    const prices = readPrices(priceText);
    if (typeof prices === 'string') throw new Error(prices);
    const profiles = new Map(DEFAULT_PROFILES.map((profile) => [profile.id, profile]));
    const units = (potId: string, a: bigint, b: bigint) => new Map([[`pot:${potId}:units:FUND-A`, a * 1_000_000n], [`pot:${potId}:units:FUND-B`, b * 1_000_000n]] as const);
    const row = (potId: string, riskProfile: string, rebalancedOn: string | null, a: bigint, b: bigint) => ({
      potId, memberId: `M-${potId}`, riskProfile, rebalancedOn, balances: units(potId, a, b),
    });
    const rows = [
      row('P-drift', 'balanced', null, 600n, 400n),
      row('P-in', 'balanced', null, 480n, 400n),
      row('P-later', 'balanced', '2026-06-02', 600n, 400n),
      row('P-unknown', 'nobody', null, 600n, 400n),
      row('P-today', 'balanced', '2026-06-01', 480n, 400n),
    ];
    const { pots, screening } = screen(rows, { date: '2026-06-01', profiles, priceText, prices, assets });
    expect(pots.map((pot) => pot.potId)).toEqual(['P-drift', 'P-today']);
    expect(pots[0]?.prices).toEqual(priceText);
    expect(screening).toEqual({ screened: 1, later: 1, unknownProfile: 1 });
  });

  it('is keyed by the whole range of its pots, and sends nothing for a batch the screening emptied', () => {
    expect(batchIdOf({ date: '2026-06-01', after: '', last: 'P-2' })).toBe('2026-06-01::P-2');
    expect(batchIdOf({ date: '2026-06-01', after: 'P-2', last: 'P-9' })).toBe('2026-06-01:P-2:P-9');
    const data: RebalanceBatch = { ...batch, pots: [] };
    expect(rebalanceBatchSaga.commands('rebalancing', '2026-06-01::P-2', data)).toEqual([]);
  });
});
