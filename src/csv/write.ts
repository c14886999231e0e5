import { stringify } from 'csv-stringify/sync';

/**
 * Writing CSV that a person will open in a spreadsheet (the recon breaks report), with `csv-stringify`:
 * a header line, then one line per record, comma-separated, LF line ends, RFC 4180 quoting (a field with
 * a comma, a quote or a line break is quoted, quotes doubled).
 *
 * Formula injection (OWASP, "CSV Injection"): a spreadsheet runs a cell that starts with `=`, `+`, `-`,
 * `@`, a tab or a carriage return (or their full-width forms) as a formula. Such a cell is written with
 * a leading apostrophe and quoted (`"'=HYPERLINK(…)"`), so it shows as text. The one exception is a plain
 * decimal number (`-12.50`, `-3`: an optional minus, digits, an optional point and digits, nothing
 * else), written as it is so that negative amounts stay numbers: such a cell cannot hold a formula.
 */

/** Starts of a cell a spreadsheet would run as a formula. */
const FORMULA_STARTS = new Set(['=', '+', '-', '@', '\t', '\r', '\uFF1D', '\uFF0B', '\uFF0D', '\uFF20']);

/** A plain decimal number: written as it is (negative amounts stay numbers). */
const PLAIN_DECIMAL = /^-?[0-9]+(\.[0-9]+)?$/;

/** The text a cell holding `value` is written with: neutralised when a spreadsheet would run it. */
export function spreadsheetSafe(value: string): string {
  if (PLAIN_DECIMAL.test(value) || !FORMULA_STARTS.has(value.charAt(0))) return value;
  return `'${value}`;
}

/** What a cell may hold: text, or a number or flag written as its decimal or `true`/`false` text; absent is an empty cell. */
export type CsvCell = string | number | bigint | boolean | null | undefined;

/** `records` as CSV under `columns`, every cell made spreadsheet-safe; absent values are empty cells. */
export function writeCsv<C extends string>(columns: readonly C[], records: readonly Partial<Record<C, CsvCell>>[]): string {
  const cells = records.map((record) => columns.map((column) => spreadsheetSafe(cellText(record[column]))));
  return stringify([[...columns], ...cells], { record_delimiter: 'unix', quoted_match: /^'/ });
}

function cellText(value: CsvCell): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : String(value);
}
