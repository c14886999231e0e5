import { describe, expect, it } from 'vitest';
import { assetCatalog, DEFAULT_ASSETS, ledgerProcesses, ReferenceLedger, RejectionCode, type Command } from '../../src/ledger/index.js';

function command(commandId: string, process: string, payload: unknown, overrides: Partial<Command> = {}): Command {
  return { commandId, process, memberId: 'M-1', potId: 'P-1', payload, effectiveDate: '2026-03-31', producedAt: '2026-03-31T09:00:00Z', ...overrides };
}

function ledger(): ReferenceLedger {
  const fresh = new ReferenceLedger(ledgerProcesses, assetCatalog(DEFAULT_ASSETS), 4);
  fresh.execute(command('open', 'pot.open', {}), 'm-open');
  return fresh;
}

describe('ReferenceLedger idempotency', () => {
  it('answers a repeat from the first outcome, even with another producedAt, and applies it once', () => {
    const reference = ledger();
    const first = reference.execute(command('C-1', 'cash.deposit', { amount: '10.00', currency: 'GBP' }), 'm-1');
    const again = reference.execute(command('C-1', 'cash.deposit', { currency: 'GBP', amount: '10.00' }, { producedAt: '2026-04-01T00:00:00Z' }), 'm-2');
    expect(first).toMatchObject({ kind: 'answered', replayed: false, outcome: { kind: 'applied' } });
    expect(again).toEqual({ ...first, replayed: true });
    expect(reference.balances().get('pot:P-1:cash:GBP')).toBe(1_000n);
  });

  it('refuses a reused commandId with another payload, and changes nothing', () => {
    const reference = ledger();
    reference.execute(command('C-1', 'cash.deposit', { amount: '10.00', currency: 'GBP' }), 'm-1');
    const before = reference.balances();
    const reused = reference.execute(command('C-1', 'cash.deposit', { amount: '10.0', currency: 'GBP' }), 'm-2');
    expect(reused.kind === 'conflict' && reused.rejection.code).toBe(RejectionCode.idempotencyConflict);
    expect(reference.balances()).toEqual(before);
    expect(reference.movement('m-2')).toBeUndefined();
  });

  it('does not record a command whose envelope is malformed', () => {
    const reference = ledger();
    const bad = command('C-1', 'cash.deposit', { amount: '10.00', currency: 'GBP' }, { effectiveDate: '2026-02-30' });
    expect(reference.execute(bad, 'm-1')).toMatchObject({ kind: 'answered', replayed: false, outcome: { code: RejectionCode.invalidCommand } });
    expect(reference.outcome('C-1')).toBeUndefined();
    expect(reference.execute(command('C-1', 'cash.deposit', { amount: '10.00', currency: 'GBP' }), 'm-1')).toMatchObject({ replayed: false, outcome: { kind: 'applied' } });
  });

  // A key holding undefined (only an in-process caller can send one; JSON cannot carry it) makes the
  // command "not plain JSON": answered, not recorded, so the clean retry under the same id is applied.
  it('applies a clean retry after an attempt that only differed by an undefined key', () => {
    const reference = ledger();
    const first = reference.execute(command('C-1', 'cash.deposit', { amount: '10.00', currency: 'GBP', memo: undefined }), 'm-1');
    expect(first).toMatchObject({ kind: 'answered', replayed: false, outcome: { code: RejectionCode.invalidCommand } });
    expect(reference.outcome('C-1')).toBeUndefined();
    const retry = reference.execute(command('C-1', 'cash.deposit', { amount: '10.00', currency: 'GBP' }), 'm-2');
    expect(retry).toMatchObject({ kind: 'answered', outcome: { kind: 'applied' } });
  });
});
