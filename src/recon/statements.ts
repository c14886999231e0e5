import { z } from 'zod';
import { isCalendarDate, parseAmount, type AssetCatalog } from '../ledger/index.js';

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

export class StatementError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`the statement cannot be read: ${problems.join('; ')}`);
    this.name = 'StatementError';
  }
}

const decimal = z.string().regex(/^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/, 'a decimal string');
const date = z.string().refine(isCalendarDate, 'a date YYYY-MM-DD');

export const custodianStatementJson = z.strictObject({
  asOf: date,
  holdings: z.array(z.strictObject({ fund: z.string().min(1), units: decimal })).max(10_000),
  openTrades: z.array(z.strictObject({ tradeId: z.string().min(1).max(128), fund: z.string().min(1), units: decimal })).max(1_000_000),
});

export const bankStatementJson = z.strictObject({
  asOf: date,
  balances: z.array(z.strictObject({ currency: z.string().length(3), balance: decimal })).max(1000),
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

/**
 * CSV forms. Custodian: `as_of,record,fund,trade_id,units` with record `holding` (trade_id empty) or
 * `open-trade`. Bank: `as_of,currency,balance`. One as_of for the whole file.
 */
export function custodianStatementCsv(text: string, assets: AssetCatalog): CustodianStatement {
  const rows = csvRows(text, ['as_of', 'record', 'fund', 'trade_id', 'units']);
  const asOf = singleAsOf(rows);
  const holdings: { fund: string; units: string }[] = [];
  const openTrades: { tradeId: string; fund: string; units: string }[] = [];
  const problems: string[] = [];
  for (const { line, fields } of rows) {
    const [, record, fund, tradeId, units] = fields as [string, string, string, string, string];
    if (record === 'holding') holdings.push({ fund, units });
    else if (record === 'open-trade') openTrades.push({ tradeId, fund, units });
    else problems.push(`line ${line}: record must be holding or open-trade, not "${record}"`);
  }
  if (problems.length > 0) throw new StatementError(problems);
  return custodianStatementOf({ asOf, holdings, openTrades }, assets);
}

export function bankStatementCsv(text: string, assets: AssetCatalog): BankStatement {
  const rows = csvRows(text, ['as_of', 'currency', 'balance']);
  const asOf = singleAsOf(rows);
  return bankStatementOf({ asOf, balances: rows.map(({ fields }) => ({ currency: fields[1], balance: fields[2] })) }, assets);
}

function csvRows(text: string, header: readonly string[]): { line: number; fields: string[] }[] {
  const lines = text.split(/\r?\n/);
  if (lines[0]?.trim().toLowerCase().replace(/\s+/g, '') !== header.join(',')) throw new StatementError([`line 1: the header must be ${header.join(',')}`]);
  const rows: { line: number; fields: string[] }[] = [];
  const problems: string[] = [];
  lines.slice(1).forEach((raw, index) => {
    if (raw.trim() === '') return;
    const fields = raw.split(',').map((field) => field.trim());
    if (fields.length !== header.length) problems.push(`line ${index + 2}: expected ${header.length} fields, got ${fields.length}`);
    else rows.push({ line: index + 2, fields });
  });
  if (problems.length > 0) throw new StatementError(problems);
  return rows;
}

function singleAsOf(rows: readonly { line: number; fields: string[] }[]): string {
  const dates = new Set(rows.map(({ fields }) => fields[0] ?? ''));
  if (dates.size !== 1) throw new StatementError([`every line must carry the same as_of date (found ${[...dates].join(', ') || 'none'})`]);
  return [...dates][0] ?? '';
}
