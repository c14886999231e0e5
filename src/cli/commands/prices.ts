import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { loadConfig } from '../../config/config.js';
import { describeCsvProblem } from '../../csv/index.js';
import { loadPrices, parsePricesCsv, priceProblems, pricesOn, type PriceLoad, type PriceProblem } from '../../dealing/prices.js';
import { assetCatalog, DEFAULT_ASSETS, isCalendarDate, type AssetCatalog } from '../../ledger/index.js';
import { parseCommandLine } from '../args.js';
import { withDatabase } from '../database.js';
import { usageError } from '../errors.js';
import { formatTable, printJson, printLines, printNotice } from '../output.js';
import type { CliCommand } from './command.js';

const LOAD_USAGE = 'prices load <file.csv> [--json]';
const SHOW_USAGE = 'prices show <date> [--json]';

/** The largest prices file the command reads (a year of daily prices for a thousand funds is ~8 MiB). */
export const PRICES_FILE_BYTES_MAX = 64 * 1024 * 1024;

/**
 * Closing prices: loaded from a CSV file (docs/DEALING.md), all or nothing, and shown by day. A load
 * exits 1 listing every problem with its line number (nothing is loaded), 2 when the file cannot be read.
 */
export const pricesCommand: CliCommand = {
  usage: [
    { line: LOAD_USAGE, gloss: 'load closing prices from a CSV file, all or nothing; exit 1 listing each problem by line' },
    { line: SHOW_USAGE, gloss: "every fund's closing price of a day; exit 1 when none is loaded" },
  ],
  async run(args) {
    const [action, ...rest] = args;
    switch (action) {
      case 'load':
        return load(rest);
      case 'show':
        return show(rest);
      default:
        throw usageError(`prices takes load or show${action === undefined ? '' : `, not "${action}"`}`);
    }
  },
};

async function load(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(LOAD_USAGE, args, { json: { type: 'boolean' } }, 1);
  const [file = ''] = positionals;
  const text = await readPricesFile(file);
  if (text === undefined) return 2;
  const assets = assetCatalog(DEFAULT_ASSETS);
  const parsed = parsePricesCsv(text);
  const lineOf = (index: number) => parsed.lines[index] ?? index + 2;
  const early = problemsBeforeLoading(parsed, lineOf, assets);
  const result: PriceLoad =
    early.length > 0 ? { ok: false, problems: early } : await withDatabase(loadConfig(), (pool) => loadPrices(pool, parsed.rows, `cli:${basename(file)}`, assets, lineOf));
  if (values.json === true) printJson(result.ok ? { file, inserted: result.inserted, unchanged: result.unchanged } : { file, problems: result.problems });
  else if (result.ok) printLines([`loaded ${result.inserted}, unchanged ${result.unchanged}`]);
  else printLines(result.problems.map(describeCsvProblem));
  if (!result.ok) printNotice(`potledger: nothing was loaded from ${file}: ${result.problems.length} problem(s)`);
  return result.ok ? 0 : 1;
}

/** The file's text, or undefined (with the reason on stderr) when it cannot be read. */
async function readPricesFile(file: string): Promise<string | undefined> {
  try {
    const size = (await stat(file)).size;
    if (size > PRICES_FILE_BYTES_MAX) {
      printNotice(`potledger: ${file} is ${size} bytes, more than ${PRICES_FILE_BYTES_MAX}: split it into smaller files`);
      return undefined;
    }
    return await readFile(file, 'utf8');
  } catch (error) {
    printNotice(`potledger: cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

/** What is wrong with the file's format before the rows are checked and loaded. */
function problemsBeforeLoading(
  parsed: ReturnType<typeof parsePricesCsv>,
  lineOf: (index: number) => number,
  assets: AssetCatalog,
): PriceProblem[] {
  if (parsed.problems.length === 0 && parsed.rows.length === 0) return [{ line: 1, problem: 'no prices after the header' }];
  if (parsed.problems.length === 0) return [];
  return [...parsed.problems, ...priceProblems(parsed.rows, assets, lineOf)].sort((a, b) => a.line - b.line || (a.column ?? 0) - (b.column ?? 0));
}

async function show(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(SHOW_USAGE, args, { json: { type: 'boolean' } }, 1);
  const [date = ''] = positionals;
  if (!isCalendarDate(date)) throw usageError(`"${date}" is not a date (YYYY-MM-DD)`, SHOW_USAGE);
  const prices = await withDatabase(loadConfig(), (pool) => pricesOn(pool, date));
  if (values.json === true) printJson({ date, prices: prices.map((row) => ({ fund: row.fund, price: row.price })) });
  else if (prices.length > 0) printLines(formatTable([{ title: 'fund' }, { title: 'price', align: 'right' }], prices.map((row) => [row.fund, row.price])));
  if (prices.length === 0) printNotice(`potledger: no closing prices are loaded for ${date}`);
  return prices.length === 0 ? 1 : 0;
}
