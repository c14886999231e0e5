import type pg from 'pg';
import { readCsv } from '../csv/index.js';
import { inTransaction } from '../journal/database.js';
import type { Queryable } from '../journal/store.js';
import { dealingOf, formatRate, isBusinessDay, isCalendarDate, parseRate, type AssetCatalog, type Rate } from '../ledger/index.js';

/**
 * Closing prices: one per fund per business day, exact decimals of at most 8 places. A price once
 * loaded is never changed (the journal table refuses it): loading the same price again is a no-op, a
 * different one is an error naming both.
 */
export interface PriceRow {
  readonly fund: string;
  readonly date: string;
  readonly price: string;
}

export interface PriceProblem {
  /** 1-based line of a CSV file, or the position in the list. */
  readonly line: number;
  /** The field's 1-based column in a CSV file (fund 1, date 2, price 3), when the problem is one field's. */
  readonly column?: number;
  readonly field?: string;
  readonly problem: string;
}

/** The columns of a prices CSV file, in order. */
export const PRICE_CSV_HEADER = ['fund', 'date', 'price'] as const;
export type PriceField = (typeof PRICE_CSV_HEADER)[number];

function fieldProblem(line: number, field: PriceField, problem: string): PriceProblem {
  return { line, column: PRICE_CSV_HEADER.indexOf(field) + 1, field, problem };
}

export type PriceLoad =
  | { readonly ok: true; readonly inserted: number; readonly unchanged: number }
  | { readonly ok: false; readonly problems: readonly PriceProblem[] };

/** The closing price of `fund` on `businessDate` as stored (8 decimals), or undefined. */
export async function closingPrice(db: Queryable, fund: string, businessDate: string): Promise<string | undefined> {
  const { rows } = await db.query<{ price: string }>('SELECT price::text AS price FROM fund_prices WHERE fund = $1 AND business_date = $2::date', [
    fund,
    businessDate,
  ]);
  return rows[0]?.price;
}

export async function pricesOn(db: Queryable, businessDate: string): Promise<PriceRow[]> {
  const { rows } = await db.query<{ fund: string; price: string }>(
    'SELECT fund, price::text AS price FROM fund_prices WHERE business_date = $1::date ORDER BY fund',
    [businessDate],
  );
  return rows.map((row) => ({ fund: row.fund, date: businessDate, price: row.price }));
}

/** Whole digits the price column holds: numeric(20, 8). */
const PRICE_WHOLE_DIGITS_MAX = 12;

/** Checks every row (a known dealing fund, a business day of its calendar, a valid price, no duplicate). */
export function priceProblems(rows: readonly PriceRow[], assets: AssetCatalog, lineOf: (index: number) => number = (index) => index + 1): PriceProblem[] {
  const problems: PriceProblem[] = [];
  const seen = new Map<string, number>();
  rows.forEach((row, index) => {
    const line = lineOf(index);
    const dealing = dealingOf(assets, row.fund);
    if (dealing === undefined) problems.push(fieldProblem(line, 'fund', `${row.fund} is not a fund that deals`));
    if (!isCalendarDate(row.date)) problems.push(fieldProblem(line, 'date', `${row.date} is not a date (YYYY-MM-DD)`));
    else if (dealing !== undefined && !isBusinessDay(dealing.calendar, row.date)) problems.push(fieldProblem(line, 'date', `${row.date} is not a business day of ${row.fund}`));
    const parsed = parseRate(row.price);
    if (!parsed.ok) problems.push(fieldProblem(line, 'price', `price: ${parsed.reason}`));
    else if (parsed.value.mantissa / 10n ** BigInt(parsed.value.scale) >= 10n ** BigInt(PRICE_WHOLE_DIGITS_MAX)) {
      problems.push(fieldProblem(line, 'price', `price: at most ${PRICE_WHOLE_DIGITS_MAX} digits before the point`));
    }
    const key = `${row.fund}|${row.date}`;
    const first = seen.get(key);
    if (first !== undefined) problems.push({ line, problem: `a second price for ${row.fund} on ${row.date} (first on line ${first})` });
    else seen.set(key, line);
  });
  return problems;
}

/** Loads prices all or nothing. */
export async function loadPrices(pool: pg.Pool, rows: readonly PriceRow[], source: string, assets: AssetCatalog, lineOf?: (index: number) => number): Promise<PriceLoad> {
  const problems = priceProblems(rows, assets, lineOf);
  if (problems.length > 0) return { ok: false, problems };
  return inTransaction(pool, async (client) => {
    const existing = await client.query<{ fund: string; date: string; price: string }>(
      `SELECT p.fund, p.business_date::text AS date, p.price::text AS price FROM fund_prices p
         JOIN unnest($1::text[], $2::date[]) AS r(fund, business_date) ON r.fund = p.fund AND r.business_date = p.business_date`,
      [rows.map((r) => r.fund), rows.map((r) => r.date)],
    );
    const known = new Map(existing.rows.map((row) => [`${row.fund}|${row.date}`, row.price]));
    const conflicts: PriceProblem[] = [];
    const fresh: PriceRow[] = [];
    rows.forEach((row, index) => {
      const stored = known.get(`${row.fund}|${row.date}`);
      if (stored === undefined) fresh.push(row);
      else if (!samePrice(stored, row.price)) {
        conflicts.push({ line: lineOf?.(index) ?? index + 1, problem: `${row.fund} on ${row.date} has the price ${stored} already; prices are never changed` });
      }
    });
    if (conflicts.length > 0) return { ok: false, problems: conflicts };
    if (fresh.length > 0) {
      await client.query(
        `INSERT INTO fund_prices (fund, business_date, price, source)
         SELECT r.fund, r.business_date, r.price, $4 FROM unnest($1::text[], $2::date[], $3::numeric[]) AS r(fund, business_date, price)`,
        [fresh.map((r) => r.fund), fresh.map((r) => r.date), fresh.map((r) => r.price), source],
      );
    }
    return { ok: true, inserted: fresh.length, unchanged: rows.length - fresh.length };
  });
}

function samePrice(a: string, b: string): boolean {
  const x = parseRate(a);
  const y = parseRate(b);
  if (!x.ok || !y.ok) return false;
  const atEight = (rate: Rate) => formatRate({ mantissa: rate.mantissa * 10n ** BigInt(8 - rate.scale), scale: 8 });
  return atEight(x.value) === atEight(y.value);
}

/**
 * Reads a prices CSV (src/csv/read.ts: the separator, a comma, semicolon or tab, detected from the header
 * line; quoted fields; LF or CRLF; a BOM): the header `fund,date,price`, then one price per line. Blank
 * lines are skipped; every other problem is listed with its line, and its column when it is one field's.
 */
export function parsePricesCsv(text: string): { rows: PriceRow[]; lines: number[]; problems: PriceProblem[] } {
  const file = readCsv(text, PRICE_CSV_HEADER);
  const problems: PriceProblem[] = file.problems.list();
  const rows: PriceRow[] = [];
  const lines: number[] = [];
  for (const { line, fields } of file.rows) {
    const empty = PRICE_CSV_HEADER.filter((field) => fields[field] === '');
    for (const field of empty) problems.push(fieldProblem(line, field, `the ${field} is empty`));
    if (empty.length > 0) continue;
    rows.push({ fund: fields.fund, date: fields.date, price: fields.price });
    lines.push(line);
  }
  return { rows, lines, problems: problems.sort((a, b) => a.line - b.line || (a.column ?? 0) - (b.column ?? 0)) };
}
