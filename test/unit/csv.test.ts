import { describe, expect, it } from 'vitest';
import { CSV_PROBLEMS_MAX, CSV_QUOTING_ERRORS_MAX, describeCsvProblem, readCsv, spreadsheetSafe, writeCsv } from '../../src/csv/index.js';
import { parsePricesCsv } from '../../src/dealing/prices.js';
import { assetCatalog, DEFAULT_ASSETS } from '../../src/ledger/index.js';
import type { StoredRun } from '../../src/recon/runs.js';
import { breaksCsv } from '../../src/recon/runs.js';
import { bankStatementCsv, custodianStatementCsv, StatementError } from '../../src/recon/statements.js';

/*
 * CSV in (bank and custodian statements, closing prices) and out (the recon breaks report): quoted
 * fields, the three separators, CRLF and a BOM; every bad field by line and column; the whole file
 * refused on any problem; cells a spreadsheet would run as formulas neutralised.
 */

const assets = assetCatalog(DEFAULT_ASSETS);
const HEADER = ['fund', 'date', 'price'] as const;

function problemsOf(text: string): string[] {
  return readCsv(text, HEADER).problems.list().map(describeCsvProblem);
}

describe('reading CSV', () => {
  it('reads quoted fields holding the separator, doubled quotes and a line break', () => {
    const file = readCsv('fund,date,price\n"FUND, ""A""",2026-07-07,"1.25"\n"two\nlines",x,y\n', HEADER);
    expect(file.separator).toBe(',');
    expect(file.rows).toEqual([
      { line: 2, fields: { fund: 'FUND, "A"', date: '2026-07-07', price: '1.25' } },
      { line: 3, fields: { fund: 'two\nlines', date: 'x', price: 'y' } },
    ]);
    expect(file.problems.count).toBe(0);
  });

  it('detects a semicolon or a tab from the header line, with CRLF line ends and a BOM', () => {
    const semicolon = readCsv('\uFEFF"Fund";"Date";"Price"\r\nFUND-A;2026-07-07;"1,25"\r\n\r\nFUND-B; 2026-07-07 ;2.5\r\n', HEADER);
    expect(semicolon.separator).toBe(';');
    expect(semicolon.rows).toEqual([
      { line: 2, fields: { fund: 'FUND-A', date: '2026-07-07', price: '1,25' } },
      { line: 4, fields: { fund: 'FUND-B', date: '2026-07-07', price: '2.5' } },
    ]);
    const tab = readCsv('fund\tdate\tprice\r\n"FUND, A"\t2026-07-07\t1.25', HEADER);
    expect(tab.separator).toBe('\t');
    expect(tab.rows).toEqual([{ line: 2, fields: { fund: 'FUND, A', date: '2026-07-07', price: '1.25' } }]);
  });

  it('lists every bad record with its line and column, and reads on after a quoting error', () => {
    const text = [
      'fund,date,price',
      'FUND-A,2026-07-07,1.00',
      'FUND-B,x"y,1.00',
      'FUND-C,"2026-07-07"z,1.00',
      'FUND-D,2026-07-07',
      'FUND-E,2026-07-07,1.00',
      'FUND-F,"2026-07-07,1.00',
      'FUND-G,2026-07-07,1.00',
    ].join('\r\n');
    const file = readCsv(text, HEADER);
    expect(file.rows.map((row) => [row.line, row.fields.fund])).toEqual([[2, 'FUND-A'], [6, 'FUND-E']]);
    expect(file.problems.list().map(describeCsvProblem)).toEqual([
      'line 3, column 2 (date): a quote inside an unquoted field: quote the whole field and double the quotes inside it ("")',
      'line 4, column 2 (date): a quoted field goes on after its closing quote: double a quote inside a quoted field ("")',
      'line 5: expected 3 fields (fund,date,price), got 2',
      'line 7, column 2 (date): a quoted field is never closed (its quote runs to the end of the file)',
    ]);
  });

  it('refuses a header it does not know under any separator', () => {
    expect(problemsOf('fund|date|price\nFUND-A|2026-07-07|1.00\n')).toEqual([
      'line 1: the first line must be the header fund,date,price (separated by commas, semicolons or tabs)',
    ]);
    expect(problemsOf('')).toEqual(['line 1: the first line must be the header fund,date,price (separated by commas, semicolons or tabs)']);
  });

  it(`keeps the first ${CSV_PROBLEMS_MAX} problems and counts them all`, () => {
    const file = readCsv(`fund,date,price\n${'FUND-A,2026-07-07\n'.repeat(CSV_PROBLEMS_MAX + 5)}`, HEADER);
    expect(file.problems.count).toBe(CSV_PROBLEMS_MAX + 5);
    expect(file.problems.list()).toHaveLength(CSV_PROBLEMS_MAX);
  });

  it(`reads on through ${CSV_QUOTING_ERRORS_MAX} quoting errors, then stops and says where`, () => {
    const bad = CSV_QUOTING_ERRORS_MAX + 50;
    const file = readCsv(`fund,date,price\n${'FUND-A,"2026-07-07"x,1.00\nFUND-B,2026-07-07,1.00\n'.repeat(bad)}`, HEADER);
    const problems = file.problems.list();
    expect(file.problems.count).toBe(CSV_QUOTING_ERRORS_MAX + 2);
    expect(problems[CSV_QUOTING_ERRORS_MAX]?.line).toBe(2 * CSV_QUOTING_ERRORS_MAX + 2);
    expect(problems.at(-1)).toEqual({ line: 2 * CSV_QUOTING_ERRORS_MAX + 3, problem: `reading stopped here after ${CSV_QUOTING_ERRORS_MAX} quoting errors` });
  });
});

