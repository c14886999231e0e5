import { describe, expect, it } from 'vitest';
import {
  assetCatalog,
  DEFAULT_ASSETS,
  DEFAULT_PROFILES,
  ledgerProcesses,
  parseRate,
  potAccount,
  rebalanceDecision,
  ReferenceLedger,
  type AccountId,
  type Command,
  type Rate,
  type RiskProfile,
} from '../../src/ledger/index.js';

/** S4 as the pure core decides it, and a switch (a buy out of priced, unsettled proceeds) through the core. */
const assets = assetCatalog(DEFAULT_ASSETS);
const balanced = DEFAULT_PROFILES.find((p) => p.id === 'balanced') as RiskProfile;

function rate(text: string): Rate {
  const parsed = parseRate(text);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}

const holding = (a: bigint, b: bigint, cash = 0n) =>
  new Map<AccountId, bigint>([
    [potAccount('P', 'units', 'FUND-A'), a],
    [potAccount('P', 'units', 'FUND-B'), b],
    ...(cash === 0n ? [] : [[potAccount('P', 'cash', 'GBP'), cash] as [AccountId, bigint]]),
  ]);
const prices = new Map([['FUND-A', rate('1.25')], ['FUND-B', rate('1.00')]]);

describe('S4: the re-balancing decision', () => {
  it('sells 48.000000 A (60.00) at 65.217 % under a ±5 point band, and buys B with the proceeds', () => {
    expect(rebalanceDecision(balanced, 'P', holding(600_000_000n, 400_000_000n), prices, assets)).toEqual({
      kind: 'trade',
      weights: { 'FUND-A': '65.217', 'FUND-B': '34.783' },
      legs: [
        { side: 'sell', fund: 'FUND-A', units: '48.000000', value: '60.00' },
        { side: 'buy', fund: 'FUND-B', amount: '60.00', funding: 'proceeds' },
      ],
    });
  });

  it('buys with available cash first and with the proceeds for the rest', () => {
    const decision = rebalanceDecision(balanced, 'P', holding(600_000_000n, 380_000_000n, 2_000n), prices, assets);
    // Value 750 + 380 + 20 = 1150: A to 690 (sell 60.00), B to 460 (80.00 short: 20.00 of cash, 60.00 of proceeds).
    expect(decision).toMatchObject({
      legs: [
        { side: 'sell', fund: 'FUND-A', units: '48.000000', value: '60.00' },
        { side: 'buy', fund: 'FUND-B', amount: '20.00' },
        { side: 'buy', fund: 'FUND-B', amount: '60.00', funding: 'proceeds' },
      ],
    });
  });

  it('trades nothing under a relative band of 20 %, and skips a leg under the 1.00 minimum', () => {
    const relative: RiskProfile = { ...balanced, id: 'relative', band: { relative: '20.00' } };
    expect(rebalanceDecision(relative, 'P', holding(600_000_000n, 400_000_000n), prices, assets)).toMatchObject({ kind: 'within-band' });
    // 6 A and 4 B: the sell is worth 0.60, under the minimum; so is the switch it would fund.
    expect(rebalanceDecision(balanced, 'P', holding(6_000_000n, 4_000_000n), prices, assets)).toMatchObject({ kind: 'trade', legs: [] });
  });
});

