import { describe, expect, it } from 'vitest';
import {
  addBusinessDays,
  allocateTrade,
  assetCatalog,
  DEFAULT_ASSETS,
  dealingDateAt,
  formatAmount,
  ledgerProcesses,
  parseRate,
  ReferenceLedger,
  UK_CALENDAR,
  type Command,
  type Rate,
} from '../../src/ledger/index.js';

const assets = assetCatalog(DEFAULT_ASSETS);

function price(text: string): Rate {
  const parsed = parseRate(text);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}

describe('business days and forward pricing', () => {
  it('deals an order placed before the cut-off that day, and one at or after it on the next business day', () => {
    expect(dealingDateAt(UK_CALENDAR, '11:00', '2026-06-01T10:59:00Z')).toBe('2026-06-01');
    expect(dealingDateAt(UK_CALENDAR, '11:00', '2026-06-01T11:00:00Z')).toBe('2026-06-02');
    expect(dealingDateAt(UK_CALENDAR, '11:00', '2026-06-01T11:01:00Z')).toBe('2026-06-02');
    // Friday after the cut-off, and the weekend, deal on Monday; a bank holiday is skipped.
    expect(dealingDateAt(UK_CALENDAR, '11:00', '2026-06-05T12:00:00Z')).toBe('2026-06-08');
    expect(dealingDateAt(UK_CALENDAR, '11:00', '2026-06-06T09:00:00Z')).toBe('2026-06-08');
    expect(dealingDateAt(UK_CALENDAR, '11:00', '2026-08-28T12:00:00Z')).toBe('2026-09-01');
  });

  it('counts settlement days in business days (T+N)', () => {
    expect(addBusinessDays(UK_CALENDAR, '2026-06-04', 2)).toBe('2026-06-08');
    expect(addBusinessDays(UK_CALENDAR, '2026-12-23', 2)).toBe('2026-12-29');
    expect(addBusinessDays(UK_CALENDAR, '2026-06-04', 0)).toBe('2026-06-04');
  });
});

describe('allocating a priced trade', () => {
  it('S1: three buyers of 100.00, 250.00 and 33.33 GBP at 1.2345', () => {
    const allocation = allocateTrade(
      [
        { orderId: 'o-1', side: 'buy', amountMinor: 10_000n },
        { orderId: 'o-2', side: 'buy', amountMinor: 25_000n },
        { orderId: 'o-3', side: 'buy', amountMinor: 3_333n },
      ],
      { price: price('1.2345'), buyCashFilledMinor: 38_333n, sellUnitsFilledMinor: 0n },
      { fund: 6, currency: 2 },
    );
    expect(allocation.orders.map((o) => formatAmount(o.unitsMinor, 6))).toEqual(['81.004455', '202.511138', '26.998784']);
    expect(formatAmount(allocation.buyUnitsExecutedMinor, 6)).toBe('310.514378');
    expect(formatAmount(allocation.residueUnitsMinor, 6)).toBe('0.000001');
    expect(allocation.orders.reduce((sum, o) => sum + o.unitsMinor, 0n) + allocation.residueUnitsMinor).toBe(allocation.buyUnitsExecutedMinor);
  });

  it('S2: buys of 10,000.00 GBP and sells of 3,000 units at 2.00 net to a buy of 2,000 units for 4,000.00', () => {
    const allocation = allocateTrade(
      [
        { orderId: 'b-1', side: 'buy', amountMinor: 600_000n },
        { orderId: 'b-2', side: 'buy', amountMinor: 400_000n },
        { orderId: 's-1', side: 'sell', amountMinor: 1_000_000_000n },
        { orderId: 's-2', side: 'sell', amountMinor: 2_000_000_000n },
      ],
      { price: price('2.00000000'), buyCashFilledMinor: 1_000_000n, sellUnitsFilledMinor: 3_000_000_000n },
      { fund: 6, currency: 2 },
    );
    expect(formatAmount(allocation.buyUnitsExecutedMinor - 3_000_000_000n, 6)).toBe('2000.000000');
    expect(formatAmount(1_000_000n - allocation.sellProceedsExecutedMinor, 2)).toBe('4000.00');
    const sellers = allocation.orders.filter((o) => o.orderId.startsWith('s')).reduce((sum, o) => sum + o.cashMinor, 0n);
    const buyers = allocation.orders.filter((o) => o.orderId.startsWith('b')).reduce((sum, o) => sum + o.unitsMinor, 0n);
    expect(formatAmount(sellers, 2)).toBe('6000.00');
    expect(formatAmount(buyers, 6)).toBe('5000.000000');
    expect(allocation.residueUnitsMinor).toBe(0n);
    expect(allocation.residueCashMinor).toBe(0n);
  });

  it('scales a partial fill over the orders by largest remainder, ties to the smaller order id', () => {
    const allocation = allocateTrade(
      [
        { orderId: 'o-b', side: 'buy', amountMinor: 100n },
        { orderId: 'o-a', side: 'buy', amountMinor: 100n },
      ],
      { price: price('1'), buyCashFilledMinor: 101n, sellUnitsFilledMinor: 0n },
      { fund: 6, currency: 2 },
    );
    expect(allocation.orders).toEqual([
      expect.objectContaining({ orderId: 'o-b', filledMinor: 50n }),
      expect.objectContaining({ orderId: 'o-a', filledMinor: 51n }),
    ]);
  });
});

