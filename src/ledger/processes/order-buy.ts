import { z } from 'zod';
import { potAccount, systemAccount } from '../accounts.js';
import { dealingDateAt } from '../calendar.js';
import { isRejection, reject, RejectionCode } from '../errors.js';
import { balanceOf } from '../movement.js';
import { amountText, currencyCode, fundCode, readAmount, readDealing } from '../payload.js';
import { defineProcess } from '../process.js';

export const orderBuy = defineProcess({
  name: 'order.buy',
  version: 1,
  describe:
    "Places an order to invest an amount of the pot's cash in a fund. The cash is reserved at once (insufficient funds " +
    "otherwise); the order deals in the cycle of the first cut-off after it was produced (forward pricing) and its id is " +
    "this command's id. With funding `proceeds` (a switch) it invests up to the amount out of the pot's priced, unsettled " +
    "sale proceeds not yet reserved, and reserves what it takes; it is refused when there are none.",
  payload: z.strictObject({
    fund: fundCode,
    amount: amountText,
    currency: currencyCode,
    funding: z.enum(['cash', 'proceeds']).optional().describe("What pays: the pot's available cash (the default), or its priced, unsettled sale proceeds (up to the amount)"),
  }),
  plan: ({ command, payload, partition, balances, ctx }) => {
    const fund = readDealing(ctx.assets, payload.fund);
    if (isRejection(fund)) return fund;
    if (payload.currency !== fund.dealing.currency) {
      return reject(RejectionCode.notDealable, `${payload.fund} deals in ${fund.dealing.currency}, not ${payload.currency}`, { fund: payload.fund });
    }
    const amount = readAmount(ctx.assets, payload.currency, payload.amount, 'currency');
    if (isRejection(amount)) return amount;
    const { asset } = amount;
    const proceeds = payload.funding === 'proceeds';
    let amountMinor = amount.amountMinor;
    if (proceeds) {
      const free = balanceOf(balances, potAccount(command.potId, 'cash.pending', asset.code)) - balanceOf(balances, potAccount(command.potId, 'cash.pending.reserved', asset.code));
      if (free <= 0n) return reject(RejectionCode.insufficientFunds, `pot ${command.potId} has no priced, unsettled sale proceeds of ${asset.code} left to invest`);
      if (free < amountMinor) amountMinor = free;
    }
    return {
      entries: [
        {
          debit: potAccount(command.potId, proceeds ? 'cash.pending.reserved' : 'cash.reserved', asset.code),
          credit: systemAccount(partition, 'reservations', asset.code),
          asset: asset.code,
          amountMinor,
        },
      ],
      orderChange: {
        type: 'place',
        orderId: command.commandId,
        fund: payload.fund,
        currency: asset.code,
        side: 'buy',
        amountMinor: amountMinor.toString(),
        dealingDate: dealingDateAt(fund.dealing.calendar, fund.dealing.cutoff, command.producedAt),
        ...(proceeds ? { funding: 'proceeds' as const } : {}),
      },
    };
  },
});
