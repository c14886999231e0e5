import { randomUUID } from 'node:crypto';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type pg from 'pg';
import { Histogram, type Registry } from 'prom-client';
import type { Config } from '../config/config.js';
import { DomainError } from '../errors.js';
import type { AssetCatalog, ProcessRegistry } from '../ledger/index.js';
import type { PaymentSettings } from '../payments/desk.js';
import type { LedgerPublisher } from '../sdk/publisher.js';
import { installAuth } from './auth.js';
import { createRequestLimits } from './limits.js';
import { swaggerOptions } from './openapi.js';
import { problem, ProblemCode, problemOf, type Problem } from './problems.js';
import { accountRoutes } from './routes/accounts.js';
import { commandRoutes } from './routes/commands.js';
import { dealingRoutes } from './routes/dealing.js';
import { readRoutes } from './routes/reads.js';
import { alertRoutes } from './routes/alerts.js';
import { fxRoutes } from './routes/fx.js';
import { paymentRoutes } from './routes/payments.js';
import { holdRoutes } from './routes/holds.js';
import { poolRoutes } from './routes/pools.js';
import { reconRoutes } from './routes/recon.js';
import { buildServices, fxArea, paymentsArea, poolsArea } from './services.js';
// Last: its Readiness schema is the last of the document's components, as it always was.
import { healthRoutes, type Readiness } from './routes/health.js';

export type { Readiness };

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
    const answer = toProblem(error as FastifyError, request);
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
  app.get('/openapi.json', publicRoute, () => Promise.resolve(app.swagger()));
  await app.register(healthRoutes, { readiness: options.readiness, metrics: options.metrics });

  // Every service once, handed to the route plugins through one fastify-plugin per area (src/api/services.ts).
  const waitTimeoutMs = options.config.API_WAIT_TIMEOUT_MS;
  const services = buildServices({
    pool: options.pool,
    publisher: options.publisher,
    assets: options.assets,
    waitTimeoutMs,
    settings: options.payments ?? {},
    log: app.log,
    metrics: options.metrics,
  });
  await app.register(paymentsArea, { desk: services.payments, holds: services.holds });
  await app.register(poolsArea, { service: services.pools });
  await app.register(fxArea, { conversions: services.conversions });

  const deps = { pool: options.pool, reports: options.reports ?? options.pool, publisher: options.publisher, registry: options.registry, assets: options.assets, waitTimeoutMs };
  await app.register(accountRoutes, deps);
  await app.register(commandRoutes, deps);
  await app.register(readRoutes, deps);
  await app.register(reconRoutes, deps);
  await app.register(alertRoutes, deps);
  await app.register(paymentRoutes);
  await app.register(holdRoutes);
  await app.register(fxRoutes, deps);
  await app.register(poolRoutes, deps);
  await app.register(dealingRoutes, deps);
  return app;
}

/**
 * The one mapper: anything a handler or fastify throws becomes a problem. A domain error answers as it
 * says (src/errors.ts); fastify's own errors by their status; any other failure is the route's
 * `whenUnavailable` 503, or a 503 when a dependency does not answer; only a fault of ours is a 500.
 */
function toProblem(error: FastifyError, request: FastifyRequest): Problem {
  if (error instanceof DomainError) return problemOf(error);
  if (hasZodFastifySchemaValidationErrors(error)) {
    const where = error.validationContext ?? 'request';
    return problem(400, ProblemCode.validationFailed, 'the request does not fit the schema', {
      errors: error.validation.map((issue) => ({
        path: [where, ...issue.instancePath.split('/').filter((part) => part !== '')].join('.'),
        message: issue.message ?? 'invalid',
      })),
    });
  }
  if (error.statusCode !== undefined) {
    const answer = fastifyProblem(error, error.statusCode);
    if (answer !== undefined) return answer;
  }
  const failure = request.routeOptions.config.whenUnavailable;
  if (failure !== undefined && error.statusCode === undefined) {
    request.log.warn({ err: error, component: failure.component }, failure.log);
    return problem(503, ProblemCode.unavailable, failure.title);
  }
  if (isUnavailable(error)) return problem(503, ProblemCode.unavailable, 'a dependency is unavailable; retry later');
  return problem(500, ProblemCode.internal, 'internal error');
}

/** Fastify's own refusals, by status: the body, its media type, the rate limit, the method; undefined past 4xx. */
function fastifyProblem(error: FastifyError, status: number): Problem | undefined {
  if (status === 413) return problem(413, ProblemCode.bodyTooLarge, `the body is larger than ${BODY_LIMIT_BYTES} bytes`);
  if (status === 415) return problem(415, ProblemCode.unsupportedMediaType, 'the body must be application/json');
  if (status === 429) return problem(429, ProblemCode.rateLimited, 'too many requests');
  if (status === 405) return problem(405, ProblemCode.methodNotAllowed, error.message);
  if (status < 400 || status >= 500) return undefined;
  const malformed = error instanceof SyntaxError || error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || error.code === 'FST_ERR_CTP_INVALID_JSON_BODY';
  return malformed
    ? problem(400, ProblemCode.malformedBody, 'the body is not valid JSON', { detail: error.message })
    : problem(status, ProblemCode.badRequest, error.message);
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
