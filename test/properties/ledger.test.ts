import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isRejection, ledgerProcesses, partitionOf, type PlanInput } from '../../src/ledger/index.js';
import { checkProperty } from '../support/fast-check.js';
import { PARTITION_COUNT, ledgerSequence, planContext } from './arbitraries.js';
import {
  appliedMovement,
  brokenInvariants,
  executeAll,
  expectDeepEqual,
  freshLedger,
  movementDefects,
  unbalancedAssets,
  viewOf,
} from './ledger-checks.js';

describe('the reference ledger over random sequences of commands', () => {
  it('conserves every asset: each sums to zero over all accounts after every step', () => {
    checkProperty(
      'conservation',
      fc.property(ledgerSequence(), (steps) => {
        executeAll(freshLedger(), steps, ({ after }) => {
          expectDeepEqual(unbalancedAssets(after), new Map());
        });
      }),
    );
  });

  it('never lets an applied or corrected movement break an invariant of any account', () => {
    checkProperty(
      'invariants hold after every movement',
      fc.property(ledgerSequence(), (steps) => {
        executeAll(freshLedger(), steps, ({ answer, after }) => {
          if (appliedMovement(answer) === undefined) return;
          expectDeepEqual(brokenInvariants(after), []);
        });
      }),
    );
  });

  it('corrects only into sound movements, and records as original what plan alone gives', () => {
    let corrections = 0;
    checkProperty(
      'corrections are sound',
      fc.property(ledgerSequence(), (steps) => {
        const ledger = freshLedger();
        for (const step of steps) {
          const view = viewOf(ledger, step.command);
          const answer = ledger.execute(step.command, step.movementId);
          if (answer.kind !== 'answered' || answer.replayed || answer.outcome.kind !== 'corrected') continue;
          corrections += 1;
          const { movement, original, violations } = answer.outcome;
          expectDeepEqual(movementDefects(movement, view.balances), []);
          expect(violations.length).toBeGreaterThan(0);
          const process = ledgerProcesses.find(step.command.process);
          if (process === undefined) throw new Error(`a corrected outcome of unknown process ${step.command.process}`);
          const input: PlanInput<unknown> = {
            ...view,
            command: step.command,
            payload: process.payload.parse(step.command.payload),
            partition: partitionOf(process.partitionKey(step.command), PARTITION_COUNT),
            ctx: planContext(step.movementId),
          };
          const planned = process.plan(input);
          expect(isRejection(planned)).toBe(false);
          expectDeepEqual(original, planned);
          // The plan alone would have broken an invariant: that is why it was corrected.
          expect(movementDefects({ ...movement, entries: original.entries }, view.balances).length).toBeGreaterThan(0);
        }
      }),
    );
    expect(corrections, 'the sequences produced no correction at all: the property is vacuous').toBeGreaterThan(0);
  });
});
