import fc from 'fast-check';
import { describe, it } from 'vitest';
import { outcomeFromWire, outcomeToWire, type WireOutcome } from '../../src/ledger/index.js';
import { checkProperty } from '../support/fast-check.js';
import { ASSETS, ledgerSequence } from './arbitraries.js';
import { executeAll, expectDeepEqual, freshLedger } from './ledger-checks.js';

describe('outcomes on the wire', () => {
  it('read back exactly what was written, through JSON text', () => {
    checkProperty(
      'wire round trip of outcomes',
      fc.property(ledgerSequence(), (steps) => {
        executeAll(freshLedger(), steps, ({ answer }) => {
          if (answer.kind !== 'answered') return;
          const text = JSON.stringify(outcomeToWire(answer.outcome, ASSETS));
          expectDeepEqual(outcomeFromWire(JSON.parse(text) as WireOutcome, ASSETS), answer.outcome);
        });
      }),
    );
  });
});
