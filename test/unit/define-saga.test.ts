import { describe, expect, it } from 'vitest';
import { paymentSaga } from '../../src/payments/sagas.js';
import { defineSaga, type CommandOutcome, type StateSpec } from '../../src/sagas/index.js';

/**
 * defineSaga refuses a definition that could not be driven safely (the negative space of
 * test/properties/sagas.test.ts): a cycle, a state that leads nowhere or to no state, a step name used
 * twice, no final state, no example; and a transition to a state its step does not declare crashes.
 */
type Data = { readonly n: number };
const pot = { memberId: 'm', potId: 'p' };
const step = (name: string, to: readonly string[], next: string) => ({
  step: name,
  process: 'cash.deposit' as const,
  command: () => ({ pot, payload: { amount: '1.00', currency: 'GBP' } }),
  to,
  on: () => ({ to: next }),
});

function define(states: Record<string, StateSpec<string, Data>>, examples: readonly Data[] = [{ n: 1 }]) {
  return defineSaga<Data>()({ name: 'test-saga', describe: 'a test', states, examples });
}

describe('defineSaga', () => {
  it('derives the final, paused and driven states and the command ids from one declaration', () => {
    expect(paymentSaga.states).toEqual(['requested', 'in-flight', 'review', 'completed', 'refunding', 'refunded', 'rejected']);
    expect(paymentSaga.final).toEqual(['completed', 'refunded', 'rejected']);
    expect(paymentSaga.paused).toEqual(['review']);
    expect(paymentSaga.driven).toEqual(['requested', 'in-flight', 'refunding']);
    expect(paymentSaga.commandId('pay-1', 'debit')).toBe('payment:pay-1:debit');
    const saga = define({ start: step('go', ['end'], 'end'), end: { final: true } });
    expect(saga.commandId('x', 'go')).toBe('test-saga:x:go');
    expect(saga.commandId('x', 'go', 'k')).toBe('test-saga:x:go:k');
    expect(saga.rank('end')).toBeGreaterThan(saga.rank('start'));
  });

  it('refuses a cycle, a target that is not a state, a state leading nowhere, a step named twice, no final state, no example', () => {
    expect(() => define({ a: step('one', ['b'], 'b'), b: step('two', ['a', 'end'], 'a'), end: { final: true } })).toThrow(/cycle/);
    expect(() => define({ a: step('one', ['nowhere'], 'nowhere'), end: { final: true } })).toThrow(/not a state/);
    expect(() => define({ a: step('one', [], 'end'), end: { final: true } })).toThrow(/leads nowhere/);
    expect(() => define({ a: step('one', ['b'], 'b'), b: step('one', ['end'], 'end'), end: { final: true } })).toThrow(/declared twice/);
    expect(() => define({ a: step('one', ['b'], 'b'), b: { paused: { decisions: { go: 'a' } } } })).toThrow(/cycle|no final state/);
    expect(() => define({ a: step('one', ['end'], 'end'), end: { final: true } }, [])).toThrow(/example/);
  });

  it('crashes on a transition to a state its step does not declare, and on an outcome in a state that sends nothing', () => {
    const saga = define({ a: step('one', ['b'], 'end'), b: step('two', ['end'], 'end'), end: { final: true } });
    const applied: CommandOutcome = { kind: 'applied' };
    expect(() => saga.transition('a', applied, { n: 1 })).toThrow(/does not declare/);
    expect(saga.transition('b', applied, { n: 1 })).toEqual({ to: 'end' });
    expect(() => saga.transition('end', applied, { n: 1 })).toThrow(/sends nothing/);
    expect(() => saga.transition('b', { kind: 'fanned-out', commands: 0, applied: 0, rejected: [] }, { n: 1 })).toThrow(/fanned-out outcome/);
  });

  it('takes an operator decision only in a paused state, and only one it declares', () => {
    const reviewed = { paymentId: 'p', kind: 'payment', detail: {}, payer: pot, payee: pot, amount: '1.00', currency: 'GBP', createdAt: '', updatedAt: '' };
    expect(paymentSaga.decide('review', { decision: 'released', by: 'op' }, reviewed)).toEqual({ to: 'in-flight' });
    expect(paymentSaga.decide('review', { decision: 'rejected', by: 'op', note: 'no' }, reviewed)).toEqual({ to: 'refunding', reason: 'rejected in review by op: no' });
    expect(paymentSaga.decide('review', { decision: 'maybe', by: 'op' }, reviewed)).toBeUndefined();
    expect(paymentSaga.decide('in-flight', { decision: 'released', by: 'op' }, reviewed)).toBeUndefined();
  });
});
