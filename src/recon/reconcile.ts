import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { inTransaction } from '../journal/database.js';
import type { Queryable } from '../journal/store.js';
import { dealingOf, multiplyByRate, parseRate, type AssetCatalog } from '../ledger/index.js';
import { ReconciliationRefusedError } from './errors.js';
import type { BankStatement, CustodianStatement } from './statements.js';

/**
 * Reconciliation: the ledger at a close against the custodian's holdings statement and the bank's
 * statement of that close, with zero tolerance. The ledger side is summed in Postgres (constant memory
 * here at any size); the comparison is a pure function of the two sides.
 */
export interface OpenTrade {
  readonly tradeId: string;
  readonly fund: string;
  readonly currency: string;
  readonly settlementDate: string;
  /** Units the custodian delivers net (bought − sold; negative for a net sale). */
  readonly netUnitsMinor: bigint;
  /** Cash the Trust pays net (buy cash − sale proceeds; negative when it receives). */
  readonly netCashMinor: bigint;
}

export interface LedgerPositions {
  readonly asOf: string;
  /** Settled units over all pots (ACME's included), per fund. */
  readonly settledUnits: ReadonlyMap<string, bigint>;
  /** Trades priced on or before the close and settling after it: what the custodian holds open. */
  readonly openTrades: readonly OpenTrade[];
  /** Trades settling on the close itself: the usual cause of a timing difference. */
  readonly settlingTrades: readonly OpenTrade[];
  /** What the Trust holds at its bank, per currency (the contra of every cash account). */
  readonly bank: ReadonlyMap<string, bigint>;
  /** The latest closing price on or before the close, per fund, to value breaks. */
  readonly prices: ReadonlyMap<string, string>;
}

export type Classification = 'timing' | 'missing-trade' | 'unexplained';

export interface Break {
  readonly kind: 'units-settled' | 'open-trade' | 'units-open' | 'cash';
  readonly asset: string;
  /** The trade a break is about, when it is about one. */
  readonly reference?: string;
  readonly ledgerMinor: bigint;
  readonly statementMinor: bigint;
  /** statement − ledger: negative when the statement shows less than the ledger. */
  readonly differenceMinor: bigint;
  /** A units break valued at the latest closing price (rounded toward zero), in the fund's currency. */
  readonly valueMinor?: bigint;
  readonly valueCurrency?: string;
  readonly classification: Classification;
  readonly explanation: string;
}

/** Compares the ledger with the statements; every difference is a break, classified and explained. */
export function reconcile(ledger: LedgerPositions, custodian: CustodianStatement, bank: BankStatement, assets: AssetCatalog): Break[] {
  const value = valuer(ledger, assets);
  return [...settledUnitBreaks(ledger, custodian, value), ...openTradeBreaks(ledger, custodian, value), ...cashBreaks(ledger, bank)];
}

/** Values a units difference of a fund in its dealing currency; nothing when the price or a scale is not known. */
type Valuer = (fund: string, unitsMinor: bigint) => Pick<Break, 'valueMinor' | 'valueCurrency'>;

function valuer(ledger: LedgerPositions, assets: AssetCatalog): Valuer {
  return (fund, unitsMinor) => {
    const price = ledger.prices.get(fund);
    const dealing = dealingOf(assets, fund);
    const fundScale = assets.find(fund)?.scale;
    const currencyScale = dealing === undefined ? undefined : assets.find(dealing.currency)?.scale;
    const rate = price === undefined ? undefined : parseRate(price);
    if (dealing === undefined || fundScale === undefined || currencyScale === undefined || rate === undefined || !rate.ok) return {};
    return { valueMinor: multiplyByRate(unitsMinor, fundScale, rate.value, currencyScale, 'down'), valueCurrency: dealing.currency };
  };
}

/** The trade settling on the close whose net amount (either sign) in `asset` accounts for `differenceMinor`, if any. */
function settlingCause(
  ledger: LedgerPositions,
  asset: string,
  differenceMinor: bigint,
  pick: (trade: OpenTrade) => bigint,
  key: (trade: OpenTrade) => string,
): OpenTrade | undefined {
  return ledger.settlingTrades.find((t) => key(t) === asset && (pick(t) === differenceMinor || pick(t) === -differenceMinor));
}

