import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ledgerProcesses, partitionOf, RejectionCode, run, type Outcome } from '../../src/ledger/index.js';
import { checkProperty } from '../support/fast-check.js';
import { PARTITION_COUNT, processInput, type ProcessInput } from './arbitraries.js';
import { brokenInvariants, expectDeepEqual, movementDefects, unbalancedAssets } from './ledger-checks.js';

/*
 * One property per registered process, generated from the registry: adding a process to
 * src/ledger/processes/index.ts adds its test here. Inputs come from the process's own zod schema.
 */

const REJECTION_CODES = new Set<string>(Object.values(RejectionCode));

function runSafely(input: ProcessInput): Outcome {
  try {
    return run(ledgerProcesses, input.command, input.view, input.ctx);
  } catch (error) {
    throw new Error(`run threw for ${JSON.stringify(input.command, (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}`, { cause: error });
  }
}

function expectSoundOutcome(input: ProcessInput, outcome: Outcome): void {
  switch (outcome.kind) {
    case 'rejected':
      expect(REJECTION_CODES.has(outcome.code), `unknown rejection code ${outcome.code}`).toBe(true);
      expect(typeof outcome.reason === 'string' && outcome.reason.length > 0, 'a rejection carries a reason').toBe(true);
      return;
    case 'applied':
    case 'corrected': {
      const { movement } = outcome;
      expectDeepEqual(movementDefects(movement, input.view.balances), []);
      expect(movement.commandId).toBe(input.command.commandId);
      expect(movement.potId).toBe(input.command.potId);
      expect(movement.memberId).toBe(input.command.memberId);
      expect(movement.movementId).toBe(input.ctx.movementId);
      expect(movement.partition).toBe(partitionOf(input.command.memberId, PARTITION_COUNT));
      return;
    }
    default:
      throw new Error(`run returned an outcome of unknown kind: ${JSON.stringify((outcome as { kind?: unknown }).kind)}`);
  }
}

describe('every registered process, with inputs from its payload schema', () => {
  for (const process of ledgerProcesses.list()) {
    it(process.name, () => {
      checkProperty(
        `process ${process.name}`,
        fc.property(processInput(process), (input) => {
          // The generator's promise first: a consistent view (each asset sums to zero, no invariant broken).
          expectDeepEqual(unbalancedAssets(input.view.balances), new Map());
          expectDeepEqual(brokenInvariants(input.view.balances), []);
          const outcome = runSafely(input);
          expectSoundOutcome(input, outcome);
          expectDeepEqual(runSafely(input), outcome);
        }),
      );
    });
  }

  it('is not vacuous: every process applies (or corrects) some of the generated inputs', () => {
    const applied = new Map<string, number>();
    for (const process of ledgerProcesses.list()) {
      const outcomes = fc.sample(processInput(process), { numRuns: 400, seed: 20260331 }).map(runSafely);
      applied.set(process.name, outcomes.filter(({ kind }) => kind !== 'rejected').length);
    }
    for (const [name, count] of applied) expect(count, `${name} applied nothing in 400 samples`).toBeGreaterThan(0);
    expect(applied.get('cash.deposit')).toBeGreaterThan(100);
  });
});
