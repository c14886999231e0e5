import { z } from 'zod';
import { defineProcess } from '../process.js';

export const potOpen = defineProcess({
  name: 'pot.open',
  version: 1,
  describe: 'Opens a pot for the member. The pot holds nothing until money or units move into it.',
  payload: z.strictObject({}),
  pot: 'absent',
  plan: ({ command }) => ({ entries: [], potChange: { type: 'open', memberId: command.memberId } }),
});
