import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assetCatalog, DEFAULT_ASSETS, ledgerProcesses, PROCESSES } from '../../src/ledger/index.js';
import { verifyLedger } from '../../src/journal/verify.js';
import { LedgerPublisher } from '../../src/sdk/publisher.js';
import { createShardMetrics } from '../../src/shards/metrics.js';
import { ShardWorker } from '../../src/shards/worker.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { createTestNats, type TestNats } from '../support/nats.js';

const assets = assetCatalog(DEFAULT_ASSETS);
let db: TestDatabase;
let nats: TestNats;
let worker: ShardWorker;
let publisher: LedgerPublisher;

beforeAll(async () => {
  db = await createTestDatabase('shardsmoke');
  nats = await createTestNats('smoke');
  worker = new ShardWorker({
    pool: db.service, nc: nats.nc, prefix: nats.prefix, registry: ledgerProcesses, assets, partitionCount: 4,
    metrics: createShardMetrics(), log: pino({ level: 'warn' }),
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
});
