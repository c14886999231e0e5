import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aggregateCycle, tradeBasis } from '../../src/dealing/trades.js';
import { createExecutor } from '../../src/journal/executor.js';
import { verifyLedger } from '../../src/journal/verify.js';
import { addBusinessDays, ledgerProcesses, UK_CALENDAR, type Outcome } from '../../src/ledger/index.js';
import { ASSETS, dealingScenario, runDealingScenario, type DealingDriver } from '../properties/dealing-scenario.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { checkProperty } from '../support/fast-check.js';

/** Each run costs real transactions, so fewer runs than the pure property (FC_NUM_RUNS overrides). */
const DATABASE_RUNS = 30;

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('dealingseq');
});
afterAll(async () => {
  await db?.drop();
});

describe('random multi-day dealing runs through the Postgres journal', () => {
  it('apply every desk command, keep allocated + residue = executed, and keep verify passing', async () => {
    const executor = createExecutor(db.service, { registry: ledgerProcesses, assets: ASSETS, partitionCount: 4 });
    let run = 0;
    await checkProperty(
      'dealing through the journal',
      fc.asyncProperty(dealingScenario, async (scenario) => {
        run += 1;
        const driver: DealingDriver = {
          send: async (command): Promise<Outcome> => {
            const answer = await executor.execute(command);
            if (answer.kind === 'conflict') throw new Error(`conflict on ${command.commandId}`);
            return answer.outcome;
          },
          aggregate: async (fund, date) => {
            const trade = await aggregateCycle(db.service, fund, date, ASSETS);
            return trade === undefined ? [] : tradeBasis(db.service, trade.tradeId);
          },
        };
        // Each run deals on business days of its own (trades are one per fund and day).
        const report = await runDealingScenario(driver, scenario, `r${run}`, addBusinessDays(UK_CALENDAR, '2026-06-01', (run - 1) * 6));
        const { rows } = await db.service.query<{ command_id: string; rejection_code: string }>(
          `SELECT command_id, rejection_code FROM command_outcomes
            WHERE status = 'rejected' AND (command_id LIKE 'allocate:%' OR command_id LIKE 'settle:%' OR command_id LIKE 'residue:%' OR command_id LIKE 'settle-residue:%')`,
        );
        expect(rows).toEqual([]);
        for (const trade of report.trades) expect(trade.allocated + trade.allocation.residueUnitsMinor).toBe(trade.allocation.buyUnitsExecutedMinor);
        const verified = await verifyLedger(db.owner);
        expect(verified.checks.filter((check) => !check.ok).map((check) => `${check.name}: ${check.examples.join('; ')}`)).toEqual([]);
      }),
      { numRuns: DATABASE_RUNS },
    );
  });
});
