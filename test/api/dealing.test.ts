import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, type CreatedKey } from '../../src/api/keys.js';
import { PRICES_BODY_LIMIT_BYTES } from '../../src/api/routes/dealing.js';
import { ACME_ROUNDING_POT } from '../../src/dealing/desk.js';
import { verifyLedger } from '../../src/journal/verify.js';
import { bearer, buildTestApp, json, type TestApp } from '../support/api.js';
import { DealingStack } from '../support/dealing.js';
import { stringMatching } from '../support/matchers.js';

/**
 * The dealing routes over the real system: prices in (JSON and CSV, all or nothing) and out, and
 * traceability after a full cycle run through the workers, the desk and the custodian simulator.
 */
let stack: DealingStack;
let api: TestApp;
beforeAll(async () => {
  stack = await DealingStack.start('apidealing');
  api = await buildTestApp(stack.db.service, stack.publisher);
});
afterAll(async () => {
  await api?.app.close();
  await stack?.stop();
});

interface ErrorItem {
  readonly path: string;
  readonly message: string;
}

async function postPrices(prices: unknown, key: CreatedKey = api.keys.operator) {
  return api.app.inject({ method: 'POST', url: '/prices', headers: bearer(key), payload: { prices } });
}

async function postCsv(text: string, contentType = 'text/csv') {
  return api.app.inject({ method: 'POST', url: '/prices/csv', headers: { ...bearer(api.keys.operator), 'content-type': contentType }, payload: text });
}

async function get(url: string, key: CreatedKey = api.keys.operator) {
  return api.app.inject({ method: 'GET', url, headers: bearer(key) });
}

function errorsOf(response: { json: () => unknown }): ErrorItem[] {
  return (response.json() as { errors: ErrorItem[] }).errors;
}

async function pricesOn(date: string) {
  return json(await get(`/prices/${date}`)).prices;
}

