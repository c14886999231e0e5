import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AlertDetector, SPIKE_RULE_DEFAULT, type Alert, type AlertRules, type Observation, type SpikeRule } from '../../src/alerts/rules.js';
import { checkProperty } from '../support/fast-check.js';

/**
 * The alert rules: S8 with its exact numbers, and the detector against a straightforward reference
 * that keeps every count of every scope and window and sums the history afresh each time.
 */
const MINUTE = 60_000;
const T0 = Date.UTC(2026, 5, 1);
const rules = (spike: SpikeRule = SPIKE_RULE_DEFAULT): AlertRules => ({
  thresholdsMinor: new Map([['GBP', 1_000_000n], ['POOL-A', 500_000n]]),
  spike,
  funds: new Set(['FUND-A', 'FUND-B']),
});

let sequence = 0;
const movement = (potId: string, atMs: number, entries: Observation['entries'] = [{ asset: 'GBP', amountMinor: 100n }]): Observation => ({
  movementId: `m-${(sequence += 1)}`,
  potId,
  atMs,
  entries,
});

/** `perMinute` movements of `potId` in each minute from `fromMinute` for `minutes`, spread in the minute. */
function steady(potId: string, fromMinute: number, minutes: number, perMinute: number): Observation[] {
  return Array.from({ length: minutes * perMinute }, (_, i) => movement(potId, T0 + (fromMinute + Math.floor(i / perMinute)) * MINUTE + (i % perMinute) * 100));
}

const spikes = (detector: AlertDetector, observations: readonly Observation[]) => observations.flatMap((o) => detector.observe(o)).filter((a) => a.kind === 'spike');

describe('S8: alerts', () => {
  it('alerts on a movement strictly above the threshold: 10,000.01 alerts, 10,000.00 does not', () => {
    const detector = new AlertDetector(rules());
    expect(detector.observe(movement('P-1', T0, [{ asset: 'GBP', amountMinor: 1_000_000n }]))).toEqual([]);
    expect(detector.observe(movement('P-1', T0, [{ asset: 'GBP', amountMinor: 1_000_001n }]))).toMatchObject([
      { kind: 'threshold', asset: 'GBP', amountMinor: 1_000_001n, thresholdMinor: 1_000_000n },
    ]);
    // An asset without a threshold never alerts on size.
    expect(detector.observe(movement('P-1', T0, [{ asset: 'EUR', amountMinor: 10n ** 15n }]))).toEqual([]);
  });

  it('with the last hour at 10 movements a minute, a minute of 101 alerts once and one of 100 does not', () => {
    const hour = steady('P-1', 0, 60, 10);
    const over = new AlertDetector(rules());
    const fired = spikes(over, [...hour, ...steady('P-1', 60, 1, 101)]);
    expect(fired).toMatchObject([{ scope: 'pot', scopeId: 'P-1', windowStartMs: T0 + 60 * MINUTE, count: 101, historyTotal: 600 }]);
    const at = new AlertDetector(rules());
    expect(spikes(at, [...hour, ...steady('P-1', 60, 1, 100)])).toEqual([]);
  });

  it('does not fire with under an hour of history, nor on fewer than 20 movements', () => {
    const young = new AlertDetector(rules());
    expect(spikes(young, [...steady('P-1', 1, 59, 10), ...steady('P-1', 60, 1, 500)])).toEqual([]);
    // An hour of near silence (one movement at the start), then 19 in a minute: above 10× the average, but too few.
    const quiet = new AlertDetector(rules());
    expect(spikes(quiet, [movement('P-1', T0), movement('P-1', T0 + 59 * MINUTE), ...steady('P-1', 60, 1, 19)])).toEqual([]);
    expect(spikes(new AlertDetector(rules()), [movement('P-1', T0), movement('P-1', T0 + 59 * MINUTE), ...steady('P-1', 60, 1, 20)])).toHaveLength(1);
  });

  it('counts a fund scope over every pot that moves its units', () => {
    const detector = new AlertDetector(rules());
    const fund = (potId: string, minute: number, i: number) => movement(potId, T0 + minute * MINUTE + i, [{ asset: 'FUND-A', amountMinor: 5n }]);
    const history = Array.from({ length: 600 }, (_, i) => fund(`P-${i % 50}`, Math.floor(i / 10), i));
    const burst = Array.from({ length: 101 }, (_, i) => fund(`Q-${i}`, 60, i));
    expect(spikes(detector, [...history, ...burst])).toMatchObject([{ scope: 'fund', scopeId: 'FUND-A', count: 101 }]);
  });

  it("counts a pool scope over its units' movements and its own pot's, and applies the pool's threshold to both", () => {
    const detector = new AlertDetector(rules());
    const subscribe = (potId: string, minute: number, i: number) =>
      movement(potId, T0 + minute * MINUTE + i, [{ asset: 'POOL-A', amountMinor: 100n }, { asset: 'GBP', amountMinor: 100n }]);
    const history = Array.from({ length: 600 }, (_, i) => subscribe(`P-${i % 50}`, Math.floor(i / 10), i));
    const burst = [...Array.from({ length: 100 }, (_, i) => subscribe(`Q-${i}`, 60, i)), movement('pool-A', T0 + 60 * MINUTE + 500, [{ asset: 'GBP', amountMinor: 100n }])];
    expect(spikes(detector, [...history, ...burst])).toMatchObject([{ scope: 'pool', scopeId: 'A', count: 101 }]);
    // 5,000.00 is the pool's bound (exclusive): 5,000.01 of its units alerts, and so does 5,000.01 GBP of its own pot.
    const fresh = new AlertDetector(rules());
    expect(fresh.observe(movement('P-1', T0, [{ asset: 'POOL-A', amountMinor: 500_000n }]))).toEqual([]);
    expect(fresh.observe(movement('P-1', T0, [{ asset: 'POOL-A', amountMinor: 500_001n }]))).toMatchObject([{ kind: 'threshold', asset: 'POOL-A' }]);
    expect(fresh.observe(movement('pool-A', T0, [{ asset: 'GBP', amountMinor: 500_001n }]))).toMatchObject([{ kind: 'threshold', asset: 'POOL-A', amountMinor: 500_001n }]);
    expect(fresh.observe(movement('pool-B', T0, [{ asset: 'GBP', amountMinor: 500_001n }]))).toEqual([]);
  });

  it('keeps memory bounded by the scopes active in the last hour, not by traffic', () => {
    const detector = new AlertDetector(rules());
    for (let minute = 0; minute < 600; minute += 1) {
      for (let i = 0; i < 100; i += 1) detector.observe(movement(`P-${minute}-${i % 20}`, T0 + minute * MINUTE + i));
      // 20 new pots a minute, each idle afterwards: only the last hour's (and this minute's) are held.
      expect(detector.scopes).toBeLessThanOrEqual(20 * 62);
    }
  });
});

