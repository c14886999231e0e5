import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { propertySettings, propertyTestTimeoutMs } from '../support/fast-check.js';

describe('property settings from the environment', () => {
  it('runs a property as often as it asks, or FC_NUM_RUNS says, when PROPERTY_RUNS_MIN is unset', () => {
    expect(propertySettings({ FC_SEED: '7' }, 10)).toEqual({ seed: 7, numRuns: 10 });
    expect(propertySettings({ FC_SEED: '7', FC_NUM_RUNS: '3' }, 10)).toEqual({ seed: 7, numRuns: 3 });
    expect(propertySettings({ FC_SEED: '7' })).toEqual({ seed: 7, numRuns: 1000 });
  });

  it('raises every property, database-backed ones too, to at least PROPERTY_RUNS_MIN runs', () => {
    expect(propertySettings({ FC_SEED: '7', PROPERTY_RUNS_MIN: '1000' }, 10).numRuns).toBe(1000);
    expect(propertySettings({ FC_SEED: '7', PROPERTY_RUNS_MIN: '1000', FC_NUM_RUNS: '40' }, 10).numRuns).toBe(1000);
    expect(propertySettings({ FC_SEED: '7', PROPERTY_RUNS_MIN: '1000', FC_NUM_RUNS: '5000' }, 10).numRuns).toBe(5000);
    expect(() => propertySettings({ PROPERTY_RUNS_MIN: 'many' })).toThrow(/PROPERTY_RUNS_MIN must be an integer/);
    expect(() => propertySettings({ PROPERTY_RUNS_MIN: '-1' })).toThrow(/must not be negative/);
  });

  it('gives a property test three hours in the long run, and its own timeout otherwise', () => {
    expect(propertyTestTimeoutMs(240_000, {})).toBe(240_000);
    expect(propertyTestTimeoutMs(240_000, { PROPERTY_RUNS_MIN: '1000' })).toBe(10_800_000);
  });
});

/** Every .ts file under `directory`. */
function sources(directory: string): string[] {
  return readdirSync(directory).flatMap((name) => {
    const path = join(directory, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

describe('the properties in test/', () => {
  it('all run through checkProperty, so the seed is printed and PROPERTY_RUNS_MIN reaches every one', () => {
    const bypassing = sources('test').filter((path) => !path.endsWith(join('support', 'fast-check.ts')) && /\bfc\.(assert|check)\(/.test(readFileSync(path, 'utf8')));
    expect(bypassing).toEqual([]);
    const checking = sources('test').filter((path) => path.endsWith('.test.ts') && readFileSync(path, 'utf8').includes('checkProperty('));
    expect(checking.length).toBeGreaterThan(10);
  });
});
