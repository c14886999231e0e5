import { z } from 'zod';
import { MEMBER_ID, potAccount, POT_ID, systemAccount } from '../accounts.js';
import { isRejection, reject, RejectionCode } from '../errors.js';
import { amountText, currencyCode, readAmount } from '../payload.js';
import { defineProcess } from '../process.js';

/**
 * A payment between two pots, usually in different partitions, as a saga of movements joined by the
 * partitions' `payments.clearing` accounts (the payments desk, src/payments, drives it):
 *   payment.send    on the payer: its cash into its partition's clearing;
 *   payment.credit  on the payee: out of the payee partition's clearing into its cash;
 *   payment.refund  on the payer, when the payee refused it: back out of the clearing.
 * Over all partitions the clearing accounts net to zero once every payment has finished.
 */
const paymentId = z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'a payment id').meta({ domain: 'paymentId', description: 'The id of a payment.' });
const party = z.strictObject({ memberId: z.string().regex(MEMBER_ID, 'a member id'), potId: z.string().regex(POT_ID, 'a pot id') });

export const paymentSend = defineProcess({
  name: 'payment.send',
  version: 1,
  describe:
    "The payer's side of a payment: the amount leaves the pot's unreserved cash for its partition's payments clearing (insufficient funds otherwise). The payments desk then credits the payee, or refunds the payer.",
  payload: z.strictObject({ paymentId, payee: party, amount: amountText, currency: currencyCode }),
  plan: ({ command, payload, partition, ctx }) => {
    if (payload.payee.potId === command.potId) return reject(RejectionCode.invalidPayload, 'a payment goes to another pot');
    const amount = readAmount(ctx.assets, payload.currency, payload.amount, 'currency');
    if (isRejection(amount)) return amount;
    return {
      entries: [
        { debit: systemAccount(partition, 'payments.clearing', amount.asset.code), credit: potAccount(command.potId, 'cash', amount.asset.code), asset: amount.asset.code, amountMinor: amount.amountMinor },
      ],
    };
  },
});

export const paymentCredit = defineProcess({
  name: 'payment.credit',
  version: 1,
  describe: "The payee's side of a payment: the amount comes out of its partition's payments clearing into its cash. A closed or unknown pot refuses it, and the payer is refunded.",
  payload: z.strictObject({ paymentId, payer: party, amount: amountText, currency: currencyCode }),
  plan: ({ command, payload, partition, ctx }) => {
    const amount = readAmount(ctx.assets, payload.currency, payload.amount, 'currency');
    if (isRejection(amount)) return amount;
    return {
      entries: [
        { debit: potAccount(command.potId, 'cash', amount.asset.code), credit: systemAccount(partition, 'payments.clearing', amount.asset.code), asset: amount.asset.code, amountMinor: amount.amountMinor },
      ],
    };
  },
});

export const paymentRefund = defineProcess({
  name: 'payment.refund',
  version: 1,
  describe: "Gives a payment the payee refused back to the payer: out of the payer partition's payments clearing into the payer's cash.",
  payload: z.strictObject({ paymentId, amount: amountText, currency: currencyCode, reason: z.string().min(1).max(500) }),
  plan: ({ command, payload, partition, ctx }) => {
    const amount = readAmount(ctx.assets, payload.currency, payload.amount, 'currency');
    if (isRejection(amount)) return amount;
    return {
      entries: [
        { debit: potAccount(command.potId, 'cash', amount.asset.code), credit: systemAccount(partition, 'payments.clearing', amount.asset.code), asset: amount.asset.code, amountMinor: amount.amountMinor },
      ],
    };
  },
});
