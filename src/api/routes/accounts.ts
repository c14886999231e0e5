import { createHash, randomBytes } from 'node:crypto';
import type { FastifyPluginCallback } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { claimIdempotencyKey } from '../../journal/api-requests.js';
import { eraseMember, findMember, insertMember, updateMember } from '../../journal/members.js';
import { findPot, potsOfMember } from '../../journal/reads.js';
import { canonicalJson } from '../../ledger/index.js';
import { assertMayRead, principalOf } from '../auth.js';
import { notFound, ProblemCode, ProblemError, problemSchema } from '../problems.js';
import {
  commandStateSchema,
  idempotencyHeaders,
  idParams,
  memberCreateSchema,
  memberIdSchema,
  memberSchema,
  memberUpdateSchema,
  potIdSchema,
  potSchema,
  waitQuerySchema,
} from '../schemas/index.js';
import { COMMAND_RESPONSES, publishCommand, type CommandDeps } from './commands.js';

const MANAGE = ['service', 'operator'] as const;
const READ = ['service', 'operator', 'member'] as const;

const memberParams = idParams('memberId', memberIdSchema);
const potParams = idParams('potId', potIdSchema);

/**
 * Account management: members (personal data, apart from the ledger) and their pots (opened and
 * closed through the ledger's own commands, so the API is one publisher among others).
 */
