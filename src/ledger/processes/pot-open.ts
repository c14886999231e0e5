import { z } from 'zod';
import { poolOfPot } from '../assets.js';
import { reject, RejectionCode } from '../errors.js';
import { profileId } from '../payload.js';
import { defineProcess } from '../process.js';

export const potOpen = defineProcess({
  name: 'pot.open',
  version: 1,
  describe:
    'Opens a pot for the member, following a risk profile when one is named. The pot holds nothing ' +
    'until money or units move into it. Pot ids `pool-<id>` are kept for investment pools.',
  payload: z.strictObject({ profile: profileId.optional().describe('The risk profile the pot follows from the start (pot.set-profile changes it later)') }),
  pot: 'absent',
  plan: ({ command, payload }) => {
    // `pool-<id>` is an investment pool's own pot, its member id the same (src/pools): no member's pot may take the name.
    if (poolOfPot(command.potId) !== undefined && command.memberId !== command.potId) {
      return reject(RejectionCode.invalidPayload, `pot ids pool-<id> are kept for investment pools (member ${command.potId})`);
    }
    return { entries: [], potChange: { type: 'open', memberId: command.memberId, ...(payload.profile === undefined ? {} : { profile: payload.profile }) } };
  },
});
