import { z } from 'zod';
import { potAccount, systemAccount } from '../accounts.js';
import { dealingDateAt } from '../calendar.js';
import { isRejection, reject, RejectionCode } from '../errors.js';
import { amountText, currencyCode, fundCode, readAmount, readDealing } from '../payload.js';
import { defineProcess } from '../process.js';

export const orderBuy = defineProcess({
  name: 'order.buy',
  version: 1,
  describe:
    "Places an order to invest an amount of the pot's cash in a fund. The cash is reserved at once (insufficient funds otherwise); the order deals in the cycle of the first cut-off after it was produced (forward pricing) and its id is this command's id.",
  payload: z.strictObject({ fund: fundCode, amount: amountText, currency: currencyCode }),
  plan: ({ command, payload, partition, ctx }) => {
    const fund = readDealing(ctx.assets, payload.fund);
    if (isRejection(fund)) return fund;
    if (payload.currency !== fund.dealing.currency) {
      return reject(RejectionCode.notDealable, `${payload.fund} deals in ${fund.dealing.currency}, not ${payload.currency}`, { fund: payload.fund });
    }
    const amount = readAmount(ctx.assets, payload.currency, payload.amount, 'currency');
    if (isRejection(amount)) return amount;
    const { asset, amountMinor } = amount;
    return {
      entries: [
        { debit: potAccount(command.potId, 'cash.reserved', asset.code), credit: systemAccount(partition, 'reservations', asset.code), asset: asset.code, amountMinor },
      ],
      orderChange: {
        type: 'place',
        orderId: command.commandId,
        fund: payload.fund,
        currency: asset.code,
        side: 'buy',
        amountMinor: amountMinor.toString(),
        dealingDate: dealingDateAt(fund.dealing.calendar, fund.dealing.cutoff, command.producedAt),
      },
    };
  },
});
