import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type pg from 'pg';
import pino from 'pino';
import { Registry } from 'prom-client';
import { Writable } from 'node:stream';
import { buildApp } from '../../src/api/app.js';
import { partitionOf } from '../../src/ledger/index.js';
import type { PaymentSettings } from '../../src/payments/desk.js';
import type { Config } from '../../src/config/config.js';
import { createApiKey, type CreatedKey } from '../../src/api/keys.js';
import { assetCatalog, DEFAULT_ASSETS, ledgerProcesses } from '../../src/ledger/index.js';
import { LedgerPublisher } from '../../src/sdk/publisher.js';
import { createShardMetrics } from '../../src/shards/metrics.js';
import { ShardWorker } from '../../src/shards/worker.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { createTestNats, type TestNats } from './nats.js';

/**
 * The API over a real stack: a test database, a NATS prefix of its own, a shard worker in process (so
 * `?wait=true` gets committed outcomes) and keys of every role. Requests go through `app.inject()`.
 */
export interface ApiStack {
  readonly app: FastifyInstance;
  readonly db: TestDatabase;
  readonly nats: TestNats;
  readonly keys: { readonly service: CreatedKey; readonly operator: CreatedKey };
  /** Every line the app logged, parsed. */
  readonly logs: Record<string, unknown>[];
  stop(): Promise<void>;
}

export const PARTITIONS = 4;

export async function startApiStack(
  label: string,
  config: Partial<{ API_RATE_LIMIT_MAX: number; API_WAIT_TIMEOUT_MS: number }> = {},
  payments?: PaymentSettings,
): Promise<ApiStack> {
  const db = await createTestDatabase(label);
  const nats = await createTestNats(label);
  const assets = assetCatalog(DEFAULT_ASSETS);
  const metrics = createShardMetrics();
  const worker = new ShardWorker({
    pool: db.service, nc: nats.nc, prefix: nats.prefix, registry: ledgerProcesses, assets, partitionCount: PARTITIONS,
    metrics, log: pino({ level: 'warn' }),
  });
  await worker.start();
  const publisher = await LedgerPublisher.connect({ nc: nats.nc, prefix: nats.prefix, registry: ledgerProcesses, partitionCount: PARTITIONS });
  const logs: Record<string, unknown>[] = [];
  const logStream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const { app, keys } = await buildTestApp(db.service, publisher, { config: { LOG_LEVEL: 'info', ...config }, metrics: metrics.registry, logStream, reports: db.reports, ...(payments === undefined ? {} : { payments }) });
  return {
    app, db, nats, keys, logs,
    async stop() {
      await app.close();
      await publisher.close();
      await worker.stop();
      await nats.cleanup();
      await db.drop();
    },
  };
}

export interface TestApp {
  readonly app: FastifyInstance;
  readonly keys: { readonly service: CreatedKey; readonly operator: CreatedKey };
}

/**
 * The API app over a pool and publisher built elsewhere (a `DealingStack`, say), ready for
 * `app.inject()`, with a service and an operator key. The caller closes the app.
 */
export async function buildTestApp(
  pool: pg.Pool,
  publisher: LedgerPublisher | undefined,
  options: {
    readonly config?: Partial<{ LOG_LEVEL: Config['LOG_LEVEL']; API_RATE_LIMIT_MAX: number; API_WAIT_TIMEOUT_MS: number }>;
    readonly metrics?: Registry;
    readonly logStream?: NodeJS.WritableStream;
    readonly payments?: PaymentSettings;
    /** The read-only pool of the report routes (the app falls back to `pool` without it). */
    readonly reports?: pg.Pool;
  } = {},
): Promise<TestApp> {
  const app = await buildApp({
    config: { LOG_LEVEL: 'warn', API_RATE_LIMIT_MAX: 1_000_000, API_RATE_LIMIT_WINDOW_MS: 60_000, API_WAIT_TIMEOUT_MS: 20_000, ...options.config },
    readiness: { check: async () => ({ postgres: true, jetstream: true }) },
    metrics: options.metrics ?? new Registry(),
    pool,
    publisher,
    registry: ledgerProcesses,
    assets: assetCatalog(DEFAULT_ASSETS),
    ...(options.logStream === undefined ? {} : { logStream: options.logStream }),
    ...(options.payments === undefined ? {} : { payments: options.payments }),
    ...(options.reports === undefined ? {} : { reports: options.reports }),
  });
  await app.ready();
  const keys = { service: await createApiKey(pool, { role: 'service' }), operator: await createApiKey(pool, { role: 'operator' }) };
  return { app, keys };
}

export function bearer(key: CreatedKey): { authorization: string } {
  return { authorization: `Bearer ${key.key}` };
}

export function json(response: LightMyRequestResponse): Record<string, unknown> {
  return response.json<Record<string, unknown>>();
}

/** Three members (payer, payee, and one whose pot gets closed) whose pots live in different partitions. */
export function membersInThreePartitions(prefix: string): { readonly payer: string; readonly payee: string; readonly closed: string } {
  const found: string[] = [];
  for (let i = 0; found.length < 3; i += 1) {
    const candidate = `${prefix}-${i}`;
    if (!found.some((m) => partitionOf(m, PARTITIONS) === partitionOf(candidate, PARTITIONS))) found.push(candidate);
  }
  return { payer: found[0] ?? '', payee: found[1] ?? '', closed: found[2] ?? '' };
}

/** Sends a command to `member`'s pot `<member>-pot` through the API and waits for it to apply. */
export async function applyCommand(stack: ApiStack, process: string, member: string, payload: unknown, key: string): Promise<void> {
  const response = await stack.app.inject({
    method: 'POST',
    url: `/commands/${process}?wait=true`,
    headers: { ...bearer(stack.keys.service), 'idempotency-key': key },
    payload: { memberId: member, potId: `${member}-pot`, payload },
  });
  if (response.statusCode !== 200) throw new Error(`${process} for ${member}: ${response.statusCode} ${response.body}`);
}
