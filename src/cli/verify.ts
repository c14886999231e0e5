import { loadConfig } from '../config/config.js';
import { createPool } from '../journal/database.js';
import { verifyLedger, type VerifyReport } from '../journal/verify.js';
import { runCli } from './run-cli.js';

/**
 * `npm run verify [-- --json]`: proves the journal sound over the whole database. Exits 0 when every
 * check holds, 1 when any breaks (each break named), 2 when it could not run.
 */
await runCli(async (args) => {
  const json = args.includes('--json');
  const config = loadConfig();
  const pool = createPool(config.DATABASE_URL, { max: 1, applicationName: 'potledger-verify' });
  try {
    const report = await verifyLedger(pool);
    process.stdout.write(json ? `${JSON.stringify(report)}\n` : humanReport(report));
    return report.ok ? 0 : 1;
  } finally {
    await pool.end();
  }
});

function humanReport(report: VerifyReport): string {
  const lines = report.checks.map((check) => {
    const head = `${check.ok ? 'ok  ' : 'FAIL'} ${check.name}: ${check.description}`;
    return check.ok ? head : [head, `     ${check.breaks} break(s), e.g.:`, ...check.examples.map((example) => `       - ${example}`)].join('\n');
  });
  const { movements, entries, accounts, outcomes } = report.counts;
  lines.push(
    '',
    `${report.ok ? 'verify passed' : 'verify FAILED'}: ${movements} movements, ${entries} entry sides, ${accounts} accounts, ${outcomes} outcomes, ${report.durationMs} ms`,
  );
  return `${lines.join('\n')}\n`;
}
