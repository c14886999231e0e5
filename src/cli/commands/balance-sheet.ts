import { loadConfig } from '../../config/config.js';
import { balanceSheet, type BalanceSheet } from '../../journal/reads.js';
import { assetCatalog, DEFAULT_ASSETS } from '../../ledger/index.js';
import { parseCommandLine } from '../args.js';
import { withDatabase } from '../database.js';
import { formatTable, printJson, printLines } from '../output.js';
import type { CliCommand } from './command.js';

const USAGE = 'balance-sheet [--json]';

/** The Trust's totals per account kind and asset, from the partition totals every commit keeps. */
export const balanceSheetCommand: CliCommand = {
  usage: [{ line: USAGE, gloss: "the Trust's totals per account kind and asset, and the net per asset" }],
  async run(args) {
    const { values } = parseCommandLine(USAGE, args, { json: { type: 'boolean' } });
    const sheet = await withDatabase(loadConfig(), (pool) => balanceSheet(pool, assetCatalog(DEFAULT_ASSETS)));
    if (values.json === true) printJson(sheet);
    else printLines(humanSheet(sheet));
    return 0;
  },
};

function humanSheet(sheet: BalanceSheet): string[] {
  if (sheet.lines.length === 0) return ['nothing has moved yet: the balance sheet is empty'];
  const totals = formatTable(
    [{ title: 'kind' }, { title: 'owner' }, { title: 'asset' }, { title: 'total', align: 'right' }],
    sheet.lines.map((line) => [line.kind, line.owner, line.asset, line.total]),
  );
  const net = formatTable(
    [{ title: 'asset' }, { title: 'net', align: 'right' }],
    Object.entries(sheet.netByAsset).map(([asset, total]) => [asset, total]),
  );
  return [...totals, '', 'net per asset (zero: every movement balances)', ...net];
}
