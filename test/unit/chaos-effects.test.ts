import { describe, expect, it } from 'vitest';
import { assetCatalog, DEFAULT_ASSETS, ledgerProcesses, ReferenceLedger, type Command } from '../../src/ledger/index.js';
import { checkEffects, referencePostings, type ObservedLedger } from '../chaos/effects.js';

/*
 * The chaos run's "nothing applied twice" check (test/chaos/effects.ts), fed a clean ledger and ledgers
 * where one command took effect twice, in each of the ways that could really show past the journal's
 * unique command_id.
 */

const ASSETS = assetCatalog(DEFAULT_ASSETS);
const PARTITIONS = 4;

function command(commandId: string, process: string, payload: unknown, pot = 'P-1'): Command {
  return { commandId, process, memberId: `M-${pot}`, potId: pot, payload, effectiveDate: '2026-03-31', producedAt: '2026-03-31T09:00:00Z' };
}

/** Two pots opened, deposits, a withdrawal, a refused withdrawal and a re-sent deposit. */
const COMMANDS: readonly Command[] = [
  command('open-1', 'pot.open', {}),
  command('open-2', 'pot.open', {}, 'P-2'),
  command('C-1', 'cash.deposit', { amount: '100.00', currency: 'GBP' }),
  command('C-2', 'cash.deposit', { amount: '25.50', currency: 'GBP' }, 'P-2'),
  command('C-3', 'cash.withdraw', { amount: '40.00', currency: 'GBP' }),
  command('C-4', 'cash.withdraw', { amount: '1000.00', currency: 'GBP' }, 'P-2'),
  command('C-1', 'cash.deposit', { amount: '100.00', currency: 'GBP' }),
];

/** The pure core fed `commands` in order, movement ids `m-<commandId>`: the reference, or a journal's stand-in. */
function run(commands: readonly Command[]): ReferenceLedger {
  const ledger = new ReferenceLedger(ledgerProcesses, ASSETS, PARTITIONS);
  for (const each of commands) ledger.execute(each, `m-${each.commandId}`);
  return ledger;
}

/** What the journal and the event stream would hold had they applied exactly what `ledger` did. */
function observedOf(ledger: ReferenceLedger): ObservedLedger {
  const outcomes = [...ledger.outcomes()].map(([commandId, outcome]) => ({
    commandId,
    status: outcome.kind,
    movementId: outcome.kind === 'rejected' ? null : outcome.movement.movementId,
  }));
  return {
    movements: outcomes.flatMap((outcome) => (outcome.movementId === null ? [] : [{ movementId: outcome.movementId, commandId: outcome.commandId }])),
    postings: referencePostings(ledger),
    outcomes,
    events: outcomes.map((outcome) => ({ messageId: outcome.movementId ?? `rejected-${outcome.commandId}`, commandId: outcome.commandId })),
  };
}

/**
 * A journal where C-1 took effect a second time (planned again and committed as movement m-again):
 * the broken ledger ran it under a scratch id, which is then renamed to C-1 as a faulty store would write it.
 */
function doubledJournal(): ObservedLedger {
  const broken = run([...COMMANDS, { ...command('scratch', 'cash.deposit', { amount: '100.00', currency: 'GBP' }) }]);
  const observed = observedOf(broken);
  const rename = (id: string) => (id === 'm-scratch' ? 'm-again' : id);
  return {
    movements: observed.movements.map((movement) => (movement.commandId === 'scratch' ? { movementId: 'm-again', commandId: 'C-1' } : movement)),
    postings: observed.postings.map((posting) => ({ ...posting, movementId: rename(posting.movementId) })),
    outcomes: observed.outcomes.filter((outcome) => outcome.commandId !== 'scratch'),
    events: observed.events.filter((event) => event.commandId !== 'scratch'),
  };
}

describe('the chaos effect check', () => {
  const reference = run(COMMANDS);

  it('passes on a clean ledger', () => {
    const check = checkEffects(observedOf(run(COMMANDS)), reference);
    expect(check).toEqual({ commands: 6, doubled: [], problems: [], problemCount: 0 });
  });

  it('fails on a doubled movement of one command id', () => {
    const check = checkEffects(doubledJournal(), reference);
    expect(check.doubled).toEqual(['C-1']);
    expect(check.problems).toContain('C-1: 2 movements, expected 1');
    expect(check.problems).toContain('movement m-again of C-1: the command\'s outcome names m-C-1');
    expect(check.problems).toContain('pot:P-1:cash:GBP@3: journal debit 10000 by m-again#0 to 16000, reference nothing');
    expect(check.problemCount).toBe(4);
  });

  it('fails on a second application under a command id no outcome has', () => {
    const doubled = doubledJournal();
    const check = checkEffects({ ...doubled, movements: doubled.movements.map((m) => (m.movementId === 'm-again' ? { ...m, commandId: 'C-1/again' } : m)) }, reference);
    expect(check.doubled).toEqual([]);
    expect(check.problems).toContain('C-1/again: 1 movements, expected 0 (the reference never saw this command)');
    expect(check.problems.some((line) => line.startsWith('pot:P-1:cash:GBP@3: journal debit 10000 by m-again#0'))).toBe(true);
  });

  it('fails on postings written twice with no movement of their own', () => {
    const doubled = doubledJournal();
    const check = checkEffects({ ...doubled, movements: doubled.movements.filter((m) => m.movementId !== 'm-again') }, reference);
    expect(check.problemCount).toBeGreaterThan(0);
    expect(check.problems.every((line) => line.includes('m-again'))).toBe(true);
  });

  it('fails on two events for one command under different message ids', () => {
    const clean = observedOf(run(COMMANDS));
    const check = checkEffects({ ...clean, events: [...clean.events, { messageId: 'm-C-2-again', commandId: 'C-2' }] }, reference);
    expect(check.doubled).toEqual(['C-2']);
    expect(check.problems).toEqual(['C-2: 2 events, expected 1']);
  });

  it('fails on a command the reference applied and the journal lost', () => {
    const clean = observedOf(run(COMMANDS));
    const check = checkEffects({
      ...clean,
      movements: clean.movements.filter((m) => m.commandId !== 'C-3'),
      postings: clean.postings.filter((p) => p.movementId !== 'm-C-3'),
    }, reference);
    expect(check.problems).toContain('C-3: 0 movements, expected 1');
  });
});
