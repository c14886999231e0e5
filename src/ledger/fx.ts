import { potAccount, systemAccount } from './accounts.js';
import type { Asset, AssetCatalog } from './assets.js';
import { divideByRate, parseRate, type Rate } from './decimal.js';
import { isRejection, reject, RejectionCode, type Rejection } from './errors.js';
import type { Entry } from './movement.js';
import { readAmount } from './payload.js';

/**
 * Foreign exchange. A rate is quoted as units of the currency bought per one unit of the currency
 * sold (`1.17000000` EUR per GBP). What the payer gives for an amount bought is that amount ÷ rate,
 * **rounded up** to the sold currency's scale: rounding goes against the payer, so the Trust's
 * liquidity never funds a fraction of a penny. 100.00 EUR at 1.17 EUR per GBP costs 85.48 GBP
 * (85.4700… rounded up).
 *
 * Each currency moves through the partition's `fx.liquidity` account of that currency: the sold
 * currency into it, the bought currency out of it. Both legs are entries of one movement, so they post
 * together or not at all, and each currency balances on its own.
 */
export interface Exchange {
  /** The currency sold (the payer's). */
  readonly sold: Asset;
  /** The currency bought. */
  readonly bought: Asset;
  readonly rate: Rate;
  /** What is bought, in the bought currency's minor units. */
  readonly boughtMinor: bigint;
  /** What it costs, in the sold currency's minor units, rounded up. */
  readonly soldMinor: bigint;
}

/** The cost of `boughtMinor` of `bought` in `sold` at `rate` (bought per sold), rounded up against the payer. */
export function costOf(boughtMinor: bigint, bought: Asset, sold: Asset, rate: Rate): bigint {
  return divideByRate(boughtMinor, bought.scale, rate, sold.scale, 'up');
}

/** Reads an exchange from a payload's texts: an amount of the bought currency, the sold currency and the rate. */
export function readExchange(assets: AssetCatalog, bought: { readonly amount: string; readonly currency: string }, soldCode: string, rateText: string): Exchange | Rejection {
  const amount = readAmount(assets, bought.currency, bought.amount, 'currency');
  if (isRejection(amount)) return amount;
  const sold = assets.find(soldCode);
  if (sold === undefined) return reject(RejectionCode.unknownAsset, `unknown asset ${soldCode}`, { asset: soldCode });
  if (sold.kind !== 'currency') return reject(RejectionCode.wrongAssetKind, `${soldCode} is a ${sold.kind}, not a currency`, { asset: soldCode });
  if (sold.code === amount.asset.code) return reject(RejectionCode.invalidPayload, 'an exchange is between two different currencies');
  const rate = parseRate(rateText);
  if (!rate.ok) return reject(RejectionCode.invalidAmount, `rate: ${rate.reason}`, { rate: rateText });
  const soldMinor = costOf(amount.amountMinor, amount.asset, sold, rate.value);
  return { sold, bought: amount.asset, rate: rate.value, boughtMinor: amount.amountMinor, soldMinor };
}

/** The sold currency from the pot's cash into the partition's liquidity of it. */
export function soldLeg(potId: string, partition: number, exchange: Exchange): Entry {
  const code = exchange.sold.code;
  return { debit: systemAccount(partition, 'fx.liquidity', code), credit: potAccount(potId, 'cash', code), asset: code, amountMinor: exchange.soldMinor };
}

/** The bought currency out of the partition's liquidity of it, into `to` (the pot's cash, or the payments clearing). */
export function boughtLeg(partition: number, exchange: Exchange, to: string): Entry {
  const code = exchange.bought.code;
  return { debit: to, credit: systemAccount(partition, 'fx.liquidity', code), asset: code, amountMinor: exchange.boughtMinor };
}

/** An entry the other way round (a refund undoing an exchange). */
export function reversed(entry: Entry): Entry {
  return { ...entry, debit: entry.credit, credit: entry.debit };
}
