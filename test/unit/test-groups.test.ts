import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TESTS_RUN_ALONE } from '../../vitest.config.js';

/** Every test file under `directory`. */
function testFiles(directory: string): string[] {
  return readdirSync(directory).flatMap((name) => {
    const path = join(directory, name);
    if (statSync(path).isDirectory()) return testFiles(path);
    return path.endsWith('.test.ts') ? [path] : [];
  });
}

/** What makes a test depend on time or crash things: worker processes, servers of its own, the chaos run. */
const CRASHES_OR_TIMES = /\b(WorkerFleet|PrivateNats|PrivatePostgres|runChaos)\b/;

describe('the test groups of vitest.config.ts', () => {
  it('name files that exist', () => {
    expect(TESTS_RUN_ALONE.filter((path) => !existsSync(path))).toEqual([]);
  });

  it('run alone every test that starts worker processes or servers of its own, or runs the chaos run', () => {
    const alone = new Set(TESTS_RUN_ALONE);
    const crashing = testFiles('test').filter((path) => !path.endsWith('test-groups.test.ts') && CRASHES_OR_TIMES.test(readFileSync(path, 'utf8')));
    expect(crashing.length).toBeGreaterThan(5);
    expect(crashing.filter((path) => !alone.has(path))).toEqual([]);
  });
});
