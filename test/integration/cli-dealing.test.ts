import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Traced } from '../../src/cli/commands/trace.js';
import { urlWithDatabase } from '../../src/journal/database.js';
import { ownerUrl } from '../support/database.js';
import { runPotledger, type CliRun } from '../support/cli.js';
import { DealingStack } from '../support/dealing.js';
import { stringMatching } from '../support/matchers.js';

/**
 * `potledger prices` and `potledger trace` as an operator runs them: a child process per command
 * against a database where a dealing cycle ran through the real system.
 */

const STACK_LINE = /^\s+at /m;

let stack: DealingStack;
let directory: string;
let tradeId: string;

beforeAll(async () => {
  stack = await DealingStack.start('clidealing');
  directory = await mkdtemp(join(tmpdir(), 'potledger-prices-'));
  stack.now = new Date('2026-06-01T08:00:00Z');
  for (const [i, cash] of [['1', '100.00'], ['2', '33.33']] as const) {
    await stack.openPotWithCash(`M-c-${i}`, `P-c-${i}`, '500.00');
    await stack.send('order.buy', `M-c-${i}`, `P-c-${i}`, { fund: 'FUND-B', amount: cash, currency: 'GBP' }, `buy-c-${i}`);
  }
});
afterAll(async () => {
  await stack?.stop();
  if (directory !== undefined) await rm(directory, { recursive: true, force: true });
});

function potledger(args: readonly string[]): Promise<CliRun> {
  return runPotledger(args, { DATABASE_URL: urlWithDatabase(ownerUrl(), stack.db.name) });
}

async function csvFile(name: string, lines: readonly string[]): Promise<string> {
  const file = join(directory, name);
  await writeFile(file, `${lines.join('\n')}\n`);
  return file;
}

describe('potledger prices', () => {
  it('loads a CSV file, and counts a second load as unchanged', async () => {
    const file = await csvFile('day.csv', ['fund,date,price', 'FUND-B,2026-06-01,1.2345', 'FUND-A,2026-06-01,2.5']);
    const first = await potledger(['prices', 'load', file]);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toBe('loaded 2, unchanged 0\n');
    const again = await potledger(['prices', 'load', file, '--json']);
    expect(again.status).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({ file, inserted: 0, unchanged: 2 });
  });

  it('exits 1 listing every problem by line and column, and loads nothing', async () => {
    const file = await csvFile(
      'bad.csv',
      ['fund,date,price', 'FUND-A,2026-06-02,1.00', 'FUND-B,2026-06-06,1.00', 'FUND-C,2026-06-02', 'FUND-A,2026-06-02,1.123456789', 'FUND-A,2026-06-01,2.6'],
    );
    const run = await potledger(['prices', 'load', file]);
    expect(run.status).toBe(1);
    expect(run.stdout.trim().split('\n')).toEqual([
      'line 3, column 2 (date): 2026-06-06 is not a business day of FUND-B',
      'line 4: expected 3 fields (fund,date,price), got 2',
      'line 5: a second price for FUND-A on 2026-06-02 (first on line 2)',
      'line 5, column 3 (price): price: "1.123456789" has more than 8 decimal places',
    ]);
    expect(run.stderr).toMatch(/nothing was loaded from .*bad\.csv: 4 problem\(s\)/);
    // The file is well formed but changes a stored price: refused by the database check, with its line.
    const conflict = await potledger(['prices', 'load', await csvFile('conflict.csv', ['fund,date,price', 'FUND-A,2026-06-02,1.00', 'FUND-A,2026-06-01,2.6']), '--json']);
    expect(conflict.status).toBe(1);
    expect(JSON.parse(conflict.stdout)).toMatchObject({ problems: [{ line: 3, problem: stringMatching(/FUND-A on 2026-06-01 has the price 2\.50000000 already/) }] });
    const shown = await potledger(['prices', 'show', '2026-06-02']);
    expect(shown.status).toBe(1);
    expect(shown.stderr).toMatch(/no closing prices are loaded for 2026-06-02/);
  });

  it('exits 2 for a file it cannot read, and for a bad date', async () => {
    const missing = await potledger(['prices', 'load', join(directory, 'no-such.csv')]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/cannot read .*no-such\.csv/);
    expect(missing.stderr).not.toMatch(STACK_LINE);
    const badDate = await potledger(['prices', 'show', '2026-02-30']);
    expect(badDate.status).toBe(2);
    expect(badDate.stderr).toMatch(/"2026-02-30" is not a date[\s\S]*usage: potledger prices show/);
  });

  it("shows a day's prices", async () => {
    const run = await potledger(['prices', 'show', '2026-06-01']);
    expect(run.status).toBe(0);
    expect(run.stdout.split('\n')).toEqual(['fund         price', 'FUND-A  2.50000000', 'FUND-B  1.23450000', '']);
    const json = await potledger(['prices', 'show', '2026-06-01', '--json']);
    expect(JSON.parse(json.stdout)).toEqual({ date: '2026-06-01', prices: [{ fund: 'FUND-A', price: '2.50000000' }, { fund: 'FUND-B', price: '1.23450000' }] });
  });
});

