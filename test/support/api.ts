import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';
import type { FastifyInstance, FastifyReply, FastifyRequest, LightMyRequestResponse } from 'fastify';
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
  const { app, keys } = await buildTestApp(db.service, publisher, {
    config: { LOG_LEVEL: 'info', ...config },
    metrics: metrics.registry,
    logStream,
    reports: db.reports,
    ...(payments === undefined ? {} : { payments }),
  });
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
    readiness: { check: () => Promise.resolve({ postgres: true, jetstream: true }) },
    metrics: options.metrics ?? new Registry(),
    pool,
    publisher,
    registry: ledgerProcesses,
    assets: assetCatalog(DEFAULT_ASSETS),
    ...(options.logStream === undefined ? {} : { logStream: options.logStream }),
    ...(options.payments === undefined ? {} : { payments: options.payments }),
    ...(options.reports === undefined ? {} : { reports: options.reports }),
  });
  const contract = checkAnswersAgainstDocument(app);
  await app.ready();
  contract.enforce();
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

/** The parts of the OpenAPI document the contract check reads. */
export interface OpenApiDocument {
  readonly paths: Record<string, Record<string, { readonly operationId: string; readonly responses: Record<string, OpenApiResponse> }>>;
  readonly components: { readonly schemas: Record<string, unknown>; readonly headers: Record<string, { readonly required?: boolean }> };
}

interface OpenApiResponse {
  readonly content?: Record<string, { readonly schema: object }>;
  readonly headers?: Record<string, { readonly $ref: string }>;
}

/** One answer, as the contract check sees it. */
export interface Answer {
  readonly method: string;
  /** The route's path as fastify names it (`/pots/:potId`), or the path requested (`/pots/P-1?x=y`). */
  readonly path: string;
  readonly status: number;
  header(name: string): string | undefined;
  readonly text: string | undefined;
}

/**
 * Checks every answer the app gives against the app's own OpenAPI document (/openapi.json): the status is
 * declared for the operation, the media type is declared for that status, the required headers are
 * there, and the body fits the declared schema. Installed by `buildTestApp` on every test app, so each
 * API test checks its answers without saying so: a request whose answer breaks the contract fails in
 * `app.inject()` with what is wrong. Answers of routes the document does not list (unknown routes,
 * /openapi.json, /docs) are not checked.
 */
export function checkAnswersAgainstDocument(app: FastifyInstance): { enforce(): void } {
  const breaches = new Map<string, string[]>();
  let check: ((answer: Answer) => string[]) | undefined;
  app.addHook('onSend', async (request, reply, payload) => {
    check ??= answerChecker(app.swagger() as unknown as OpenApiDocument);
    const found = check(answerOf(request, reply, payload));
    if (found.length > 0) breaches.set(request.id, found);
    return payload;
  });
  return {
    /** From now on, `app.inject()` throws when an answer breaks the document. */
    enforce() {
      const inject = app.inject.bind(app) as (options: object) => Promise<LightMyRequestResponse>;
      const checked = async (options: object): Promise<LightMyRequestResponse> => {
        const response = await inject(options);
        const id = String(response.headers['x-request-id']);
        const found = breaches.get(id);
        breaches.delete(id);
        if (found !== undefined) throw new Error(`the answer breaks the OpenAPI document:\n  ${found.join('\n  ')}\nbody: ${response.body.slice(0, 2000)}`);
        return response;
      };
      Object.assign(app, { inject: checked });
    },
  };
}

function answerOf(request: FastifyRequest, reply: FastifyReply, payload: unknown): Answer {
  return {
    method: request.method,
    path: request.routeOptions.url ?? request.url,
    status: reply.statusCode,
    header: (name) => {
      const value = reply.getHeader(name);
      return value === undefined ? undefined : String(value);
    },
    text: typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : undefined,
  };
}

/** The operation a method and path (a fastify route or a requested path) name in the document. */
function operationOf(document: OpenApiDocument, method: string, path: string) {
  const byMethod = (template: string) => document.paths[template]?.[method.toLowerCase()];
  const bare = path.split('?')[0] ?? path;
  const named = byMethod(bare.replace(/:([A-Za-z0-9_]+)/g, '{$1}'));
  if (named !== undefined) return named;
  const templates = Object.keys(document.paths)
    .filter((template) => byMethod(template) !== undefined && new RegExp(`^${template.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+')}$`).test(bare))
    .sort((a, b) => (a.match(/\{/g)?.length ?? 0) - (b.match(/\{/g)?.length ?? 0));
  return templates[0] === undefined ? undefined : byMethod(templates[0]);
}

/** A checker of answers against `document`; each call lists what an answer breaks (nothing: it keeps the contract). */
export function answerChecker(document: OpenApiDocument): (answer: Answer) => string[] {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  formats.default(ajv); // ajv-formats is CommonJS: its default export is the function
  const validators = new Map<string, ValidateFunction>();
  const validatorOf = (key: string, schema: object): ValidateFunction => {
    let validate = validators.get(key);
    if (validate === undefined) {
      validate = ajv.compile({ ...schema, components: document.components });
      validators.set(key, validate);
    }
    return validate;
  };
  return (answer) => {
    const operation = operationOf(document, answer.method, answer.path);
    if (operation === undefined) return [];
    const where = `${answer.method} ${answer.path} (${operation.operationId}) answered ${answer.status}`;
    const response = operation.responses[String(answer.status)];
    if (response === undefined) return [`${where}: the status is not declared (declared: ${Object.keys(operation.responses).join(', ')})`];
    const breaches = missingHeaders(document, response, answer, where);
    const mediaType = (answer.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    const content = response.content?.[mediaType];
    if (content === undefined) {
      const declared = Object.keys(response.content ?? {}).join(', ');
      return [...breaches, `${where}: the media type ${mediaType || '(none)'} is not declared (declared: ${declared})`];
    }
    if (answer.text === undefined) return [...breaches, `${where}: the body is not text, so it cannot be checked`];
    const body: unknown = mediaType === 'application/json' || mediaType.endsWith('+json') ? JSON.parse(answer.text) : answer.text;
    const validate = validatorOf(`${operation.operationId} ${answer.status} ${mediaType}`, content.schema);
    if (!validate(body)) {
      breaches.push(...(validate.errors ?? []).map((error) => `${where}: body${error.instancePath} ${error.message ?? 'is invalid'} ${JSON.stringify(error.params)}`));
    }
    return breaches;
  };
}

/** The headers `response` declares required that the answer lacks. */
function missingHeaders(document: OpenApiDocument, response: OpenApiResponse, answer: Answer, where: string): string[] {
  const breaches: string[] = [];
  for (const [header, reference] of Object.entries(response.headers ?? {})) {
    const declared = document.components.headers[reference.$ref.split('/').pop() ?? ''];
    if (declared?.required === true && answer.header(header) === undefined) breaches.push(`${where}: the required header ${header} is missing`);
  }
  return breaches;
}
