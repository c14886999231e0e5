import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { collectDefaultMetrics } from 'prom-client';
import { AlertConsumer } from './alerts/consumer.js';
import { alertRules } from './alerts/rules.js';
import { buildApp } from './api/app.js';
import { reviewRules } from './payments/review.js';
import { runCli } from './cli/run-cli.js';
import { loadConfig, redactUrl } from './config/config.js';
import { natsConnectOptions } from './config/nats.js';
import { createPool, urlAsRole } from './journal/database.js';
import { ensureReaderRole, ensureServiceRole, migrate, migrationsApplied } from './journal/migrate.js';
import { assetCatalog, DEFAULT_ASSETS, ledgerProcesses } from './ledger/index.js';
import { failpointTrigger, parseFailpoint } from './shards/failpoints.js';
import { createShardMetrics } from './shards/metrics.js';
import { ShardWorker } from './shards/worker.js';
import { LedgerPublisher } from './sdk/publisher.js';

/**
 * The service: applies migrations with the owner's connection, makes sure the service role exists,
 * connects to NATS JetStream, runs a shard worker (its share of the partitions) and the alert consumer,
 * and serves the API, health checks and metrics until SIGTERM or SIGINT, when it hands its partitions over and exits.
 */
/** How often the service takes up payments that have not finished. */
const PAYMENTS_RESUME_EVERY_MS = 10_000;
/** Connections of the report routes' read-only pool: reports are few and heavy, writes keep the rest. */
const REPORTS_POOL_MAX = 4;

await runCli(async () => {
  const config = loadConfig();
  const owner = createPool(config.DATABASE_URL, { max: 2, applicationName: 'potledger-migrate' });
  const applied = await migrate(owner);
  await ensureServiceRole(owner, config.DATABASE_SERVICE_ROLE, config.DATABASE_SERVICE_PASSWORD);
  await ensureReaderRole(owner, config.DATABASE_READER_ROLE, config.DATABASE_READER_PASSWORD);
  await owner.end();
  const service = createPool(urlAsRole(config.DATABASE_URL, config.DATABASE_SERVICE_ROLE, config.DATABASE_SERVICE_PASSWORD), {
    max: config.DATABASE_POOL_MAX,
    applicationName: 'potledger',
    // A worker frozen mid-commit must not hold its partitions' row locks for long (see fence.ts).
    idleInTransactionTimeoutMs: config.DATABASE_IDLE_IN_TRANSACTION_MS,
  });
  // The report routes read as a member of potledger_reader: they cannot write, whatever a bug asks.
  const reports = createPool(urlAsRole(config.DATABASE_URL, config.DATABASE_READER_ROLE, config.DATABASE_READER_PASSWORD), {
    max: REPORTS_POOL_MAX,
    applicationName: 'potledger-reports',
  });
  const nats = await connect({ ...natsConnectOptions(config, 'potledger'), maxReconnectAttempts: -1 });
  const jsm = await jetstreamManager(nats);
  await jsm.getAccountInfo();

  const metrics = createShardMetrics();
  collectDefaultMetrics({ register: metrics.registry });
  const assets = assetCatalog(DEFAULT_ASSETS);
  // Provisions the streams too (idempotent), so the API can take commands before any worker runs.
  const publisher = await LedgerPublisher.connect({
    nc: nats,
    prefix: config.NATS_PREFIX,
    registry: ledgerProcesses,
    partitionCount: config.PARTITION_COUNT,
    streamLimits: { maxBytes: config.STREAM_MAX_BYTES },
  });
  const review = reviewRules(config);
  const paymentSettings = { ...(review === undefined ? {} : { review }), rateMaxAgeDays: config.FX_RATE_MAX_AGE_DAYS };
  const app = await buildApp({
    config,
    payments: paymentSettings,
    metrics: metrics.registry,
    pool: service,
    reports,
    publisher,
    registry: ledgerProcesses,
    assets,
    readiness: {
      async check() {
        const postgres = await migrationsApplied(service).catch(() => false);
        const jetstream = nats.isClosed() ? false : await jsm.getAccountInfo().then(() => true, () => false);
        return { postgres, jetstream };
      },
    },
  });
  const worker = config.WORKER_ENABLED
    ? new ShardWorker({
        pool: service,
        nc: nats,
        prefix: config.NATS_PREFIX,
        registry: ledgerProcesses,
        assets,
        partitionCount: config.PARTITION_COUNT,
        metrics,
        log: app.log.child({ component: 'shards' }),
        limits: {
          commitBatchMax: config.COMMIT_BATCH_MAX,
          groupItemsMax: config.COMMIT_GROUP_MAX,
          groupConcurrency: config.COMMIT_CONCURRENCY,
          liveActorsMax: config.LIVE_ACTORS_MAX,
        },
        ownership: { leaseTtlMs: config.LEASE_TTL_MS, tickMs: Math.max(200, Math.floor(config.LEASE_TTL_MS / 5)) },
        failpoint: failpointTrigger(parseFailpoint(config.POTLEDGER_FAILPOINT)),
        streamLimits: { maxBytes: config.STREAM_MAX_BYTES },
      })
    : undefined;
  await worker?.start();
  const alerts = config.ALERTS_ENABLED
    ? new AlertConsumer({ pool: service, nc: nats, prefix: config.NATS_PREFIX, assets, rules: alertRules(config, assets), log: app.log.child({ component: 'alerts' }) })
    : undefined;
  await alerts?.start();
  // Payments whose step came late, or whose process died, are taken up again (every step applies once):
  // by the one payments desk of this process, the one the payment routes call (src/api/services.ts).
  const payments = app.paymentsDesk;
  payments.start(PAYMENTS_RESUME_EVERY_MS);
  const http = await app.listen({ host: config.HTTP_HOST, port: config.HTTP_PORT });
  app.log.info(
    {
      migrationsApplied: applied,
      database: redactUrl(config.DATABASE_URL),
      nats: config.NATS_URL,
      partitions: config.PARTITION_COUNT,
      workerId: worker?.workerId,
      http,
    },
    'potledger is up',
  );

  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  app.log.info('shutting down: handing partitions over');
  await worker?.stop();
  await alerts?.stop();
  await payments.stop();
  await app.close();
  await publisher.close();
  await nats.drain();
  await service.end();
  await reports.end();
  return 0;
});
