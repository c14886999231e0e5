import { readFile } from 'node:fs/promises';
import { loadConfig } from '../../config/config.js';
import { assetCatalog, DEFAULT_ASSETS } from '../../ledger/index.js';
import { ReconciliationRefusedError } from '../../recon/errors.js';
import { runReconciliation } from '../../recon/reconcile.js';
import { breaksCsv, readRun, resolveBreak, type StoredRun } from '../../recon/runs.js';
import { bankStatementCsv, bankStatementOf, custodianStatementCsv, custodianStatementOf, StatementError } from '../../recon/statements.js';
import { parseCommandLine } from '../args.js';
import { withDatabase } from '../database.js';
import { CliError, usageError } from '../errors.js';
import { formatTable, printJson, printLines, printNotice } from '../output.js';
import type { CliCommand } from './command.js';

const RUN = 'recon run --custodian <file.csv|file.json> --bank <file.csv|file.json> [--json] [--csv]';
const SHOW = 'recon show <runId> [--json] [--csv]';
const RESOLVE = 'recon resolve <runId> <break> --note <text>';
const assets = assetCatalog(DEFAULT_ASSETS);

/**
 * Reconciliation of a close against the custodian's holdings statement and the bank's statement
 * (docs/RECONCILIATION.md has the formats): exit 0 when nothing breaks, 1 listing the breaks.
 */
export const reconCommand: CliCommand = {
  usage: [
    { line: RUN, gloss: 'reconcile the close the statements are as of; exit 1 listing every break' },
    { line: SHOW, gloss: 'a stored reconciliation run and its breaks' },
    { line: RESOLVE, gloss: 'record how a break was resolved' },
  ],
  async run(args) {
    const [sub, ...rest] = args;
    if (sub === 'run') return run(rest);
    if (sub === 'show') return show(rest);
    if (sub === 'resolve') return resolve(rest);
    throw usageError(`recon takes run, show or resolve, not "${sub ?? ''}"`, RUN);
  },
};

async function run(args: readonly string[]): Promise<number> {
  const { values } = parseCommandLine(RUN, args, { custodian: { type: 'string' }, bank: { type: 'string' }, json: { type: 'boolean' }, csv: { type: 'boolean' } });
  if (values.custodian === undefined || values.bank === undefined) throw usageError('both --custodian and --bank are needed', RUN);
  const custodianText = await readStatement(values.custodian);
  const bankText = await readStatement(values.bank);
  const statements = (() => {
    try {
      return {
        custodian: values.custodian.endsWith('.json') ? custodianStatementOf(JSON.parse(custodianText), assets) : custodianStatementCsv(custodianText, assets),
        bank: values.bank.endsWith('.json') ? bankStatementOf(JSON.parse(bankText), assets) : bankStatementCsv(bankText, assets),
      };
    } catch (error) {
      if (error instanceof StatementError || error instanceof SyntaxError) throw new CliError('CLI_ERR_USAGE', `potledger: ${error.message}`);
      throw error;
    }
  })();
  const stored = await withDatabase(loadConfig(), async (pool) => {
    const inputs = { custodian: { file: values.custodian, text: custodianText }, bank: { file: values.bank, text: bankText } };
    const done = await runReconciliation(pool, { ...statements, inputs }, assets).catch((error: unknown) => {
      if (error instanceof ReconciliationRefusedError) throw new CliError('CLI_ERR_USAGE', `potledger: ${error.message}`);
      throw error;
    });
    return readRun(pool, done.runId, assets);
  });
  if (stored === undefined) throw new Error('the run was stored and cannot be read back');
  report(stored, values.json === true, values.csv === true);
  return stored.breaks.length === 0 ? 0 : 1;
}

async function show(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(SHOW, args, { json: { type: 'boolean' }, csv: { type: 'boolean' } }, 1);
  const stored = await withDatabase(loadConfig(), (pool) => readRun(pool, positionals[0] ?? '', assets));
  if (stored === undefined) {
    printNotice(`potledger: no reconciliation run ${positionals[0] ?? ''}`);
    return 1;
  }
  report(stored, values.json === true, values.csv === true);
  return 0;
}

async function resolve(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(RESOLVE, args, { note: { type: 'string' } }, 2);
  const [runId = '', seqText = ''] = positionals;
  if (!/^[1-9][0-9]{0,8}$/.test(seqText)) throw usageError(`the break is its number in the run, not "${seqText}"`, RESOLVE);
  if (values.note === undefined || values.note.trim() === '') throw usageError('--note says how the break was resolved', RESOLVE);
  const note = values.note;
  const done = await withDatabase(loadConfig(), (pool) => resolveBreak(pool, runId, Number(seqText), note));
  if (!done) printNotice(`potledger: run ${runId} has no break ${seqText}`);
  return done ? 0 : 1;
}

function report(run: StoredRun, json: boolean, csv: boolean): void {
  if (json) return printJson(run);
  if (csv) return printLines([breaksCsv(run).trimEnd()]);
  printLines([
    `reconciliation ${run.runId} of the close of ${run.asOf}: ${run.breaks.length === 0 ? 'no breaks' : `${run.breaks.length} break(s)`}`,
    ...(run.breaks.length === 0
      ? []
      : formatTable(
          [{ title: '#' }, { title: 'kind' }, { title: 'asset' }, { title: 'trade' },
            { title: 'ledger', align: 'right' }, { title: 'statement', align: 'right' }, { title: 'difference', align: 'right' }, { title: 'value', align: 'right' },
            { title: 'class' }, { title: 'resolution' }],
          run.breaks.map((b) => [
            String(b.seq), b.kind, b.asset, b.reference ?? '',
            b.ledger, b.statement, b.difference, b.value === undefined ? '' : `${b.value} ${b.valueCurrency ?? ''}`,
            b.classification, b.resolution ?? '',
          ]),
        )),
  ]);
}

async function readStatement(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new CliError('CLI_ERR_USAGE', `potledger: cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
}
