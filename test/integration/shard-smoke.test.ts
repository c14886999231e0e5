import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assetCatalog, DEFAULT_ASSETS, ledgerProcesses, PROCESSES } from '../../src/ledger/index.js';
import { verifyLedger } from '../../src/journal/verify.js';
import { camelCase, LedgerPublisher, PublishValidationError } from '../../src/sdk/publisher.js';
import { createShardMetrics } from '../../src/shards/metrics.js';
import { ShardWorker } from '../../src/shards/worker.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { createTestNats, type TestNats } from '../support/nats.js';

const assets = assetCatalog(DEFAULT_ASSETS);
let db: TestDatabase;
let nats: TestNats;
let worker: ShardWorker;
let publisher: LedgerPublisher;
const metrics = createShardMetrics();

beforeAll(async () => {
  db = await createTestDatabase('shardsmoke');
  nats = await createTestNats('smoke');
  worker = new ShardWorker({
    pool: db.service, nc: nats.nc, prefix: nats.prefix, registry: ledgerProcesses, assets, partitionCount: 4,
    metrics, log: pino({ level: 'warn' }),
  });
  await worker.start();
  publisher = await LedgerPublisher.connect({ nc: nats.nc, prefix: nats.prefix, registry: ledgerProcesses, partitionCount: 4 });
});
afterAll(async () => {
  await publisher?.close();
  await worker?.stop();
  await nats?.cleanup();
  await db?.drop();
});

describe('commands through JetStream to the shard worker', () => {
  it('applies commands and answers their outcomes', async () => {
    expect(worker.ownedPartitions()).toEqual([0, 1, 2, 3]);
    const client = publisher.methods(PROCESSES);
    const opened = await client.potOpen({ memberId: 'M-1', potId: 'P-1', payload: {} });
    expect((await opened.outcome()).outcome).toMatchObject({ kind: 'applied' });
    const deposit = await client.cashDeposit({ memberId: 'M-1', potId: 'P-1', payload: { amount: '12.34', currency: 'GBP' } });
    const notice = await deposit.outcome();
    expect(notice.outcome).toMatchObject({ kind: 'applied', movement: { entries: [{ amount: '12.34' }] } });
    const again = await publisher.submit('cash.deposit', { commandId: deposit.commandId, memberId: 'M-1', potId: 'P-1', payload: { amount: '12.34', currency: 'GBP' } });
    expect(again.duplicate).toBe(true);
    const { rows } = await db.service.query("SELECT balance_minor FROM balances WHERE account_id = 'pot:P-1:cash:GBP'");
    expect(rows).toEqual([{ balance_minor: 1234n }]);
    expect((await verifyLedger(db.owner)).ok).toBe(true);
  });

  it('exports the three lags per partition for Prometheus', async () => {
    const text = await metrics.registry.metrics();
    for (const stage of ['effective_to_produced', 'produced_to_consumed', 'consumed_to_committed']) {
      expect(text).toMatch(new RegExp(`potledger_lag_seconds_count\\{partition="\\d+",stage="${stage}"\\} [1-9]`));
    }
    expect(text).toMatch(/potledger_outcomes_total\{kind="applied"\} [1-9]/);
  });
});

describe('the publisher SDK', () => {
  it('has one method per registered process', () => {
    const client = publisher.methods(PROCESSES) as unknown as Record<string, unknown>;
    for (const process of ledgerProcesses.list()) expect(typeof client[camelCase(process.name)]).toBe('function');
    expect(camelCase('movement.reverse')).toBe('movementReverse');
  });

  it('refuses, before publishing, what the worker would only reject', async () => {
    const cases: [string, Parameters<LedgerPublisher['submit']>[1]][] = [
      ['cash.deposit', { memberId: 'M-1', potId: 'P-1', payload: { amount: '1.00' } }],
      ['cash.deposit', { memberId: 'bad id', potId: 'P-1', payload: { amount: '1.00', currency: 'GBP' } }],
      ['cash.deposit', { memberId: 'M-1', potId: 'P-1', payload: { amount: '1.00', currency: 'GBP' }, effectiveDate: '2026-02-30' }],
      ['no.such-process', { memberId: 'M-1', potId: 'P-1', payload: {} }],
      ['cash.deposit', { memberId: 'M-1', potId: 'P-1', payload: { amount: '1.00', currency: 'GBP', memo: 'x'.repeat(70_000) } }],
    ];
    for (const [process, request] of cases) {
      await expect(publisher.submit(process, request)).rejects.toBeInstanceOf(PublishValidationError);
    }
  });

  it('re-sends with the same commandId until the outcome is known, and the ledger applies it once', async () => {
    const commandId = 'sdk-resend-1';
    const first = await publisher.submit('cash.deposit', { commandId, memberId: 'M-1', potId: 'P-1', payload: { amount: '1.00', currency: 'GBP' } });
    await first.outcome();
    const again = await publisher.submit('cash.deposit', { commandId, memberId: 'M-1', potId: 'P-1', payload: { amount: '1.00', currency: 'GBP' } });
    const notice = await again.outcome();
    expect(notice.outcome).toMatchObject({ kind: 'applied' });
    const { rows } = await db.service.query('SELECT count(*)::int AS n FROM movements WHERE command_id = $1', [commandId]);
    expect(rows).toEqual([{ n: 1 }]);
    expect((await publisher.lookup(commandId)).known).toBe(true);
    expect((await publisher.lookup('never-sent')).known).toBe(false);
    // The same id with another payload, within JetStream's dedupe window: the worker never sees it, and
    // the SDK learns from the lookup that the id belongs to another command.
    const reused = await publisher.submit('cash.deposit', { commandId, memberId: 'M-1', potId: 'P-1', payload: { amount: '2.00', currency: 'GBP' } });
    expect(reused.duplicate).toBe(true);
    const conflict = await reused.outcome();
    expect(conflict).toMatchObject({ status: 'conflict', outcome: { kind: 'rejected', code: 'LEDGER_ERR_IDEMPOTENCY_CONFLICT' } });
  });
});