/** Settled units per fund, ledger against custodian holdings. */
function settledUnitBreaks(ledger: LedgerPositions, custodian: CustodianStatement, value: Valuer): Break[] {
  const breaks: Break[] = [];
  for (const fund of union(ledger.settledUnits.keys(), custodian.holdings.keys())) {
    const ours = ledger.settledUnits.get(fund) ?? 0n;
    const theirs = custodian.holdings.get(fund) ?? 0n;
    if (ours === theirs) continue;
    const difference = theirs - ours;
    const cause = settlingCause(ledger, fund, difference, (t) => t.netUnitsMinor, (t) => t.fund);
    breaks.push({
      kind: 'units-settled',
      asset: fund,
      ledgerMinor: ours,
      statementMinor: theirs,
      differenceMinor: difference,
      ...value(fund, difference),
      classification: cause === undefined ? 'unexplained' : 'timing',
      explanation:
        cause === undefined
          ? `settled ${fund} units differ and no trade settling on ${ledger.asOf} accounts for it`
          : `trade ${cause.tradeId} settles on ${ledger.asOf}: one side counts it settled, the other not yet`,
    });
  }
  return breaks;
}

/** Open trades by trade id, ledger against custodian: missing on one side, or open with different units. */
function openTradeBreaks(ledger: LedgerPositions, custodian: CustodianStatement, value: Valuer): Break[] {
  const breaks: Break[] = [];
  const ourOpen = new Map(ledger.openTrades.map((t) => [t.tradeId, t]));
  const theirOpen = new Map(custodian.openTrades.map((t) => [t.tradeId, t]));
  for (const tradeId of union(ourOpen.keys(), theirOpen.keys())) {
    const ours = ourOpen.get(tradeId);
    const theirs = theirOpen.get(tradeId);
    const fund = ours?.fund ?? theirs?.fund ?? '';
    const ourUnits = ours?.netUnitsMinor ?? 0n;
    const theirUnits = theirs?.unitsMinor ?? 0n;
    if (ours !== undefined && theirs !== undefined && ourUnits === theirUnits) continue;
    breaks.push({
      kind: 'open-trade',
      asset: fund,
      reference: tradeId,
      ledgerMinor: ourUnits,
      statementMinor: theirUnits,
      differenceMinor: theirUnits - ourUnits,
      ...value(fund, theirUnits - ourUnits),
      classification: ours === undefined || theirs === undefined ? 'missing-trade' : 'unexplained',
      explanation:
        ours === undefined
          ? `the custodian holds open trade ${tradeId}, which the ledger does not know`
          : theirs === undefined
            ? `the ledger holds trade ${tradeId} open (settling ${ours.settlementDate}); the custodian does not`
            : `trade ${tradeId} is open on both sides with different units`,
    });
  }
  return breaks;
}

/** Cash per currency, the ledger's bank contra against the bank statement. */
function cashBreaks(ledger: LedgerPositions, bank: BankStatement): Break[] {
  const breaks: Break[] = [];
  for (const currency of union(ledger.bank.keys(), bank.balances.keys())) {
    const ours = ledger.bank.get(currency) ?? 0n;
    const theirs = bank.balances.get(currency) ?? 0n;
    if (ours === theirs) continue;
    const difference = theirs - ours;
    const cause = settlingCause(ledger, currency, difference, (t) => t.netCashMinor, (t) => t.currency);
    const direction = difference < 0n ? 'less' : 'more';
    breaks.push({
      kind: 'cash',
      asset: currency,
      ledgerMinor: ours,
      statementMinor: theirs,
      differenceMinor: difference,
      valueMinor: difference,
      valueCurrency: currency,
      classification: cause === undefined ? 'unexplained' : 'timing',
      explanation:
        cause === undefined
          ? `the bank shows ${direction} ${currency} than the ledger holds, and no trade settling on ${ledger.asOf} accounts for it`
          : `trade ${cause.tradeId} settles its cash on ${ledger.asOf}: one side counts it, the other not yet`,
    });
  }
  return breaks;
}

function union<T>(a: Iterable<T>, b: Iterable<T>): T[] {
  return [...new Set([...a, ...b])].sort();
}

