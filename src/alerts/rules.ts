/**
 * Real-time alert rules over committed movements, pure (no I/O, no clock: every observation carries
 * its own time, the JetStream timestamp of its event, so a replay alerts exactly as the live run did).
 *
 * - **Threshold**: a movement whose largest entry in an asset is strictly above the asset's threshold
 *   (the bound is exclusive: at 10,000.00, 10,000.01 alerts and 10,000.00 does not).
 *   A pool's threshold (`POOL-<id>`) applies to its units and to every entry of its own pot's movements.
 * - **Spike**, per scope (a pot; a fund: every movement with an entry in that fund's units; a pool:
 *   every movement of its units or of its own pot): the
 *   count of movements in the current window (a minute, aligned to the clock) is above `factor` times
 *   the average count per window over the history (the previous 60 windows, empty ones included),
 *   compared exactly as count × windows > factor × total. It needs at least `minimumCount` movements
 *   in the window, so that a quiet scope does not alert on one event, and a full history: the scope
 *   was first seen at least the history's span before the window began. It fires once per scope and
 *   window, at the movement that crosses the line.
 *
 * Memory: each scope keeps one ring of per-window counts (its history) and nothing per movement, so it
 * does not grow with traffic. A scope idle for longer than its history span is forgotten (its history
 * is all zero by then) and, seen again, starts a new history.
 */

import { poolOfPot, poolOfUnits } from '../ledger/index.js';

export interface SpikeRule {
  /** Window length in milliseconds (one minute by default). */
  readonly windowMs: number;
  /** Windows of history the average is taken over (60: the last hour). */
  readonly historyWindows: number;
  /** The current window alerts above this many times the average (a whole number). */
  readonly factor: number;
  /** Fewest movements in the window for a spike. */
  readonly minimumCount: number;
}

export const SPIKE_RULE_DEFAULT: SpikeRule = { windowMs: 60_000, historyWindows: 60, factor: 10, minimumCount: 20 };

/** The rules a deployment configures (`ALERT_*`), over the funds of its asset catalogue. */
export function alertRules(
  config: {
    readonly ALERT_THRESHOLDS: ReadonlyMap<string, bigint>;
    readonly ALERT_SPIKE_FACTOR: number;
    readonly ALERT_SPIKE_MIN_COUNT: number;
    readonly ALERT_WINDOW_MS: number;
    readonly ALERT_HISTORY_WINDOWS: number;
  },
  assets: { list(): readonly { readonly code: string; readonly kind: string }[] },
): AlertRules {
  return {
    thresholdsMinor: config.ALERT_THRESHOLDS,
    spike: { windowMs: config.ALERT_WINDOW_MS, historyWindows: config.ALERT_HISTORY_WINDOWS, factor: config.ALERT_SPIKE_FACTOR, minimumCount: config.ALERT_SPIKE_MIN_COUNT },
    funds: new Set(assets.list().filter((asset) => asset.kind === 'fund').map((asset) => asset.code)),
  };
}

export type ScopeKind = 'pot' | 'fund' | 'pool';

export interface AlertRules {
  /** Per asset: a movement with an entry strictly above this many minor units alerts. */
  readonly thresholdsMinor: ReadonlyMap<string, bigint>;
  readonly spike: SpikeRule;
  /** The assets that are funds (their movements count in the fund's scope). */
  readonly funds: ReadonlySet<string>;
}

/** One committed movement, as the rules see it. */
export interface Observation {
  readonly movementId: string;
  readonly potId: string;
  /** When its event was stored (milliseconds since the epoch). */
  readonly atMs: number;
  /** Its entries: asset and amount in minor units. */
  readonly entries: readonly { readonly asset: string; readonly amountMinor: bigint }[];
}

export type Alert =
  | {
      readonly kind: 'threshold';
      /** Deterministic: the same movement never alerts twice for an asset, however often it is seen. */
      readonly alertId: string;
      readonly movementId: string;
      readonly potId: string;
      readonly asset: string;
      readonly amountMinor: bigint;
      readonly thresholdMinor: bigint;
      readonly atMs: number;
    }
  | {
      readonly kind: 'spike';
      /** Deterministic: one per scope and window. */
      readonly alertId: string;
      readonly scope: ScopeKind;
      readonly scopeId: string;
      readonly windowStartMs: number;
      /** Movements in the window when it fired, and over the whole history. */
      readonly count: number;
      readonly historyTotal: number;
      readonly historyWindows: number;
      readonly movementId: string;
      readonly atMs: number;
    };

/** The per-window counts of one scope: a ring over the history, and the current window. */
class ScopeWindows {
  readonly #ring: Uint32Array;
  /** Sum of the ring (the history's total). */
  #total = 0;
  /** The window the current count belongs to (window number since the epoch). */
  #window: number;
  #count = 0;
  #fired = false;
  readonly firstWindow: number;

  constructor(historyWindows: number, window: number) {
    this.#ring = new Uint32Array(historyWindows);
    this.#window = window;
    this.firstWindow = window;
  }

  get window(): number {
    return this.#window;
  }