describe('an order through the pure core', () => {
  const ledger = new ReferenceLedger(ledgerProcesses, assets, 4);
  let sequence = 0;
  const send = (process: string, payload: unknown, producedAt = '2026-06-01T10:00:00Z', commandId = `c-${(sequence += 1)}`) => {
    const command: Command = { commandId, process, memberId: 'M-1', potId: 'P-1', payload, effectiveDate: producedAt.slice(0, 10), producedAt };
    const answer = ledger.execute(command, `m-${commandId}`);
    if (answer.kind !== 'answered') throw new Error('conflict');
    return answer.outcome;
  };

  it('reserves, cannot be cancelled after the cut-off or once aggregated, allocates and settles', () => {
    send('pot.open', {});
    send('cash.deposit', { amount: '500.00', currency: 'GBP' });
    expect(send('order.buy', { fund: 'FUND-A', amount: '600.00', currency: 'GBP' })).toMatchObject({ kind: 'rejected', code: 'LEDGER_ERR_INSUFFICIENT_FUNDS' });
    expect(send('order.buy', { fund: 'FUND-A', amount: '100.00', currency: 'GBP' }, '2026-06-01T10:59:00Z', 'buy-1')).toMatchObject({ kind: 'applied' });
    expect(ledger.orders().get('buy-1')).toMatchObject({ status: 'open', dealingDate: '2026-06-01', amountMinor: 10_000n });
    expect(send('cash.withdraw', { amount: '400.01', currency: 'GBP' })).toMatchObject({ code: 'LEDGER_ERR_INSUFFICIENT_FUNDS' });
    expect(send('order.cancel', { orderId: 'buy-1' }, '2026-06-01T11:00:00Z')).toMatchObject({ code: 'LEDGER_ERR_ORDER_NOT_CANCELLABLE' });
    ledger.aggregate('FUND-A', '2026-06-01', 'T-1');
    expect(send('order.cancel', { orderId: 'buy-1' }, '2026-06-01T10:59:30Z')).toMatchObject({ code: 'LEDGER_ERR_ORDER_NOT_CANCELLABLE' });
    expect(send('order.allocate', { orderId: 'buy-1', tradeId: 'T-1', price: '1.2345', filled: '100.00' })).toMatchObject({ kind: 'applied' });
    expect(send('order.allocate', { orderId: 'buy-1', tradeId: 'T-1', price: '1.2345', filled: '100.00' })).toMatchObject({ code: 'LEDGER_ERR_ORDER_STATE_MISMATCH' });
    const balances = ledger.balances();
    expect(balances.get('pot:P-1:cash:GBP')).toBe(40_000n);
    expect(balances.get('pot:P-1:cash.reserved:GBP')).toBeUndefined();
    expect(balances.get('pot:P-1:units.pending:FUND-A')).toBe(81_004_455n);
    expect(send('order.settle', { orderId: 'buy-1', tradeId: 'T-1' })).toMatchObject({ kind: 'applied' });
    const settled = ledger.balances();
    expect(settled.get('pot:P-1:units:FUND-A')).toBe(81_004_455n);
    expect(settled.get('pot:P-1:units.pending:FUND-A')).toBeUndefined();
    // The partition's dealing cash nets to zero once the trade settled.
    expect([...settled].filter(([account]) => account.includes(':dealing.cash:'))).toEqual([]);
  });
});
