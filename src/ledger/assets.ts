import { TIME_OF_DAY, UK_CALENDAR, type BusinessCalendar } from './calendar.js';
import { ASSET_SCALE_MAX } from './decimal.js';

/**
 * An asset is what an account holds: a currency (scale 2) or the units of a fund (scale 6 unless the
 * fund says otherwise). The code is what appears in account ids: `GBP`, `FUND-A`.
 */
export type AssetKind = 'currency' | 'fund' | 'pool';

export interface Asset {
  readonly code: string;
  readonly kind: AssetKind;
  /** Decimal places of the minor unit: 2 for GBP (pence), 6 for fund units. */
  readonly scale: number;
  /** For a fund: how it deals. */
  readonly dealing?: FundDealing;
}

/** How a fund deals: in which currency, when its cycle closes, and when its trades settle. */
export interface FundDealing {
  /** The currency its units are bought and sold in. */
  readonly currency: string;
  /** Orders placed before this time (UTC, HH:MM) on a business day deal that day. */
  readonly cutoff: string;
  /** When the custodian strikes the day's price (UTC, HH:MM), after the cut-off. */
  readonly valuationPoint: string;
  /** Trades settle this many business days after the dealing day (T+N). */
  readonly settlementDays: number;
  readonly calendar: BusinessCalendar;
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

export function fund(code: string, scale = FUND_UNIT_SCALE_DEFAULT, dealing?: FundDealing): Asset {
  if (dealing !== undefined) {
    if (!CURRENCY_CODE.test(dealing.currency)) throw new RangeError(`fund ${code}: ${dealing.currency} is not a currency code`);
    if (!TIME_OF_DAY.test(dealing.cutoff) || !TIME_OF_DAY.test(dealing.valuationPoint) || dealing.valuationPoint <= dealing.cutoff) {
      throw new RangeError(`fund ${code}: cut-off and valuation point are HH:MM, the valuation point after the cut-off`);
    }
    if (!Number.isInteger(dealing.settlementDays) || dealing.settlementDays < 0 || dealing.settlementDays > 10) {
      throw new RangeError(`fund ${code}: settlement days must be a whole number from 0 to 10`);
    }
  }
  return validAsset(dealing === undefined ? { code, kind: 'fund', scale } : { code, kind: 'fund', scale, dealing: Object.freeze({ ...dealing }) });
}

/** The dealing terms of a fund asset, or undefined when the asset is not a fund that deals. */
export function dealingOf(assets: AssetCatalog, code: string): FundDealing | undefined {
  const asset = assets.find(code);
  return asset?.kind === 'fund' ? asset.dealing : undefined;
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

/**
 * The units of an investment pool: `POOL-<id>`, issued at par (one unit per 1.00 of the pool's
 * currency, so scale 2). Pools are created at run time, so the catalogue knows every code of this form
 * rather than a list; the pools service (src/pools) says which pools exist and in which currency.
 */
export const POOL_ID = /^[A-Z0-9]{1,27}$/;
export const POOL_UNIT_SCALE = 2;
const POOL_UNITS = /^POOL-([A-Z0-9]{1,27})$/;

/** A pool's own pot (and its member id): `pool-<id>`. */
export const POOL_POT_PREFIX = 'pool-';

/** The pool whose units `code` is, or undefined. */
export function poolOfUnits(code: string): string | undefined {
  return POOL_UNITS.exec(code)?.[1];
}

/** The pool whose own pot `potId` is, or undefined. */
export function poolOfPot(potId: string): string | undefined {
  if (!potId.startsWith(POOL_POT_PREFIX)) return undefined;
  const poolId = potId.slice(POOL_POT_PREFIX.length);
  return POOL_ID.test(poolId) ? poolId : undefined;
}

export function poolUnits(poolId: string): string {
  if (!POOL_ID.test(poolId)) throw new RangeError(`"${poolId}" is not a pool id`);
  return `POOL-${poolId}`;
}

/** A catalogue over a fixed list (codes unique), plus the units of any pool. */
export function assetCatalog(assets: readonly Asset[]): AssetCatalog {
  const byCode = new Map<string, Asset>();
  for (const asset of assets) {
    if (byCode.has(asset.code)) throw new RangeError(`asset ${asset.code} is listed twice`);
    if (asset.kind === 'pool' || POOL_UNITS.test(asset.code)) throw new RangeError(`asset ${asset.code}: POOL- codes are the units of pools, not listed`);
    byCode.set(asset.code, asset);
  }
  const list = Object.freeze([...byCode.values()]);
  const pools = new Map<string, Asset>();
  const poolAsset = (code: string): Asset | undefined => {
    if (!POOL_UNITS.test(code)) return undefined;
    let asset = pools.get(code);
    if (asset === undefined) {
      if (pools.size >= 100_000) pools.clear();
      asset = Object.freeze({ code, kind: 'pool' as const, scale: POOL_UNIT_SCALE });
      pools.set(code, asset);
    }
    return asset;
  };
  return { find: (code) => byCode.get(code) ?? poolAsset(code), list: () => list };
}

/** The catalogue the service starts with when none is configured: three currencies and three funds. */
export const DEFAULT_ASSETS: readonly Asset[] = [
  currency('GBP'),
  currency('EUR'),
  currency('USD'),
  fund('FUND-A', FUND_UNIT_SCALE_DEFAULT, { currency: 'GBP', cutoff: '11:00', valuationPoint: '12:00', settlementDays: 2, calendar: UK_CALENDAR }),
  fund('FUND-B', FUND_UNIT_SCALE_DEFAULT, { currency: 'GBP', cutoff: '12:00', valuationPoint: '16:00', settlementDays: 1, calendar: UK_CALENDAR }),
  fund('FUND-C', FUND_UNIT_SCALE_DEFAULT, { currency: 'GBP', cutoff: '10:00', valuationPoint: '14:00', settlementDays: 3, calendar: UK_CALENDAR }),
];
