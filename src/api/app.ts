import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { Config } from '../config/config.js';

/** What the HTTP layer asks of the rest of the service, in its own words. */
export interface Readiness {
  /** Each dependency's state: true when it answers. */
  check(): Promise<Record<string, boolean>>;
}

export interface AppOptions {
  readonly config: Pick<Config, 'LOG_LEVEL'>;
  readonly readiness: Readiness;
  /** Prometheus registry served at /metrics. */
  readonly metrics?: Registry;
}

/** Builds the HTTP app without listening (tests use `app.inject()`). */
export function buildApp(options: AppOptions): FastifyInstance {
  const app = Fastify({
    logger: { level: options.config.LOG_LEVEL },
    bodyLimit: 64 * 1024,
    requestIdHeader: 'x-request-id',
  });
  app.get('/health/live', async () => ({ status: 'live' }));
  app.get('/health/ready', async (_request, reply) => {
    const dependencies = await options.readiness.check();
    const ready = Object.values(dependencies).every(Boolean);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not-ready', dependencies });
  });
  const metrics = options.metrics;
  if (metrics !== undefined) {
    app.get('/metrics', async (_request, reply) => reply.type(metrics.contentType).send(await metrics.metrics()));
  }
  return app;
}
