import { z } from 'zod';
import { potAccount, systemAccount } from '../accounts.js';
import { reject, RejectionCode } from '../errors.js';
import { settledProceeds } from '../funding.js';
import type { Entry } from '../movement.js';
import { orderIdText, tradeIdText } from '../payload.js';
import { defineProcess } from '../process.js';

export const orderSettle = defineProcess({
  name: 'order.settle',
  version: 1,
  drivenBy: 'the dealing desk (a settled trade)',
  describe:
    "Settles an allocated order when its trade settles (T+N). A buy: pending units become settled " +
    "units, and its cash leaves the bank for the custodian. A sell: the sold units leave the pot, and " +
    "the proceeds arrive at the bank and become the pot's cash, less what a switch has already invested " +
    "out of them (a switch's reservation still on them follows them into reserved cash).",
  payload: z.strictObject({ orderId: orderIdText, tradeId: tradeIdText }),
  loads: (payload) => ({ movementIds: [], orderIds: [payload.orderId] }),
  plan: ({ command, payload, partition, balances, orders }) => {
    const order = orders?.get(payload.orderId);
    if (order === undefined || order.potId !== command.potId) return reject(RejectionCode.orderNotFound, `pot ${command.potId} has no order ${payload.orderId}`);
    const allocation = order.allocation;
    if (order.status !== 'allocated' || order.tradeId !== payload.tradeId || allocation === undefined) {
      return reject(RejectionCode.orderStateMismatch, `order ${order.orderId} is ${order.status}, not allocated in ${payload.tradeId}`);
    }
    const pot = (kind: string, asset: string) => potAccount(command.potId, kind, asset);
    const system = (kind: string, asset: string) => systemAccount(partition, kind, asset);
    const entries: Entry[] = [];
    const add = (debit: string, credit: string, asset: string, amountMinor: bigint) => {
      if (amountMinor > 0n) entries.push({ debit, credit, asset, amountMinor });
    };
    const { fund, currency } = order;
    if (order.side === 'buy') {
      add(pot('units', fund), pot('units.pending', fund), fund, allocation.unitsMinor);
      add(system('custodian.pending', fund), system('custodian.units', fund), fund, allocation.unitsMinor);
      add(system('external.bank', currency), system('dealing.cash', currency), currency, allocation.cashMinor);
    } else {
      add(system('reservations', fund), pot('units.reserved', fund), fund, allocation.unitsMinor);
      add(system('custodian.units', fund), pot('units', fund), fund, allocation.unitsMinor);
      entries.push(...settledProceeds(command.potId, currency, allocation.cashMinor, balances));
      add(system('dealing.cash', currency), system('external.bank', currency), currency, allocation.cashMinor);
    }
    return { entries, orderChange: { type: 'settle', orderId: order.orderId, tradeId: payload.tradeId } };
  },
});
