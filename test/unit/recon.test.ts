import { describe, expect, it } from 'vitest';
import { assetCatalog, DEFAULT_ASSETS } from '../../src/ledger/index.js';
import { reconcile, type LedgerPositions } from '../../src/recon/reconcile.js';
import { bankStatementCsv, custodianStatementCsv, custodianStatementOf, StatementError } from '../../src/recon/statements.js';

const assets = assetCatalog(DEFAULT_ASSETS);

const ledger = (over: Partial<LedgerPositions> = {}): LedgerPositions => ({
  asOf: '2026-06-03',
  settledUnits: new Map([['FUND-A', 1_000_000_000_000n]]),
  openTrades: [{ tradeId: 'T-FUND-A-2026-06-03', fund: 'FUND-A', currency: 'GBP', settlementDate: '2026-06-05', netUnitsMinor: 310_514_378n, netCashMinor: 38_333n }],
  settlingTrades: [],
  bank: new Map([['GBP', 1_234_567_890n]]),
  prices: new Map([['FUND-A', '1.23450000']]),
  ...over,
});

describe('reconciliation', () => {
  it('S6: a custody break of 0.500000 units, valued at the price; none when the custodian agrees', () => {
    const bank = { asOf: '2026-06-03', balances: new Map([['GBP', 1_234_567_890n]]) };
    const statement = (settled: string) =>
      custodianStatementOf({
        asOf: '2026-06-03',
        holdings: [{ fund: 'FUND-A', units: settled }],
        openTrades: [{ tradeId: 'T-FUND-A-2026-06-03', fund: 'FUND-A', units: '310.514378' }],
      }, assets);
    const breaks = reconcile(ledger(), statement('999999.500000'), bank, assets);
    expect(breaks).toEqual([
      expect.objectContaining({ kind: 'units-settled', asset: 'FUND-A', differenceMinor: -500_000n, valueMinor: -61n, valueCurrency: 'GBP', classification: 'unexplained' }),
    ]);
    expect(reconcile(ledger(), statement('1000000.000000'), bank, assets)).toEqual([]);
  });

  it('S7: pot cash of 12,345,678.90 GBP against a bank showing 12,345,600.00 is a shortfall of 78.90', () => {
    const custodian = {
      asOf: '2026-06-03',
      holdings: new Map([['FUND-A', 1_000_000_000_000n]]),
      openTrades: [{ tradeId: 'T-FUND-A-2026-06-03', fund: 'FUND-A', unitsMinor: 310_514_378n }],
    };
    const breaks = reconcile(ledger(), custodian, { asOf: '2026-06-03', balances: new Map([['GBP', 1_234_560_000n]]) }, assets);
    expect(breaks).toEqual([expect.objectContaining({ kind: 'cash', asset: 'GBP', ledgerMinor: 1_234_567_890n, differenceMinor: -7_890n, classification: 'unexplained' })]);
  });

  it('classifies a trade the custodian holds and the ledger does not as missing, and a settling trade as timing', () => {
    const custodian = {
      asOf: '2026-06-03',
      holdings: new Map([['FUND-A', 1_000_310_514_378n]]),
      openTrades: [{ tradeId: 'T-FUND-A-2026-06-03', fund: 'FUND-A', unitsMinor: 310_514_378n }, { tradeId: 'T-X', fund: 'FUND-A', unitsMinor: 5n }],
    };
    const settlingTrades = [{ tradeId: 'T-FUND-A-2026-06-01', fund: 'FUND-A', currency: 'GBP', settlementDate: '2026-06-03', netUnitsMinor: 310_514_378n, netCashMinor: 38_333n }];
    const breaks = reconcile(ledger({ settlingTrades }), custodian, { asOf: '2026-06-03', balances: new Map([['GBP', 1_234_567_890n - 38_333n]]) }, assets);
    expect(breaks.map((b) => [b.kind, b.reference ?? b.asset, b.classification])).toEqual([
      ['units-settled', 'FUND-A', 'timing'],
      ['open-trade', 'T-X', 'missing-trade'],
      ['cash', 'GBP', 'timing'],
    ]);
  });

  it('reads statements as CSV, refusing a malformed one with every problem named', () => {
    const custodian = custodianStatementCsv('as_of,record,fund,trade_id,units\n2026-06-03,holding,FUND-A,,999999.500000\n2026-06-03,open-trade,FUND-A,T-1,310.514378\n', assets);
    expect(custodian.holdings.get('FUND-A')).toBe(999_999_500_000n);
    expect(custodian.openTrades).toEqual([{ tradeId: 'T-1', fund: 'FUND-A', unitsMinor: 310_514_378n }]);
    expect(bankStatementCsv('as_of,currency,balance\n2026-06-03,GBP,12345600.00\n', assets).balances.get('GBP')).toBe(1_234_560_000n);
    expect(() => custodianStatementCsv('as_of,record,fund,trade_id,units\n2026-06-03,holding,FUND-A,,1.0000001\n2026-06-03,stock,FUND-A,,1\n', assets)).toThrow(StatementError);
    expect(() => bankStatementCsv('as_of,currency,balance\n2026-06-03,GBP,1.00\n2026-06-04,EUR,1.00\n', assets)).toThrow(/same as_of/);
  });
});
