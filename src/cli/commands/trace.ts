import type pg from 'pg';
import { loadConfig } from '../../config/config.js';
import { orderOfMovement, traceOrder, traceTrade, type LegTotals, type OrderTrace, type TracedMovement, type TradeTrace, type TradeView } from '../../dealing/trace.js';
import { assetCatalog, DEFAULT_ASSETS, type AssetCatalog } from '../../ledger/index.js';
import { parseCommandLine } from '../args.js';
import { withDatabase } from '../database.js';
import { formatTable, printJson, printLines, printNotice } from '../output.js';
import type { CliCommand } from './command.js';

const USAGE = 'trace <orderId|tradeId|movementId> [--json]';

/** What an id turned out to be, traced. */
export type Traced =
  | { readonly kind: 'trade'; readonly trace: TradeTrace }
  | { readonly kind: 'order'; readonly trace: OrderTrace }
  /** A movement that changed an order: the order's trace, from that movement. */
  | { readonly kind: 'movement'; readonly movementId: string; readonly trace: OrderTrace };

/**
 * Traceability from the command line, both ways: a movement or an order to its trade and price, a
 * trade to every order it allocated and ACME's residue. Exit 1 when the id is none of those (or a
 * movement that changed no order), or when a trade's totals do not balance.
 */
export const traceCommand: CliCommand = {
  usage: [{ line: USAGE, gloss: 'movement → order → trade → price, or trade → orders, residue, totals; exit 1 if none or unbalanced' }],
  async run(args) {
    const { values, positionals } = parseCommandLine(USAGE, args, { json: { type: 'boolean' } }, 1);
    const [id = ''] = positionals;
    const assets = assetCatalog(DEFAULT_ASSETS);
    const found = await withDatabase(loadConfig(), (pool) => find(pool, id, assets));
    if (typeof found === 'string') {
      printNotice(`potledger: ${found}`);
      return 1;
    }
    if (values.json === true) printJson(found);
    else printLines(found.kind === 'trade' ? humanTrade(found.trace) : humanOrder(found.trace, found.kind === 'movement' ? found.movementId : undefined));
    const totals = found.kind === 'trade' ? found.trace.totals : undefined;
    if (totals !== undefined && !(totals.units.balanced && totals.cash.balanced)) {
      printNotice(`potledger: the totals of ${id} do not balance: allocated + residue differs from executed`);
      return 1;
    }
    return 0;
  },
};

/** A trade id starts with T-; anything else (or a T- id that is no trade) is tried as an order, then as a movement. */
async function find(pool: pg.Pool, id: string, assets: AssetCatalog): Promise<Traced | string> {
  if (id.startsWith('T-')) {
    const trade = await traceTrade(pool, id, assets);
    if (trade !== undefined) return { kind: 'trade', trace: trade };
  }
  const order = await traceOrder(pool, id, assets);
  if (order !== undefined) return { kind: 'order', trace: order };
  const movement = await orderOfMovement(pool, id);
  if (movement === undefined) return `"${id}" is no trade, order or movement`;
  if (movement.orderId === undefined) return `movement ${id} changed no order`;
  const changed = await traceOrder(pool, movement.orderId, assets);
  if (changed === undefined) return `movement ${id} changed order ${movement.orderId}, which has no row in orders (verify reports it)`;
  return { kind: 'movement', movementId: id, trace: changed };
}

function movementTable(movements: readonly TracedMovement[]): string[] {
  if (movements.length === 0) return ['  none'];
  return formatTable(
    [{ title: 'seq', align: 'right' }, { title: 'movement' }, { title: 'process' }, { title: 'change' }, { title: 'effective' }, { title: 'command' }],
    movements.map((m) => [m.seq, m.movementId, m.process, m.change ?? '-', m.effectiveDate, m.commandId]),
  ).map((line) => `  ${line}`);
}

function tradeLine(trade: TradeView): string {
  const price = trade.price === undefined ? 'not priced yet' : `price ${trade.price}`;
  return `trade     ${trade.tradeId}: ${trade.status}; dealing ${trade.dealingDate}, settles ${trade.settlementDate}, ${price}`;
}

function humanOrder(trace: OrderTrace, fromMovement: string | undefined): string[] {
  const { order, closingPrice } = trace;
  const via = trace.movements.find((m) => m.movementId === fromMovement);
  const allocation = order.allocation === undefined ? '' : `; filled ${order.allocation.filled}, units ${order.allocation.units}, cash ${order.allocation.cash}`;
  const amount = order.side === 'buy' ? `${order.amount} ${order.currency}` : `${order.amount} units`;
  return [
    ...(via === undefined ? [] : [`movement  ${via.movementId}: ${via.process} (${via.change ?? '-'}), effective ${via.effectiveDate}`]),
    `order     ${order.orderId}: ${order.side} ${order.fund} for ${amount}, pot ${order.potId} of member ${order.memberId}`,
    `          dealing ${order.dealingDate}, ${order.status}${allocation}`,
    'movements',
    ...movementTable(trace.movements),
    trace.trade === undefined ? 'trade     none yet (the order is not aggregated)' : tradeLine(trace.trade),
    closingPrice.price === undefined
      ? `price     no closing price of ${closingPrice.fund} is loaded for ${closingPrice.date}`
      : `price     ${closingPrice.fund} closed at ${closingPrice.price} on ${closingPrice.date}`,
  ];
}

function totalsLine(name: string, totals: LegTotals): string {
  return `  ${name}  executed ${totals.executed} = allocated ${totals.allocated} + residue ${totals.residue}: ${totals.balanced ? 'balanced' : 'NOT balanced'}`;
}

function humanTrade(trace: TradeTrace): string[] {
  const { trade } = trace;
  const execution = trade.execution;
  const more = trace.nextCursor === undefined ? [] : [`  … ${trade.orders - trace.orders.length} more: GET /trades/${trade.tradeId}?cursor=${trace.nextCursor} pages through them`];
  return [
    tradeLine(trade),
    `          ${trade.fund} in ${trade.currency}: buy ${trade.buyCash} ${trade.currency}, sell ${trade.sellUnits} units; ${trade.orders} orders`,
    execution === undefined
      ? 'executed  not yet'
      : `executed  buy ${execution.buyCashFilled} ${trade.currency} → ${execution.buyUnitsExecuted} units; ` +
        `sell ${execution.sellUnitsFilled} units → ${execution.sellProceedsExecuted} ${trade.currency}`,
    'orders',
    ...formatTable(
      [{ title: 'order' }, { title: 'pot' }, { title: 'member' }, { title: 'side' }, { title: 'amount', align: 'right' }, { title: 'status' },
        { title: 'filled', align: 'right' }, { title: 'units', align: 'right' }, { title: 'cash', align: 'right' }],
      trace.orders.map((o) => [
        o.orderId, o.potId, o.memberId, o.side, o.amount, o.status ?? '?',
        o.allocation?.filled ?? '-', o.allocation?.units ?? '-', o.allocation?.cash ?? '-',
      ]),
    ).map((line) => `  ${line}`),
    ...more,
    "residue in ACME's rounding pot",
    ...movementTable(trace.residue),
    ...(trace.totals === undefined ? ['totals    once executed'] : ['totals', totalsLine('units', trace.totals.units), totalsLine('cash ', trace.totals.cash)]),
  ];
}
