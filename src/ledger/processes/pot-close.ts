import { z } from 'zod';
import { parseAccountId } from '../accounts.js';
import { reject, RejectionCode } from '../errors.js';
import { defineProcess } from '../process.js';

export const potClose = defineProcess({
  name: 'pot.close',
  version: 1,
  describe: 'Closes a pot. Every account of the pot must hold zero; a closed pot takes no further commands.',
  payload: z.strictObject({}),
  plan: ({ command, balances }) => {
    const held = [...balances].filter(([account, balance]) => {
      const ref = parseAccountId(account);
      return balance !== 0n && ref?.owner.type === 'pot' && ref.owner.potId === command.potId;
    });
    if (held.length > 0) {
      return reject(RejectionCode.potNotEmpty, `pot ${command.potId} still holds ${held.map(([account]) => account).sort().join(', ')}`);
    }
    return { entries: [], potChange: { type: 'close' } };
  },
});
