import { z } from 'zod';
import { reject, RejectionCode } from '../errors.js';
import { defineProcess } from '../process.js';

export const potSetProfile = defineProcess({
  name: 'pot.set-profile',
  version: 1,
  describe: 'The pot follows another risk profile from now on (the next re-balance trades towards it).',
  payload: z.strictObject({ profile: z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'a profile id').meta({ domain: 'profile', description: 'The id of a risk profile.' }) }),
  plan: ({ payload, pot }) => {
    if (pot?.profile === payload.profile) return reject(RejectionCode.invalidPayload, `the pot follows ${payload.profile} already`);
    return { entries: [], potChange: { type: 'profile', profile: payload.profile } };
  },
});
