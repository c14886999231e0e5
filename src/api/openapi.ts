import type { FastifyDynamicSwaggerOptions, SwaggerTransform, SwaggerTransformObject } from '@fastify/swagger';
import type { FastifySchema, RouteOptions } from 'fastify';
import { createJsonSchemaTransform, createJsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ROLES } from './keys.js';
import { problemSchema } from './problems.js';

/**
 * The OpenAPI document, generated from the routes' zod schemas by @fastify/swagger and made true here:
 * what every route can answer is derived from how it is configured (roles → 401/403, a validated
 * request → 400, a body → 413/415, the rate limit → 429, authentication's Postgres look-up → 503, a
 * fault of ours → 500), every
 * error is declared as `application/problem+json` with the one Problem schema, the headers every answer
 * carries are declared once as components, and components nothing references are left out.
 */

/** The tags, in the order the operations are documented. */
export const API_TAGS = [
  { name: 'members', description: 'Members of the Trust: their personal data, kept apart from the ledger' },
  { name: 'pots', description: "Opening, reading and closing a member's pots" },
  { name: 'commands', description: 'One operation per registered process: each publishes a command the ledger applies to a pot as one movement' },
  { name: 'reads', description: 'Balances, statements, movements, the audit trail and the balance sheet' },
  { name: 'dealing', description: 'Closing prices, orders and external trades of the dealing cycle' },
  { name: 'payments', description: 'Payments between pots (sagas through clearing accounts) and their review' },
  { name: 'holds', description: "Cash held for a payee until the hold is posted, voided or expires" },
  { name: 'fx', description: 'Daily FX rates and conversions between the currencies of a pot' },
  { name: 'pools', description: 'Investment pools: subscriptions, redemptions and pro-rata distributions' },
  { name: 'reconciliation', description: 'Reconciliation of a close against the custodian and bank statements' },
  { name: 'alerts', description: 'Alerts raised on large movements and spikes' },
  { name: 'health', description: 'Liveness, readiness and metrics for the platform' },
] as const;

export type ApiTag = (typeof API_TAGS)[number]['name'];

/** Where the service listens by default (HTTP_HOST, HTTP_PORT); a deployment names its own host and port. */
const DEFAULT_HOST = '127.0.0.1';
const DEFAULT_PORT = '8080';

/** Route configuration the document reads, besides the roles of auth.ts. */
declare module 'fastify' {
  interface FastifyContextConfig {
    /** What each status of the route means, where the generic wording of RESPONSE_MEANINGS is not enough. */
    responseDescriptions?: Readonly<Record<number, string>>;
  }
}

/** What a status means when the route does not say more. */
const RESPONSE_MEANINGS: Readonly<Record<number, string>> = {
  200: 'Done: the resource as it stands now',
  201: 'Created: the new resource',
  202: 'Accepted and still in progress: the body says how far it got; read it again later',
  400: 'The request does not fit the schema or is not valid JSON: `errors` lists each field and what is wrong (API_ERR_VALIDATION_FAILED, API_ERR_MALFORMED_BODY)',
  401: 'No valid API key was sent (API_ERR_UNAUTHENTICATED)',
  403: "The key's role may not call this operation (API_ERR_FORBIDDEN)",
  404: 'Not found, or not readable with this key: the two are not told apart (API_ERR_NOT_FOUND)',
  409: 'Conflicts with what is recorded: `code` says what (an Idempotency-Key or id reused for another request, a state that does not allow it)',
  413: 'The body is larger than the limit (API_ERR_BODY_TOO_LARGE)',
  415: 'The body is not of a media type this operation reads (API_ERR_UNSUPPORTED_MEDIA_TYPE)',
  422: 'Understood but refused: `code` says why; a ledger rejection carries its recorded `outcome`',
  429: 'Too many requests from this client: retry after Retry-After seconds (API_ERR_RATE_LIMITED)',
  500: "A fault of the service, never the caller's mistake (API_ERR_INTERNAL): quote the requestId when reporting it",
  503: 'A dependency (Postgres or NATS) is unavailable: the same request is safe to send again later (API_ERR_UNAVAILABLE)',
};

const PROBLEM_MEDIA_TYPE = 'application/problem+json';
const JSON_MEDIA_TYPE = 'application/json';
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * zod metadata that is the ledger's own (the `domain` tags property tests draw realistic values from,
 * src/ledger/payload.ts) and no keyword of JSON Schema: left out of the document.
 */
const LEDGER_ONLY_METADATA = ['domain'] as const;

type JsonSchemaOverride = NonNullable<NonNullable<Parameters<typeof createJsonSchemaTransform>[0]['zodToJsonConfig']>['override']>;

