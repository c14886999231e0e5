import { z } from 'zod';
import { potAccount, systemAccount } from '../accounts.js';
import { isRejection } from '../errors.js';
import { amountText, currencyCode, readAmount } from '../payload.js';
import { defineProcess } from '../process.js';

export const cashDeposit = defineProcess({
  name: 'cash.deposit',
  version: 1,
  describe: "Cash received at the Trust's bank for the pot: credits the pot's cash against the partition's bank contra.",
  payload: z.strictObject({ amount: amountText, currency: currencyCode }),
  plan: ({ command, payload, partition, ctx }) => {
    const amount = readAmount(ctx.assets, payload.currency, payload.amount, 'currency');
    if (isRejection(amount)) return amount;
    const { asset, amountMinor } = amount;
    return {
      entries: [
        {
          debit: potAccount(command.potId, 'cash', asset.code),
          credit: systemAccount(partition, 'external.bank', asset.code),
          asset: asset.code,
          amountMinor,
        },
      ],
    };
  },
});
