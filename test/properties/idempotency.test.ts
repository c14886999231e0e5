import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { commandFingerprint, envelopeRejection, RejectionCode, type Answer, type Outcome } from '../../src/ledger/index.js';
import { checkProperty } from '../support/fast-check.js';
import { anyCommand, ledgerSequence, repeatPlans, withRepeats } from './arbitraries.js';
import { executeAll, expectDeepEqual, freshLedger } from './ledger-checks.js';

describe('idempotency by commandId', () => {
  it('ends a sequence with repeats and conflicting reuses exactly as the sequence of first commands', () => {
    let repeats = 0;
    let conflicts = 0;
    checkProperty(
      'idempotency',
      fc.property(ledgerSequence({ maxLength: 18, repeats: false }), repeatPlans, (once, plans) => {
        const single = freshLedger();
        const singleAnswers = executeAll(single, once);
        const firstAnswer = new Map<string, Answer>();
        once.forEach(({ command }, index) => {
          const answer = singleAnswers[index];
          if (answer !== undefined && !firstAnswer.has(command.commandId)) firstAnswer.set(command.commandId, answer);
        });

        const repeated = freshLedger();
        executeAll(repeated, withRepeats(once, plans), ({ step, answer, before, after }) => {
          if (step.role === 'first') return;
          expectDeepEqual(after, before, 'a repeat or a conflicting reuse changed balances');
          if (envelopeRejection(step.command) !== undefined) {
            // A malformed envelope is never recorded: it is answered afresh each time, and rejected again.
            expect(answer.kind === 'answered' && !answer.replayed && answer.outcome.kind === 'rejected' && answer.outcome.code).toBe(
              RejectionCode.invalidCommand,
            );
            return;
          }
          const original = firstAnswer.get(step.command.commandId);
          if (original === undefined) throw new Error(`no first answer for ${step.command.commandId}`);
          if (step.role === 'repeat') {
            repeats += 1;
            expect(answer.kind === 'answered' && answer.replayed).toBe(true);
            if (answer.kind === 'answered' && original.kind === 'answered') expectDeepEqual(answer.outcome, original.outcome);
          } else {
            conflicts += 1;
            expect(answer.kind).toBe('conflict');
            if (answer.kind === 'conflict') expect(answer.rejection.code).toBe(RejectionCode.idempotencyConflict);
          }
        });

        expectDeepEqual(repeated.balances(), single.balances());
        expectDeepEqual(repeated.outcomes(), single.outcomes());
        expectDeepEqual(repeated.pots(), single.pots());
        expectDeepEqual(repeated.postings(), single.postings());
      }),
    );
    expect(repeats).toBeGreaterThan(0);
    expect(conflicts).toBeGreaterThan(0);
  });

  it('answers commands with pooled ids as first, replayed or conflicting, by what was recorded under the id', () => {
    checkProperty(
      'idempotency with pooled command ids',
      fc.property(fc.array(anyCommand, { maxLength: 30, size: 'max' }), (commands) => {
        const ledger = freshLedger();
        const recorded = new Map<string, { fingerprint: string; outcome: Outcome }>();
        commands.forEach((command, index) => {
          const before = ledger.balances();
          const answer = ledger.execute(command, `m-${index}`);
          if (envelopeRejection(command) !== undefined) {
            expect(answer.kind === 'answered' && answer.outcome.kind === 'rejected' && answer.outcome.code).toBe(RejectionCode.invalidCommand);
            return;
          }
          const fingerprint = commandFingerprint(command);
          const earlier = recorded.get(command.commandId);
          if (earlier === undefined) {
            expect(answer.kind === 'answered' && !answer.replayed).toBe(true);
            if (answer.kind === 'answered') recorded.set(command.commandId, { fingerprint, outcome: answer.outcome });
            return;
          }
          expectDeepEqual(ledger.balances(), before);
          if (earlier.fingerprint === fingerprint) expectDeepEqual(answer, { kind: 'answered', outcome: earlier.outcome, replayed: true });
          else expect(answer.kind === 'conflict' && answer.rejection.code).toBe(RejectionCode.idempotencyConflict);
        });
      }),
    );
  });
});
