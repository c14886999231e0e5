import { randomUUID } from 'node:crypto';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type pg from 'pg';
import { z } from 'zod';
import { Histogram, type Registry } from 'prom-client';
import type { Config } from '../config/config.js';
import type { AssetCatalog, ProcessRegistry } from '../ledger/index.js';
import type { LedgerPublisher } from '../sdk/publisher.js';
import { installAuth } from './auth.js';
import { createRequestLimits } from './limits.js';
import { swaggerOptions } from './openapi.js';
import { problem, ProblemCode, ProblemError } from './problems.js';
import { accountRoutes } from './routes/accounts.js';
import { commandRoutes } from './routes/commands.js';
import { dealingRoutes } from './routes/dealing.js';
import { readRoutes } from './routes/reads.js';
import { alertRoutes } from './routes/alerts.js';
import type { PaymentSettings } from '../payments/desk.js';
import { fxRoutes } from './routes/fx.js';
import { paymentRoutes } from './routes/payments.js';
import { poolRoutes } from './routes/pools.js';
import { reconRoutes } from './routes/recon.js';

/** What the HTTP layer asks of the rest of the service, in its own words. */
export interface Readiness {
  /** Each dependency's state: true when it answers. */
  check(): Promise<Record<string, boolean>>;
}

export interface AppOptions {
  readonly config: Pick<Config, 'LOG_LEVEL' | 'API_RATE_LIMIT_MAX' | 'API_RATE_LIMIT_WINDOW_MS' | 'API_WAIT_TIMEOUT_MS'>;
  readonly readiness: Readiness;
  /** Prometheus registry served at /metrics; the API adds its request metrics to it. */
  readonly metrics: Registry;
  /** The service's Postgres pool (the service role). */
  readonly pool: pg.Pool;
  /**
   * A read-only pool (a member of potledger_reader) the report routes read through: GET /balance-sheet,
   * /reports/top-investors, /pots/:potId/audit, /recon/:runId and its CSV. The service pool when absent.
   */
  readonly reports?: pg.Pool;
  /** Publishes commands; absent in a process without NATS (command routes then answer 503). */
  readonly publisher: LedgerPublisher | undefined;
  readonly registry: ProcessRegistry;
  readonly assets: AssetCatalog;
  /** How the payments desk behind the payment routes reviews payments and finds FX rates (src/payments). */
  readonly payments?: PaymentSettings;
  /** Tests pass a pino destination stream to read the logs. */
  readonly logStream?: NodeJS.WritableStream;
}

/** Most bytes of a request body; a command's payload is far smaller. */
export const BODY_LIMIT_BYTES = 64 * 1024;

const REQUEST_ID = /^[\x21-\x7e]{1,64}$/;

/** Personal data and credentials never reach the logs. */
const REDACT = ['req.headers.authorization', '*.name', '*.email', '*.address', 'body.name', 'body.email', 'body.address'];

/** Builds the HTTP app without listening (tests use `app.inject()`). */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: {
      level: options.config.LOG_LEVEL,
      redact: { paths: REDACT, censor: '[redacted]' },
      ...(options.logStream === undefined ? {} : { stream: options.logStream }),
    },
    bodyLimit: BODY_LIMIT_BYTES,
    // A caller's X-Request-Id is kept when short and printable (a correlation hint), else replaced.
    requestIdHeader: false,
    genReqId: (raw) => {
      const given = raw.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    routerOptions: { maxParamLength: 200 },
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler((error, request, reply) => {
    const answer = toProblem(error as FastifyError);
    if (answer.status >= 500) request.log.error({ err: error }, 'request failed');
    if (answer.status === 429 && reply.getHeader('retry-after') === undefined) void reply.header('retry-after', '1');
    return reply
      .code(answer.status)
      .type('application/problem+json')
      .send({ ...answer, instance: request.url.slice(0, 500), requestId: request.id });
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .type('application/problem+json')
      .send(problem(404, ProblemCode.routeNotFound, `no route ${request.method} ${request.url.split('?')[0]?.slice(0, 200) ?? ''}`, { requestId: request.id })),
  );

  await app.register(swagger, swaggerOptions());
  await app.register(swaggerUi, { routePrefix: '/docs' });
  // Counted by the auth hook, which knows whether a key was verified (src/api/auth.ts, src/api/limits.ts).
  await app.register(rateLimit, { global: false });
  app.addHook('onSend', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });
  installAuth(app, options.pool, createRequestLimits(app, { max: options.config.API_RATE_LIMIT_MAX, windowMs: options.config.API_RATE_LIMIT_WINDOW_MS }));
  installRequestMetrics(app, options.metrics);

  const publicRoute = { schema: { hide: true } };
  app.get('/openapi.json', publicRoute, async () => app.swagger());
  healthRoutes(app, options);

  const deps = { pool: options.pool, reports: options.reports ?? options.pool, publisher: options.publisher, registry: options.registry, assets: options.assets, waitTimeoutMs: options.config.API_WAIT_TIMEOUT_MS };
  accountRoutes(app, deps);
  commandRoutes(app, deps);
  readRoutes(app, deps);
  reconRoutes(app, deps);
  alertRoutes(app, deps);
  paymentRoutes(app, { ...deps, settings: options.payments ?? {}, log: app.log.child({ component: 'payments' }) });
  fxRoutes(app, { ...deps, settings: options.payments ?? {} });
  poolRoutes(app, { ...deps, settings: options.payments ?? {}, log: app.log.child({ component: 'pools' }) });
  await app.register(dealingRoutes, deps);
  return app;
}

