import Fastify, { type FastifyReply } from 'fastify';
import swagger from '@fastify/swagger';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { swaggerOptions } from '../../src/api/openapi.js';
import { openApiDocument } from '../../src/api/write-openapi.js';
import { checkAnswersAgainstDocument } from '../support/api.js';

/**
 * The OpenAPI document as a client generator reads it (openapi-typescript, openapi-fetch, Redocly,
 * Spectral): every operation named, every answer declared with its media type, no schema that says
 * nothing. The document is built without Postgres or NATS, as `npm run lint:openapi` builds it.
 */
interface Schema {
  readonly [key: string]: unknown;
}
interface Response {
  readonly description: string;
  readonly content?: Record<string, { readonly schema: Schema }>;
  readonly headers?: Record<string, { readonly $ref: string }>;
}
interface Operation {
  readonly operationId?: string;
  readonly tags?: readonly string[];
  readonly security?: readonly object[];
  readonly requestBody?: object;
  readonly parameters?: readonly object[];
  readonly responses: Record<string, Response>;
}
interface Document {
  readonly servers?: readonly object[];
  readonly tags?: readonly { readonly name: string; readonly description?: string }[];
  readonly paths: Record<string, Record<string, Operation>>;
  readonly components: { readonly schemas: Record<string, Schema> };
}

let document: Document;
const operations: { method: string; path: string; operation: Operation }[] = [];

beforeAll(async () => {
  document = (await openApiDocument()) as Document;
  for (const [path, methods] of Object.entries(document.paths)) for (const [method, operation] of Object.entries(methods)) operations.push({ method, path, operation });
});

/** Every place a schema object sits under `schema`, with its path. */
function schemasIn(schema: Schema, where: string): [string, Schema][] {
  const found: [string, Schema][] = [[where, schema]];
  for (const [name, child] of Object.entries((schema.properties ?? {}) as Record<string, Schema>)) found.push(...schemasIn(child, `${where}.${name}`));
  for (const key of ['items', 'additionalProperties', 'not'] as const) {
    const child = schema[key];
    if (child !== null && typeof child === 'object') found.push(...schemasIn(child as Schema, `${where}.${key}`));
  }
  for (const key of ['oneOf', 'anyOf', 'allOf', 'prefixItems'] as const) {
    const list = schema[key];
    if (Array.isArray(list)) list.forEach((child: Schema, index) => found.push(...schemasIn(child, `${where}.${key}[${index}]`)));
  }
  return found;
}

const SAYS_SOMETHING = ['type', '$ref', 'oneOf', 'anyOf', 'allOf', 'enum', 'const'];

