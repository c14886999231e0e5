import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { groupAsTheWorker, journalCeiling, physicalFloor, planRequests, readLedgerState, type BenchRequest, type CommitLimits } from '../../bench/journal-ceiling.js';
import { workerCommitSettings } from '../../bench/throughput.js';
import { verifyLedger } from '../../src/journal/verify.js';
import { assetCatalog, DEFAULT_ASSETS } from '../../src/ledger/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { checkProperty } from '../support/fast-check.js';
import { anyOf } from '../support/matchers.js';

/**
 * The throughput benchmark's baselines do the measured run's work with its resources (issue 16, item
 * 12): the naive worker differs only in committing each message alone; the journal ceiling commits
 * through the fence with the worker's batch and group sizes, a partition's batches in order; the
 * physical floor writes the same rows.
 */

describe('the naive baseline', () => {
  it('runs with the measured worker’s commit concurrency, one message per transaction', () => {
    const limits: CommitLimits = { commitBatchMax: 250, groupItemsMax: 4000, groupConcurrency: 3 };
    const { measured, naive } = workerCommitSettings(limits);
    expect(measured).toEqual({ COMMIT_BATCH_MAX: '250', COMMIT_GROUP_MAX: '4000', COMMIT_CONCURRENCY: '3' });
    expect(naive).toEqual({ ...measured, COMMIT_BATCH_MAX: '1', COMMIT_GROUP_MAX: '1' });
  });
});

describe('groupAsTheWorker', () => {
  it('cuts batches and groups within the worker’s limits, each partition’s items in order', () => {
    const arbitrary = fc.record({
      partitions: fc.array(fc.integer({ min: 0, max: 7 }), { maxLength: 300 }),
      commitBatchMax: fc.integer({ min: 1, max: 40 }),
      groupItemsMax: fc.integer({ min: 1, max: 120 }),
    });
    checkProperty(
      'groupAsTheWorker keeps the limits and each partition’s order',
      fc.property(arbitrary, ({ partitions, commitBatchMax, groupItemsMax }) => {
        const items = partitions.map((partition, index) => ({ partition, index }));
        const groups = groupAsTheWorker(items, { commitBatchMax, groupItemsMax });
        const seen = new Map<number, number[]>();
        const lastGroupOf = new Map<number, number>();
        groups.forEach((group, groupIndex) => {
          const size = group.batches.reduce((sum, batch) => sum + batch.items.length, 0);
          if (group.batches.length > 1) expect(size).toBeLessThanOrEqual(groupItemsMax);
          expect(new Set(group.batches.map((batch) => batch.partition)).size).toBe(group.batches.length);
          const expectedAfter = new Set(group.batches.flatMap((batch) => lastGroupOf.get(batch.partition) ?? []));
          expect(new Set(group.after)).toEqual(expectedAfter);
          for (const batch of group.batches) {
            expect(batch.items.length).toBeGreaterThan(0);
            expect(batch.items.length).toBeLessThanOrEqual(commitBatchMax);
            for (const item of batch.items) expect(item.partition).toBe(batch.partition);
            seen.set(batch.partition, [...(seen.get(batch.partition) ?? []), ...batch.items.map((item) => item.index)]);
            lastGroupOf.set(batch.partition, groupIndex);
          }
        });
        for (const partition of new Set(partitions)) {
          expect(seen.get(partition)).toEqual(items.filter((item) => item.partition === partition).map((item) => item.index));
        }
        expect([...seen.values()].flat().length).toBe(items.length);
      }),
    );
  });
});

