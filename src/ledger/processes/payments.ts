import { z } from 'zod';
import { potAccount, systemAccount } from '../accounts.js';
import { isRejection, reject, RejectionCode } from '../errors.js';
import type { Entry } from '../movement.js';
import { amountText, currencyCode, partyOf, paymentIdText, readAmount } from '../payload.js';
import { defineProcess } from '../process.js';

/**
 * A payment between two pots, usually in different partitions, as a saga of movements joined by the
 * partitions' `payments.clearing` accounts (the payments desk, src/payments, drives it):
 *   payment.send    on the payer: its cash into its partition's clearing;
 *   payment.credit  on the payee: out of the payee partition's clearing into its cash;
 *   payment.refund  on the payer, when the payee refused it: back out of the clearing.
 * Over all partitions the clearing accounts net to zero once every payment has finished.
 */

/** The pot's cash into its partition's payments clearing (a payer's side; a hold's post too). */
export function intoClearing(potId: string, partition: number, currency: string, amountMinor: bigint): Entry {
  return { debit: systemAccount(partition, 'payments.clearing', currency), credit: potAccount(potId, 'cash', currency), asset: currency, amountMinor };
}

/** Out of the partition's payments clearing into the pot's cash (a payee's side, or a refund). */
function outOfClearing(potId: string, partition: number, currency: string, amountMinor: bigint): Entry {
  return { debit: potAccount(potId, 'cash', currency), credit: systemAccount(partition, 'payments.clearing', currency), asset: currency, amountMinor };
}

export const paymentSend = defineProcess({
  name: 'payment.send',
  version: 1,
  describe:
    "The payer's side of a payment: the amount leaves the pot's unreserved cash for its partition's payments clearing (insufficient funds otherwise). The payments desk then credits the payee, or refunds the payer.",
  payload: z.strictObject({ paymentId: paymentIdText, payee: partyOf, amount: amountText, currency: currencyCode }),
  plan: ({ command, payload, partition, ctx }) => {
    if (payload.payee.potId === command.potId) return reject(RejectionCode.invalidPayload, 'a payment goes to another pot');
    const amount = readAmount(ctx.assets, payload.currency, payload.amount, 'currency');
    if (isRejection(amount)) return amount;
    return { entries: [intoClearing(command.potId, partition, amount.asset.code, amount.amountMinor)] };
  },
});

export const paymentCredit = defineProcess({
  name: 'payment.credit',
  version: 1,
  describe: "The payee's side of a payment: the amount comes out of its partition's payments clearing into its cash. A closed or unknown pot refuses it, and the payer is refunded.",
  payload: z.strictObject({ paymentId: paymentIdText, payer: partyOf, amount: amountText, currency: currencyCode }),
  plan: ({ command, payload, partition, ctx }) => {
    const amount = readAmount(ctx.assets, payload.currency, payload.amount, 'currency');
    if (isRejection(amount)) return amount;
    return { entries: [outOfClearing(command.potId, partition, amount.asset.code, amount.amountMinor)] };
  },
});

export const paymentRefund = defineProcess({
  name: 'payment.refund',
  version: 1,
  describe: "Gives a payment the payee refused back to the payer: out of the payer partition's payments clearing into the payer's cash.",
  payload: z.strictObject({ paymentId: paymentIdText, amount: amountText, currency: currencyCode, reason: z.string().min(1).max(500) }),
  plan: ({ command, payload, partition, ctx }) => {
    const amount = readAmount(ctx.assets, payload.currency, payload.amount, 'currency');
    if (isRejection(amount)) return amount;
    return { entries: [outOfClearing(command.potId, partition, amount.asset.code, amount.amountMinor)] };
  },
});
