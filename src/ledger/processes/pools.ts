import { z } from 'zod';
import { potAccount, systemAccount } from '../accounts.js';
import { poolUnits, POOL_ID, POOL_UNIT_SCALE } from '../assets.js';
import { isRejection, reject, RejectionCode, type Rejection } from '../errors.js';
import type { Entry } from '../movement.js';
import { amountText, currencyCode, paymentIdText, readAmount } from '../payload.js';
import { defineProcess } from '../process.js';
import { intoClearing } from './payments.js';

/**
 * Investment pools. A pool has a pot of its own (its cash) and issues units at par: one unit
 * (`POOL-<id>`, scale 2) per 1.00 of its currency. Money moves between an investor's pot and the
 * pool's pot as payments through the partitions' clearing accounts, driven by the pools service as
 * saga kinds of the payments desk (src/payments/sagas.ts):
 *   subscription  pool.subscribe on the investor (cash into clearing, units issued), then
 *                 payment.credit on the pool; refused: pool.subscription-refund on the investor;
 *   redemption    payment.send on the pool, then pool.redeem on the investor (units cancelled, cash
 *                 out of clearing); refused (not enough units): payment.refund on the pool;
 *   distribution  pool.distribute on the pool (the whole amount into clearing in one movement), then a
 *                 payment.credit to each investor for its pro-rata share (largest remainder, ties to the
 *                 lowest pot id: src/ledger/allocation.ts), recorded in flight.
 */
const poolId = z.string().regex(POOL_ID, 'a pool id: upper-case letters and digits, 1 to 27').meta({ domain: 'poolId', description: 'The id of an investment pool.' });

/** The units of `poolId` for an amount of its currency, at par. */
function unitsFor(
  payload: { readonly poolId: string; readonly amount: string; readonly currency: string },
  assets: Parameters<typeof readAmount>[0],
): { units: string; amountMinor: bigint; currency: string } | Rejection {
  const amount = readAmount(assets, payload.currency, payload.amount, 'currency');
  if (isRejection(amount)) return amount;
  if (amount.asset.scale !== POOL_UNIT_SCALE) return reject(RejectionCode.invalidPayload, `pools issue units at par in currencies of scale ${POOL_UNIT_SCALE}`);
  return { units: poolUnits(payload.poolId), amountMinor: amount.amountMinor, currency: amount.asset.code };
}

function issue(potId: string, partition: number, units: string, amountMinor: bigint): Entry {
  return { debit: potAccount(potId, 'pool.units', units), credit: systemAccount(partition, 'pool.issued', units), asset: units, amountMinor };
}

function cancel(potId: string, partition: number, units: string, amountMinor: bigint): Entry {
  return { debit: systemAccount(partition, 'pool.issued', units), credit: potAccount(potId, 'pool.units', units), asset: units, amountMinor };
}

const subscription = z.strictObject({ paymentId: paymentIdText, poolId, amount: amountText, currency: currencyCode });

export const poolSubscribe = defineProcess({
  name: 'pool.subscribe',
  version: 1,
  drivenBy: 'the pools service (POST /pools/:id/subscriptions)',
  describe:
    "An investor subscribes to a pool: the amount leaves the pot's unreserved cash for its " +
    "partition's payments clearing (the payments desk credits the pool's pot) and the pot is " +
    "issued the pool's units at par, in one movement (insufficient funds otherwise).",
  payload: subscription,
  plan: ({ command, payload, partition, ctx }) => {
    const units = unitsFor(payload, ctx.assets);
    if (isRejection(units)) return units;
    return { entries: [intoClearing(command.potId, partition, units.currency, units.amountMinor), issue(command.potId, partition, units.units, units.amountMinor)] };
  },
});

export const poolSubscriptionRefund = defineProcess({
  name: 'pool.subscription-refund',
  version: 1,
  drivenBy: 'the payments desk (a subscription the pool refused)',
  describe: "Undoes a subscription the pool's pot refused: the cash back out of the clearing and the units cancelled, in one movement.",
  payload: subscription.extend({ reason: z.string().min(1).max(500) }),
  plan: ({ command, payload, partition, ctx }) => {
    const units = unitsFor(payload, ctx.assets);
    if (isRejection(units)) return units;
    return {
      entries: [
        {
          debit: potAccount(command.potId, 'cash', units.currency),
          credit: systemAccount(partition, 'payments.clearing', units.currency),
          asset: units.currency,
          amountMinor: units.amountMinor,
        },
        cancel(command.potId, partition, units.units, units.amountMinor),
      ],
    };
  },
});

export const poolRedeem = defineProcess({
  name: 'pool.redeem',
  version: 1,
  drivenBy: 'the payments desk (the investor side of a redemption)',
  describe:
    "An investor's redemption reaches its pot: the units are cancelled and their value at " +
    "par comes out of the partition's payments clearing into its cash, in one movement " +
    "(insufficient funds when the pot lacks the units; the pool is then refunded).",
  payload: z.strictObject({ paymentId: paymentIdText, poolId, amount: amountText, currency: currencyCode, payer: z.strictObject({ memberId: z.string(), potId: z.string() }) }),
  plan: ({ command, payload, partition, ctx }) => {
    const units = unitsFor(payload, ctx.assets);
    if (isRejection(units)) return units;
    return {
      entries: [
        cancel(command.potId, partition, units.units, units.amountMinor),
        {
          debit: potAccount(command.potId, 'cash', units.currency),
          credit: systemAccount(partition, 'payments.clearing', units.currency),
          asset: units.currency,
          amountMinor: units.amountMinor,
        },
      ],
    };
  },
});

export const poolDistribute = defineProcess({
  name: 'pool.distribute',
  version: 1,
  drivenBy: 'the pools service (POST /pools/:id/distributions)',
  describe:
    "A pool pays a distribution: the whole amount leaves the pool pot's cash for its partition's payments clearing in one " +
    "movement (insufficient funds otherwise); the payments desk then credits each investor its pro-rata share.",
  payload: z.strictObject({ distributionId: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a distribution id'), poolId, amount: amountText, currency: currencyCode }),
  plan: ({ command, payload, partition, ctx }) => {
    const amount = readAmount(ctx.assets, payload.currency, payload.amount, 'currency');
    if (isRejection(amount)) return amount;
    return { entries: [intoClearing(command.potId, partition, amount.asset.code, amount.amountMinor)] };
  },
});
