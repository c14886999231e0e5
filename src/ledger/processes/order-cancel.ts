import { z } from 'zod';
import { potAccount, systemAccount } from '../accounts.js';
import { cutoffInstant } from '../calendar.js';
import { isRejection, reject, RejectionCode } from '../errors.js';
import { releaseBuyReservation } from '../funding.js';
import { orderIdText, readDealing } from '../payload.js';
import { defineProcess } from '../process.js';

export const orderCancel = defineProcess({
  name: 'order.cancel',
  version: 1,
  describe:
    "Cancels an open order before its cycle's cut-off and releases its reservation. After the cut-off, or once the aggregator has taken the order into a trade, it is rejected.",
  payload: z.strictObject({ orderId: orderIdText }),
  loads: (payload) => ({ movementIds: [], orderIds: [payload.orderId] }),
  plan: ({ command, payload, partition, balances, orders, ctx }) => {
    const order = orders?.get(payload.orderId);
    if (order === undefined || order.potId !== command.potId) return reject(RejectionCode.orderNotFound, `pot ${command.potId} has no order ${payload.orderId}`);
    if (order.status !== 'open') return reject(RejectionCode.orderNotCancellable, `order ${order.orderId} is ${order.status}`);
    const fund = readDealing(ctx.assets, order.fund);
    if (isRejection(fund)) return fund;
    const cutoff = cutoffInstant(order.dealingDate, fund.dealing.cutoff);
    if (Date.parse(command.producedAt) >= Date.parse(cutoff)) {
      return reject(RejectionCode.orderNotCancellable, `order ${order.orderId} passed its cut-off at ${cutoff}`);
    }
    const entries =
      order.side === 'buy'
        ? releaseBuyReservation(order, command.potId, partition, balances).entries
        : [{
          debit: systemAccount(partition, 'reservations', order.fund),
          credit: potAccount(command.potId, 'units.reserved', order.fund),
          asset: order.fund,
          amountMinor: order.amountMinor,
        }];
    return { entries, orderChange: { type: 'cancel', orderId: order.orderId } };
  },
});
