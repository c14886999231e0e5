import { z } from 'zod';
import { potAccount, systemAccount } from '../accounts.js';
import { isRejection } from '../errors.js';
import type { Entry } from '../movement.js';
import { balanceOf } from '../movement.js';
import { amountText, currencyCode, readAmount } from '../payload.js';
import { defineProcess } from '../process.js';

/**
 * Assesses a charge (a fee the pot owes ACME). Planned as a late charge; if the pot holds prepaid cash,
 * a late charge and a prepaid balance cannot coexist, so the correction pays the charge from the prepaid
 * cash first and records only the rest as late.
 */
export const chargeAssess = defineProcess({
  name: 'charge.assess',
  version: 1,
  describe:
    'Assesses a charge the pot owes. Recorded as late (charges.late); corrected to be paid from prepaid cash first when the pot has any.',
  payload: z.strictObject({ amount: amountText, currency: currencyCode }),
  plan: ({ command, payload, partition, ctx }) => {
    const amount = readAmount(ctx.assets, payload.currency, payload.amount, 'currency');
    if (isRejection(amount)) return amount;
    return { entries: [lateCharge(command.potId, partition, amount.asset.code, amount.amountMinor)] };
  },
  correct: ({ command, payload, partition, balances }, planned) => {
    const asset = payload.currency;
    const charged = planned.entries.reduce((sum, entry) => sum + entry.amountMinor, 0n);
    const prepaid = balanceOf(balances, potAccount(command.potId, 'cash.prepaid', asset));
    const fromPrepaid = prepaid < charged ? prepaid : charged;
    const entries: Entry[] = [];
    if (fromPrepaid > 0n) {
      entries.push({
        debit: systemAccount(partition, 'acme.fees', asset),
        credit: potAccount(command.potId, 'cash.prepaid', asset),
        asset,
        amountMinor: fromPrepaid,
      });
    }
    if (charged > fromPrepaid) entries.push(lateCharge(command.potId, partition, asset, charged - fromPrepaid));
    return { entries };
  },
});

function lateCharge(potId: string, partition: number, asset: string, amountMinor: bigint): Entry {
  return {
    debit: potAccount(potId, 'charges.late', asset),
    credit: systemAccount(partition, 'charges.due', asset),
    asset,
    amountMinor,
  };
}