/**
 * The reference: every (scope, window) count kept; a spike is checked by summing the history's
 * windows afresh; a scope whose gap between movements exceeds the history starts a new history.
 */
function referenceAlerts(observations: readonly Observation[], r: AlertRules): string[] {
  const state: ReferenceState = { counts: new Map(), first: new Map(), last: new Map(), fired: new Set() };
  const alerts: string[] = [];
  for (const o of observations) {
    const largest = referenceLargest(o);
    for (const [asset, amount] of [...largest].sort(([a], [b]) => a.localeCompare(b))) {
      const bound = r.thresholdsMinor.get(asset);
      if (bound !== undefined && amount > bound) alerts.push(`threshold:${o.movementId}:${asset}`);
    }
    const window = Math.floor(o.atMs / r.spike.windowMs);
    const pools = [...largest.keys()].filter((a) => a.startsWith('POOL-')).map((a) => a.slice('POOL-'.length)).sort();
    const scopes = [`pot:${o.potId}`, ...[...largest.keys()].filter((a) => r.funds.has(a)).sort().map((f) => `fund:${f}`), ...pools.map((p) => `pool:${p}`)];
    for (const scope of scopes) {
      const spike = referenceSpike(state, scope, window, r.spike);
      if (spike !== undefined) alerts.push(spike);
    }
  }
  return alerts;
}

/** What the reference remembers per scope: every window's count, where its history starts, its last window, the spikes fired. */
interface ReferenceState {
  readonly counts: Map<string, Map<number, number>>;
  readonly first: Map<string, number>;
  readonly last: Map<string, number>;
  readonly fired: Set<string>;
}

/** The largest entry per asset of a movement; a pool's own pot (pool-<id>) counts every entry as the pool's too. */
function referenceLargest(o: Observation): Map<string, bigint> {
  const largest = new Map<string, bigint>();
  for (const e of o.entries) if (e.amountMinor > (largest.get(e.asset) ?? -1n)) largest.set(e.asset, e.amountMinor);
  // A pool's own pot (pool-<id>): every entry counts as the pool's, for its threshold and its scope.
  const own = /^pool-([A-Z0-9]+)$/.exec(o.potId)?.[1];
  if (own !== undefined) {
    let most = -1n;
    for (const e of o.entries) if (e.amountMinor > most) most = e.amountMinor;
    if (most > (largest.get(`POOL-${own}`) ?? -1n)) largest.set(`POOL-${own}`, most);
  }
  return largest;
}

