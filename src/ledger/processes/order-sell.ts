import { z } from 'zod';
import { potAccount, systemAccount } from '../accounts.js';
import { dealingDateAt } from '../calendar.js';
import { isRejection, reject, RejectionCode } from '../errors.js';
import { balanceOf } from '../movement.js';
import { amountText, fundCode, readAmount, readDealing } from '../payload.js';
import { defineProcess } from '../process.js';

export const orderSell = defineProcess({
  name: 'order.sell',
  version: 1,
  describe:
    'Places an order to sell a number of settled units of a fund, or "all" the units not ' +
    'already reserved. The units are reserved at once; the order deals in the cycle of the ' +
    'first cut-off after it was produced and its id is this command\'s id.',
  payload: z.strictObject({ fund: fundCode, units: z.union([amountText, z.literal('all')]) }),
  plan: ({ command, payload, partition, balances, ctx }) => {
    const fund = readDealing(ctx.assets, payload.fund);
    if (isRejection(fund)) return fund;
    const held = potAccount(command.potId, 'units', payload.fund);
    const reserved = potAccount(command.potId, 'units.reserved', payload.fund);
    let unitsMinor: bigint;
    if (payload.units === 'all') {
      unitsMinor = balanceOf(balances, held) - balanceOf(balances, reserved);
      if (unitsMinor <= 0n) return reject(RejectionCode.nothingToSell, `pot ${command.potId} has no ${payload.fund} units available to sell`);
    } else {
      const amount = readAmount(ctx.assets, payload.fund, payload.units, 'fund');
      if (isRejection(amount)) return amount;
      unitsMinor = amount.amountMinor;
    }
    return {
      entries: [{ debit: reserved, credit: systemAccount(partition, 'reservations', payload.fund), asset: payload.fund, amountMinor: unitsMinor }],
      orderChange: {
        type: 'place',
        orderId: command.commandId,
        fund: payload.fund,
        currency: fund.dealing.currency,
        side: 'sell',
        amountMinor: unitsMinor.toString(),
        dealingDate: dealingDateAt(fund.dealing.calendar, fund.dealing.cutoff, command.producedAt),
      },
    };
  },
});
