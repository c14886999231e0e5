import { z } from 'zod';
import { potAccount, systemAccount } from '../accounts.js';
import { divideByRate, multiplyByRate, parseAmount } from '../decimal.js';
import { isRejection, reject, RejectionCode } from '../errors.js';
import { payFilledBuy, releaseBuyReservation } from '../funding.js';
import type { Entry } from '../movement.js';
import { amountText, orderIdText, priceText, readDealing, readPrice, tradeIdText } from '../payload.js';
import { defineProcess } from '../process.js';

/** Any positive rate: with nothing filled, nothing is multiplied or divided by it. */
const ZERO_FILL_PRICE = { mantissa: 1n, scale: 0 };

export const orderAllocate = defineProcess({
  name: 'order.allocate',
  version: 1,
  drivenBy: "the dealing desk (a priced trade's allocation)",
  describe:
    "Gives an aggregated order its share of the priced trade. A buy: its reservation is released, the " +
    "filled cash goes to the partition's dealing cash (out of pending proceeds for a switch, as far as its " +
    "reservation is still there), and filled cash ÷ price (rounded down to the fund's scale) becomes " +
    "pending units. A sell: the unfilled units are released, and filled units × price (rounded down to the " +
    "currency's scale) becomes pending cash; the sold units stay reserved until settlement.",
  payload: z.strictObject({
    orderId: orderIdText,
    tradeId: tradeIdText,
    price: priceText.optional().describe('The price the trade was struck at; absent only when nothing was filled'),
    filled: amountText.describe("The order's share of the leg's fill: cash for a buy, units for a sell; 0 for a rejected trade"),
  }),
  loads: (payload) => ({ movementIds: [], orderIds: [payload.orderId] }),
  plan: ({ command, payload, partition, balances, orders, ctx }) => {
    const order = orders?.get(payload.orderId);
    if (order === undefined || order.potId !== command.potId) return reject(RejectionCode.orderNotFound, `pot ${command.potId} has no order ${payload.orderId}`);
    if (order.status !== 'aggregated' || order.tradeId !== payload.tradeId) {
      const where = order.tradeId === undefined ? '' : ` in trade ${order.tradeId}`;
      return reject(RejectionCode.orderStateMismatch, `order ${order.orderId} is ${order.status}${where}, not aggregated in ${payload.tradeId}`);
    }
    const fund = readDealing(ctx.assets, order.fund);
    if (isRejection(fund)) return fund;
    const currency = ctx.assets.find(order.currency);
    if (currency === undefined) return reject(RejectionCode.unknownAsset, `unknown asset ${order.currency}`);
    // Zero is a fill too: a rejected trade, or a partial fill that gives this order nothing.
    const filled = parseAmount(payload.filled, order.side === 'buy' ? currency.scale : fund.asset.scale, { zero: true });
    if (!filled.ok) return reject(RejectionCode.invalidAmount, `filled: ${filled.reason}`);
    const filledMinor = filled.value;
    if (filledMinor > order.amountMinor) return reject(RejectionCode.orderStateMismatch, `order ${order.orderId} cannot fill more than it asked`);
    // A fill needs the price it was struck at; nothing filled (a rejected trade) needs none.
    const price = payload.price === undefined ? (filledMinor === 0n ? ZERO_FILL_PRICE : undefined) : readPrice(payload.price);
    if (price === undefined) return reject(RejectionCode.invalidPayload, 'a fill needs its price');
    if (isRejection(price)) return price;

    const pot = (kind: string, asset: string) => potAccount(command.potId, kind, asset);
    const system = (kind: string, asset: string) => systemAccount(partition, kind, asset);
    const entries: Entry[] = [];
    const add = (debit: string, credit: string, asset: string, amountMinor: bigint) => {
      if (amountMinor > 0n) entries.push({ debit, credit, asset, amountMinor });
    };
    let unitsMinor: bigint;
    let cashMinor: bigint;
    if (order.side === 'buy') {
      unitsMinor = divideByRate(filledMinor, currency.scale, price, fund.asset.scale, 'down');
      cashMinor = filledMinor;
      const released = releaseBuyReservation(order, command.potId, partition, balances);
      entries.push(...released.entries, ...payFilledBuy(order, command.potId, partition, released.held, cashMinor));
      add(pot('units.pending', order.fund), system('custodian.pending', order.fund), order.fund, unitsMinor);
    } else {
      unitsMinor = filledMinor;
      cashMinor = multiplyByRate(filledMinor, fund.asset.scale, price, currency.scale, 'down');
      add(system('reservations', order.fund), pot('units.reserved', order.fund), order.fund, order.amountMinor - filledMinor);
      add(pot('cash.pending', order.currency), system('dealing.cash', order.currency), order.currency, cashMinor);
    }
    return {
      entries,
      orderChange: {
        type: 'allocate',
        orderId: order.orderId,
        tradeId: payload.tradeId,
        filledMinor: filledMinor.toString(),
        unitsMinor: unitsMinor.toString(),
        cashMinor: cashMinor.toString(),
      },
    };
  },
});