/** The ledger at the close of `asOf` (a closed business day), summed from the end-of-day snapshots. */
export async function ledgerPositions(db: Queryable, asOf: string): Promise<LedgerPositions> {
  const closed = await db.query('SELECT 1 FROM business_days_closed WHERE business_date = $1::date', [asOf]);
  if ((closed.rowCount ?? 0) === 0) throw new ReconciliationRefusedError(`business day ${asOf} is not closed: reconciliation compares closes`);
  const totals = await db.query<{ kind: string; asset: string; total: bigint }>(
    `SELECT b.kind, b.asset, sum(l.balance_minor)::bigint AS total
       FROM (SELECT DISTINCT ON (d.account_id) d.account_id, d.balance_minor
               FROM balances_eod d WHERE d.business_date <= $1::date
              ORDER BY d.account_id, d.business_date DESC) l
       JOIN balances b ON b.account_id = l.account_id
      WHERE b.kind IN ('units', 'external.bank')
      GROUP BY b.kind, b.asset`,
    [asOf],
  );
  const settledUnits = new Map<string, bigint>();
  const bank = new Map<string, bigint>();
  for (const row of totals.rows) {
    if (row.kind === 'units') settledUnits.set(row.asset, row.total);
    else bank.set(row.asset, -row.total);
  }
  const trades = await db.query<{ trade_id: string; fund: string; currency: string; settlement_date: string; net_units: bigint; net_cash: bigint }>(
    `SELECT trade_id, fund, currency, settlement_date::text AS settlement_date,
            (buy_units_executed_minor - sell_units_filled_minor)::bigint AS net_units,
            (buy_cash_filled_minor - sell_proceeds_executed_minor)::bigint AS net_cash
       FROM external_trades
      WHERE status IN ('priced', 'settled') AND dealing_date <= $1::date AND settlement_date >= $1::date
      ORDER BY trade_id`,
    [asOf],
  );
  const toTrade = (row: (typeof trades.rows)[number]): OpenTrade => ({
    tradeId: row.trade_id,
    fund: row.fund,
    currency: row.currency,
    settlementDate: row.settlement_date,
    netUnitsMinor: row.net_units,
    netCashMinor: row.net_cash,
  });
  const prices = await db.query<{ fund: string; price: string }>(
    'SELECT DISTINCT ON (fund) fund, price::text AS price FROM fund_prices WHERE business_date <= $1::date ORDER BY fund, business_date DESC',
    [asOf],
  );
  return {
    asOf,
    settledUnits,
    openTrades: trades.rows.filter((row) => row.settlement_date > asOf).map(toTrade),
    settlingTrades: trades.rows.filter((row) => row.settlement_date === asOf).map(toTrade),
    bank,
    prices: new Map(prices.rows.map((row) => [row.fund, row.price])),
  };
}

export interface ReconRun {
  readonly runId: string;
  readonly asOf: string;
  readonly breaks: readonly Break[];
  /** What was compared, for the record. */
  readonly checked: { readonly funds: number; readonly openTrades: number; readonly currencies: number };
}

/** Runs a reconciliation of the close of `asOf` and stores it with its inputs and breaks. */
export async function runReconciliation(
  pool: pg.Pool,
  statements: { custodian: CustodianStatement; bank: BankStatement; inputs: Record<string, unknown> },
  assets: AssetCatalog,
): Promise<ReconRun> {
  const asOf = statements.custodian.asOf;
  if (statements.bank.asOf !== asOf) throw new ReconciliationRefusedError(`the custodian statement is as of ${asOf}, the bank statement as of ${statements.bank.asOf}`);
  const ledger = await ledgerPositions(pool, asOf);
  const breaks = reconcile(ledger, statements.custodian, statements.bank, assets);
  const runId = `R-${asOf}-${randomUUID().slice(0, 8)}`;
  const checked = {
    funds: new Set([...ledger.settledUnits.keys(), ...statements.custodian.holdings.keys()]).size,
    openTrades: new Set([...ledger.openTrades.map((t) => t.tradeId), ...statements.custodian.openTrades.map((t) => t.tradeId)]).size,
    currencies: new Set([...ledger.bank.keys(), ...statements.bank.balances.keys()]).size,
  };
  await inTransaction(pool, async (client) => {
    await client.query('INSERT INTO recon_runs (run_id, as_of, inputs, breaks, checked) VALUES ($1, $2, $3, $4, $5)', [
      runId,
      asOf,
      JSON.stringify(statements.inputs),
      breaks.length,
      JSON.stringify(checked),
    ]);
    if (breaks.length === 0) return;
    await client.query(
      `INSERT INTO recon_breaks (run_id, seq, kind, asset, reference, ledger_minor, statement_minor, difference_minor, value_minor, value_currency, classification, explanation)
       SELECT $1, b.seq, b.kind, b.asset, b.reference, b.ledger_minor, b.statement_minor, b.difference_minor, b.value_minor, b.value_currency, b.classification, b.explanation
         FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::text[], $11::text[], $12::text[])
              AS b(seq, kind, asset, reference, ledger_minor, statement_minor, difference_minor, value_minor, value_currency, classification, explanation)`,
      [
        runId,
        breaks.map((_, index) => index + 1),
        breaks.map((b) => b.kind),
        breaks.map((b) => b.asset),
        breaks.map((b) => b.reference ?? null),
        breaks.map((b) => b.ledgerMinor.toString()),
        breaks.map((b) => b.statementMinor.toString()),
        breaks.map((b) => b.differenceMinor.toString()),
        breaks.map((b) => (b.valueMinor === undefined ? null : b.valueMinor.toString())),
        breaks.map((b) => b.valueCurrency ?? null),
        breaks.map((b) => b.classification),
        breaks.map((b) => b.explanation),
      ],
    );
  });
  return { runId, asOf, breaks, checked };
}
