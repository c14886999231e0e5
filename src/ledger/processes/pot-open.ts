import { z } from 'zod';
import { profileId } from '../payload.js';
import { defineProcess } from '../process.js';

export const potOpen = defineProcess({
  name: 'pot.open',
  version: 1,
  describe: 'Opens a pot for the member, following a risk profile when one is named. The pot holds nothing until money or units move into it.',
  payload: z.strictObject({ profile: profileId.optional().describe('The risk profile the pot follows from the start (pot.set-profile changes it later)') }),
  pot: 'absent',
  plan: ({ command, payload }) => ({
    entries: [],
    potChange: { type: 'open', memberId: command.memberId, ...(payload.profile === undefined ? {} : { profile: payload.profile }) },
  }),
});