/** Removes the ledger's own metadata; drops the empty branches zod leaves in a union (as the library's default does). */
const override: JsonSchemaOverride = (context) => {
  const schema = context.jsonSchema as Record<string, unknown>;
  for (const key of LEDGER_ONLY_METADATA) delete schema[key];
  if (context.zodSchema._zod.def.type === 'union' && Array.isArray(schema.anyOf)) {
    schema.anyOf = (schema.anyOf as object[]).filter((branch) => Object.keys(branch).length > 0);
  }
};

const zodTransform = createJsonSchemaTransform({ zodToJsonConfig: { override } });
const zodTransformObject = createJsonSchemaTransformObject({ zodToJsonConfig: { override } });

type ResponseMap = Record<string, unknown>;
interface ContentResponse {
  readonly description: string;
  readonly content: Record<string, { schema: z.ZodType }>;
}

/** Every status the route can answer, derived from its configuration and added to those it declares. */
function derivedStatuses(schema: FastifySchema, route: RouteOptions): number[] {
  const statuses: number[] = [];
  const methods = Array.isArray(route.method) ? route.method : [route.method];
  const takesBody = methods.some((method) => BODY_METHODS.has(method));
  const validated = schema.body !== undefined || schema.params !== undefined || schema.querystring !== undefined || schema.headers !== undefined;
  if (validated || takesBody) statuses.push(400);
  if (takesBody) statuses.push(413, 415);
  const roles = route.config?.roles;
  if (roles !== undefined) {
    statuses.push(401, 503);
    if (!ROLES.every((role) => roles.includes(role))) statuses.push(403);
  }
  // The auth hook counts every request against its address or its verified key (src/api/limits.ts).
  statuses.push(429);
  // Any route can meet a fault of ours (a bug, a database role without a grant): a 500 problem.
  statuses.push(500);
  return statuses;
}

function descriptionOf(status: number, route: RouteOptions, schema: unknown): string {
  const given = route.config?.responseDescriptions?.[status];
  if (given !== undefined) return given;
  const meaning = RESPONSE_MEANINGS[status];
  if (status >= 400 && meaning !== undefined) return meaning;
  const described = schema instanceof z.ZodType ? (z.globalRegistry.get(schema)?.description ?? schema.description) : undefined;
  return described ?? meaning ?? `HTTP ${status}`;
}

/** The route's responses with a description and a media type each: problems as application/problem+json. */
function responsesOf(schema: FastifySchema, route: RouteOptions): ResponseMap {
  const declared = (schema.response ?? {}) as ResponseMap;
  const successType = schema.produces?.[0] ?? JSON_MEDIA_TYPE;
  const responses: Record<string, ContentResponse> = {};
  const statuses = new Set([...Object.keys(declared).map(Number), ...derivedStatuses(schema, route)]);
  for (const status of [...statuses].sort((a, b) => a - b)) {
    const given = declared[String(status)];
    const isProblem = given === undefined || given === problemSchema;
    const mediaType = isProblem ? PROBLEM_MEDIA_TYPE : status >= 400 ? JSON_MEDIA_TYPE : successType;
    const responseSchema = (isProblem ? problemSchema : given) as z.ZodType;
    responses[String(status)] = { description: descriptionOf(status, route, responseSchema), content: { [mediaType]: { schema: responseSchema } } };
  }
  return responses;
}

/** The per-route transform: statuses, media types and descriptions, then zod → JSON Schema. */
const documentTransform: SwaggerTransform = (document) => {
  const { schema, route } = document;
  if (schema === undefined || (schema as { hide?: boolean }).hide === true) return zodTransform(document);
  if (schema.operationId === undefined) throw new Error(`the route ${String(route.method)} ${route.url} has no operationId`);
  return zodTransform({ ...document, schema: { ...schema, response: responsesOf(schema, route) } });
};

/** Headers declared once and referenced from every response that carries them. */
const HEADERS = {
  RequestId: {
    description: "The request's id: the caller's X-Request-Id when short and printable, else one the API chose. Quote it when reporting a problem",
    required: true,
    schema: { type: 'string' },
  },
  RateLimitLimit: { description: 'Requests this client may send per window', schema: { type: 'integer' } },
  RateLimitRemaining: { description: 'Requests this client has left in the current window', schema: { type: 'integer' } },
  RateLimitReset: { description: 'Seconds until the current window ends', schema: { type: 'integer' } },
  RetryAfter: { description: 'Seconds to wait before sending again', required: true, schema: { type: 'integer' } },
  WwwAuthenticate: { description: 'The scheme to authenticate with: Bearer', required: true, schema: { type: 'string' } },
} as const;

