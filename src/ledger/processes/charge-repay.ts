import { z } from 'zod';
import { potAccount, systemAccount } from '../accounts.js';
import { isRejection } from '../errors.js';
import { balanceOf, type Entry } from '../movement.js';
import { amountText, currencyCode, readAmount } from '../payload.js';
import { defineProcess } from '../process.js';

/**
 * Repays late charges from the pot's cash: the Nubank correction. A repayment of 150 against 100 late
 * would drive charges.late negative; the correction settles the 100 and moves the other 50 to
 * cash.prepaid, where it pays the next charge.
 */
export const chargeRepay = defineProcess({
  name: 'charge.repay',
  version: 1,
  describe:
    'Repays late charges from cash. A repayment larger than what is owed is corrected into settling the debt and a prepaid balance.',
  payload: z.strictObject({ amount: amountText, currency: currencyCode }),
  plan: ({ command, payload, partition, ctx }) => {
    const amount = readAmount(ctx.assets, payload.currency, payload.amount, 'currency');
    if (isRejection(amount)) return amount;
    return { entries: settle(command.potId, partition, amount.asset.code, amount.amountMinor) };
  },
  correct: ({ command, payload, partition, balances }, planned) => {
    const asset = payload.currency;
    const paid = planned.entries[0]?.amountMinor ?? 0n;
    const late = balanceOf(balances, potAccount(command.potId, 'charges.late', asset));
    const settled = late < paid ? late : paid;
    const entries: Entry[] = settled > 0n ? settle(command.potId, partition, asset, settled) : [];
    if (paid > settled) {
      entries.push({
        debit: potAccount(command.potId, 'cash.prepaid', asset),
        credit: potAccount(command.potId, 'cash', asset),
        asset,
        amountMinor: paid - settled,
      });
    }
    return { entries };
  },
});

/** Pays `amountMinor` of late charges: cash to ACME's fees, and the late memo released. */
function settle(potId: string, partition: number, asset: string, amountMinor: bigint): Entry[] {
  return [
    { debit: systemAccount(partition, 'acme.fees', asset), credit: potAccount(potId, 'cash', asset), asset, amountMinor },
    { debit: systemAccount(partition, 'charges.due', asset), credit: potAccount(potId, 'charges.late', asset), asset, amountMinor },
  ];
}
