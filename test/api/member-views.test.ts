import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, type CreatedKey } from '../../src/api/keys.js';
import { formatAmount, partitionOf } from '../../src/ledger/index.js';
import { bearer, buildTestApp, json, type TestApp } from '../support/api.js';
import { closeDay } from '../support/close-day.js';
import { assets, DealingStack, PARTITIONS } from '../support/dealing.js';

/**
 * What a member key can read, walked route by route. Two members share a partition (so its system
 * accounts carry both members' flows) and have deposited, bought units in one allocated and settled
 * trade, paid each other and held cash for each other. Every route the app has is called with each
 * member's key, with that member's own ids in the path; a route a member key may not call answers 403
 * and is skipped. No answer may carry a system account's balance or version, nor the other member's
 * id or pot id.
 */
let stack: DealingStack;
let api: TestApp;

/** Two members in one partition, their ids not substrings of each other's. */
function membersInOnePartition(): readonly [string, string] {
  const first = 'M-alder-0';
  for (let i = 1; ; i += 1) {
    const candidate = `M-birch-${i}`;
    if (partitionOf(candidate, PARTITIONS) === partitionOf(first, PARTITIONS)) return [first, candidate];
  }
}

const [ALDER, BIRCH] = membersInOnePartition();
const potOf = (memberId: string): string => `P-${memberId.slice(2)}`;
const DAY = '2026-06-01';
const SETTLEMENT_DAY = '2026-06-03';

interface Member {
  readonly memberId: string;
  readonly potId: string;
  readonly key: CreatedKey;
  readonly orderId: string;
}
const members: Record<string, Member> = {};
let tradeId = '';

let requests = 0;
async function send(method: 'POST' | 'PUT', url: string, payload: object): Promise<Record<string, unknown>> {
  requests += 1;
  const response = await api.app.inject({ method, url, headers: { ...bearer(api.keys.operator), 'idempotency-key': `setup-${requests}` }, payload });
  expect(response.statusCode, `${method} ${url}: ${response.body}`).toBeLessThan(300);
  return json(response);
}

beforeAll(async () => {
  stack = await DealingStack.start('apimemberviews');
  api = await buildTestApp(stack.db.service, stack.publisher);
  stack.now = new Date(`${DAY}T08:00:00Z`);
  for (const [memberId, cash, buy] of [[ALDER, '1000.00', '100.00'], [BIRCH, '2500.00', '250.00']] as const) {
    const potId = potOf(memberId);
    await send('POST', '/members', { memberId, name: 'A Member', email: `${memberId}@example.com`, address: '1 Road', riskProfile: 'balanced' });
    await stack.openPotWithCash(memberId, potId, cash);
    const orderId = `buy-${memberId}`;
    expect(await stack.send('order.buy', memberId, potId, { fund: 'FUND-A', amount: buy, currency: 'GBP' }, orderId)).toMatchObject({ kind: 'applied' });
    members[memberId] = { memberId, potId, orderId, key: await createApiKey(stack.db.service, { role: 'member', memberId }) };
  }
  await stack.price('FUND-A', DAY, '1.2345');
  tradeId = await stack.cutoff('FUND-A', DAY);
  expect(await stack.strike(DAY)).toEqual([expect.objectContaining({ rejected: [] })]);
  expect(await stack.settle(SETTLEMENT_DAY)).toEqual([expect.objectContaining({ rejected: [] })]);
  const alder = { memberId: ALDER, potId: potOf(ALDER) };
  const birch = { memberId: BIRCH, potId: potOf(BIRCH) };
  expect((await send('POST', '/payments', { paymentId: 'pay-alder-birch', payer: alder, payee: birch, amount: '12.34', currency: 'GBP' })).status).toBe('completed');
  expect((await send('POST', '/payments', { paymentId: 'pay-birch-alder', payer: birch, payee: alder, amount: '56.78', currency: 'GBP' })).status).toBe('completed');
  await send('POST', '/holds', { holdId: 'hold-alder-birch', payer: alder, payee: birch, amount: '7.00', currency: 'GBP', expiresAt: '2026-06-30T00:00:00Z' });
  await send('POST', '/holds/hold-alder-birch/post', { paymentId: 'pay-hold-alder-birch', amount: '4.00' });
  await send('POST', '/holds', { holdId: 'hold-birch-alder', payer: birch, payee: alder, amount: '9.00', currency: 'GBP', expiresAt: '2026-06-30T00:00:00Z' });
  await closeDay(stack.db.service, stack.nats.nc, stack.nats.prefix, PARTITIONS, SETTLEMENT_DAY);
});
afterAll(async () => {
  await api?.app.close();
  await stack?.stop();
});

/** Every route of the app as method and path (`:name` parameters), read from fastify's own route tree. */
function routesOf(tree: string): { method: string; path: string }[] {
  const stackOfPaths: string[] = [];
  const routes: { method: string; path: string }[] = [];
  for (const line of tree.split('\n')) {
    const match = /^((?:[│ ] {3})*)[├└]── (\S+)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (match === null) continue;
    const depth = (match[1] ?? '').length / 4;
    stackOfPaths.length = depth;
    const path = `${stackOfPaths[depth - 1] ?? ''}${match[2] ?? ''}`;
    stackOfPaths.push(path);
    for (const method of (match[3] ?? '').split(', ').filter((m) => m !== '' && m !== 'HEAD')) routes.push({ method, path });
  }
  return routes;
}

