import { z } from 'zod';
import { reject, RejectionCode } from '../errors.js';
import { profileId } from '../payload.js';
import { defineProcess } from '../process.js';

export const potSetProfile = defineProcess({
  name: 'pot.set-profile',
  version: 1,
  describe: 'The pot follows another risk profile from now on (the next re-balance trades towards it).',
  payload: z.strictObject({ profile: profileId }),
  plan: ({ payload, pot }) => {
    if (pot?.profile === payload.profile) return reject(RejectionCode.invalidPayload, `the pot follows ${payload.profile} already`);
    return { entries: [], potChange: { type: 'profile', profile: payload.profile } };
  },
});
