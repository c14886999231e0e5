import type { AssetCatalog } from './assets.js';
import { formatAmount, parseAmount } from './decimal.js';
import type { Rejection, RejectionCode } from './errors.js';
import type { Entry, Movement, MovementDraft, PotChange } from './movement.js';
import type { OrderChange } from './orders.js';
import type { Outcome } from './runner.js';

/**
 * The JSON shapes of movements and outcomes on the wire (events, HTTP, the journal's stored answers).
 * Amounts are decimal strings in the asset's units ("100.25"), formatted with the asset's scale and read
 * back strictly, so a round trip is exact.
 */
export interface WireEntry {
  readonly debit: string;
  readonly credit: string;
  readonly asset: string;
  readonly amount: string;
}

export interface WireMovementDraft {
  readonly entries: readonly WireEntry[];
  readonly potChange?: PotChange;
  readonly orderChange?: OrderChange;
  readonly reverses?: string;
}

export interface WireMovement extends WireMovementDraft {
  readonly movementId: string;
  readonly commandId: string;
  readonly process: string;
  readonly processVersion: number;
  readonly memberId: string;
  readonly potId: string;
  readonly partition: number;
  readonly effectiveDate: string;
}

export type WireOutcome =
  | { readonly kind: 'applied'; readonly movement: WireMovement }
  | {
      readonly kind: 'corrected';
      readonly movement: WireMovement;
      readonly original: WireMovementDraft;
      readonly violations: readonly string[];
    }
  | {
      readonly kind: 'rejected';
      readonly code: RejectionCode;
      readonly reason: string;
      readonly details?: Readonly<Record<string, unknown>>;
    };

function scaleOf(assets: AssetCatalog, code: string): number {
  const asset = assets.find(code);
  if (asset === undefined) throw new RangeError(`wire: unknown asset ${code}`);
  return asset.scale;
}

export function entryToWire(entry: Entry, assets: AssetCatalog): WireEntry {
  return { debit: entry.debit, credit: entry.credit, asset: entry.asset, amount: formatAmount(entry.amountMinor, scaleOf(assets, entry.asset)) };
}

export function entryFromWire(entry: WireEntry, assets: AssetCatalog): Entry {
  const parsed = parseAmount(entry.amount, scaleOf(assets, entry.asset));
  if (!parsed.ok) throw new RangeError(`wire: ${parsed.reason}`);
  return { debit: entry.debit, credit: entry.credit, asset: entry.asset, amountMinor: parsed.value };
}

function draftToWire(draft: MovementDraft, assets: AssetCatalog): WireMovementDraft {
  const { entries, ...rest } = draft;
  return { ...rest, entries: entries.map((entry) => entryToWire(entry, assets)) };
}

function draftFromWire(draft: WireMovementDraft, assets: AssetCatalog): MovementDraft {
  const { entries, ...rest } = draft;
  return { ...rest, entries: entries.map((entry) => entryFromWire(entry, assets)) };
}

export function movementToWire(movement: Movement, assets: AssetCatalog): WireMovement {
  const { entries, ...rest } = movement;
  return { ...rest, entries: entries.map((entry) => entryToWire(entry, assets)) };
}

export function movementFromWire(movement: WireMovement, assets: AssetCatalog): Movement {
  const { entries, ...rest } = movement;
  return { ...rest, entries: entries.map((entry) => entryFromWire(entry, assets)) };
}

export function outcomeToWire(outcome: Outcome, assets: AssetCatalog): WireOutcome {
  switch (outcome.kind) {
    case 'applied':
      return { kind: 'applied', movement: movementToWire(outcome.movement, assets) };
    case 'corrected':
      return {
        kind: 'corrected',
        movement: movementToWire(outcome.movement, assets),
        original: draftToWire(outcome.original, assets),
        violations: outcome.violations,
      };
    case 'rejected':
      return outcome;
  }
}

export function outcomeFromWire(outcome: WireOutcome, assets: AssetCatalog): Outcome {
  switch (outcome.kind) {
    case 'applied':
      return { kind: 'applied', movement: movementFromWire(outcome.movement, assets) };
    case 'corrected':
      return {
        kind: 'corrected',
        movement: movementFromWire(outcome.movement, assets),
        original: draftFromWire(outcome.original, assets),
        violations: outcome.violations,
      };
    case 'rejected':
      return outcome satisfies Rejection;
  }
}