describe('prices CSV', () => {
  it('reads quoted and semicolon files, and names the column of each bad field', () => {
    expect(parsePricesCsv('"fund","date","price"\n"FUND-A","2026-07-07","1.25"\n').rows).toEqual([{ fund: 'FUND-A', date: '2026-07-07', price: '1.25' }]);
    expect(parsePricesCsv('fund;date;price\r\nFUND-A;2026-07-07;1.25\r\n').rows).toEqual([{ fund: 'FUND-A', date: '2026-07-07', price: '1.25' }]);
    const parsed = parsePricesCsv('fund,date,price\nFUND-A,,1.25\n,2026-07-07,\nFUND-B,2026-07-07,"1.5"x\n');
    expect(parsed.rows).toEqual([]);
    expect(parsed.problems.map(describeCsvProblem)).toEqual([
      'line 2, column 2 (date): the date is empty',
      'line 3, column 1 (fund): the fund is empty',
      'line 3, column 3 (price): the price is empty',
      'line 4, column 3 (price): a quoted field goes on after its closing quote: double a quote inside a quoted field ("")',
    ]);
  });
});

describe('statements CSV', () => {
  it('reads a semicolon custodian statement with quoted fields, and a tab-separated bank statement', () => {
    const custodian = custodianStatementCsv(
      '\uFEFFas_of;record;fund;trade_id;units\r\n2026-06-03;holding;"FUND-A";;"999999.500000"\r\n2026-06-03;open-trade;FUND-A;"T-1; late";310.514378\r\n',
      assets,
    );
    expect(custodian).toEqual({
      asOf: '2026-06-03',
      holdings: new Map([['FUND-A', 999_999_500_000n]]),
      openTrades: [{ tradeId: 'T-1; late', fund: 'FUND-A', unitsMinor: 310_514_378n }],
    });
    expect(bankStatementCsv('as_of\tcurrency\tbalance\n2026-06-03\tGBP\t"-12.50"\n', assets)).toEqual({ asOf: '2026-06-03', balances: new Map([['GBP', -1_250n]]) });
  });

  it('refuses the whole file, listing every bad field by line and column', () => {
    const text = [
      'as_of,record,fund,trade_id,units',
      '2026-06-03,holding,FUND-A,,1.000000',
      '2026-06-03,stock,FUND-A,,1',
      '2026-06-04,holding,FUND-B,,1.0000001',
      '2026-06-03,open-trade,FUND-X,,"1,5"',
      '2026-06-03,holding,FUND-A,,2',
    ].join('\n');
    let refused: unknown;
    try {
      custodianStatementCsv(text, assets);
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(StatementError);
    expect((refused as StatementError).problems).toEqual([
      'line 3, column 2 (record): record must be holding or open-trade, not "stock"',
      "line 4, column 1 (as_of): every line must carry the same as_of date: 2026-06-04, not line 2's 2026-06-03",
      'line 4, column 5 (units): "1.0000001" has 7 decimal places; this asset allows at most 6',
      'line 5, column 3 (fund): unknown asset FUND-X',
      'line 5, column 4 (trade_id): an open trade needs its trade id (1 to 128 characters)',
      'line 5, column 5 (units): "1,5" is not a decimal number',
      'line 6, column 3 (fund): FUND-A has a holding listed twice',
    ]);
    expect(() => bankStatementCsv('as_of,currency,balance\n2026-06-03,GBP,1.00\n2026-06-03,"GBP,1.00\n', assets)).toThrow(
      /line 3, column 2 \(currency\): a quoted field is never closed/,
    );
    expect(() => bankStatementCsv('as_of,currency,balance\n2026-06-03,FUND-A,1.00\n2026-06-03,GBP,1.00\n2026-06-03,GBP,2.00\n', assets)).toThrow(
      'the statement cannot be read: line 2, column 2 (currency): a currency is a three-letter code, not "FUND-A"; line 4, column 2 (currency): GBP is listed twice',
    );
  });
});

describe('writing CSV a spreadsheet opens safely', () => {
  it('neutralises cells that start a formula and keeps plain decimals, negative ones too, as numbers', () => {
    expect(['=1+1', '+1', '-1+2', '@SUM(A1)', '\tx', '\rx', '-12.50', '-3', '12.50', 'T-1', '\uFF1D1'].map(spreadsheetSafe)).toEqual([
      "'=1+1", "'+1", "'-1+2", "'@SUM(A1)", "'\tx", "'\rx", '-12.50', '-3', '12.50', 'T-1', "'\uFF1D1",
    ]);
    expect(writeCsv(['a', 'b'], [{ a: '=cmd', b: 'x, "y"' }, { a: -5 }])).toBe(`a,b\n"'=cmd","x, ""y"""\n-5,\n`);
  });

  it('neutralises a formula injected into the breaks report (a trade id from a statement, a resolution note)', () => {
    const run: StoredRun = {
      runId: 'R-2026-06-03-00000001', asOf: '2026-06-03', startedAt: '2026-06-03T18:00:00.000Z', inputs: {}, checked: {},
      breaks: [
        {
          seq: 1,
          kind: 'open-trade',
          asset: 'FUND-A',
          reference: '=HYPERLINK("http://evil.example","click")',
          ledger: '0.000000',
          statement: '0.000007',
          difference: '0.000007',
          classification: 'missing-trade',
          explanation: 'not in the ledger',
          resolution: '@SUM(1+1)*cmd|\' /C calc\'!A0',
        },
        {
          seq: 2,
          kind: 'cash',
          asset: 'GBP',
          ledger: '2616.67',
          statement: '2537.77',
          difference: '-78.90',
          value: '-78.90',
          valueCurrency: 'GBP',
          classification: 'unexplained',
          explanation: '-fee booked late',
        },
      ],
    };
    const lines = breaksCsv(run).split('\n');
    expect(lines[1]).toBe(`1,open-trade,FUND-A,"'=HYPERLINK(""http://evil.example"",""click"")",0.000000,0.000007,0.000007,,,missing-trade,not in the ledger,"'@SUM(1+1)*cmd|' /C calc'!A0"`);
    expect(lines[2]).toBe(`2,cash,GBP,,2616.67,2537.77,-78.90,-78.90,GBP,unexplained,"'-fee booked late",`);
  });
});