describe('POST /prices', () => {
  it('loads prices, and counts the same price loaded again as unchanged', async () => {
    const loaded = await postPrices([
      { fund: 'FUND-A', date: '2026-07-01', price: '1.5' },
      { fund: 'FUND-B', date: '2026-07-01', price: '2.25' },
    ]);
    expect(loaded.statusCode, loaded.body).toBe(200);
    expect(json(loaded)).toEqual({ inserted: 2, unchanged: 0 });
    const again = await postPrices([
      { fund: 'FUND-A', date: '2026-07-01', price: '1.50000000' },
      { fund: 'FUND-C', date: '2026-07-01', price: '3' },
    ]);
    expect(json(again)).toEqual({ inserted: 1, unchanged: 1 });
  });

  it('refuses a second price for the same fund and day in one request, naming both paths', async () => {
    const response = await postPrices([
      { fund: 'FUND-A', date: '2026-07-02', price: '1.00' },
      { fund: 'FUND-B', date: '2026-07-02', price: '1.00' },
      { fund: 'FUND-A', date: '2026-07-02', price: '1.00' },
    ]);
    expect(response.statusCode).toBe(422);
    expect(response.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(json(response)).toMatchObject({ status: 422, code: 'API_ERR_PRICES_REJECTED' });
    const errors = errorsOf(response);
    expect(errors.map((error) => error.path).sort()).toEqual(['body.prices.0', 'body.prices.2']);
    expect(errors.find((error) => error.path === 'body.prices.2')?.message).toMatch(/first at body\.prices\.0/);
    expect(await pricesOn('2026-07-02')).toEqual([]);
  });

  it('refuses a different price for a day that has one, and loads nothing of the request', async () => {
    const response = await postPrices([
      { fund: 'FUND-B', date: '2026-07-03', price: '9.00' },
      { fund: 'FUND-A', date: '2026-07-01', price: '1.51' },
    ]);
    expect(response.statusCode).toBe(422);
    expect(errorsOf(response)).toEqual([{ path: 'body.prices.1', message: stringMatching(/FUND-A on 2026-07-01 has the price 1\.50000000 already/) }]);
    expect(await pricesOn('2026-07-03')).toEqual([]);
  });

  it('lists every bad row at its path: unknown fund, weekend, bad price, and what the column cannot hold', async () => {
    const response = await postPrices([
      { fund: 'FUND-A', date: '2026-07-06', price: '1.00' },
      { fund: 'GBP', date: '2026-07-06', price: '1.00' },
      { fund: 'FUND-A', date: '2026-07-04', price: '1.00' },
      { fund: 'FUND-B', date: '2026-07-06', price: '1.123456789' },
      { fund: 'FUND-C', date: '2026-07-06', price: '1234567890123' },
      { fund: 'FUND-C', date: '0000-01-03', price: '1' },
      { fund: 'FUND-B', date: '2026-02-30', price: '-1' },
    ]);
    expect(response.statusCode).toBe(422);
    const paths = errorsOf(response).map((error) => error.path);
    expect(new Set(paths)).toEqual(new Set(['body.prices.1', 'body.prices.2', 'body.prices.3', 'body.prices.4', 'body.prices.5', 'body.prices.6']));
    expect(errorsOf(response).find((error) => error.path === 'body.prices.3')?.message).toMatch(/more than 8 decimal places/);
    expect(await pricesOn('2026-07-06')).toEqual([]);
  });

  it('answers 400 for a body that does not fit, 403 to a service key', async () => {
    expect((await postPrices([])).statusCode).toBe(400);
    expect((await postPrices([{ fund: 'FUND-A', date: '2026-07-06' }])).statusCode).toBe(400);
    const denied = await postPrices([{ fund: 'FUND-A', date: '2026-07-06', price: '1' }], api.keys.service);
    expect(denied.statusCode).toBe(403);
  });

  it('takes 10,000 prices in one request, and not 10,001', async () => {
    // FUND-X deals in nothing, so every row is a problem: at most PRICE_ERRORS_MAX of them are listed.
    const prices = calendarDays('2000-01-01', 10_000).map((date) => ({ fund: 'FUND-X', date, price: '1.00000001' }));
    expect((await postPrices([...prices, prices[0]])).statusCode).toBe(400);
    const refused = await postPrices(prices);
    expect(refused.statusCode).toBe(422);
    expect(errorsOf(refused)).toHaveLength(1000);
    expect(json(refused).detail).toMatch(/10000 problem\(s\); the first 1000 are listed/);
  });
});

describe('POST /prices/csv', () => {
  it('loads a CSV file', async () => {
    const response = await postCsv('fund,date,price\r\nFUND-A,2026-07-07,1.25\r\n\r\nFUND-B,2026-07-07,0.98765432\r\n');
    expect(response.statusCode, response.body).toBe(200);
    expect(json(response)).toEqual({ inserted: 2, unchanged: 0 });
    expect(json(await postCsv('fund, date, price\nFUND-A,2026-07-07,1.25\n', 'text/csv; charset=utf-8'))).toEqual({ inserted: 0, unchanged: 1 });
  });

  it('lists every problem by its line and column and loads nothing', async () => {
    const csv = [
      'fund,date,price',
      'FUND-A,2026-07-08,1.00',
      'FUND-B,2026-07-08',
      'FUND-C,2026-07-11,1.00',
      'FUND-A,2026-07-09,1.123456789',
      'FUND-B,2026-07-09,2.00',
      'FUND-A,2026-07-08,1.00',
    ].join('\n');
    const response = await postCsv(csv);
    expect(response.statusCode).toBe(422);
    expect(json(response)).toMatchObject({ code: 'API_ERR_PRICES_REJECTED' });
    const errors = errorsOf(response);
    expect(errors.map((error) => error.path)).toEqual(['line 3', 'line 4, column 2 (date)', 'line 5, column 3 (price)', 'line 7']);
    expect(errors[0]?.message).toBe('expected 3 fields (fund,date,price), got 2');
    expect(errors[1]?.message).toMatch(/2026-07-11 is not a business day of FUND-C/);
    expect(errors[2]?.message).toMatch(/more than 8 decimal places/);
    expect(errors[3]?.message).toMatch(/first on line 2/);
    expect(await pricesOn('2026-07-08')).toEqual([]);
    expect(await pricesOn('2026-07-09')).toEqual([]);
  });

  it('reads quoted fields, a semicolon or tab separator, CRLF and a BOM; a quoting error refuses the whole file', async () => {
    const semicolon = await postCsv('\uFEFF"fund";"date";"price"\r\n"FUND-A";"2026-07-14";"1.25"\r\nFUND-B;2026-07-14;0.5\r\n');
    expect(semicolon.statusCode, semicolon.body).toBe(200);
    expect(json(semicolon)).toEqual({ inserted: 2, unchanged: 0 });
    expect(json(await postCsv('fund\tdate\tprice\n"FUND-A"\t2026-07-14\t1.25\n'))).toEqual({ inserted: 0, unchanged: 1 });
    const broken = await postCsv('fund,date,price\nFUND-A,2026-07-15,1.00\nFUND-B,"2026-07-15"x,1.00\nFUND-C,2026-07-15,"1,00"\n');
    expect(broken.statusCode).toBe(422);
    expect(errorsOf(broken)).toEqual([
      { path: 'line 3, column 2 (date)', message: stringMatching(/goes on after its closing quote/) },
      { path: 'line 4, column 3 (price)', message: stringMatching(/price/) },
    ]);
    expect(await pricesOn('2026-07-15')).toEqual([]);
  });

  it('refuses a file without its header, an empty one, and a conflict with a stored price', async () => {
    const headless = await postCsv('FUND-A,2026-07-10,1.00\nFUND-B,2026-07-10,1.00\n');
    expect(headless.statusCode).toBe(422);
    expect(errorsOf(headless)[0]).toEqual({ path: 'line 1', message: stringMatching(/header fund,date,price/) });
    const empty = await postCsv('fund,date,price\n');
    expect(errorsOf(empty)).toEqual([{ path: 'line 1', message: 'no prices after the header' }]);
    const conflict = await postCsv('fund,date,price\nFUND-A,2026-07-10,1.00\nFUND-A,2026-07-07,1.26\n');
    expect(errorsOf(conflict)).toEqual([{ path: 'line 3', message: stringMatching(/has the price 1\.25000000 already/) }]);
    expect(await pricesOn('2026-07-10')).toEqual([]);
  });

  it('takes text/csv only, up to its size limit', async () => {
    const json415 = await api.app.inject({ method: 'POST', url: '/prices/csv', headers: bearer(api.keys.operator), payload: { prices: [] } });
    expect(json415.statusCode).toBe(415);
    expect(JSON.parse(json415.body)).toMatchObject({ code: 'API_ERR_UNSUPPORTED_MEDIA_TYPE', title: 'the body must be text/csv' });
    expect((await postCsv('fund,date,price\n', 'text/plain')).statusCode).toBe(415);
    const large = await postCsv(`fund,date,price\n${'FUND-A,2026-07-13,1.00\n'.repeat(Math.ceil(PRICES_BODY_LIMIT_BYTES / 23) + 1)}`);
    expect(large.statusCode).toBe(413);
    expect(JSON.parse(large.body)).toMatchObject({ code: 'API_ERR_BODY_TOO_LARGE', title: `the body is larger than ${PRICES_BODY_LIMIT_BYTES} bytes` });
  });
});

describe('GET /prices/:date', () => {
  it("lists the day's prices by fund", async () => {
    const response = await get('/prices/2026-07-01', api.keys.service);
    expect(json(response)).toEqual({
      date: '2026-07-01',
      prices: [
        { fund: 'FUND-A', price: '1.50000000' },
        { fund: 'FUND-B', price: '2.25000000' },
        { fund: 'FUND-C', price: '3.00000000' },
      ],
    });
    expect((await get('/prices/2026-02-30')).statusCode).toBe(400);
    expect((await get('/prices/0000-01-01')).statusCode).toBe(400);
  });
});

describe('traceability after a cycle', () => {
  const orders = ['buy-t-1', 'buy-t-2', 'buy-t-3'];
  let tradeId = '';
  let memberKey: CreatedKey;

  beforeAll(async () => {
    stack.now = new Date('2026-06-01T08:00:00Z');
    for (const [i, cash] of [['1', '100.00'], ['2', '250.00'], ['3', '33.33']] as const) {
      await stack.openPotWithCash(`M-t-${i}`, `P-t-${i}`, '1000.00');
      const placed = await stack.send('order.buy', `M-t-${i}`, `P-t-${i}`, { fund: 'FUND-A', amount: cash, currency: 'GBP' }, `buy-t-${i}`);
      expect(placed).toMatchObject({ kind: 'applied' });
    }
    expect(json(await postPrices([{ fund: 'FUND-A', date: '2026-06-01', price: '1.2345' }]))).toEqual({ inserted: 1, unchanged: 0 });
    tradeId = await stack.cutoff('FUND-A', '2026-06-01');
    expect(await stack.strike('2026-06-01')).toEqual([expect.objectContaining({ applied: 4, rejected: [] })]);
    expect(await stack.settle('2026-06-03')).toEqual([expect.objectContaining({ applied: 4, rejected: [] })]);
    memberKey = await createApiKey(stack.db.service, { role: 'member', memberId: 'M-t-1' });
  });

  it('GET /orders/:orderId: the order, its three movements, its trade and the price', async () => {
    const response = await get('/orders/buy-t-1', api.keys.service);
    expect(response.statusCode, response.body).toBe(200);
    const trace = json(response);
    expect(trace.order).toMatchObject({
      orderId: 'buy-t-1', potId: 'P-t-1', memberId: 'M-t-1', fund: 'FUND-A', currency: 'GBP', side: 'buy', amount: '100.00',
      dealingDate: '2026-06-01', status: 'settled', tradeId, allocation: { filled: '100.00', units: '81.004455', cash: '100.00' },
    });
    const movements = trace.movements as { process: string; change: string; commandId: string; movementId: string; entries: unknown[] }[];
    expect(movements.map((m) => [m.process, m.change, m.commandId])).toEqual([
      ['order.buy', 'place', 'buy-t-1'],
      ['order.allocate', 'allocate', 'allocate:buy-t-1'],
      ['order.settle', 'settle', 'settle:buy-t-1'],
    ]);
    expect(movements.every((m) => m.entries.length > 0)).toBe(true);
    expect(trace.trade).toMatchObject({
      tradeId, status: 'settled', price: '1.23450000', orders: 3, buyCash: '383.33', sellUnits: '0.000000', settlementDate: '2026-06-03',
      execution: { buyCashFilled: '383.33', buyUnitsExecuted: '310.514378', residueUnits: '0.000001', residueCash: '0.00' },
    });
    expect(trace.closingPrice).toEqual({ fund: 'FUND-A', date: '2026-06-01', price: '1.23450000' });
    expect((await get('/orders/no-such-order')).statusCode).toBe(404);
  });

  it('GET /trades/:tradeId: the basis, every allocation and the residue; allocated + residue = executed', async () => {
    const response = await get(`/trades/${tradeId}`);
    expect(response.statusCode, response.body).toBe(200);
    const trace = json(response);
    expect(trace.orders).toEqual([
      {
        orderId: 'buy-t-1',
        potId: 'P-t-1',
        memberId: 'M-t-1',
        side: 'buy',
        amount: '100.00',
        status: 'settled',
        allocation: { filled: '100.00', units: '81.004455', cash: '100.00' },
      },
      {
        orderId: 'buy-t-2',
        potId: 'P-t-2',
        memberId: 'M-t-2',
        side: 'buy',
        amount: '250.00',
        status: 'settled',
        allocation: { filled: '250.00', units: '202.511138', cash: '250.00' },
      },
      {
        orderId: 'buy-t-3',
        potId: 'P-t-3',
        memberId: 'M-t-3',
        side: 'buy',
        amount: '33.33',
        status: 'settled',
        allocation: { filled: '33.33', units: '26.998784', cash: '33.33' },
      },
    ]);
    expect(trace).not.toHaveProperty('nextCursor');
    const residue = trace.residue as { commandId: string; potId: string; process: string }[];
    expect(residue.map((m) => [m.process, m.commandId, m.potId])).toEqual([
      ['trade.residue', `residue:${tradeId}`, ACME_ROUNDING_POT],
      ['trade.settle-residue', `settle-residue:${tradeId}`, ACME_ROUNDING_POT],
    ]);
    expect(trace.totals).toEqual({
      units: { executed: '310.514378', allocated: '310.514377', residue: '0.000001', balanced: true },
      cash: { executed: '0.00', allocated: '0.00', residue: '0.00', balanced: true },
    });
  });

  it('pages the orders of a trade, the totals covering all of them', async () => {
    const first = json(await get(`/trades/${tradeId}?limit=2`));
    expect((first.orders as { orderId: string }[]).map((o) => o.orderId)).toEqual(['buy-t-1', 'buy-t-2']);
    expect(first.nextCursor).toBe('buy-t-2');
    const second = json(await get(`/trades/${tradeId}?limit=2&cursor=buy-t-2`));
    expect((second.orders as { orderId: string }[]).map((o) => o.orderId)).toEqual(['buy-t-3']);
    expect(second).not.toHaveProperty('nextCursor');
    expect(second.totals).toEqual(first.totals);
    expect((await get('/trades/T-FUND-A-1999-01-01')).statusCode).toBe(404);
  });

  it('GET /movements/:movementId names the order an allocation changed, and nothing for other movements', async () => {
    const trace = json(await get('/orders/buy-t-2'));
    const allocation = (trace.movements as { change: string; movementId: string }[]).find((m) => m.change === 'allocate');
    const detail = json(await get(`/movements/${allocation?.movementId ?? ''}`));
    expect(detail).toMatchObject({ orderId: 'buy-t-2', movement: { process: 'order.allocate' } });
    const residue = (json(await get(`/trades/${tradeId}`)).residue as { movementId: string }[])[0];
    expect(json(await get(`/movements/${residue?.movementId ?? ''}`))).not.toHaveProperty('orderId');
  });

  it("lets a member key read its own order without the trade's totals, and nothing else", async () => {
    const own = await get('/orders/buy-t-1', memberKey);
    expect(own.statusCode, own.body).toBe(200);
    const trade = json(own).trade as Record<string, unknown>;
    expect(trade).toEqual({ tradeId, fund: 'FUND-A', currency: 'GBP', dealingDate: '2026-06-01', settlementDate: '2026-06-03', status: 'settled', price: '1.23450000' });
    const other = await get('/orders/buy-t-2', memberKey);
    expect(other.statusCode).toBe(404);
    expect(json(other).code).toBe('API_ERR_NOT_FOUND');
    expect((await get(`/trades/${tradeId}`, memberKey)).statusCode).toBe(403);
    expect((await get('/prices/2026-06-01', memberKey)).statusCode).toBe(403);
    for (const order of orders) expect((await get(`/orders/${order}`)).statusCode).toBe(200);
    expect((await verifyLedger(stack.db.owner)).ok).toBe(true);
  });
});

/** `count` consecutive calendar days from `start`. */
function calendarDays(start: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => new Date(Date.parse(`${start}T00:00:00Z`) + i * 86_400_000).toISOString().slice(0, 10));
}