interface OpenApiOperation {
  readonly parameters?: readonly { name: string; in: string; required?: boolean }[];
}

/** Query strings to call a route with: its required parameters, then once more with the optional ones we have values for. */
function queriesFor(operation: OpenApiOperation | undefined, values: Readonly<Record<string, string>>): string[] {
  const query = (operation?.parameters ?? []).filter((parameter) => parameter.in === 'query');
  const required = query.filter((parameter) => parameter.required === true).map((parameter) => {
    const value = values[parameter.name];
    if (value === undefined) throw new Error(`no test value for the required query parameter ${parameter.name}`);
    return `${parameter.name}=${value}`;
  });
  const optional = query
    .filter((parameter) => parameter.required !== true && values[parameter.name] !== undefined)
    .map((parameter) => `${parameter.name}=${values[parameter.name] ?? ''}`);
  const queries = [required.join('&')];
  if (optional.length > 0) queries.push([...required, ...optional].join('&'));
  return queries.map((text) => (text === '' ? '' : `?${text}`));
}

/** The figures of system accounts (every balance after a posting, now and at the close), less those of the member's own postings. */
async function systemFiguresHiddenFrom(member: Member): Promise<Set<string>> {
  const figures = async (sql: string, parameters: unknown[] = []) =>
    (await stack.db.owner.query<{ asset: string; minor: bigint }>(sql, parameters)).rows.map((row) => formatAmount(row.minor, assets.find(row.asset)?.scale ?? 0));
  const system = [
    ...(await figures("SELECT asset, balance_after_minor AS minor FROM entries WHERE account_id LIKE 'system:%'")),
    ...(await figures("SELECT asset, balance_minor AS minor FROM balances WHERE account_id LIKE 'system:%'")),
    ...(await figures("SELECT split_part(account_id, ':', 4) AS asset, balance_minor AS minor FROM balances_eod WHERE account_id LIKE 'system:%'")),
  ];
  const own = new Set([
    ...(await figures('SELECT e.asset, e.amount_minor AS minor FROM entries e JOIN movements m USING (movement_id) WHERE m.pot_id = $1', [member.potId])),
    ...(await figures('SELECT asset, balance_after_minor AS minor FROM entries WHERE account_id LIKE $1', [`pot:${member.potId}:%`])),
  ]);
  return new Set(system.filter((figure) => !own.has(figure) && !/^-?0(\.0+)?$/.test(figure)));
}

const BALANCE_FIELDS = ['balance', 'balanceAfter', 'accountVersion', 'version', 'total'];

/** Where a JSON body shows a system account with a balance or version, or a figure only a system account has. */
function leaksIn(body: unknown, hidden: ReadonlySet<string>, where = '$'): string[] {
  if (typeof body === 'string') return hidden.has(body) ? [`${where}: ${body} is a system account's figure`] : [];
  if (body === null || typeof body !== 'object') return [];
  const entries = Object.entries(body as Record<string, unknown>);
  const namesSystem = entries.some(([, value]) => typeof value === 'string' && value.startsWith('system:'));
  const shown = namesSystem ? entries.filter(([name]) => BALANCE_FIELDS.includes(name)).map(([name]) => `${where}.${name} of a system account`) : [];
  return [...shown, ...entries.flatMap(([name, value]) => leaksIn(value, hidden, `${where}.${name}`))];
}

async function pathValues(member: Member): Promise<Record<string, readonly string[]>> {
  const { rows } = await stack.db.owner.query<{ movement_id: string; command_id: string }>(
    'SELECT movement_id, command_id FROM movements WHERE pot_id = $1 ORDER BY seq',
    [member.potId],
  );
  return {
    memberId: [member.memberId],
    potId: [member.potId],
    movementId: rows.map((row) => row.movement_id),
    commandId: rows.map((row) => row.command_id),
    orderId: [member.orderId],
    tradeId: [tradeId],
    paymentId: ['pay-alder-birch', 'pay-birch-alder'],
    holdId: ['hold-alder-birch', 'hold-birch-alder'],
    poolId: ['pool-none'],
    distributionId: ['distribution-none'],
    alertId: ['1'],
    runId: ['run-none'],
    seq: ['1'],
    date: [DAY],
    day: [DAY],
    base: ['GBP'],
    quote: ['EUR'],
    '*': ['index.css'],
  };
}

/** Every concrete URL of a route: each combination of the member's values for its path parameters. */
function urlsOf(path: string, values: Record<string, readonly string[]>): string[] {
  const names = [...path.matchAll(/:([A-Za-z]+)|\*/g)].map((match) => match[1] ?? '*');
  let urls = [path];
  for (const name of names) {
    const options = values[name];
    if (options === undefined || options.length === 0) throw new Error(`no test value for the path parameter ${name} of ${path}`);
    urls = urls.flatMap((url) => options.map((option) => url.replace(name === '*' ? '*' : `:${name}`, encodeURIComponent(option))));
  }
  return urls;
}

