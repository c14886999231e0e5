import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { createTestNats, type TestNats } from '../support/nats.js';
import { workerEnvironment } from '../support/workers.js';

let db: TestDatabase;
let nats: TestNats;
beforeAll(async () => {
  db = await createTestDatabase('demo');
  nats = await createTestNats('demo');
});
afterAll(async () => {
  await nats?.cleanup();
  await db?.drop();
});

describe('npm run demo', () => {
  it('runs business days through the whole system, ends with verify passing, and does nothing twice with --if-empty', async () => {
    const environment = workerEnvironment(db, nats.prefix, 4);
    const env = { ...process.env, DATABASE_URL: environment.databaseUrl, NATS_URL: environment.natsUrl, NATS_PREFIX: nats.prefix, PARTITION_COUNT: '4' };
    const run = (...args: string[]) => promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/demo/demo.ts', ...args], { env, timeout: 120_000 });
    const { stdout } = await run('--members', '60', '--days', '3', '--if-empty');
    expect(stdout).toMatch(/day 2026-06-01: \d+ orders placed/);
    expect(stdout).toMatch(/trade T-FUND-A-2026-06-01: \d+ orders/);
    expect(stdout).toMatch(/settled: [1-9]\d* settlements applied; 0 breaks/);
    expect(stdout).toContain('net per asset: GBP 0.00');
    expect(stdout).toMatch(/verify: passed/);
    const again = await run('--if-empty');
    expect(again.stdout).toContain('nothing to do');
  });
});
