import type { FastifyInstance, FastifyRequest } from 'fastify';
import type pg from 'pg';
import { authenticate, type Principal, type Role } from './keys.js';
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
 * Authentication and roles: every route that names `config.roles` needs `Authorization: Bearer <key>`
 * of one of those roles (401 without a valid key, 403 with the wrong role). Runs before the body is
 * read, so an unauthenticated caller cannot make the API parse a large body.
 */
export function installAuth(app: FastifyInstance, pool: pg.Pool): void {
  app.decorateRequest('principal', undefined);
  app.addHook('onRequest', async (request, reply) => {
    const roles = request.routeOptions.config.roles;
    if (roles === undefined) return;
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? BEARER.exec(header) : null;
    const principal = match?.[1] === undefined ? undefined : await authenticate(pool, match[1]);
    if (principal === undefined) {
      void reply.header('www-authenticate', 'Bearer');
      throw new ProblemError(401, ProblemCode.unauthenticated, 'a valid API key is required', {
        detail: 'send Authorization: Bearer <key>; keys are issued with `potledger api-key create`',
      });
    }
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
