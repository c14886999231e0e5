import { z } from 'zod';
import { COMMAND_ID, MEMBER_ID, POT_ID } from '../../ledger/index.js';

/**
 * The API's shared request pieces: identifiers, free text, the Idempotency-Key header, `?wait` and id
 * parameters. Text fields refuse control characters (a NUL would otherwise reach Postgres, which refuses
 * it, as a server error).
 */

/** Whether the text holds a control character (U+0000 to U+001F, or U+007F). */
function hasControlCharacter(value: string): boolean {
  for (let index = 0; index < value.length; index += 1) {
    const unit = value.charCodeAt(index);
    if (unit <= 0x1f || unit === 0x7f) return true;
  }
  return false;
}

export function text(max: number) {
  return z
    .string()
    .min(1)
    .max(max)
    .refine((value) => !hasControlCharacter(value), 'must not contain control characters');
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

export const waitQuerySchema = z.strictObject({
  wait: z.enum(['true', 'false']).default('false').describe('true: answer once the outcome is committed'),
});

export const idParams = <K extends string>(key: K, schema: z.ZodString) => z.strictObject({ [key]: schema } as { [P in K]: z.ZodString });
