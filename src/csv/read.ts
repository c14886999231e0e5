import { CsvError, parse } from 'csv-parse/sync';

/**
 * Reading the CSV files banks and custodians send (statements, closing prices) with `csv-parse`:
 * - the separator is a comma, a semicolon or a tab, detected from the header line: the one that splits
 *   the header into exactly the expected column names (the names may be quoted, any case);
 * - fields may be quoted ("…"), a quote inside a quoted field is doubled (""), a quoted field may hold
 *   the separator or a line break; spaces around a field are trimmed (not inside quotes);
 * - lines end in LF or CRLF; a byte order mark (BOM) at the start is ignored; blank lines are skipped.
 * Nothing is half-read: every problem is collected with its line (the 1-based line of the file where the
 * record starts; for a quoting error, the line it is on) and, for a field, its column (the field's 1-based position, and its header name), up to
 * `CSV_PROBLEMS_MAX` of them; a caller refuses the whole file when there is any. After a quoting
 * error, reading resumes on the next line, so later problems are listed too (up to
 * `CSV_QUOTING_ERRORS_MAX` quoting errors).
 */

/** The separators a file may use, detected from its header line. */
export const CSV_SEPARATORS = [',', ';', '\t'] as const;
export type CsvSeparator = (typeof CSV_SEPARATORS)[number];

/** Most problems one file's answer lists (the count says how many there were in all). */
export const CSV_PROBLEMS_MAX = 1000;

/**
 * Most quoting errors read past: each one restarts the parser on the rest of the file, so a file of
 * nothing but quoting errors would cost its length once per error. After these, reading stops (the
 * file is refused either way) with a problem that says so.
 */
export const CSV_QUOTING_ERRORS_MAX = 100;

/** Most characters in one record: the records here are short, and a longer one is a broken file, not data. */
export const CSV_RECORD_CHARS_MAX = 16 * 1024;

export interface CsvProblem {
  /** The 1-based line of the file where the record starts. */
  readonly line: number;
  /** The field's 1-based position in its record, when the problem is one field's. */
  readonly column?: number;
  /** The header name of that column. */
  readonly field?: string;
  readonly problem: string;
}

export interface CsvRow<H extends string> {
  readonly line: number;
  readonly fields: Readonly<Record<H, string>>;
}

export interface CsvFile<H extends string> {
  /** Undefined when the header line matched under no separator. */
  readonly separator: CsvSeparator | undefined;
  readonly rows: readonly CsvRow<H>[];
  readonly problems: CsvProblems;
}

/** The problems of one file: every one counted, the first `CSV_PROBLEMS_MAX` kept, in the order found. */
export class CsvProblems {
  readonly #kept: CsvProblem[] = [];
  #count = 0;

