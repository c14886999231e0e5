import { z } from 'zod';
import { MEMBER_ID, POT_ID } from './accounts.js';
import type { Asset, AssetCatalog, AssetKind, FundDealing } from './assets.js';
import { parseAmount, parseRate, type Rate } from './decimal.js';
import { reject, RejectionCode, type Rejection } from './errors.js';

/**
 * zod fragments for process payloads, with a `domain` tag in their metadata so that generated property
 * tests can draw realistic values (a known currency, an amount of its scale) as well as random ones.
 */
export const amountText = z
  .string()
  .min(1)
  .max(40)
  .regex(/^(0|[1-9][0-9]*)(\.[0-9]+)?$/, 'a positive decimal string such as "100.25"')
  .meta({ domain: 'amount', description: 'A positive decimal string in the asset\'s units, at most its scale in decimals.' });

export const currencyCode = z
  .string()
  .regex(/^[A-Z]{3}$/, 'a three-letter currency code')
  .meta({ domain: 'currency', description: 'A currency code such as GBP.' });

export const movementIdText = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/, 'a movement id')
  .meta({ domain: 'movementId', description: 'The id of a committed movement.' });

/** Reads `text` as an amount of `code`, which must be a known asset of `kind`. */
export function readAmount(
  assets: AssetCatalog,
  code: string,
  text: string,
  kind: AssetKind,
): { readonly asset: Asset; readonly amountMinor: bigint } | Rejection {
  const asset = assets.find(code);
  if (asset === undefined) return reject(RejectionCode.unknownAsset, `unknown asset ${code}`, { asset: code });
  if (asset.kind !== kind) return reject(RejectionCode.wrongAssetKind, `${code} is a ${asset.kind}, not a ${kind}`, { asset: code });
  const parsed = parseAmount(text, asset.scale);
  if (!parsed.ok) return reject(RejectionCode.invalidAmount, parsed.reason, { asset: code, amount: text });
  return { asset, amountMinor: parsed.value };
}

export const fundCode = z
  .string()
  .regex(/^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*$/, 'a fund code such as FUND-A')
  .max(32)
  .meta({ domain: 'fund', description: 'The code of a fund that deals, such as FUND-A.' });

export const profileId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'a profile id')
  .meta({ domain: 'profile', description: 'The id of a risk profile.' });

/** The id of a payment (a payment between pots, or a hold's post). */
export const PAYMENT_ID = /^[A-Za-z0-9_.:-]{1,128}$/;
export const paymentIdText = z.string().regex(PAYMENT_ID, 'a payment id').meta({ domain: 'paymentId', description: 'The id of a payment.' });

/** The id of a hold; also part of the ids of the commands that end it (`hold:<id>:void`). */
export const HOLD_ID = /^[A-Za-z0-9_.-]{1,100}$/;
export const holdIdText = z.string().regex(HOLD_ID, 'a hold id: letters, digits, _ . and -').meta({ domain: 'holdId', description: 'The id of a hold.' });

/** The other side of a payment or a hold: a member and its pot. */
export const partyOf = z.strictObject({ memberId: z.string().regex(MEMBER_ID, 'a member id'), potId: z.string().regex(POT_ID, 'a pot id') });

export const orderIdText = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'an order id (the commandId of the order.buy or order.sell that placed it)')
  .meta({ domain: 'orderId', description: 'The id of an order: the commandId of the command that placed it.' });

export const tradeIdText = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'a trade id')
  .meta({ domain: 'tradeId', description: 'The id of an external trade.' });

export const priceText = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,11})(\.[0-9]{1,8})?$/, 'a positive decimal with at most 8 decimals, such as "1.2345"')
  .meta({ domain: 'price', description: 'A price per unit: a positive decimal with at most 8 decimals.' });

export const fxRateText = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,11})(\.[0-9]{1,8})?$/, 'a positive decimal with at most 8 decimals, such as "1.17000000"')
  .meta({ domain: 'price', description: 'An FX rate: units of the currency bought per one unit of the currency sold, a positive decimal with at most 8 decimals.' });

/** A currency exchange inside a payment: the payer pays in `fromCurrency` at `rate` (payment currency per one fromCurrency). */
export const exchangeOf = z
  .strictObject({ fromCurrency: currencyCode, rate: fxRateText })
  .describe("The payer pays in fromCurrency: amount ÷ rate, rounded up (against the payer); the rate is the day's, fixed by the payments desk");

/** Reads a fund's dealing terms, or the rejection when it does not deal. */
export function readDealing(assets: AssetCatalog, fund: string): { readonly asset: Asset; readonly dealing: FundDealing } | Rejection {
  const asset = assets.find(fund);
  if (asset === undefined) return reject(RejectionCode.unknownAsset, `unknown asset ${fund}`, { asset: fund });
  if (asset.kind !== 'fund' || asset.dealing === undefined) return reject(RejectionCode.notDealable, `${fund} is not a fund that deals`, { asset: fund });
  return { asset, dealing: asset.dealing };
}

/** Reads a price: a positive rate of at most 8 decimals. */
export function readPrice(text: string): Rate | Rejection {
  const parsed = parseRate(text);
  return parsed.ok ? parsed.value : reject(RejectionCode.invalidAmount, `price: ${parsed.reason}`, { price: text });
}