export const accountRoutes: FastifyPluginCallback<CommandDeps> = (app, deps, done) => {
  const typed = app.withTypeProvider<ZodTypeProvider>();

  typed.post(
    '/members',
    {
      config: { roles: MANAGE },
      schema: {
        operationId: 'createMember',
        description:
          "Stores the member's personal data (apart from the ledger, which knows the member only by id). " +
          "Idempotent by Idempotency-Key: the same request again answers the same member; another request under the key is 409.",
        tags: ['members'],
        summary: 'Create a member',
        headers: idempotencyHeaders,
        body: memberCreateSchema,
        response: { 201: memberSchema, 400: problemSchema, 404: problemSchema, 409: problemSchema },
      },
    },
    async (request, reply) => {
      const { memberId: asked, ...fields } = request.body;
      const fingerprint = createHash('sha256').update(canonicalJson(request.body)).digest('hex');
      const memberId = asked ?? `m-${randomBytes(10).toString('hex')}`;
      const claim = await claimIdempotencyKey(deps.pool, {
        principal: principalOf(request).keyId,
        key: request.headers['idempotency-key'],
        route: 'POST /members',
        fingerprint,
        resourceId: memberId,
      });
      if (claim.kind === 'conflict') {
        throw new ProblemError(409, ProblemCode.idempotencyKeyReused, 'this Idempotency-Key was used for another request');
      }
      if (claim.kind === 'retry') {
        const member = await findMember(deps.pool, claim.resourceId);
        if (member === undefined) throw notFound(`member ${claim.resourceId}`);
        return reply.code(201).header('location', `/members/${member.memberId}`).send(member);
      }
      const member = await insertMember(deps.pool, memberId, fields);
      if (member === undefined) throw new ProblemError(409, ProblemCode.memberExists, `member ${memberId} exists already`);
      return reply.code(201).header('location', `/members/${member.memberId}`).send(member);
    },
  );

  typed.get(
    '/members/:memberId',
    {
      config: { roles: READ },
      schema: {
        operationId: 'getMember',
        description: 'A member key reads its own member only (another answers 404). After erasure, name, email and address are absent and erasedAt is set.',
        tags: ['members'],
        summary: 'Read a member',
        params: memberParams,
        response: { 200: memberSchema, 404: problemSchema },
      },
    },
    async (request) => {
      const { memberId } = request.params;
      assertMayRead(request, memberId, `member ${memberId}`);
      const member = await findMember(deps.pool, memberId);
      if (member === undefined) throw notFound(`member ${memberId}`);
      return member;
    },
  );

  typed.patch(
    '/members/:memberId',
    {
      config: { roles: MANAGE },
      schema: {
        operationId: 'updateMember',
        description: 'Changes the fields given, at least one; the version goes up by one. A member whose personal data was erased cannot be changed (409).',
        tags: ['members'],
        summary: "Change a member's name, email, address or risk profile",
        params: memberParams,
        body: memberUpdateSchema,
        response: { 200: memberSchema, 400: problemSchema, 404: problemSchema, 409: problemSchema },
      },
    },
    async (request) => {
      const { memberId } = request.params;
      const { name, email, address, riskProfile } = request.body;
      const result = await updateMember(deps.pool, memberId, {
        ...(name === undefined ? {} : { name }),
        ...(email === undefined ? {} : { email }),
        ...(address === undefined ? {} : { address }),
        ...(riskProfile === undefined ? {} : { riskProfile }),
      });
      if (result.kind === 'not-found') throw notFound(`member ${memberId}`);
      if (result.kind === 'erased') throw new ProblemError(409, ProblemCode.memberErased, `member ${memberId}'s personal data was erased`);
      return result.member;
    },
  );

  typed.delete(
    '/members/:memberId/personal-data',
    {
      config: { roles: ['operator'] },
      schema: {
        operationId: 'eraseMemberPersonalData', tags: ['members'],
        summary: "Erase a member's personal data",
        description: 'Clears name, email and address. Every ledger record stays intact and consistent: the journal knows the member only by id.',
        params: memberParams,
        response: { 200: memberSchema, 404: problemSchema },
      },
    },
    async (request) => {
      const { memberId } = request.params;
      const member = await eraseMember(deps.pool, memberId);
      if (member === undefined) throw notFound(`member ${memberId}`);
      return member;
    },
  );

  typed.get(
    '/members/:memberId/pots',
    {
      config: { roles: READ },
      schema: {
        operationId: 'listMemberPots',
        description: "Every pot of the member, open or closed, with its partition. A member key reads its own member's pots only.",
        tags: ['pots'],
        summary: "A member's pots",
        params: memberParams,
        response: { 200: z.object({ pots: z.array(potSchema) }), 404: problemSchema },
      },
    },
    async (request) => {
      const { memberId } = request.params;
      assertMayRead(request, memberId, `member ${memberId}`);
      if ((await findMember(deps.pool, memberId)) === undefined) throw notFound(`member ${memberId}`);
      return { pots: await potsOfMember(deps.pool, memberId) };
    },
  );

  typed.post(
    '/members/:memberId/pots',
    {
      config: { roles: MANAGE, responseDescriptions: COMMAND_RESPONSES },
      schema: {
        operationId: 'openPot',
        description:
          'Publishes the pot.open command for the member. Idempotent by Idempotency-Key (the pot id is derived from the key when not given). ' +
          '202 once JetStream stored it; with ?wait=true, 200 with the outcome, 422 if the ledger rejects it.',
        tags: ['pots'],
        summary: 'Open a pot for the member (the pot.open command)',
        params: memberParams,
        headers: idempotencyHeaders,
        querystring: waitQuerySchema,
        body: z.strictObject({ potId: potIdSchema.optional().describe('Assigned when absent') }),
        response: {
          200: commandStateSchema.extend({ potId: z.string() }),
          202: commandStateSchema.extend({ potId: z.string() }),
          404: problemSchema,
          409: problemSchema,
          422: problemSchema,
        },
      },
    },
    async (request, reply) => {
      const { memberId } = request.params;
      const member = await findMember(deps.pool, memberId);
      if (member === undefined) throw notFound(`member ${memberId}`);
      if (member.erasedAt !== undefined) throw new ProblemError(409, ProblemCode.memberErased, `member ${memberId}'s personal data was erased; no new pots`);
      // The pot id is part of what the Idempotency-Key protects: derived from the key when not given.
      const potId = request.body.potId ?? `p-${createHash('sha256').update(`${principalOf(request).keyId}\n${request.headers['idempotency-key']}`).digest('hex').slice(0, 20)}`;
      const answer = await publishCommand(deps, request, reply, { process: 'pot.open', memberId, potId, payload: {} }, {
        route: 'POST /members/:memberId/pots',
        idempotencyKey: request.headers['idempotency-key'],
        wait: request.query.wait === 'true',
      });
      return reply.code(answer.statusCode).send({ ...answer.body, potId });
    },
  );

  typed.get(
    '/pots/:potId',
    {
      config: { roles: READ },
      schema: {
        operationId: 'getPot',
        description: "The pot's member, partition and status. A member key reads its own pots only.",
        tags: ['pots'],
        summary: 'Read a pot',
        params: potParams,
        response: { 200: potSchema, 404: problemSchema },
      },
    },
    async (request) => {
      const { potId } = request.params;
      const pot = await findPot(deps.pool, potId);
      if (pot === undefined) throw notFound(`pot ${potId}`);
      assertMayRead(request, pot.memberId, `pot ${potId}`);
      return pot;
    },
  );

  typed.post(
    '/pots/:potId/close',
    {
      config: { roles: MANAGE, responseDescriptions: COMMAND_RESPONSES },
      schema: {
        operationId: 'closePot',
        description: 'Publishes the pot.close command; the ledger rejects it (422 with ?wait=true) while any balance is not zero. Idempotent by Idempotency-Key.',
        tags: ['pots'],
        summary: 'Close a pot (the pot.close command); every balance must be zero',
        params: potParams,
        headers: idempotencyHeaders,
        querystring: waitQuerySchema,
        response: { 200: commandStateSchema, 202: commandStateSchema, 404: problemSchema, 409: problemSchema, 422: problemSchema },
      },
    },
    async (request, reply) => {
      const { potId } = request.params;
      const pot = await findPot(deps.pool, potId);
      if (pot === undefined) throw notFound(`pot ${potId}`);
      const answer = await publishCommand(deps, request, reply, { process: 'pot.close', memberId: pot.memberId, potId, payload: {} }, {
        route: 'POST /pots/:potId/close',
        idempotencyKey: request.headers['idempotency-key'],
        wait: request.query.wait === 'true',
      });
      return reply.code(answer.statusCode).send(answer.body);
    },
  );
  done();
};
