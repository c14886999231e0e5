import { z } from 'zod';
import type { Asset, AssetCatalog, AssetKind } from './assets.js';
import { parseAmount } from './decimal.js';
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
