import fc from 'fast-check';
import { describe, it } from 'vitest';
import { envelopeRejection, ledgerProcesses, run } from '../../src/ledger/index.js';
import { checkProperty } from '../support/fast-check.js';
import { ledgerSequence, planContext } from './arbitraries.js';
import { executeAll, expectDeepEqual, freshLedger, viewOf } from './ledger-checks.js';

describe('determinism', () => {
  it('gives the same answers and balances when the same commands run through two fresh ledgers', () => {
    checkProperty(
      'determinism of the reference ledger',
      fc.property(ledgerSequence(), (steps) => {
        const first = freshLedger();
        const second = freshLedger();
        const firstAnswers = executeAll(first, steps);
        const secondAnswers = executeAll(second, steps);
        expectDeepEqual(secondAnswers, firstAnswers);
        expectDeepEqual(second.balances(), first.balances());
        expectDeepEqual(second.versions(), first.versions());
        expectDeepEqual(second.pots(), first.pots());
        expectDeepEqual(second.postings(), first.postings());
      }),
    );
  });

  it('gives deep-equal outcomes when run() is called twice on the same input, equal to what the ledger answered', () => {
    checkProperty(
      'determinism of run',
      fc.property(ledgerSequence(), (steps) => {
        const ledger = freshLedger();
        for (const { command, movementId } of steps) {
          const fresh = ledger.outcome(command.commandId) === undefined;
          const view = viewOf(ledger, command);
          const once = run(ledgerProcesses, command, view, planContext(movementId));
          const twice = run(ledgerProcesses, command, view, planContext(movementId));
          expectDeepEqual(twice, once);
          const answer = ledger.execute(command, movementId);
          if (fresh || envelopeRejection(command) !== undefined) expectDeepEqual(answer, { kind: 'answered', outcome: once, replayed: false });
        }
      }),
    );
  });
});
