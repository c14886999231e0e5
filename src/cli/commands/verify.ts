import { loadConfig } from '../../config/config.js';
import { verifyLedger, type VerifyReport } from '../../journal/verify.js';
import { ACCOUNT_KINDS } from '../../ledger/index.js';
import { parseCommandLine } from '../args.js';
import { withDatabase } from '../database.js';
import { printJson, printLines, progressBar } from '../output.js';
import type { CliCommand } from './command.js';

const USAGE = 'verify [--json]';

/**
 * Proves the journal sound over the whole database. Exits 0 when every check holds, 1 when any breaks
 * (each break named), 2 when it could not run.
 */
export const verifyCommand: CliCommand = {
  usage: [{ line: USAGE, gloss: 'prove the journal sound; exit 1 naming each break' }],
  async run(args) {
    const { values } = parseCommandLine(USAGE, args, { json: { type: 'boolean' } });
    const json = values.json === true;
    const report = await withDatabase(loadConfig(), async (pool) => {
      const bar = progressBar(!json, 'verify [{bar}] {value}/{total} checks');
      try {
        return await verifyLedger(pool, ACCOUNT_KINDS, (done, total) => bar.update(done, total));
      } finally {
        bar.stop();
      }
    });
    if (json) printJson(report);
    else printLines(humanReport(report));
    return report.ok ? 0 : 1;
  },
};

function humanReport(report: VerifyReport): string[] {
  const lines = report.checks.flatMap((check) => {
    const head = `${check.ok ? 'ok  ' : 'FAIL'} ${check.name}: ${check.description}`;
    return check.ok ? [head] : [head, `     ${check.breaks} break(s), e.g.:`, ...check.examples.map((example) => `       - ${example}`)];
  });
  const { movements, entries, accounts, outcomes } = report.counts;
  const counted = `${movements} movements, ${entries} entry sides, ${accounts} accounts, ${outcomes} outcomes`;
  lines.push('', `${report.ok ? 'verify passed' : 'verify FAILED'}: ${counted}, ${report.durationMs} ms`);
  return lines;
}
