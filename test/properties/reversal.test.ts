import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatAmount, RejectionCode, type Answer } from '../../src/ledger/index.js';
import { checkProperty } from '../support/fast-check.js';
import { MONEY_PROCESSES, commandOf, knownCurrencyCode, ledgerSequence, potId } from './arbitraries.js';
import { appliedMovement, executeAll, expectDeepEqual, freshLedger } from './ledger-checks.js';

/** A movement to make and then reverse: any money process or a transfer, mostly small, in any currency. */
const movementToReverse = fc.record({
  potId,
  process: fc.oneof({ weight: 3, arbitrary: fc.constant<string>('cash.deposit') }, { weight: 5, arbitrary: fc.constantFrom<string>(...MONEY_PROCESSES, 'cash.transfer') }),
  currency: knownCurrencyCode,
  amountMinor: fc.bigInt(1n, 30_000n),
  toPrepaid: fc.boolean(),
});

const codeOf = (answer: Answer): string | undefined =>
  answer.kind === 'conflict' ? answer.rejection.code : answer.outcome.kind === 'rejected' ? answer.outcome.code : undefined;

describe('movement.reverse', () => {
  it('restores every balance, and refuses to reverse the same movement (or the reversal) again', () => {
    let reversed = 0;
    checkProperty(
      'reversal restores balances',
      fc.property(ledgerSequence({ maxLength: 16 }), movementToReverse, (prefix, target) => {
        const ledger = freshLedger();
        executeAll(ledger, prefix);
        const before = ledger.balances();
        const amount = formatAmount(target.amountMinor, 2);
        const [source, side] = target.toPrepaid ? ['cash', 'cash.prepaid'] : ['cash.prepaid', 'cash'];
        const payload = target.process === 'cash.transfer' ? { amount, currency: target.currency, source, target: side } : { amount, currency: target.currency };
        const made = ledger.execute(commandOf('x-made', target.process, target.potId, payload), 'x-movement');
        const movement = appliedMovement(made);
        if (movement === undefined) return;

        const reverse = (commandId: string, movementId: string) =>
          ledger.execute(commandOf(commandId, 'movement.reverse', target.potId, { movementId }), `${commandId}-movement`);
        const reversal = reverse('x-reverse', movement.movementId);
        const reversalMovement = appliedMovement(reversal);
        expect(reversal.kind === 'answered' && reversal.outcome.kind, 'reversing the movement just made').toBe('applied');
        expect(reversalMovement?.reverses).toBe(movement.movementId);
        expectDeepEqual(ledger.balances(), before);
        reversed += 1;

        const afterReversal = ledger.balances();
        expect(codeOf(reverse('x-reverse-again', movement.movementId))).toBe(RejectionCode.movementNotReversible);
        expect(codeOf(reverse('x-reverse-reversal', 'x-reverse-movement'))).toBe(RejectionCode.movementNotReversible);
        expectDeepEqual(ledger.balances(), afterReversal);
      }),
    );
    expect(reversed, 'no movement was ever reversed: the property is vacuous').toBeGreaterThan(0);
  });
});
