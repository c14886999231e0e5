import { z } from 'zod';
import { potAccount, systemAccount } from '../accounts.js';
import { isRejection } from '../errors.js';
import { amountText, currencyCode, readAmount } from '../payload.js';
import { defineProcess } from '../process.js';

export const cashWithdraw = defineProcess({
  name: 'cash.withdraw',
  version: 1,
  describe:
    'Cash paid out of the pot through the bank. Only unreserved cash can leave: the invariant "reserved within held" rejects the rest as insufficient funds.',
  payload: z.strictObject({ amount: amountText, currency: currencyCode }),
  plan: ({ command, payload, partition, ctx }) => {
    const amount = readAmount(ctx.assets, payload.currency, payload.amount, 'currency');
    if (isRejection(amount)) return amount;
    const { asset, amountMinor } = amount;
    return {
      entries: [
        {
          debit: systemAccount(partition, 'external.bank', asset.code),
          credit: potAccount(command.potId, 'cash', asset.code),
          asset: asset.code,
          amountMinor,
        },
      ],
    };
  },
});
