import { ASSET_SCALE_MAX } from './decimal.js';

/**
 * An asset is what an account holds: a currency (scale 2) or the units of a fund (scale 6 unless the
 * fund says otherwise). The code is what appears in account ids: `GBP`, `FUND-A`.
 */
export type AssetKind = 'currency' | 'fund';

export interface Asset {
  readonly code: string;
  readonly kind: AssetKind;
  /** Decimal places of the minor unit: 2 for GBP (pence), 6 for fund units. */
  readonly scale: number;
}

/** The assets the ledger knows. Passed into the core; the core never invents one. */
export interface AssetCatalog {
  find(code: string): Asset | undefined;
  list(): readonly Asset[];
}

export const CURRENCY_SCALE_DEFAULT = 2;
export const FUND_UNIT_SCALE_DEFAULT = 6;

/** Currency codes are ISO 4217 style; fund codes are upper-case words joined by '-'. */
export const CURRENCY_CODE = /^[A-Z]{3}$/;
export const FUND_CODE = /^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*$/;
export const ASSET_CODE_LENGTH_MAX = 32;

export function currency(code: string, scale = CURRENCY_SCALE_DEFAULT): Asset {
  return validAsset({ code, kind: 'currency', scale });
}

export function fund(code: string, scale = FUND_UNIT_SCALE_DEFAULT): Asset {
  return validAsset({ code, kind: 'fund', scale });
}

function validAsset(asset: Asset): Asset {
  const pattern = asset.kind === 'currency' ? CURRENCY_CODE : FUND_CODE;
  if (!pattern.test(asset.code) || asset.code.length > ASSET_CODE_LENGTH_MAX) {
    throw new RangeError(`"${asset.code}" is not a valid ${asset.kind} code`);
  }
  if (!Number.isInteger(asset.scale) || asset.scale < 0 || asset.scale > ASSET_SCALE_MAX) {
    throw new RangeError(`the scale of ${asset.code} must be a whole number from 0 to ${ASSET_SCALE_MAX}`);
  }
  return Object.freeze({ ...asset });
}

/** A catalogue over a fixed list; codes must be unique. */
export function assetCatalog(assets: readonly Asset[]): AssetCatalog {
  const byCode = new Map<string, Asset>();
  for (const asset of assets) {
    if (byCode.has(asset.code)) throw new RangeError(`asset ${asset.code} is listed twice`);
    byCode.set(asset.code, asset);
  }
  const list = Object.freeze([...byCode.values()]);
  return { find: (code) => byCode.get(code), list: () => list };
}

/** The catalogue the service starts with when none is configured: three currencies and three funds. */
export const DEFAULT_ASSETS: readonly Asset[] = [
  currency('GBP'),
  currency('EUR'),
  currency('USD'),
  fund('FUND-A'),
  fund('FUND-B'),
  fund('FUND-C'),
];