describe('the journal ceiling and the physical floor', () => {
  const assets = assetCatalog(DEFAULT_ASSETS);
  const partitions = 4;
  const limits: CommitLimits = { commitBatchMax: 7, groupItemsMax: 20, groupConcurrency: 2 };
  const potIds = Array.from({ length: 12 }, (_, index) => `BP${index}`);
  const deposits: BenchRequest[] = Array.from({ length: 90 }, (_, index) => ({
    process: 'cash.deposit',
    memberId: `BM${index % potIds.length}`,
    potId: potIds[index % potIds.length] ?? 'BP0',
    payload: { amount: `${1 + (index % 9)}.25`, currency: 'GBP' },
  }));
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase('bench_baselines');
    const opens = potIds.map((potId, index) => ({ process: 'pot.open', memberId: `BM${index}`, potId, payload: {} }));
    await journalCeiling(db, planRequests(opens, await readLedgerState(db), assets, partitions, 'open'), limits, assets);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('commits through the fence of claimed partitions, in the worker’s groups, and leaves a ledger that verifies', async () => {
    const before = await db.owner.query<{ partition: number; epoch: bigint }>('SELECT partition, epoch FROM partition_owners ORDER BY partition');
    const items = planRequests(deposits, await readLedgerState(db), assets, partitions, 'ceiling');
    const ceiling = await journalCeiling(db, items, limits, assets);
    expect(ceiling.transactions).toBe(groupAsTheWorker(items, limits).length);
    expect(ceiling.transactions).toBeGreaterThan(Math.ceil(items.length / limits.groupItemsMax));
    // Every partition was claimed again (its epoch went up by one) and fenced by the commits.
    const after = await db.owner.query<{ partition: number; epoch: bigint; worker_id: string }>('SELECT partition, epoch, worker_id FROM partition_owners ORDER BY partition');
    const touched = [...new Set(items.map((item) => item.partition))].sort((x, y) => x - y);
    expect(before.rows.map((row) => row.partition)).toEqual(touched);
    expect(after.rows.map((row) => row.partition)).toEqual(touched);
    after.rows.forEach((row, index) => expect(row.epoch).toBe((before.rows[index]?.epoch ?? 0n) + 1n));
    expect(new Set(after.rows.map((row) => row.worker_id))).toEqual(new Set(['bench-journal-ceiling']));
    const counted = await db.owner.query<{ outcomes: bigint }>("SELECT count(*) AS outcomes FROM command_outcomes WHERE command_id LIKE 'ceiling-%'");
    expect(counted.rows[0]?.outcomes).toBe(BigInt(deposits.length));
    const report = await verifyLedger(db.owner);
    expect(report.checks.filter((check) => !check.ok)).toEqual([]);
  });

  it('writes the same rows with COPY for the physical floor', async () => {
    const items = planRequests(deposits, await readLedgerState(db), assets, partitions, 'floor');
    const floor = await physicalFloor(db, items, limits);
    expect(floor.transactions).toBe(groupAsTheWorker(items, limits).length);
    const { rows } = await db.owner.query<{ movements: bigint; entries: bigint; outcomes: bigint; balances: bigint }>(
      `SELECT (SELECT count(*) FROM movements WHERE command_id LIKE 'floor-%') AS movements,
              (SELECT count(*) FROM entries e JOIN movements m USING (movement_id) WHERE m.command_id LIKE 'floor-%') AS entries,
              (SELECT count(*) FROM command_outcomes WHERE command_id LIKE 'floor-%') AS outcomes,
              (SELECT count(*) FROM bench_floor_balances) AS balances`,
    );
    const sides = items.reduce((sum, item) => sum + item.postings.length, 0);
    expect(rows[0]).toEqual({ movements: BigInt(items.length), entries: BigInt(sides), outcomes: BigInt(items.length), balances: anyOf(BigInt) });
    expect(rows[0]?.balances).toBeGreaterThan(0n);
    // The floor's movements continue each pot's hash chain and its accounts' versions.
    const chained = await db.owner.query<{ broken: bigint }>(
      `SELECT count(*) AS broken FROM movements m
        WHERE m.command_id LIKE 'floor-%'
          AND m.prev_hash <> (SELECT p.hash FROM movements p WHERE p.pot_id = m.pot_id AND p.seq < m.seq ORDER BY p.seq DESC LIMIT 1)`,
    );
    expect(chained.rows[0]?.broken).toBe(0n);
  });
});
