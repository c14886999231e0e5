import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assetCatalog, costOf, currency, DEFAULT_ASSETS, ledgerProcesses, parseRate, partitionOf, ReferenceLedger, RejectionCode, type Command } from '../../src/ledger/index.js';
import { checkProperty } from '../support/fast-check.js';

/**
 * S10: sending 100.00 EUR from a GBP pot at 1.17000000 EUR per GBP debits 85.48 GBP (rounded up, against
 * the payer); each currency balances on its own; the two legs are one movement, so neither posts alone.
 */
const assets = assetCatalog(DEFAULT_ASSETS);
const PARTITIONS = 4;
let sequence = 0;

function command(process: string, payload: unknown, potId = 'P-GBP'): Command {
  sequence += 1;
  return { commandId: `fx-${sequence}`, process, memberId: `M-${potId}`, potId, payload, effectiveDate: '2026-11-23', producedAt: '2026-11-23T09:00:00Z' };
}

function ledgerWith(gbp: string): ReferenceLedger {
  const ledger = new ReferenceLedger(ledgerProcesses, assets, PARTITIONS);
  ledger.execute(command('pot.open', {}), 'open');
  if (gbp !== '0') ledger.execute(command('cash.deposit', { amount: gbp, currency: 'GBP' }), 'deposit');
  return ledger;
}

/** Balances per asset over the whole ledger: every asset sums to zero. */
function totals(ledger: ReferenceLedger): Map<string, bigint> {
  const sums = new Map<string, bigint>();
  for (const [account, balance] of ledger.balances()) {
    const asset = account.split(':')[3] ?? '';
    sums.set(asset, (sums.get(asset) ?? 0n) + balance);
  }
  return sums;
}

function nonZero(ledger: ReferenceLedger): Record<string, bigint> {
  return Object.fromEntries([...ledger.balances()].filter(([, balance]) => balance !== 0n).sort(([a], [b]) => a.localeCompare(b)));
}

const send = { paymentId: 'PAY-EUR', payee: { memberId: 'M-P-EUR', potId: 'P-EUR' }, amount: '100.00', currency: 'EUR', exchange: { fromCurrency: 'GBP', rate: '1.17000000' } };