describe('a member key on every route it can reach', () => {
  for (const [own, other] of [[ALDER, BIRCH], [BIRCH, ALDER]] as const) {
    it(`${own} sees no system balance and nothing of ${other}`, async () => {
      const member = members[own];
      if (member === undefined) throw new Error(`no member ${own}`);
      const otherIds = [other, potOf(other)];
      const hidden = await systemFiguresHiddenFrom(member);
      expect(hidden.size, 'the ledger has system figures to hide').toBeGreaterThan(0);
      const document = json(await api.app.inject({ method: 'GET', url: '/openapi.json' })) as { paths: Record<string, Record<string, OpenApiOperation>> };
      const values = await pathValues(member);
      const reached: string[] = [];
      const problems: string[] = [];
      for (const route of routesOf(api.app.printRoutes({ commonPrefix: false }))) {
        const operation = document.paths[route.path.replace(/:([A-Za-z]+)/g, '{$1}')]?.[route.method.toLowerCase()];
        for (const url of urlsOf(route.path, values)) {
          for (const query of queriesFor(operation, { from: '2026-01-01', to: '2026-12-31', asOf: SETTLEMENT_DAY })) {
            const response: LightMyRequestResponse = await api.app.inject({
              method: route.method as 'GET',
              url: `${url}${query}`,
              headers: { ...bearer(member.key), 'idempotency-key': `walk-${own}` },
              ...(route.method === 'GET' || route.method === 'DELETE' ? {} : { payload: {} }),
            });
            if (response.statusCode === 403) {
              expect(json(response).code).toBe('API_ERR_FORBIDDEN');
              continue;
            }
            reached.push(`${route.method} ${route.path} ${response.statusCode}`);
            const label = `${route.method} ${url}${query} (${response.statusCode})`;
            for (const id of otherIds) if (response.body.includes(id)) problems.push(`${label}: names ${id}`);
            if (/json/.test(String(response.headers['content-type']))) problems.push(...leaksIn(response.json(), hidden).map((leak) => `${label}: ${leak}`));
          }
        }
      }
      // The walk reached the member's reads, with answers (not only refusals).
      for (const route of ['GET /members/:memberId 200', 'GET /members/:memberId/pots 200', 'GET /pots/:potId 200', 'GET /pots/:potId/balances 200',
        'GET /pots/:potId/statement 200', 'GET /movements/:movementId 200', 'GET /orders/:orderId 200']) {
        expect(reached, route).toContain(route);
      }
      expect(problems).toEqual([]);
    });
  }
});

describe('GET /movements/:movementId for a member key', () => {
  it("shows its own pot's figures in full and, of a system account, the account and amount only; other keys see every figure", async () => {
    const member = members[ALDER];
    if (member === undefined) throw new Error(`no member ${ALDER}`);
    const { rows } = await stack.db.owner.query<{ movement_id: string }>("SELECT movement_id FROM movements WHERE pot_id = $1 AND process = 'cash.deposit'", [member.potId]);
    const url = `/movements/${rows[0]?.movement_id ?? ''}`;
    const asMember = json(await api.app.inject({ method: 'GET', url, headers: bearer(member.key) }));
    expect(asMember.postings).toEqual([
      { entryIndex: 0, side: 'debit', account: `pot:${member.potId}:cash:GBP`, asset: 'GBP', amount: '1000.00', balanceAfter: '1000.00', accountVersion: '1' },
      { entryIndex: 0, side: 'credit', account: expect.stringMatching(/^system:p[0-9]+:external\.bank:GBP$/) as unknown, asset: 'GBP', amount: '1000.00' },
    ]);
    const asOperator = json(await api.app.inject({ method: 'GET', url, headers: bearer(api.keys.operator) }));
    expect((asOperator.postings as Record<string, unknown>[])[1]).toMatchObject({ balanceAfter: '-1000.00', accountVersion: '1' });
  });

  it("shows a hold it placed without the payee's ids", async () => {
    const member = members[ALDER];
    if (member === undefined) throw new Error(`no member ${ALDER}`);
    const { rows } = await stack.db.owner.query<{ movement_id: string }>("SELECT movement_id FROM movements WHERE pot_id = $1 AND process = 'hold.place'", [member.potId]);
    const url = `/movements/${rows[0]?.movement_id ?? ''}`;
    const asMember = json(await api.app.inject({ method: 'GET', url, headers: bearer(member.key) }));
    expect((asMember.movement as Record<string, unknown>).potChange).toEqual({
      type: 'hold',
      holdId: 'hold-alder-birch',
      currency: 'GBP',
      amountMinor: '700',
      expiresAt: '2026-06-30T00:00:00.000Z',
    });
    const asService = json(await api.app.inject({ method: 'GET', url, headers: bearer(api.keys.service) }));
    expect((asService.movement as Record<string, unknown>).potChange).toMatchObject({ payee: { memberId: BIRCH, potId: potOf(BIRCH) } });
  });
});
