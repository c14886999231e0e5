import { z } from 'zod';
import { HOLD_ID, PAYMENT_ID } from '../../ledger/index.js';
import { PAYMENT_STATUSES, type Payment } from '../../payments/desk.js';
import { memberIdSchema, potIdSchema } from './common.js';

/**
 * The payments area's schemas: payments, holds and the ids and parties their requests name. Imported by
 * the payment and hold routes only (not through index.ts), so that Hold and Payment stay where they
 * were among the document's components.
 */

export const paymentIdSchema = z.string().regex(PAYMENT_ID, 'letters, digits, _ . : and - only, 1 to 128 characters');
export const partySchema = z.strictObject({ memberId: memberIdSchema, potId: potIdSchema });
export const currencyCodeSchema = z.string().regex(/^[A-Z]{3}$/, 'a currency code');
export const holdIdSchema = z.string().regex(HOLD_ID, 'letters, digits, _ . and - only, 1 to 100 characters');

export const holdSchema = z
  .object({
    holdId: z.string(),
    status: z.enum(['open', 'posted', 'voided', 'expired']),
    payer: z.object({ memberId: z.string(), potId: z.string() }).optional(),
    payee: z.object({ memberId: z.string(), potId: z.string() }).optional(),
    amount: z.string().optional().describe('What it holds, while open'),
    currency: z.string().optional(),
    expiresAt: z.string().optional(),
    paymentId: z.string().optional().describe('The payment that posted it'),
  })
  .meta({ id: 'Hold' });

export const paymentSchema = z
  .object({
    paymentId: z.string(),
    payer: z.object({ memberId: z.string(), potId: z.string() }),
    payee: z.object({ memberId: z.string(), potId: z.string() }),
    amount: z.string(),
    currency: z.string(),
    kind: z.string().describe('payment, hold (a hold\'s post), or a kind built on payments (pools)'),
    detail: z
      .record(z.string(), z.string())
      .describe("What the payment's kind records beyond the parties and the amount (a pool's id, the distribution it pays)"),
    holdId: z.string().optional().describe('The hold this payment posts, if it is a hold\'s post'),
    exchange: z
      .object({
        fromCurrency: z.string(),
        rate: z.string().describe('Payment currency per one fromCurrency'),
        rateDay: z.string().describe('The day of the rate used (the latest recorded when the payment was)'),
        cost: z.string().describe('What the payer paid in fromCurrency: amount ÷ rate, rounded up (against the payer)'),
      })
      .optional()
      .describe('A cross-currency payment: the payer pays in fromCurrency'),
    review: z
      .object({
        reason: z.string().describe('Which rules held it for review'),
        decision: z.enum(['released', 'rejected']).optional(),
        decidedBy: z.string().optional().describe('The key id of the operator who decided'),
        decidedAt: z.string().optional(),
        note: z.string().optional(),
      })
      .optional()
      .describe('Set when a fraud rule held the payment for an operator'),
    status: z.enum(PAYMENT_STATUSES),
    reason: z.string().optional().describe('Why it was rejected or refunded'),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'Payment' });

/**
 * A payment as the API declares it. The desk types a kind's detail as any JSON; every kind records
 * strings (src/payments/sagas.ts), and anything else would be written as its JSON text.
 */
export function paymentOf(payment: Payment): z.output<typeof paymentSchema> {
  const detail = Object.entries(payment.detail).map(([key, value]) => [key, typeof value === 'string' ? value : JSON.stringify(value)] as const);
  return { ...payment, detail: Object.fromEntries(detail) };
}
