import { z } from 'zod';
import { potAccount, systemAccount } from '../accounts.js';
import { isRejection, reject, RejectionCode } from '../errors.js';
import { boughtLeg, readExchange, reversed, soldLeg } from '../fx.js';
import type { Entry } from '../movement.js';
import { amountText, currencyCode, exchangeOf, partyOf, paymentIdText, readAmount } from '../payload.js';
import { defineProcess } from '../process.js';

/**
 * A payment between two pots, usually in different partitions, as a saga of movements joined by the
 * partitions' `payments.clearing` accounts (the payments desk, src/payments, drives it):
 *   payment.send    on the payer: its cash into its partition's clearing;
 *   payment.credit  on the payee: out of the payee partition's clearing into its cash;
 *   payment.refund  on the payer, when the payee refused it: back out of the clearing.
 * Over all partitions the clearing accounts net to zero once every payment has finished.
 *
 * A cross-currency payment (`exchange`) converts on the payer's side, in the same movement as the
 * debit: the payer's currency into the partition's `fx.liquidity`, the payment's currency out of it into
 * clearing (src/ledger/fx.ts); its refund undoes both legs in one movement, so the payer gets back
 * exactly what it paid.
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
  drivenBy: 'the payments desk (POST /payments)',
  describe:
    "The payer's side of a payment: the amount leaves the pot's unreserved cash for its partition's payments " +
    "clearing (insufficient funds otherwise). The payments desk then credits the payee, or refunds the payer.",
  payload: z.strictObject({ paymentId: paymentIdText, payee: partyOf, amount: amountText, currency: currencyCode, exchange: exchangeOf.optional() }),
  plan: ({ command, payload, partition, ctx }) => {
    if (payload.payee.potId === command.potId) return reject(RejectionCode.invalidPayload, 'a payment goes to another pot');
    if (payload.exchange !== undefined) {
      const exchange = readExchange(ctx.assets, payload, payload.exchange.fromCurrency, payload.exchange.rate);
      if (isRejection(exchange)) return exchange;
      return { entries: [soldLeg(command.potId, partition, exchange), boughtLeg(partition, exchange, systemAccount(partition, 'payments.clearing', exchange.bought.code))] };
    }
    const amount = readAmount(ctx.assets, payload.currency, payload.amount, 'currency');
    if (isRejection(amount)) return amount;
    return { entries: [intoClearing(command.potId, partition, amount.asset.code, amount.amountMinor)] };
  },
});

export const paymentCredit = defineProcess({
  name: 'payment.credit',
  version: 1,
  drivenBy: 'the payments desk',
  describe:
    "The payee's side of a payment: the amount comes out of its partition's payments clearing " +
    "into its cash. A closed or unknown pot refuses it, and the payer is refunded.",
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
  drivenBy: 'the payments desk',
  describe:
    "Gives a payment the payee refused back to the payer: out of the payer partition's payments clearing into the " +
    "payer's cash (a cross-currency payment's exchange undone in the same movement, at the payment's rate).",
  payload: z.strictObject({ paymentId: paymentIdText, amount: amountText, currency: currencyCode, exchange: exchangeOf.optional(), reason: z.string().min(1).max(500) }),
  plan: ({ command, payload, partition, ctx }) => {
    if (payload.exchange !== undefined) {
      const exchange = readExchange(ctx.assets, payload, payload.exchange.fromCurrency, payload.exchange.rate);
      if (isRejection(exchange)) return exchange;
      return {
        entries: [
          reversed(boughtLeg(partition, exchange, systemAccount(partition, 'payments.clearing', exchange.bought.code))),
          reversed(soldLeg(command.potId, partition, exchange)),
        ],
      };
    }
    const amount = readAmount(ctx.assets, payload.currency, payload.amount, 'currency');
    if (isRejection(amount)) return amount;
    return { entries: [outOfClearing(command.potId, partition, amount.asset.code, amount.amountMinor)] };
  },
});

export const fxConvert = defineProcess({
  name: 'fx.convert',
  version: 1,
  drivenBy: "POST /conversions (at the day's recorded rate)",
  describe:
    "Converts the pot's cash from one currency into another at the day's rate (bought per sold): the amount bought " +
    "costs amount ÷ rate of the sold currency, rounded up (against the pot). Both currencies move through the " +
    "partition's fx.liquidity accounts in one movement, so neither leg posts alone (insufficient funds otherwise).",
  payload: z.strictObject({ amount: amountText.describe('What the pot buys, in `currency`'), currency: currencyCode, fromCurrency: currencyCode, rate: exchangeOf.shape.rate }),
  plan: ({ command, payload, partition, ctx }) => {
    const exchange = readExchange(ctx.assets, payload, payload.fromCurrency, payload.rate);
    if (isRejection(exchange)) return exchange;
    return { entries: [soldLeg(command.potId, partition, exchange), boughtLeg(partition, exchange, potAccount(command.potId, 'cash', exchange.bought.code))] };
  },
});