describe('S10: a cross-currency payment', () => {
  it('debits 85.48 GBP for 100.00 EUR at 1.17000000 EUR per GBP, both currencies through the liquidity accounts in one movement', () => {
    const ledger = ledgerWith('200.00');
    const answer = ledger.execute(command('payment.send', send), 'pay');
    expect(answer).toMatchObject({ kind: 'answered', outcome: { kind: 'applied' } });
    const partition = partitionOf('M-P-GBP', PARTITIONS);
    expect(ledger.movement('pay')?.movement.entries).toHaveLength(2);
    expect(nonZero(ledger)).toEqual({
      'pot:P-GBP:cash:GBP': 11_452n,
      [`system:p${partition}:external.bank:GBP`]: -20_000n,
      [`system:p${partition}:fx.liquidity:EUR`]: -10_000n,
      [`system:p${partition}:fx.liquidity:GBP`]: 8_548n,
      [`system:p${partition}:payments.clearing:EUR`]: 10_000n,
    });
    for (const [asset, total] of totals(ledger)) expect(total, asset).toBe(0n);
  });

  it('posts neither leg when the GBP leg fails: 85.47 GBP cannot buy 100.00 EUR', () => {
    const ledger = ledgerWith('85.47');
    const before = nonZero(ledger);
    const answer = ledger.execute(command('payment.send', send), 'pay');
    expect(answer).toMatchObject({ kind: 'answered', outcome: { kind: 'rejected', code: RejectionCode.insufficientFunds } });
    expect(ledger.movement('pay')).toBeUndefined();
    expect(nonZero(ledger)).toEqual(before);
  });

  it('is refunded at the same rate: the payer gets back exactly the 85.48 GBP it paid, and every liquidity and clearing account returns to zero', () => {
    const ledger = ledgerWith('200.00');
    ledger.execute(command('payment.send', send), 'pay');
    const refund = ledger.execute(command('payment.refund', {
      paymentId: 'PAY-EUR',
      amount: '100.00',
      currency: 'EUR',
      exchange: send.exchange,
      reason: 'payee closed',
    }), 'refund');
    expect(refund).toMatchObject({ outcome: { kind: 'applied' } });
    expect(Object.keys(nonZero(ledger)).sort()).toEqual(['pot:P-GBP:cash:GBP', `system:p${partitionOf('M-P-GBP', PARTITIONS)}:external.bank:GBP`].sort());
    expect(ledger.balances().get('pot:P-GBP:cash:GBP')).toBe(20_000n);
  });

  it('refuses an exchange between a currency and itself, an unknown currency, a zero rate or a fund code', () => {
    const ledger = ledgerWith('200.00');
    const cases: [unknown, string][] = [
      [{ ...send, exchange: { fromCurrency: 'EUR', rate: '1.17' } }, RejectionCode.invalidPayload],
      [{ ...send, exchange: { fromCurrency: 'XXX', rate: '1.17' } }, RejectionCode.unknownAsset],
      [{ ...send, exchange: { fromCurrency: 'GBP', rate: '0.00' } }, RejectionCode.invalidAmount],
    ];
    for (const [payload, code] of cases) expect(ledger.execute(command('payment.send', payload), `bad-${code}`)).toMatchObject({ outcome: { kind: 'rejected', code } });
    expect(ledger.execute(command('fx.convert', { amount: '1.00', currency: 'EUR', fromCurrency: 'FUND-A', rate: '1' }), 'fund')).toMatchObject({
      outcome: { code: RejectionCode.invalidPayload },
    });
  });
});

describe('fx.convert', () => {
  it("converts within the pot: 100.00 EUR for 85.48 GBP, each currency balancing through the partition's liquidity", () => {
    const ledger = ledgerWith('200.00');
    expect(ledger.execute(command('fx.convert', { amount: '100.00', currency: 'EUR', fromCurrency: 'GBP', rate: '1.17000000' }), 'convert')).toMatchObject({
      outcome: { kind: 'applied' },
    });
    expect(ledger.balances().get('pot:P-GBP:cash:GBP')).toBe(11_452n);
    expect(ledger.balances().get('pot:P-GBP:cash:EUR')).toBe(10_000n);
    for (const [asset, total] of totals(ledger)) expect(total, asset).toBe(0n);
  });
});

describe('costOf rounds against the payer', () => {
  it('charges the least amount of the sold currency that buys at least the amount bought', () => {
    const gbp = currency('GBP');
    const jpy = currency('JPY', 0);
    const scales = fc.constantFrom(gbp, jpy, currency('BHD', 3));
    checkProperty(
      'fx cost rounds up',
      fc.property(
        scales,
        scales,
        fc.bigInt({ min: 1n, max: 10n ** 12n }),
        fc.bigInt({ min: 1n, max: 10n ** 12n }),
        fc.integer({ min: 0, max: 8 }),
        (bought, sold, amountMinor, mantissa, rateScale) => {
          const rate = { mantissa, scale: rateScale };
          const cost = costOf(amountMinor, bought, sold, rate);
          // cost (in sold minor units) × rate covers the amount bought; one minor unit less does not.
          const value = (soldMinor: bigint): bigint => soldMinor * mantissa * 10n ** BigInt(bought.scale);
          const needed = amountMinor * 10n ** BigInt(rateScale + sold.scale);
          expect(value(cost) >= needed).toBe(true);
          expect(value(cost - 1n) < needed).toBe(true);
        },
      ),
    );
    const rate = parseRate('1.17000000');
    expect(rate.ok && costOf(10_000n, currency('EUR'), gbp, rate.value)).toBe(8_548n);
  });
});