const readinessSchema = z
  .object({
    status: z.enum(['ready', 'not-ready']),
    dependencies: z.record(z.string(), z.boolean()).describe('Each dependency (postgres, jetstream, migrations): true when it answers'),
  })
  .meta({ id: 'Readiness', description: 'Whether the service can take requests, and each dependency\'s state' });

/** Liveness, readiness and metrics: open to anyone (no key), for the platform that runs the service. */
function healthRoutes(app: FastifyInstance, options: Pick<AppOptions, 'readiness' | 'metrics'>): void {
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
    async () => ({ status: 'live' as const }),
  );
  typed.get(
    '/health/ready',
    {
      config: { responseDescriptions: { 200: 'Ready: every dependency answers', 503: 'Not ready: a dependency does not answer (see which)' } },
      schema: {
        operationId: 'getReadiness', description: '200 when Postgres and NATS answer and the migrations are applied, 503 otherwise, each with the state of every dependency; for a readiness probe.',
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
        operationId: 'getMetrics', description: 'Counters, gauges and histograms in the Prometheus text format: HTTP requests, outcomes, the Nubank lags, owned partitions, consumer backlog, live actors.',
        tags: ['health'],
        summary: 'Prometheus metrics',
        security: [],
        produces: ['text/plain'],
        response: { 200: z.string().describe('The Prometheus text exposition format (version 0.0.4)') },
      },
    },
    async (_request, reply) => reply.type(metrics.contentType).send(await metrics.metrics()),
  );
}

/** Maps anything a handler or fastify throws to a problem; only a fault of ours is a 500. */
function toProblem(error: FastifyError): ReturnType<typeof problem> {
  if (error instanceof ProblemError) return problem(error.status, error.code, error.title, error.extra);
  if (hasZodFastifySchemaValidationErrors(error)) {
    const where = error.validationContext ?? 'request';
    return problem(400, ProblemCode.validationFailed, 'the request does not fit the schema', {
      errors: error.validation.map((issue) => ({
        path: [where, ...issue.instancePath.split('/').filter((part) => part !== '')].join('.'),
        message: issue.message ?? 'invalid',
      })),
    });
  }
  const status = error.statusCode;
  if (status === 413) return problem(413, ProblemCode.bodyTooLarge, `the body is larger than ${BODY_LIMIT_BYTES} bytes`);
  if (status === 415) return problem(415, ProblemCode.unsupportedMediaType, 'the body must be application/json');
  if (status === 429) return problem(429, ProblemCode.rateLimited, 'too many requests');
  if (status === 405) return problem(405, ProblemCode.methodNotAllowed, error.message);
  if (status !== undefined && status >= 400 && status < 500) {
    const malformed = error instanceof SyntaxError || error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || error.code === 'FST_ERR_CTP_INVALID_JSON_BODY';
    return malformed
      ? problem(400, ProblemCode.malformedBody, 'the body is not valid JSON', { detail: error.message })
      : problem(status, ProblemCode.badRequest, error.message);
  }
  if (isUnavailable(error)) return problem(503, ProblemCode.unavailable, 'a dependency is unavailable; retry later');
  return problem(500, ProblemCode.internal, 'internal error');
}

/** Postgres or NATS not answering: the caller should retry, not report a bug. */
function isUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string') return false;
  return ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', '57P01', '57P03', '53300', '08006', '08001', '08003'].includes(code) || code.startsWith('CONNECTION_') || code === 'TIMEOUT';
}

function installRequestMetrics(app: FastifyInstance, registry: Registry): void {
  const duration = new Histogram({
    name: 'potledger_http_request_duration_seconds',
    help: 'HTTP requests by route, method and status: count and duration',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [registry],
  });
  app.addHook('onResponse', async (request, reply) => {
    duration.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });
}
