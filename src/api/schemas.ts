import { z } from 'zod';
import { COMMAND_ID, isoDate, MEMBER_ID, POT_ID } from '../ledger/index.js';

/**
 * The API's zod schemas: the single source of its request and response types and of the OpenAPI
 * document. Text fields refuse control characters (a NUL would otherwise reach Postgres, which refuses
 * it, as a server error).
 */
const CONTROL = /[\u0000-\u001f\u007f]/;

export function text(max: number) {
  return z
    .string()
    .min(1)
    .max(max)
    .refine((value) => !CONTROL.test(value), 'must not contain control characters');
}

export const memberIdSchema = z.string().regex(MEMBER_ID, 'letters, digits, _ and - only, 1 to 64 characters');
export const potIdSchema = z.string().regex(POT_ID, 'letters, digits, _ and - only, 1 to 64 characters');
export const commandIdSchema = z.string().regex(COMMAND_ID, 'letters, digits and _.:- only, 1 to 128 characters');
export const movementIdSchema = z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'letters, digits and _.:- only, 1 to 128 characters');
export const riskProfileSchema = z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'lower-case letters, digits and -, 1 to 40 characters');

/** The Idempotency-Key header: what makes a retried request the same request. */
export const idempotencyHeaders = z.object({
  'idempotency-key': z
    .string()
    .regex(/^[\x21-\x7e]{1,128}$/, 'printable ASCII without spaces, 1 to 128 characters')
    .describe('Chosen by the caller; a retry with the same key and body gets the first answer'),
});

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

export const accountBalanceSchema = z.object({
  account: z.string(),
  kind: z.string(),
  asset: z.string(),
  balance: z.string().describe("Decimal string in the asset's units"),
  version: z.string(),
});

export const balancesSchema = z
  .object({
    potId: z.string(),
    asOf: z.string().describe('"now", or the closed business day the balances are taken at'),
    balances: z.array(accountBalanceSchema).readonly(),
  })
  .meta({ id: 'Balances' });

export const balancesQuerySchema = z.strictObject({ asOf: isoDate.optional().describe('A closed business day (YYYY-MM-DD); now when absent') });

export const STATEMENT_LIMIT_MAX = 500;

export const statementQuerySchema = z.strictObject({
  from: isoDate.describe('First effective date, inclusive'),
  to: isoDate.describe('Last effective date, inclusive'),
  cursor: z.string().regex(/^[0-9]{1,18}$/, 'a cursor from a previous page').optional(),
  limit: z.coerce.number().int().min(1).max(STATEMENT_LIMIT_MAX).default(100),
});

export const wireEntrySchema = z.object({ debit: z.string(), credit: z.string(), asset: z.string(), amount: z.string() });

export const wireMovementSchema = z
  .object({
    movementId: z.string(),
    commandId: z.string(),
    process: z.string(),
    processVersion: z.number().int(),
    memberId: z.string(),
    potId: z.string(),
    partition: z.number().int(),
    effectiveDate: z.string(),
    entries: z.array(wireEntrySchema).readonly(),
    potChange: z.unknown().optional(),
    reverses: z.string().optional(),
  })
  .meta({ id: 'Movement' });

export const statementSchema = z
  .object({
    potId: z.string(),
    from: z.string(),
    to: z.string(),
    lines: z.array(z.object({ seq: z.string(), committedAt: z.string(), corrected: z.boolean(), movement: wireMovementSchema })).readonly(),
    nextCursor: z.string().optional().describe('Pass as cursor for the next page; absent on the last page'),
  })
  .meta({ id: 'Statement' });

export const movementDetailSchema = z
  .object({
    seq: z.string(),
    committedAt: z.string(),
    corrected: z.boolean(),
    movement: wireMovementSchema,
    postings: z.array(
      z.object({
        entryIndex: z.number().int(),
        side: z.enum(['debit', 'credit']),
        account: z.string(),
        asset: z.string(),
        amount: z.string(),
        balanceAfter: z.string(),
        accountVersion: z.string(),
      }),
    ).readonly(),
  })
  .meta({ id: 'MovementDetail' });

export const balanceSheetSchema = z
  .object({
    lines: z.array(z.object({ kind: z.string(), owner: z.enum(['pot', 'system']), asset: z.string(), total: z.string() })).readonly(),
    netByAsset: z.record(z.string(), z.string()).describe('Per asset, the sum over every kind: zero when the books balance'),
  })
  .meta({ id: 'BalanceSheet' });

export const outcomeSchema = z.unknown().describe('applied | corrected (with the movement) or rejected (with code and reason)');

export const commandStateSchema = z
  .object({
    commandId: z.string(),
    process: z.string().optional(),
    status: z.enum(['accepted', 'pending', 'applied', 'corrected', 'rejected']),
    outcome: outcomeSchema.optional(),
    recordedAt: z.string().optional(),
  })
  .meta({ id: 'CommandState' });

export const waitQuerySchema = z.strictObject({
  wait: z.enum(['true', 'false']).default('false').describe('true: answer once the outcome is committed'),
});

export const idParams = <K extends string>(key: K, schema: z.ZodString) => z.strictObject({ [key]: schema } as { [P in K]: z.ZodString });