  /** Moves to `window` (not before the current one), rolling the finished windows into the history. */
  advance(window: number): void {
    if (window <= this.#window) return;
    const size = this.#ring.length;
    const steps = window - this.#window;
    // The finished current window enters the history; any windows skipped enter as zeros.
    for (let k = 0; k < Math.min(steps, size); k += 1) {
      const finished = this.#window + k;
      const slot = finished % size;
      this.#total -= this.#ring[slot] ?? 0;
      const value = k === 0 ? this.#count : 0;
      this.#ring[slot] = value;
      this.#total += value;
    }
    if (steps > size) {
      this.#ring.fill(0);
      this.#total = 0;
    }
    this.#window = window;
    this.#count = 0;
    this.#fired = false;
  }

  /** Counts one movement in the current window; true when this one makes it a spike. */
  count(rule: SpikeRule): boolean {
    this.#count += 1;
    if (this.#fired || this.#count < rule.minimumCount) return false;
    if (this.#window - this.firstWindow < rule.historyWindows) return false;
    if (this.#count * rule.historyWindows <= rule.factor * this.#total) return false;
    this.#fired = true;
    return true;
  }

  get current(): number {
    return this.#count;
  }

  get historyTotal(): number {
    return this.#total;
  }
}

/**
 * Observes movements in the order of their time (an observation older than its scope's current
 * window is counted in that window: events of one partition arrive in order, across partitions
 * nearly so) and returns the alerts each one raises.
 */
export class AlertDetector {
  readonly #scopes = new Map<string, ScopeWindows>();
  #sweptWindow = Number.NEGATIVE_INFINITY;

  constructor(private readonly rules: AlertRules) {
    const { windowMs, historyWindows, factor, minimumCount } = rules.spike;
    for (const [name, value] of Object.entries({ windowMs, historyWindows, factor, minimumCount })) {
      if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`spike rule: ${name} must be a whole number ≥ 1`);
    }
  }

  /** Scopes held now (for the bounded-memory tests and the metrics). */
  get scopes(): number {
    return this.#scopes.size;
  }

  observe(observation: Observation): Alert[] {
    const alerts: Alert[] = [];
    const largest = new Map<string, bigint>();
    for (const { asset, amountMinor } of observation.entries) {
      if (amountMinor > (largest.get(asset) ?? -1n)) largest.set(asset, amountMinor);
    }
    // A pool's own pot: its threshold applies to every entry (as if each were in the pool's units).
    const ownPool = poolOfPot(observation.potId);
    const poolUnitsCode = ownPool === undefined ? undefined : `POOL-${ownPool}`;
    if (poolUnitsCode !== undefined) {
      const most = [...largest.values()].reduce((a, b) => (b > a ? b : a), -1n);
      if (most > (largest.get(poolUnitsCode) ?? -1n)) largest.set(poolUnitsCode, most);
    }
    for (const [asset, amountMinor] of [...largest].sort(([a], [b]) => a.localeCompare(b))) {
      const thresholdMinor = this.rules.thresholdsMinor.get(asset);
      if (thresholdMinor !== undefined && amountMinor > thresholdMinor) {
        alerts.push({
          kind: 'threshold',
          alertId: `threshold:${observation.movementId}:${asset}`,
          movementId: observation.movementId,
          potId: observation.potId,
          asset,
          amountMinor,
          thresholdMinor,
          atMs: observation.atMs,
        });
      }
    }
    const window = Math.floor(observation.atMs / this.rules.spike.windowMs);
    this.#sweep(window);
    const scopes: [ScopeKind, string][] = [
      ['pot', observation.potId],
      ...[...largest.keys()].filter((asset) => this.rules.funds.has(asset)).sort().map((fund): [ScopeKind, string] => ['fund', fund]),
      ...[...new Set([...largest.keys()].map(poolOfUnits).filter((pool) => pool !== undefined))].sort().map((pool): [ScopeKind, string] => ['pool', pool]),
    ];
    for (const [scope, scopeId] of scopes) {
      const key = `${scope}:${scopeId}`;
      let windows = this.#scopes.get(key);
      if (windows === undefined) {
        windows = new ScopeWindows(this.rules.spike.historyWindows, window);
        this.#scopes.set(key, windows);
      }
      windows.advance(window);
      if (windows.count(this.rules.spike)) {
        alerts.push({
          kind: 'spike',
          alertId: `spike:${key}:${windows.window * this.rules.spike.windowMs}`,
          scope,
          scopeId,
          windowStartMs: windows.window * this.rules.spike.windowMs,
          count: windows.current,
          historyTotal: windows.historyTotal,
          historyWindows: this.rules.spike.historyWindows,
          movementId: observation.movementId,
          atMs: observation.atMs,
        });
      }
    }
    return alerts;
  }

  /** Forgets scopes idle for longer than the history, at most once per window. */
  #sweep(window: number): void {
    if (window <= this.#sweptWindow) return;
    this.#sweptWindow = window;
    const horizon = window - this.rules.spike.historyWindows;
    for (const [key, windows] of this.#scopes) if (windows.window < horizon) this.#scopes.delete(key);
  }
}
