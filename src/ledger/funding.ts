import { potAccount, systemAccount } from './accounts.js';
import { maxBigint as maxBig, minBigint as minBig } from './decimal.js';
import { balanceOf, type BalanceMap, type Entry } from './movement.js';
import type { OrderState } from './orders.js';

/**
 * Where a buy's cash comes from, and where its reservation sits. A buy funded by cash reserves
 * `cash.reserved` and, when priced, pays from `cash`. A buy funded by priced, unsettled sale proceeds
 * (a switch) reserves `cash.pending.reserved`; if the sale settles before the buy is priced, that
 * reservation follows the money into `cash.reserved` (`settledProceeds`), so when priced the buy pays
 * from `cash.pending` as far as its reservation is still there and from `cash` for the rest. Every
 * account stays within its invariants at each step, and the pot is never overdrawn.
 */

/** The reservation of a buy, by where it sits now. */
export interface BuyReservation {
  /** In `cash.pending.reserved` (a switch whose proceeds are still pending). */
  readonly pendingMinor: bigint;
  /** In `cash.reserved`. */
  readonly cashMinor: bigint;
}

/**
 * A cash-funded buy's reservation is all in `cash.reserved`; a proceeds-funded one's is in
 * `cash.pending.reserved` as far as the pot holds it there (reservations are pooled per pot: the
 * amounts, not the orders, are what the accounts keep), the rest in `cash.reserved`.
 */
export function buyReservation(order: OrderState, potId: string, balances: BalanceMap): BuyReservation {
  if (order.funding !== 'proceeds') return { pendingMinor: 0n, cashMinor: order.amountMinor };
  const pendingMinor = minBig(order.amountMinor, balanceOf(balances, potAccount(potId, 'cash.pending.reserved', order.currency)));
  return { pendingMinor, cashMinor: order.amountMinor - pendingMinor };
}

/** Entries that give a buy's whole reservation back (cancelled, or priced: the fill is then paid apart). */
export function releaseBuyReservation(order: OrderState, potId: string, partition: number, balances: BalanceMap): { entries: Entry[]; held: BuyReservation } {
  const held = buyReservation(order, potId, balances);
  const reservations = systemAccount(partition, 'reservations', order.currency);
  const entries = [
    { debit: reservations, credit: potAccount(potId, 'cash.pending.reserved', order.currency), asset: order.currency, amountMinor: held.pendingMinor },
    { debit: reservations, credit: potAccount(potId, 'cash.reserved', order.currency), asset: order.currency, amountMinor: held.cashMinor },
  ].filter((entry) => entry.amountMinor > 0n);
  return { entries, held };
}

/** Entries that pay a priced buy's filled cash into the partition's dealing cash, from where its reservation was. */
export function payFilledBuy(order: OrderState, potId: string, partition: number, held: BuyReservation, filledMinor: bigint): Entry[] {
  const fromPending = minBig(filledMinor, held.pendingMinor);
  const dealing = systemAccount(partition, 'dealing.cash', order.currency);
  return [
    { debit: dealing, credit: potAccount(potId, 'cash.pending', order.currency), asset: order.currency, amountMinor: fromPending },
    { debit: dealing, credit: potAccount(potId, 'cash', order.currency), asset: order.currency, amountMinor: filledMinor - fromPending },
  ].filter((entry) => entry.amountMinor > 0n);
}

/**
 * Entries that make a settled sale's proceeds the pot's cash: `proceedsMinor` leaves `cash.pending`,
 * less what a switch has already paid out of it (so the pot gets what it has not spent), and the part
 * of `cash.pending.reserved` that would exceed what stays pending follows the money into
 * `cash.reserved`.
 */
export function settledProceeds(potId: string, currency: string, proceedsMinor: bigint, balances: BalanceMap): Entry[] {
  const pending = potAccount(potId, 'cash.pending', currency);
  const pendingReserved = potAccount(potId, 'cash.pending.reserved', currency);
  const moved = minBig(proceedsMinor, balanceOf(balances, pending));
  const carried = maxBig(0n, balanceOf(balances, pendingReserved) - (balanceOf(balances, pending) - moved));
  return [
    { debit: potAccount(potId, 'cash', currency), credit: pending, asset: currency, amountMinor: moved },
    { debit: potAccount(potId, 'cash.reserved', currency), credit: pendingReserved, asset: currency, amountMinor: carried },
  ].filter((entry) => entry.amountMinor > 0n);
}
