import { z } from 'zod';
import { potAccount, systemAccount } from '../accounts.js';
import { isRejection, reject, RejectionCode } from '../errors.js';
import type { Entry } from '../movement.js';
import { amountText, currencyCode, fundCode, readAmount } from '../payload.js';
import { defineProcess } from '../process.js';

export const potImport = defineProcess({
  name: 'pot.import',
  version: 1,
  describe:
    "Brings a pot's opening holdings from a previous administrator (a migration or a bulk " +
    "load): cash held at the Trust's bank, and settled units held at the custodian, each " +
    "against its contra. Once per pot: a pot that holds anything already is refused.",
  payload: z.strictObject({
    cash: z.array(z.strictObject({ amount: amountText, currency: currencyCode })).max(8),
    units: z.array(z.strictObject({ units: amountText, fund: fundCode })).max(16),
  }),
  plan: ({ command, payload, partition, balances, ctx }) => {
    const holds = [...balances].some(([account, balance]) => balance !== 0n && account.startsWith(`pot:${command.potId}:`));
    if (holds) return reject(RejectionCode.potNotEmpty, `pot ${command.potId} holds something already; an import is for an empty pot`);
    const entries: Entry[] = [];
    for (const { amount, currency } of payload.cash) {
      const read = readAmount(ctx.assets, currency, amount, 'currency');
      if (isRejection(read)) return read;
      entries.push({
        debit: potAccount(command.potId, 'cash', currency),
        credit: systemAccount(partition, 'external.bank', currency),
        asset: currency,
        amountMinor: read.amountMinor,
      });
    }
    for (const { units, fund } of payload.units) {
      const read = readAmount(ctx.assets, fund, units, 'fund');
      if (isRejection(read)) return read;
      entries.push({ debit: potAccount(command.potId, 'units', fund), credit: systemAccount(partition, 'custodian.units', fund), asset: fund, amountMinor: read.amountMinor });
    }
    if (entries.length === 0) return reject(RejectionCode.invalidPayload, 'an import brings some cash or some units');
    return { entries };
  },
});