  add(problem: CsvProblem): void {
    this.#count += 1;
    if (this.#kept.length < CSV_PROBLEMS_MAX) this.#kept.push(problem);
  }

  /** A problem of the field `field` of `row` (its column is its position in `header`). */
  addField<H extends string>(header: readonly H[], line: number, field: H, problem: string): void {
    this.add({ line, column: header.indexOf(field) + 1, field, problem });
  }

  get count(): number {
    return this.#count;
  }

  /** The kept problems, by line then column. */
  list(): CsvProblem[] {
    return [...this.#kept].sort((a, b) => a.line - b.line || (a.column ?? 0) - (b.column ?? 0));
  }
}

/** Where a problem is: `line 3` or `line 3, column 2 (date)`. */
export function csvPlace(problem: Omit<CsvProblem, 'problem'>): string {
  const column = problem.column === undefined ? '' : `, column ${problem.column}${problem.field === undefined ? '' : ` (${problem.field})`}`;
  return `line ${problem.line}${column}`;
}

/** `line 3, column 2 (date): …` */
export function describeCsvProblem(problem: CsvProblem): string {
  return `${csvPlace(problem)}: ${problem.problem}`;
}

/** Reads `text` as a CSV file whose first line is `header` (in that order), listing every problem. */
export function readCsv<H extends string>(text: string, header: readonly H[]): CsvFile<H> {
  const problems = new CsvProblems();
  const body = text.replace(/^\uFEFF/, '');
  const firstBreak = body.indexOf('\n');
  const separator = detectSeparator(firstBreak < 0 ? body : body.slice(0, firstBreak), header);
  if (separator === undefined) {
    problems.add({ line: 1, problem: `the first line must be the header ${header.join(',')} (separated by commas, semicolons or tabs)` });
    return { separator, rows: [], problems };
  }
  const rows: CsvRow<H>[] = [];
  const cursor = new LineCursor(body);
  let linesBefore: number | undefined = 1;
  for (let restarts = 0; linesBefore !== undefined; restarts += 1) {
    if (restarts > CSV_QUOTING_ERRORS_MAX) {
      problems.add({ line: linesBefore + 1, problem: `reading stopped here after ${CSV_QUOTING_ERRORS_MAX} quoting errors` });
      break;
    }
    linesBefore = readFrom(cursor, linesBefore, separator, header, rows, problems);
  }
  return { separator, rows, problems };
}

function detectSeparator(firstLine: string, header: readonly string[]): CsvSeparator | undefined {
  return CSV_SEPARATORS.find((separator) => {
    try {
      const [names] = parse(firstLine, { delimiter: separator, trim: true, bom: true, relax_column_count: true });
      return names !== undefined && names.map((name) => name.toLowerCase()).join('\n') === header.join('\n');
    } catch {
      return false;
    }
  });
}

/**
 * Reads the records after the first `linesBefore` lines into `rows`. Returns where to resume after a
 * quoting error (the line after it), or undefined when the file is read to its end or cannot be resumed.
 */
function readFrom<H extends string>(
  cursor: LineCursor,
  linesBefore: number,
  separator: CsvSeparator,
  header: readonly H[],
  rows: CsvRow<H>[],
  problems: CsvProblems,
): number | undefined {
  const rest = cursor.textAfterLines(linesBefore);
  if (rest === undefined) return undefined;
  let lastLine = linesBefore;
  try {
    parse(rest, {
      delimiter: separator,
      record_delimiter: ['\r\n', '\n'],
      trim: true,
      skip_empty_lines: true,
      relax_column_count: true,
      max_record_size: CSV_RECORD_CHARS_MAX,
      on_record: (record: string[], context) => {
        lastLine = linesBefore + context.lines;
        const line = lastLine - record.reduce((breaks, field) => breaks + (field.match(/\n/g)?.length ?? 0), 0);
        addRow(record, line, header, rows, problems);
        return null;
      },
    });
    return undefined;
  } catch (error) {
    if (!(error instanceof CsvError)) throw error;
    const resumeAfter = quotingProblem(error, cursor.body, header, linesBefore, lastLine, problems);
    return resumeAfter !== undefined && resumeAfter > linesBefore ? resumeAfter : undefined;
  }
}

function addRow<H extends string>(record: readonly string[], line: number, header: readonly H[], rows: CsvRow<H>[], problems: CsvProblems): void {
  if (record.length !== header.length) {
    problems.add({ line, problem: `expected ${header.length} fields (${header.join(',')}), got ${record.length}` });
    return;
  }
  rows.push({ line, fields: Object.fromEntries(header.map((name, index) => [name, record[index] ?? ''])) as Record<H, string> });
}

/** Records a parse error with its line and column; returns the line to resume after, if any. */
function quotingProblem(error: CsvError, body: string, header: readonly string[], linesBefore: number, lastLine: number, problems: CsvProblems): number | undefined {
  const line = typeof error['lines'] === 'number' ? linesBefore + error['lines'] : lastLine + 1;
  const column = typeof error['column'] === 'number' ? error['column'] + 1 : undefined;
  const field = column === undefined ? undefined : header[column - 1];
  const at = (problem: string, where = line) => problems.add({ line: where, ...(column === undefined ? {} : { column }), ...(field === undefined ? {} : { field }), problem });
  switch (error.code) {
    case 'INVALID_OPENING_QUOTE':
      at('a quote inside an unquoted field: quote the whole field and double the quotes inside it ("")');
      return line;
    case 'CSV_INVALID_CLOSING_QUOTE':
    case 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE':
      at('a quoted field goes on after its closing quote: double a quote inside a quoted field ("")');
      return line;
    case 'CSV_QUOTE_NOT_CLOSED':
      at('a quoted field is never closed (its quote runs to the end of the file)', firstTextLineAfter(body, lastLine));
      return undefined;
    case 'CSV_MAX_RECORD_SIZE':
      at(`a record longer than ${CSV_RECORD_CHARS_MAX} characters (an unclosed quote, or not this kind of file)`, firstTextLineAfter(body, lastLine));
      return undefined;
    default:
      at(`the file cannot be read here (${error.code})`);
      return line;
  }
}

/**
 * The text after a number of lines, found by scanning forward from the previous answer, so that reading
 * on after each quoting error costs the length of the file once in all, not once per error.
 */
class LineCursor {
  #line = 0;
  #offset = 0;

  constructor(readonly body: string) {}

  /** The text after the first `lines` lines (undefined when the file has no more); `lines` never goes back. */
  textAfterLines(lines: number): string | undefined {
    while (this.#line < lines) {
      const end = this.body.indexOf('\n', this.#offset);
      if (end < 0) return undefined;
      this.#offset = end + 1;
      this.#line += 1;
    }
    return this.body.slice(this.#offset);
  }
}

/** The first line after `line` that is not blank (where the next record starts). */
function firstTextLineAfter(body: string, line: number): number {
  const lines = body.split('\n');
  for (let index = line; index < lines.length; index += 1) if ((lines[index] ?? '').trim() !== '') return index + 1;
  return line + 1;
}