describe('potledger trace', () => {
  beforeAll(async () => {
    tradeId = await stack.cutoff('FUND-B', '2026-06-01');
    await stack.strike('2026-06-01');
    await stack.settle('2026-06-02');
  });

  it('traces a trade: its orders, the residue and totals that balance', async () => {
    const run = await potledger(['trace', tradeId, '--json']);
    expect(run.status, run.stderr).toBe(0);
    const traced = JSON.parse(run.stdout) as Traced;
    expect(traced.kind).toBe('trade');
    if (traced.kind !== 'trade') return;
    expect(traced.trace.trade).toMatchObject({ tradeId, status: 'settled', price: '1.23450000', buyCash: '133.33' });
    expect(traced.trace.orders.map((o) => [o.orderId, o.status])).toEqual([['buy-c-1', 'settled'], ['buy-c-2', 'settled']]);
    // 133.33 / 1.2345 = 108.003240 units executed; 81.004455 + 26.998784 allocated; 0.000001 to ACME.
    expect(traced.trace.totals?.units).toEqual({ executed: '108.003240', allocated: '108.003239', residue: '0.000001', balanced: true });
    expect(traced.trace.residue.map((m) => m.process)).toEqual(['trade.residue', 'trade.settle-residue']);
    const human = await potledger(['trace', tradeId]);
    expect(human.stdout).toMatch(/units {2}executed 108\.003240 = allocated 108\.003239 \+ residue 0\.000001: balanced/);
  });

  it('traces an order, and a movement to its order, trade and price', async () => {
    const run = await potledger(['trace', 'buy-c-2', '--json']);
    expect(run.status, run.stderr).toBe(0);
    const traced = JSON.parse(run.stdout) as Traced;
    expect(traced).toMatchObject({
      kind: 'order',
      trace: { order: { orderId: 'buy-c-2', status: 'settled', tradeId }, trade: { tradeId }, closingPrice: { date: '2026-06-01', price: '1.23450000' } },
    });
    if (traced.kind !== 'order') return;
    expect(traced.trace.movements.map((m) => m.change)).toEqual(['place', 'allocate', 'settle']);
    const allocation = traced.trace.movements[1]?.movementId ?? '';
    const human = await potledger(['trace', allocation]);
    expect(human.status).toBe(0);
    const lines = human.stdout.split('\n');
    expect(lines[0]).toMatch(new RegExp(`^movement  ${allocation}: order\\.allocate \\(allocate\\)`));
    expect(lines[1]).toMatch(/^order {5}buy-c-2: buy FUND-B for 33\.33 GBP, pot P-c-2 of member M-c-2/);
    expect(human.stdout).toMatch(new RegExp(`trade {5}${tradeId}: settled`));
    expect(human.stdout).toMatch(/price {5}FUND-B closed at 1\.23450000 on 2026-06-01/);
  });

  it('exits 1 for an id that is nothing it knows', async () => {
    for (const id of ['T-FUND-B-1999-01-01', 'nothing-here']) {
      const run = await potledger(['trace', id]);
      expect(run.status).toBe(1);
      expect(run.stderr).toMatch(/is no trade, order or movement/);
      expect(run.stdout).toBe('');
    }
  });
});
