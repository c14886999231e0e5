import type { FastifyPluginCallback } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Registry } from 'prom-client';
import { z } from 'zod';

/** What the HTTP layer asks of the rest of the service, in its own words. */
export interface Readiness {
  /** Each dependency's state: true when it answers. */
  check(): Promise<Record<string, boolean>>;
}

const readinessSchema = z
  .object({
    status: z.enum(['ready', 'not-ready']),
    dependencies: z.record(z.string(), z.boolean()).describe('Each dependency (postgres, jetstream, migrations): true when it answers'),
  })
  .meta({ id: 'Readiness', description: 'Whether the service can take requests, and each dependency\'s state' });

export interface HealthOptions {
  readonly readiness: Readiness;
  /** Prometheus registry served at /metrics. */
  readonly metrics: Registry;
}

/** Liveness, readiness and metrics: open to anyone (no key), for the platform that runs the service. */
export const healthRoutes: FastifyPluginCallback<HealthOptions> = (app, options, done) => {
  const typed = app.withTypeProvider<ZodTypeProvider>();
  typed.get(
    '/health/live',
    {
      schema: {
        operationId: 'getLiveness', description: 'Answers 200 while the process runs, whatever its dependencies; for a liveness probe.',
        tags: ['health'],
        summary: 'The process is running',
        security: [],
        response: { 200: z.object({ status: z.literal('live') }).describe('The process is running') },
      },
    },
    () => Promise.resolve({ status: 'live' as const }),
  );
  typed.get(
    '/health/ready',
    {
      config: { responseDescriptions: { 200: 'Ready: every dependency answers', 503: 'Not ready: a dependency does not answer (see which)' } },
      schema: {
        operationId: 'getReadiness',
        description:
          '200 when Postgres and NATS answer and the migrations are applied, 503 otherwise, each with the state of every dependency; for a readiness probe.',
        tags: ['health'],
        summary: 'Postgres and NATS answer and migrations are applied',
        security: [],
        response: { 200: readinessSchema, 503: readinessSchema },
      },
    },
    async (_request, reply) => {
      const dependencies = await options.readiness.check();
      const ready = Object.values(dependencies).every(Boolean);
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not-ready', dependencies });
    },
  );
  const metrics = options.metrics;
  typed.get(
    '/metrics',
    {
      schema: {
        operationId: 'getMetrics',
        description:
          'Counters, gauges and histograms in the Prometheus text format: HTTP requests, outcomes, the Nubank lags, owned partitions, consumer backlog, live actors.',
        tags: ['health'],
        summary: 'Prometheus metrics',
        security: [],
        produces: ['text/plain'],
        response: { 200: z.string().describe('The Prometheus text exposition format (version 0.0.4)') },
      },
    },
    async (_request, reply) => reply.type(metrics.contentType).send(await metrics.metrics()),
  );
  done();
};