type HeaderName = keyof typeof HEADERS;

function headersOf(status: number, rateLimited: boolean): Record<string, { $ref: string }> {
  const names: [string, HeaderName][] = [['x-request-id', 'RequestId']];
  if (rateLimited) names.push(['x-ratelimit-limit', 'RateLimitLimit'], ['x-ratelimit-remaining', 'RateLimitRemaining'], ['x-ratelimit-reset', 'RateLimitReset']);
  if (status === 429) names.push(['retry-after', 'RetryAfter']);
  if (status === 401) names.push(['www-authenticate', 'WwwAuthenticate']);
  return Object.fromEntries(names.map(([header, name]) => [header, { $ref: `#/components/headers/${name}` }]));
}

interface Operation {
  operationId?: string;
  responses: Record<string, { headers?: object }>;
}

interface Document {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown>; headers?: object };
}

const SCHEMA_REF = '#/components/schemas/';

/** Every component schema name a value references, directly. */
function referencedSchemas(value: unknown, found = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const item of value) referencedSchemas(item, found);
  else if (value !== null && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      if (key === '$ref' && typeof child === 'string' && child.startsWith(SCHEMA_REF)) found.add(child.slice(SCHEMA_REF.length));
      else referencedSchemas(child, found);
    }
  }
  return found;
}

/**
 * The zod registry gives every named schema twice, as it is read (`<Name>Input`) and as it is written
 * (`<Name>`). Keeps only those the operations reach (through other components too); an input form
 * identical to its output form is replaced by it.
 */
function pruneSchemas(document: Document): void {
  const schemas = document.components.schemas;
  for (const [name, schema] of Object.entries(schemas)) {
    const output = name.endsWith('Input') ? schemas[name.slice(0, -'Input'.length)] : undefined;
    if (output !== undefined && JSON.stringify(output) === JSON.stringify(schema)) {
      const text = JSON.stringify(document.paths).replaceAll(`"${SCHEMA_REF}${name}"`, `"${SCHEMA_REF}${name.slice(0, -'Input'.length)}"`);
      document.paths = JSON.parse(text) as Document['paths'];
      delete schemas[name];
    }
  }
  const reached = new Set<string>();
  let frontier = referencedSchemas(document.paths);
  while (frontier.size > 0) {
    const next = new Set<string>();
    for (const name of frontier) {
      if (reached.has(name)) continue;
      reached.add(name);
      for (const inner of referencedSchemas(schemas[name])) next.add(inner);
    }
    frontier = next;
  }
  for (const name of Object.keys(schemas)) if (!reached.has(name)) delete schemas[name];
}

/** The whole document: zod components, headers on every response, unused schemas left out, ids checked. */
const documentTransformObject: SwaggerTransformObject = (input) => {
  const document = zodTransformObject(input) as unknown as Document;
  const operationIds = new Set<string>();
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      if (operation.operationId === undefined || operationIds.has(operation.operationId)) throw new Error(`${method} ${path}: operationId missing or used twice`);
      operationIds.add(operation.operationId);
      const rateLimited = operation.responses['429'] !== undefined;
      for (const [status, response] of Object.entries(operation.responses)) response.headers = headersOf(Number(status), rateLimited);
    }
  }
  document.components.headers = HEADERS;
  pruneSchemas(document);
  return document;
};

/** The options of @fastify/swagger for this API. */
export function swaggerOptions(): FastifyDynamicSwaggerOptions {
  return {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'potledger',
        version: '1',
        description:
          'The ledger of a pension Master Trust. Every change goes through a command; ' +
          'errors are RFC 9457 problem details (application/problem+json) with a stable `code`. Every answer carries X-Request-Id and the rate limit headers.',
        license: { name: 'Proprietary: internal to the Trust', identifier: 'LicenseRef-Proprietary' },
        contact: { name: 'potledger maintainers' },
      },
      servers: [
        {
          url: 'http://{host}:{port}',
          description: 'A potledger service: HTTP_HOST and HTTP_PORT, by default this machine on port 8080',
          variables: { host: { default: DEFAULT_HOST, description: 'HTTP_HOST' }, port: { default: DEFAULT_PORT, description: 'HTTP_PORT' } },
        },
      ],
      tags: API_TAGS.map((tag) => ({ ...tag })),
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'An API key from `potledger api-key create`' } },
      },
      security: [{ bearerAuth: [] }],
    },
    transform: documentTransform,
    transformObject: documentTransformObject,
  };
}
