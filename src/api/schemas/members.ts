import { z } from 'zod';
import { memberIdSchema, riskProfileSchema, text } from './common.js';

/** The members' schemas: their personal data (kept apart from the ledger) and their pots. */

export const memberFieldsSchema = z.strictObject({
  name: text(200),
  email: z.email().max(254),
  address: text(500),
  riskProfile: riskProfileSchema,
});

export const memberCreateSchema = memberFieldsSchema.extend({
  memberId: memberIdSchema.optional().describe('Assigned when absent'),
});

export const memberUpdateSchema = memberFieldsSchema
  .partial()
  .refine((fields) => Object.keys(fields).length > 0, 'name at least one field to change');

export const memberSchema = z
  .object({
    memberId: z.string(),
    name: z.string().optional(),
    email: z.string().optional(),
    address: z.string().optional(),
    riskProfile: z.string(),
    version: z.number().int(),
    createdAt: z.string(),
    updatedAt: z.string(),
    erasedAt: z.string().optional().describe('Set once the personal data was erased'),
  })
  .meta({ id: 'Member' });

export const potSchema = z
  .object({ potId: z.string(), memberId: z.string(), partition: z.number().int(), status: z.enum(['open', 'closed']) })
  .meta({ id: 'Pot' });