describe('a switch through the pure core', () => {
  function pot() {
    const ledger = new ReferenceLedger(ledgerProcesses, assets, 4);
    let sequence = 0;
    const send = (process: string, payload: unknown, commandId = `c-${(sequence += 1)}`, producedAt = '2026-06-01T18:00:00Z') => {
      const command: Command = { commandId, process, memberId: 'M-1', potId: 'P', payload, effectiveDate: producedAt.slice(0, 10), producedAt };
      const answer = ledger.execute(command, `m-${commandId}`);
      if (answer.kind !== 'answered') throw new Error('conflict');
      return answer.outcome;
    };
    send('pot.open', {});
    send('pot.import', { cash: [], units: [{ fund: 'FUND-A', units: '600' }, { fund: 'FUND-B', units: '400' }] });
    // Sell 48 A on 2026-06-02 at 1.25: proceeds 60.00 pending.
    expect(send('order.sell', { fund: 'FUND-A', units: '48' }, 'sell')).toMatchObject({ kind: 'applied' });
    ledger.aggregate('FUND-A', '2026-06-02', 'T-A');
    expect(send('order.allocate', { orderId: 'sell', tradeId: 'T-A', price: '1.25', filled: '48' })).toMatchObject({ kind: 'applied' });
    return { ledger, send, get: (kind: string, asset = 'GBP') => ledger.balances().get(potAccount('P', kind, asset)) ?? 0n };
  }

  it('is refused without proceeds, and takes at most what is pending and not yet reserved', () => {
    const { send, get } = pot();
    expect(send('order.buy', { fund: 'FUND-B', amount: '100.00', currency: 'GBP' })).toMatchObject({ code: 'LEDGER_ERR_INSUFFICIENT_FUNDS' });
    expect(send('order.buy', { fund: 'FUND-B', amount: '45.00', currency: 'GBP', funding: 'proceeds' }, 'switch-1')).toMatchObject({ kind: 'applied' });
    expect(send('order.buy', { fund: 'FUND-B', amount: '45.00', currency: 'GBP', funding: 'proceeds' }, 'switch-2')).toMatchObject({ kind: 'applied' });
    expect(get('cash.pending.reserved')).toBe(6_000n);
    expect(send('order.buy', { fund: 'FUND-B', amount: '1.00', currency: 'GBP', funding: 'proceeds' })).toMatchObject({ code: 'LEDGER_ERR_INSUFFICIENT_FUNDS' });
    // A cancel gives the reservation back to the proceeds.
    expect(send('order.cancel', { orderId: 'switch-2' }, 'cancel', '2026-06-02T08:00:00Z')).toMatchObject({ kind: 'applied' });
    expect(get('cash.pending.reserved')).toBe(4_500n);
  });

  it('pays out of the pending proceeds when priced first, and the sale then settles what is left', () => {
    const { ledger, send, get } = pot();
    send('order.buy', { fund: 'FUND-B', amount: '60.00', currency: 'GBP', funding: 'proceeds' }, 'switch');
    ledger.aggregate('FUND-B', '2026-06-03', 'T-B');
    expect(send('order.allocate', { orderId: 'switch', tradeId: 'T-B', price: '1.00', filled: '60.00' })).toMatchObject({ kind: 'applied' });
    expect([get('cash.pending'), get('cash.pending.reserved'), get('cash'), get('units.pending', 'FUND-B')]).toEqual([0n, 0n, 0n, 60_000_000n]);
    // The Trust pays the custodian for B out of A's proceeds: in a partition with no other cash, paying
    // first would overdraw its bank, so it is refused; the custodian settles a day's sales first.
    expect(send('order.settle', { orderId: 'switch', tradeId: 'T-B' })).toMatchObject({ kind: 'rejected', code: 'LEDGER_ERR_INVARIANT_VIOLATED' });
    expect(send('order.settle', { orderId: 'sell', tradeId: 'T-A' })).toMatchObject({ kind: 'applied' });
    expect(get('cash')).toBe(0n);
    expect(send('order.settle', { orderId: 'switch', tradeId: 'T-B' })).toMatchObject({ kind: 'applied' });
    expect([get('cash'), get('units', 'FUND-A'), get('units', 'FUND-B')]).toEqual([0n, 552_000_000n, 460_000_000n]);
    expectCleared(ledger.balances());
  });

  it('carries the reservation into reserved cash when the sale settles before the switch is priced', () => {
    const { ledger, send, get } = pot();
    send('order.buy', { fund: 'FUND-B', amount: '50.00', currency: 'GBP', funding: 'proceeds' }, 'switch');
    expect(send('order.settle', { orderId: 'sell', tradeId: 'T-A' })).toMatchObject({ kind: 'applied' });
    expect([get('cash'), get('cash.reserved'), get('cash.pending'), get('cash.pending.reserved')]).toEqual([6_000n, 5_000n, 0n, 0n]);
    // The 10.00 not reserved is the pot's to spend; the switch's 50.00 is not.
    expect(send('cash.withdraw', { amount: '10.01', currency: 'GBP' })).toMatchObject({ code: 'LEDGER_ERR_INSUFFICIENT_FUNDS' });
    ledger.aggregate('FUND-B', '2026-06-03', 'T-B');
    expect(send('order.allocate', { orderId: 'switch', tradeId: 'T-B', price: '1.25', filled: '50.00' })).toMatchObject({ kind: 'applied' });
    expect([get('cash'), get('cash.reserved'), get('units.pending', 'FUND-B')]).toEqual([1_000n, 0n, 40_000_000n]);
    expect(send('order.settle', { orderId: 'switch', tradeId: 'T-B' })).toMatchObject({ kind: 'applied' });
    expectCleared(ledger.balances());
  });
});

/** Once every trade has settled: no reservation, pending position or dealing cash is left anywhere. */
function expectCleared(balances: ReadonlyMap<AccountId, bigint>): void {
  const left = [...balances].filter(([account, balance]) => balance !== 0n && /:(cash\.reserved|cash\.pending|cash\.pending\.reserved|units\.reserved|units\.pending|reservations|dealing\.cash|custodian\.pending):/.test(account));
  expect(left).toEqual([]);
}
