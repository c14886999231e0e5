import type { FastifyInstance, FastifyRequest } from 'fastify';
import type pg from 'pg';
import { authenticate, type Principal, type Role } from './keys.js';
import { KnownKeys, type RequestLimits } from './limits.js';
import { notFound, ProblemCode, ProblemError } from './problems.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | undefined;
  }
  interface FastifyContextConfig {
    /** Who may call the route; absent: anyone (health, metrics, docs). */
    roles?: readonly Role[];
  }
}

const BEARER = /^Bearer ([\x21-\x7e]{1,200})$/;

/**
 * Authentication, roles and rate limits: every route that names `config.roles` needs `Authorization:
 * Bearer <key>` of one of those roles (401 without a valid key, 403 with the wrong role). Runs before
 * the body is read, so an unauthenticated caller cannot make the API parse a large body.
 *
 * Rate limits follow who the caller is known to be (src/api/limits.ts): a public route, a missing or
 * malformed key and a failed authentication count against the client address; a verified key counts
 * against that key. Once the address's allowance is spent, a key this process has not seen accepted
 * is refused (429) before any look-up, so a key-guessing loop stops costing queries; a real key used
 * from there before still is looked up, and answered.
 */
export function installAuth(app: FastifyInstance, pool: pg.Pool, limits: RequestLimits): void {
  const known = new KnownKeys();
  app.decorateRequest('principal', undefined);
  app.addHook('onRequest', async (request, reply) => {
    const roles = request.routeOptions.config.roles;
    if (roles === undefined) return limits.countAddress(request, reply);
    const header = request.headers.authorization;
    const presented = (typeof header === 'string' ? BEARER.exec(header) : null)?.[1];
    if (presented !== undefined && !known.has(presented)) await limits.checkAddress(request, reply);
    const principal = presented === undefined ? undefined : await authenticate(pool, presented);
    if (presented === undefined || principal === undefined) {
      if (presented !== undefined) known.forget(presented);
      await limits.countAddress(request, reply);
      void reply.header('www-authenticate', 'Bearer');
      throw new ProblemError(401, ProblemCode.unauthenticated, 'a valid API key is required', {
        detail: 'send Authorization: Bearer <key>; keys are issued with `potledger api-key create`',
      });
    }
    known.remember(presented);
    await limits.countKey(request, reply, principal.keyId);
    if (!roles.includes(principal.role)) {
      throw new ProblemError(403, ProblemCode.forbidden, `the ${principal.role} role may not do this`, { detail: `allowed: ${roles.join(', ')}` });
    }
    request.principal = principal;
  });
}

export function principalOf(request: FastifyRequest): Principal {
  const principal = request.principal;
  if (principal === undefined) throw new Error('principalOf: the route has no roles, so no principal');
  return principal;
}

/**
 * A member key reads its own member's records only. Someone else's record answers 404, exactly as a
 * missing one, so a member cannot learn which ids exist.
 */
export function assertMayRead(request: FastifyRequest, ownerMemberId: string, what: string): void {
  const principal = principalOf(request);
  if (principal.role === 'member' && principal.memberId !== ownerMemberId) throw notFound(what);
}
