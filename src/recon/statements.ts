import { z } from 'zod';
import { CsvProblems, describeCsvProblem, readCsv, type CsvRow } from '../csv/index.js';
import { isCalendarDate, parseAmount, type AssetCatalog } from '../ledger/index.js';
import { DomainError, ErrorCode } from '../errors.js';

/**
 * The statements reconciliation reads, in JSON or CSV (docs/RECONCILIATION.md has both formats):
 * - the custodian's holdings statement at a close: settled units per fund, and its open trades;
 * - the bank's statement at a close: the balance per currency.
 * Amounts are decimal strings in the asset's units; a value with more decimals than the asset's scale
 * is an error, never rounded.
 */
export interface CustodianStatement {
  readonly asOf: string;
  readonly holdings: ReadonlyMap<string, bigint>;
  readonly openTrades: readonly { readonly tradeId: string; readonly fund: string; readonly unitsMinor: bigint }[];
}

export interface BankStatement {
  readonly asOf: string;
  readonly balances: ReadonlyMap<string, bigint>;
}

/** A statement that cannot be read: every problem found, each answered as a problem of the request's body. */
export class StatementError extends DomainError {
  readonly code = ErrorCode.validationFailed;
  readonly status = 422;
  constructor(readonly problems: readonly string[]) {
    super(`the statement cannot be read: ${problems.join('; ')}`, { title: 'a statement cannot be read', errors: problems.map((problem) => ({ path: 'body', message: problem })) });
    this.name = 'StatementError';
  }
}

/** Most holdings and open trades a custodian statement lists, and balances a bank statement (JSON or CSV). */
const HOLDINGS_MAX = 10_000;
const OPEN_TRADES_MAX = 1_000_000;
const BALANCES_MAX = 1000;

const decimal = z.string().regex(/^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/, 'a decimal string');
const date = z.string().refine(isCalendarDate, 'a date YYYY-MM-DD');

export const custodianStatementJson = z.strictObject({
  asOf: date,
  holdings: z.array(z.strictObject({ fund: z.string().min(1), units: decimal })).max(HOLDINGS_MAX),
  openTrades: z.array(z.strictObject({ tradeId: z.string().min(1).max(128), fund: z.string().min(1), units: decimal })).max(OPEN_TRADES_MAX),
});

export const bankStatementJson = z.strictObject({
  asOf: date,
  balances: z.array(z.strictObject({ currency: z.string().length(3), balance: decimal })).max(BALANCES_MAX),
});

function amount(assets: AssetCatalog, code: string, text: string, where: string, problems: string[]): bigint {
  const asset = assets.find(code);
  if (asset === undefined) {
    problems.push(`${where}: unknown asset ${code}`);
    return 0n;
  }
  const parsed = parseAmount(text, asset.scale, { zero: true, signed: true });
  if (!parsed.ok) problems.push(`${where}: ${parsed.reason}`);
  return parsed.ok ? parsed.value : 0n;
}

export function custodianStatementOf(value: unknown, assets: AssetCatalog): CustodianStatement {
  const parsed = custodianStatementJson.safeParse(value);
  if (!parsed.success) throw new StatementError(parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`));
  const problems: string[] = [];
  const holdings = new Map<string, bigint>();
  parsed.data.holdings.forEach((h, i) => {
    if (holdings.has(h.fund)) problems.push(`holdings.${i}: ${h.fund} is listed twice`);
    holdings.set(h.fund, amount(assets, h.fund, h.units, `holdings.${i}`, problems));
  });
  const seen = new Set<string>();
  const openTrades = parsed.data.openTrades.map((t, i) => {
    if (seen.has(t.tradeId)) problems.push(`openTrades.${i}: trade ${t.tradeId} is listed twice`);
    seen.add(t.tradeId);
    return { tradeId: t.tradeId, fund: t.fund, unitsMinor: amount(assets, t.fund, t.units, `openTrades.${i}`, problems) };
  });
  if (problems.length > 0) throw new StatementError(problems);
  return { asOf: parsed.data.asOf, holdings, openTrades };
}

export function bankStatementOf(value: unknown, assets: AssetCatalog): BankStatement {
  const parsed = bankStatementJson.safeParse(value);
  if (!parsed.success) throw new StatementError(parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`));
  const problems: string[] = [];
  const balances = new Map<string, bigint>();
  parsed.data.balances.forEach((b, i) => {
    if (balances.has(b.currency)) problems.push(`balances.${i}: ${b.currency} is listed twice`);
    balances.set(b.currency, amount(assets, b.currency, b.balance, `balances.${i}`, problems));
  });
  if (problems.length > 0) throw new StatementError(problems);
  return { asOf: parsed.data.asOf, balances };
}

const CUSTODIAN_HEADER = ['as_of', 'record', 'fund', 'trade_id', 'units'] as const;
const BANK_HEADER = ['as_of', 'currency', 'balance'] as const;

/**
 * CSV forms (read by src/csv/read.ts: comma, semicolon or tab separated, detected from the header line;
 * quoted fields; LF or CRLF; a BOM). Custodian: `as_of,record,fund,trade_id,units` with record `holding`
 * (trade_id empty) or `open-trade`. Bank: `as_of,currency,balance`. One as_of for the whole file. Every
 * problem is listed with its line and column (`line 3, column 5 (units): …`); any problem refuses the file.
 */