describe('the OpenAPI document', () => {
  it('names every operation once, with a readable operationId, a declared tag and a description', () => {
    const ids = operations.map(({ operation }) => operation.operationId);
    expect(ids.filter((id) => id === undefined || !/^[a-z][A-Za-z]+$/.test(id))).toEqual([]);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expect.arrayContaining(['submitCashDeposit', 'getCommand', 'createMember', 'getReadiness', 'getReconciliationBreaksCsv']));
    const declared = new Set(document.tags?.map((tag) => tag.name));
    expect(document.tags?.every((tag) => (tag.description ?? '').length > 0)).toBe(true);
    expect(operations.filter(({ operation }) => !(operation.tags ?? []).every((tag) => declared.has(tag)) || operation.tags?.length === 0)).toEqual([]);
    expect(document.servers?.length).toBeGreaterThan(0);
  });

  it('declares every error as application/problem+json with the one Problem schema', () => {
    const wrong: string[] = [];
    for (const { method, path, operation } of operations) {
      for (const [status, response] of Object.entries(operation.responses)) {
        expect(response.description, `${method} ${path} ${status}`).not.toBe('Default Response');
        if (Number(status) < 400 || path === '/health/ready') continue;
        const content = response.content ?? {};
        const problemOnly = Object.keys(content).join() === 'application/problem+json';
        if (!problemOnly || content['application/problem+json']?.schema.$ref !== '#/components/schemas/Problem') wrong.push(`${method} ${path} ${status}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('declares what a route can answer: 401 and 503 where a key is needed, 403 where a role is, 400 where input is checked, 429 everywhere', () => {
    const missing: string[] = [];
    for (const { method, path, operation } of operations) {
      const statuses = Object.keys(operation.responses);
      const needs = (status: string, why: boolean) => {
        if (why && !statuses.includes(status)) missing.push(`${method} ${path} ${status}`);
      };
      const protectedRoute = operation.security === undefined;
      needs('401', protectedRoute);
      needs('503', protectedRoute);
      needs('400', operation.requestBody !== undefined || (operation.parameters?.length ?? 0) > 0);
      needs('413', operation.requestBody !== undefined);
      needs('429', true);
      needs('500', true);
      for (const response of Object.values(operation.responses)) {
        if (response.headers?.['x-request-id'] === undefined || response.headers['x-ratelimit-remaining'] === undefined) missing.push(`${method} ${path}: headers`);
      }
      if (operation.responses['429']?.headers?.['retry-after'] === undefined) missing.push(`${method} ${path} 429: retry-after`);
    }
    expect(missing).toEqual([]);
    expect(Object.keys(document.paths['/balance-sheet']?.get?.responses ?? {})).toContain('403');
    expect(Object.keys(document.paths['/pots/{potId}']?.get?.responses ?? {})).not.toContain('403');
  });

  it('serves the CSV, the metrics and readiness with their own media types and bodies', () => {
    expect(Object.keys(document.paths['/recon/{runId}/breaks.csv']?.get?.responses['200']?.content ?? {})).toEqual(['text/csv']);
    expect(Object.keys(document.paths['/metrics']?.get?.responses['200']?.content ?? {})).toEqual(['text/plain']);
    const ready = document.paths['/health/ready']?.get?.responses ?? {};
    expect(ready['200']?.content?.['application/json']?.schema.$ref).toBe('#/components/schemas/Readiness');
    expect(ready['503']?.content?.['application/json']?.schema.$ref).toBe('#/components/schemas/Readiness');
  });

  it('types outcomes as a union on kind, and no response schema says nothing', () => {
    const outcome = document.components.schemas.Outcome;
    expect(outcome?.oneOf).toEqual(['AppliedOutcome', 'CorrectedOutcome', 'RejectedOutcome'].map((name) => ({ $ref: `#/components/schemas/${name}` })));
    expect((outcome?.discriminator as { propertyName?: string } | undefined)?.propertyName).toBe('kind');
    const movement = document.components.schemas.Movement?.properties as Record<string, Schema> | undefined;
    expect(movement?.potChange?.$ref).toBe('#/components/schemas/PotChange');
    const empty: string[] = [];
    for (const [name, schema] of Object.entries(document.components.schemas)) {
      for (const [where, inner] of schemasIn(schema, name)) if (!SAYS_SOMETHING.some((key) => key in inner)) empty.push(where);
    }
    for (const { method, path, operation } of operations) {
      for (const [status, response] of Object.entries(operation.responses)) {
        for (const [mediaType, { schema }] of Object.entries(response.content ?? {})) {
          for (const [where, inner] of schemasIn(schema, `${method} ${path} ${status} ${mediaType}`)) if (!SAYS_SOMETHING.some((key) => key in inner)) empty.push(where);
        }
      }
    }
    expect(empty).toEqual([]);
  });

  it('holds no keyword of the ledger and no schema twice', () => {
    const text = JSON.stringify(document);
    expect(text).not.toMatch(/"domain":/);
    expect(Object.keys(document.components.schemas).filter((name) => name.endsWith('Input'))).toEqual([]);
  });
});

describe('the contract check every API test runs', () => {
  const app = Fastify();
  beforeAll(async () => {
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);
    await app.register(swagger, swaggerOptions());
    const typed = app.withTypeProvider<ZodTypeProvider>();
    const counted = z.object({ count: z.number().int() });
    const route = (path: string, send: (reply: FastifyReply) => FastifyReply) =>
      typed.get(
        path,
        { schema: { operationId: path.slice(1), tags: ['health'], description: 'a route of the check', response: { 200: counted } } },
        async (_request, reply) => send(reply),
      );
    route('/honest', (reply) => reply.send({ count: 1 }));
    route('/undeclared', (reply) => reply.code(418).send({ count: 1 }));
    route('/wrongly-typed', (reply) => reply.type('application/json').send('{"count":"one"}'));
    route('/wrong-media', (reply) => reply.type('text/plain').send('1'));
    app.addHook('onSend', async (request, reply) => {
      void reply.header('x-request-id', request.id);
    });
    const contract = checkAnswersAgainstDocument(app);
    await app.ready();
    contract.enforce();
  });
  afterAll(async () => {
    await app.close();
  });

  it('passes an answer that keeps the document', async () => {
    expect((await app.inject({ method: 'GET', url: '/honest' })).statusCode).toBe(200);
  });

  it('fails an undeclared status, a body that does not fit, and an undeclared media type', async () => {
    await expect(app.inject({ method: 'GET', url: '/undeclared' })).rejects.toThrow(/the status is not declared/);
    await expect(app.inject({ method: 'GET', url: '/wrongly-typed' })).rejects.toThrow(/body\/count must be integer/);
    await expect(app.inject({ method: 'GET', url: '/wrong-media' })).rejects.toThrow(/the media type text\/plain is not declared/);
  });
});
