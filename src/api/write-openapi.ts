import { writeFile } from 'node:fs/promises';
import pg from 'pg';
import { Registry } from 'prom-client';
import { assetCatalog, DEFAULT_ASSETS, ledgerProcesses } from '../ledger/index.js';
import { buildApp } from './app.js';

/**
 * The OpenAPI document as the service serves it at /openapi.json, built without Postgres or NATS: the
 * pool is never connected (no request is made) and there is no publisher.
 */
export async function openApiDocument(): Promise<unknown> {
  const pool = new pg.Pool({ max: 1 });
  const app = await buildApp({
    config: { LOG_LEVEL: 'silent', API_RATE_LIMIT_MAX: 100, API_RATE_LIMIT_WINDOW_MS: 60_000, API_WAIT_TIMEOUT_MS: 1000 },
    readiness: { check: () => Promise.resolve({}) },
    metrics: new Registry(),
    pool,
    publisher: undefined,
    registry: ledgerProcesses,
    assets: assetCatalog(DEFAULT_ASSETS),
  });
  try {
    await app.ready();
    return app.swagger();
  } finally {
    await app.close();
    await pool.end();
  }
}

/** `npm run openapi -- <file>`: writes the document to a file (stdout without one). */
if (import.meta.url === `file://${process.argv[1]}`) {
  const target = process.argv[2];
  const text = `${JSON.stringify(await openApiDocument(), null, 2)}\n`;
  if (target === undefined) process.stdout.write(text);
  else await writeFile(target, text);
}