export function custodianStatementCsv(text: string, assets: AssetCatalog): CustodianStatement {
  const file = readCsv(text, CUSTODIAN_HEADER);
  const { problems } = file;
  const asOf = singleAsOf(file.rows, problems);
  const holdings = new Map<string, bigint>();
  const openTrades: { tradeId: string; fund: string; unitsMinor: bigint }[] = [];
  const tradeLines = new Map<string, number>();
  for (const { line, fields } of file.rows) {
    const units = csvAmount(assets, CUSTODIAN_HEADER, line, fields, 'fund', 'units', problems);
    if (fields.record === 'holding') {
      if (holdings.has(fields.fund)) problems.addField(CUSTODIAN_HEADER, line, 'fund', `${fields.fund} has a holding listed twice`);
      holdings.set(fields.fund, units);
    } else if (fields.record === 'open-trade') {
      const first = tradeLines.get(fields.trade_id);
      if (!/^.{1,128}$/.test(fields.trade_id)) problems.addField(CUSTODIAN_HEADER, line, 'trade_id', 'an open trade needs its trade id (1 to 128 characters)');
      else if (first !== undefined) problems.addField(CUSTODIAN_HEADER, line, 'trade_id', `trade ${fields.trade_id} is listed twice (first on line ${first})`);
      else tradeLines.set(fields.trade_id, line);
      openTrades.push({ tradeId: fields.trade_id, fund: fields.fund, unitsMinor: units });
    } else problems.addField(CUSTODIAN_HEADER, line, 'record', `record must be holding or open-trade, not "${fields.record}"`);
  }
  if (holdings.size > HOLDINGS_MAX || openTrades.length > OPEN_TRADES_MAX) {
    problems.add({ line: 1, problem: `at most ${HOLDINGS_MAX} holdings and ${OPEN_TRADES_MAX} open trades` });
  }
  refuseOnProblems(problems);
  return { asOf, holdings, openTrades };
}

export function bankStatementCsv(text: string, assets: AssetCatalog): BankStatement {
  const file = readCsv(text, BANK_HEADER);
  const { problems } = file;
  const asOf = singleAsOf(file.rows, problems);
  const balances = new Map<string, bigint>();
  for (const { line, fields } of file.rows) {
    if (fields.currency.length !== 3) problems.addField(BANK_HEADER, line, 'currency', `a currency is a three-letter code, not "${fields.currency}"`);
    else if (balances.has(fields.currency)) problems.addField(BANK_HEADER, line, 'currency', `${fields.currency} is listed twice`);
    balances.set(fields.currency, csvAmount(assets, BANK_HEADER, line, fields, 'currency', 'balance', problems));
  }
  if (balances.size > BALANCES_MAX) problems.add({ line: 1, problem: `at most ${BALANCES_MAX} balances` });
  refuseOnProblems(problems);
  return { asOf, balances };
}

/** The amount in `amountField`, in the asset named in `assetField`; a problem for each bad field. */
function csvAmount<H extends string>(
  assets: AssetCatalog,
  header: readonly H[],
  line: number,
  fields: Readonly<Record<H, string>>,
  assetField: H,
  amountField: H,
  problems: CsvProblems,
): bigint {
  const code = fields[assetField];
  const text = fields[amountField];
  const asset = assets.find(code);
  if (asset === undefined) problems.addField(header, line, assetField, code === '' ? `the ${assetField} is empty` : `unknown asset ${code}`);
  if (!decimal.safeParse(text).success) {
    problems.addField(header, line, amountField, `"${text}" is not a decimal number`);
    return 0n;
  }
  if (asset === undefined) return 0n;
  const parsed = parseAmount(text, asset.scale, { zero: true, signed: true });
  if (!parsed.ok) problems.addField(header, line, amountField, parsed.reason);
  return parsed.ok ? parsed.value : 0n;
}

/** The file's one as_of date; a line with another date, or a value that is not a date, is a problem. */
function singleAsOf(rows: readonly CsvRow<'as_of'>[], problems: CsvProblems): string {
  const first = rows[0];
  if (first === undefined) {
    if (problems.count === 0) problems.add({ line: 1, problem: 'no records after the header' });
    return '';
  }
  for (const { line, fields } of rows) {
    if (!isCalendarDate(fields.as_of)) {
      problems.add({ line, column: 1, field: 'as_of', problem: `${fields.as_of} is not a date (YYYY-MM-DD)` });
    } else if (fields.as_of !== first.fields.as_of) {
      problems.add({
        line,
        column: 1,
        field: 'as_of',
        problem: `every line must carry the same as_of date: ${fields.as_of}, not line ${first.line}'s ${first.fields.as_of}`,
      });
    }
  }
  return first.fields.as_of;
}

function refuseOnProblems(problems: CsvProblems): void {
  if (problems.count === 0) return;
  const listed = problems.list().map(describeCsvProblem);
  const more = problems.count - listed.length;
  throw new StatementError(more > 0 ? [...listed, `and ${more} more problem(s)`] : listed);
}
