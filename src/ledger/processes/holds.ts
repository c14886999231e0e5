import { z } from 'zod';
import { potAccount, systemAccount } from '../accounts.js';
import { isRejection, reject, RejectionCode } from '../errors.js';
import type { Entry, MovementDraft } from '../movement.js';
import { amountText, currencyCode, holdIdText as holdId, partyOf as party, paymentIdText, readAmount } from '../payload.js';
import { defineProcess, type HoldState, type PotState } from '../process.js';
import { intoClearing } from './payments.js';

/**
 * Holds for buyer and seller protection: the buyer's cash reserved for a payee (pending), then posted in
 * full or in part (the posted part goes to the payee as a payment through the clearing accounts, the
 * rest returns to the buyer), voided, or expired after its time (the expiry is itself a movement). A
 * hold ends once: a second post, void or expiry finds it no longer open.
 */
const instant = z.iso.datetime({ offset: true }).describe('An ISO 8601 instant');

function openHold(pot: PotState | undefined, potId: string, id: string): HoldState | ReturnType<typeof reject> {
  const hold = pot?.holds?.[id];
  return hold ?? reject(RejectionCode.holdNotOpen, `pot ${potId} has no open hold ${id}`);
}

/** A hold ended without a payment (voided or expired): its whole reservation back to the buyer. */
function released(potId: string, partition: number, holdIdValue: string, hold: HoldState, ending: 'voided' | 'expired'): MovementDraft {
  return { entries: [release(potId, partition, hold)], potChange: { type: 'hold-end', holdId: holdIdValue, ending } };
}

/** The entries that give a hold's whole reservation back to the buyer. */
function release(potId: string, partition: number, hold: HoldState): Entry {
  return {
    debit: systemAccount(partition, 'reservations', hold.currency),
    credit: potAccount(potId, 'cash.reserved', hold.currency),
    asset: hold.currency,
    amountMinor: hold.amountMinor,
  };
}

export const holdPlace = defineProcess({
  name: 'hold.place',
  version: 1,
  describe: "Places a hold: reserves the pot's cash for a payee until it is posted, voided or expires (insufficient funds otherwise).",
  payload: z.strictObject({ holdId, payee: party, amount: amountText, currency: currencyCode, expiresAt: instant }),
  plan: ({ command, payload, partition, pot, ctx }) => {
    if (payload.payee.potId === command.potId) return reject(RejectionCode.invalidPayload, 'a hold is for another pot');
    if (pot?.holds?.[payload.holdId] !== undefined) return reject(RejectionCode.invalidPayload, `hold ${payload.holdId} is open already`);
    if (Date.parse(payload.expiresAt) <= Date.parse(command.producedAt)) return reject(RejectionCode.invalidPayload, 'a hold expires after it is placed');
    const amount = readAmount(ctx.assets, payload.currency, payload.amount, 'currency');
    if (isRejection(amount)) return amount;
    const currency = amount.asset.code;
    return {
      entries: [{
        debit: potAccount(command.potId, 'cash.reserved', currency),
        credit: systemAccount(partition, 'reservations', currency),
        asset: currency,
        amountMinor: amount.amountMinor,
      }],
      potChange: {
        type: 'hold',
        holdId: payload.holdId,
        payee: payload.payee,
        currency,
        amountMinor: amount.amountMinor.toString(),
        expiresAt: new Date(Date.parse(payload.expiresAt)).toISOString(),
      },
    };
  },
});

export const holdPost = defineProcess({
  name: 'hold.post',
  version: 1,
  drivenBy: 'the payments desk (POST /holds/:id/post)',
  describe:
    "Posts an open hold, in full or in part, before it expires: its reservation is released, the posted amount leaves the pot's " +
    "cash for its partition's payments clearing (the payments desk credits the payee), and the rest stays the buyer's.",
  payload: z.strictObject({ holdId, paymentId: paymentIdText, amount: amountText }),
  plan: ({ command, payload, partition, pot, ctx }) => {
    const hold = openHold(pot, command.potId, payload.holdId);
    if (isRejection(hold)) return hold;
    if (Date.parse(command.producedAt) >= Date.parse(hold.expiresAt)) return reject(RejectionCode.holdNotOpen, `hold ${payload.holdId} expired at ${hold.expiresAt}`);
    const amount = readAmount(ctx.assets, hold.currency, payload.amount, 'currency');
    if (isRejection(amount)) return amount;
    if (amount.amountMinor > hold.amountMinor) return reject(RejectionCode.invalidAmount, `hold ${payload.holdId} holds less than ${payload.amount}`);
    return {
      entries: [
        release(command.potId, partition, hold),
        intoClearing(command.potId, partition, hold.currency, amount.amountMinor),
      ],
      potChange: { type: 'hold-end', holdId: payload.holdId, ending: 'posted' },
    };
  },
});

export const holdVoid = defineProcess({
  name: 'hold.void',
  version: 1,
  describe: 'Voids an open hold: its whole reservation returns to the buyer.',
  payload: z.strictObject({ holdId }),
  plan: ({ command, payload, partition, pot }) => {
    const hold = openHold(pot, command.potId, payload.holdId);
    if (isRejection(hold)) return hold;
    return released(command.potId, partition, payload.holdId, hold, 'voided');
  },
});

export const holdExpire = defineProcess({
  name: 'hold.expire',
  version: 1,
  drivenBy: "the payments desk's sweep",
  describe: 'Expires an open hold whose time has passed (the command is produced at or after it): its whole reservation returns to the buyer.',
  payload: z.strictObject({ holdId }),
  plan: ({ command, payload, partition, pot }) => {
    const hold = openHold(pot, command.potId, payload.holdId);
    if (isRejection(hold)) return hold;
    if (Date.parse(command.producedAt) < Date.parse(hold.expiresAt)) return reject(RejectionCode.holdNotOpen, `hold ${payload.holdId} expires at ${hold.expiresAt}, not yet`);
    return released(command.potId, partition, payload.holdId, hold, 'expired');
  },
});