/** Counts one movement of `scope` in `window`; the spike alert's id when this count makes the window a spike, first time only. */
function referenceSpike(state: ReferenceState, scope: string, window: number, spike: SpikeRule): string | undefined {
  const { windowMs, historyWindows, factor, minimumCount } = spike;
  const previous = state.last.get(scope);
  const w = Math.max(previous ?? window, window);
  if (previous === undefined || w - previous > historyWindows) state.first.set(scope, w);
  state.last.set(scope, w);
  const start = state.first.get(scope) ?? w;
  const byWindow = state.counts.get(scope) ?? new Map<number, number>();
  state.counts.set(scope, byWindow);
  const count = (byWindow.get(w) ?? 0) + 1;
  byWindow.set(w, count);
  let total = 0;
  for (let k = Math.max(start, w - historyWindows); k < w; k += 1) total += byWindow.get(k) ?? 0;
  if (state.fired.has(`${scope}@${w}`) || count < minimumCount || w - start < historyWindows || count * historyWindows <= factor * total) return undefined;
  state.fired.add(`${scope}@${w}`);
  return `spike:${scope}:${w * windowMs}`;
}

const ids = (alerts: readonly Alert[]) => alerts.map((a) => a.alertId);

/** A deterministic day: `total` movements over 1,440 minutes and `pots` pots, with bursts. */
function day(total: number, pots: number, draw: () => number): Observation[] {
  const observations: Observation[] = [];
  const perMinute = Math.ceil(total / 1440);
  for (let minute = 0; minute < 1440 && observations.length < total; minute += 1) {
    const burstPot = draw() % 97 === 0 ? `P-${draw() % pots}` : undefined;
    for (let i = 0; i < perMinute && observations.length < total; i += 1) {
      // Now and then a pool's own pot (a distribution, income), or an investor's subscription to a pool.
      const potId = burstPot !== undefined && i % 3 === 0 ? burstPot : draw() % 50 === 0 ? `pool-${draw() % 2 === 0 ? 'A' : 'B'}` : `P-${draw() % pots}`;
      const roll = draw() % 100;
      const entries =
        roll < 65
          ? [{ asset: 'GBP', amountMinor: BigInt(draw() % 1_200_000) }]
          : roll < 75
            ? [{ asset: draw() % 2 === 0 ? 'POOL-A' : 'POOL-B', amountMinor: BigInt(draw() % 700_000) }, { asset: 'GBP', amountMinor: BigInt(draw() % 700_000) }]
            : [{ asset: roll < 88 ? 'FUND-A' : 'FUND-B', amountMinor: BigInt(draw() % 1000) }, { asset: 'GBP', amountMinor: BigInt(draw() % 5000) }];
      observations.push(movement(potId, T0 + minute * MINUTE + Math.floor((i * MINUTE) / perMinute), entries));
    }
  }
  return observations;
}

describe('the detector against the reference', () => {
  it('finds the same alerts for random days (small spike rules)', () => {
    const seeds = fc.integer({ min: 1, max: 2 ** 31 - 1 });
    const potCounts = fc.integer({ min: 1, max: 40 });
    const histories = fc.integer({ min: 2, max: 8 });
    const minimums = fc.integer({ min: 1, max: 6 });
    checkProperty(
      'alerts: detector = reference',
      fc.property(seeds, potCounts, histories, minimums, (seed, pots, history, minimum) => {
        const spike: SpikeRule = { windowMs: MINUTE, historyWindows: history, factor: 2, minimumCount: minimum };
        let state = seed;
        const draw = () => (state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0) >>> 8;
        const observations = day(3000, pots, draw);
        const detector = new AlertDetector(rules(spike));
        expect(ids(observations.flatMap((o) => detector.observe(o)))).toEqual(referenceAlerts(observations, rules(spike)));
      }),
      { numRuns: 100 },
    );
  });

  it('replays a day of 1,000,000 movements with bounded memory and the alerts of the reference', () => {
    let state = 20_260_601;
    const draw = () => (state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0) >>> 8;
    const observations = day(1_000_000, 5_000, draw);
    const detector = new AlertDetector(rules());
    let mostScopes = 0;
    const found: Alert[] = [];
    for (const o of observations) {
      for (const alert of detector.observe(o)) found.push(alert);
      if (detector.scopes > mostScopes) mostScopes = detector.scopes;
    }
    expect(ids(found)).toEqual(referenceAlerts(observations, rules()));
    expect(found.filter((a) => a.kind === 'spike').length).toBeGreaterThan(0);
    expect(found.filter((a) => a.kind === 'threshold').length).toBeGreaterThan(0);
    expect(found.some((a) => a.kind === 'threshold' && a.asset === 'POOL-A')).toBe(true);
    // One ring per scope: at most the 5,000 pots, the 2 pools' own pots, 2 funds and 2 pools, whatever the traffic.
    expect(mostScopes).toBeLessThanOrEqual(5_006);
  }, 120_000);
});
