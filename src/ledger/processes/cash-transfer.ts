import { z } from 'zod';
import { potAccount } from '../accounts.js';
import { isRejection } from '../errors.js';
import { amountText, currencyCode, readAmount } from '../payload.js';
import { defineProcess } from '../process.js';

/** The cash accounts of a pot between which a member may move money. */
export const TRANSFERABLE_CASH_KINDS = ['cash', 'cash.prepaid'] as const;
const cashKind = z.enum(TRANSFERABLE_CASH_KINDS);

export const cashTransfer = defineProcess({
  name: 'cash.transfer',
  version: 1,
  describe: 'Moves cash between two accounts of one pot (cash ↔ cash.prepaid).',
  payload: z
    .strictObject({ amount: amountText, currency: currencyCode, source: cashKind, target: cashKind })
    .refine(({ source, target }) => source !== target, { message: 'source and target must differ', path: ['target'] }),
  plan: ({ command, payload, ctx }) => {
    const amount = readAmount(ctx.assets, payload.currency, payload.amount, 'currency');
    if (isRejection(amount)) return amount;
    const { asset, amountMinor } = amount;
    return {
      entries: [
        {
          debit: potAccount(command.potId, payload.target, asset.code),
          credit: potAccount(command.potId, payload.source, asset.code),
          asset: asset.code,
          amountMinor,
        },
      ],
    };
  },
});
