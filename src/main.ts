import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { buildApp } from './api/app.js';
import { runCli } from './cli/run-cli.js';
import { loadConfig, redactUrl } from './config/config.js';
import { createPool, urlAsRole } from './journal/database.js';
import { ensureServiceRole, migrate, migrationsApplied } from './journal/migrate.js';

/**
 * The service: applies migrations with the owner's connection, makes sure the service role exists,
 * connects to NATS JetStream, and serves health checks until SIGTERM or SIGINT.
 */
await runCli(async () => {
  const config = loadConfig();
  const owner = createPool(config.DATABASE_URL, { max: 2, applicationName: 'potledger-migrate' });
  const applied = await migrate(owner);
  await ensureServiceRole(owner, config.DATABASE_SERVICE_ROLE, config.DATABASE_SERVICE_PASSWORD);
  await owner.end();
  const service = createPool(urlAsRole(config.DATABASE_URL, config.DATABASE_SERVICE_ROLE, config.DATABASE_SERVICE_PASSWORD), {
    applicationName: 'potledger',
  });
  const nats = await connect({ servers: config.NATS_URL, name: 'potledger' });
  const jsm = await jetstreamManager(nats);
  await jsm.getAccountInfo();

  const app = buildApp({
    config,
    readiness: {
      async check() {
        const postgres = await migrationsApplied(service).catch(() => false);
        const jetstream = nats.isClosed() ? false : await jsm.getAccountInfo().then(() => true, () => false);
        return { postgres, jetstream };
      },
    },
  });
  await app.listen({ host: config.HTTP_HOST, port: config.HTTP_PORT });
  app.log.info(
    { migrationsApplied: applied, database: redactUrl(config.DATABASE_URL), nats: config.NATS_URL, partitions: config.PARTITION_COUNT },
    'potledger is up',
  );

  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  app.log.info('shutting down');
  await app.close();
  await nats.drain();
  await service.end();
  return 0;
});
