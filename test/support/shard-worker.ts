import pino from 'pino';
import { ledgerProcesses } from '../../src/ledger/index.js';
import { createShardMetrics } from '../../src/shards/metrics.js';
import { ShardWorker, type WorkerOptions } from '../../src/shards/worker.js';
import { ASSETS } from './shard-checks.js';

/**
 * An in-process shard worker with the tests' defaults (the ledger's processes, the default assets,
 * metrics of its own, a silent log); `options` name its pool and NATS, and override any default.
 */
export function testShardWorker(options: Pick<WorkerOptions, 'pool' | 'nc' | 'prefix' | 'partitionCount'> & Partial<WorkerOptions>): ShardWorker {
  return new ShardWorker({ registry: ledgerProcesses, assets: ASSETS, metrics: createShardMetrics(), log: pino({ level: 'silent' }), ...options });
}
