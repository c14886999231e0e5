import { createHash } from 'node:crypto';
import { normalizeIP } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ProblemCode, ProblemError } from './problems.js';

/**
 * Rate limits, counted where the caller is known (`@fastify/rate-limit`'s counters, in memory: one
 * limit per process). Two kinds of bucket:
 *   - the client address (an IPv6 address by its /64, the plugin's default): public routes, requests
 *     without a well-formed key, and failed authentications. A made-up key id gets no bucket of its
 *     own and costs its address one request.
 *   - the verified key: a request whose key the database has just accepted, never before.
 * So a key-guessing loop spends its address's allowance, and a real key's allowance is spent only by
 * requests that carry its secret.
 */
export interface RequestLimits {
  /** Counts the request against its address; throws 429 once the address's allowance is spent. */
  countAddress(request: FastifyRequest, reply: FastifyReply): Promise<void>;
  /** Throws 429 when the address's allowance is spent already, without counting the request. */
  checkAddress(request: FastifyRequest, reply: FastifyReply): Promise<void>;
  /** Counts the request against a key the database verified; throws 429 once its allowance is spent. */
  countKey(request: FastifyRequest, reply: FastifyReply, keyId: string): Promise<void>;
}

export interface LimitSettings {
  /** Requests per window, per address and per key. */
  readonly max: number;
  readonly windowMs: number;
}

/** What `createRateLimit` answers: allowed outright, or the bucket's state after (or without) this request. */
type BucketState = Awaited<ReturnType<ReturnType<FastifyInstance['createRateLimit']>>>;

/** The limits over the `@fastify/rate-limit` plugin registered on `app` (with `global: false`). */
export function createRequestLimits(app: FastifyInstance, settings: LimitSettings): RequestLimits {
  const common = { max: settings.max, timeWindow: settings.windowMs };
  const address = app.createRateLimit({ ...common, keyGenerator: (request) => `address:${normalizeIP(request.ip)}` });
  const key = app.createRateLimit({ ...common, keyGenerator: (request) => `key:${verifiedKeyOf(request)}` });
  return {
    async countAddress(request, reply) {
      answer(reply, await address(request), true);
    },
    async checkAddress(request, reply) {
      answer(reply, await address(request, { increment: false }), false);
    },
    async countKey(request, reply, keyId) {
      verifiedKeys.set(request, keyId);
      answer(reply, await key(request), true);
    },
  };
}

/** The key id `countKey` was given, read back by the key bucket's generator. */
const verifiedKeys = new WeakMap<FastifyRequest, string>();

function verifiedKeyOf(request: FastifyRequest): string {
  const keyId = verifiedKeys.get(request);
  if (keyId === undefined) throw new Error('limits: a key bucket without a verified key');
  return keyId;
}

/** Sets the rate-limit headers of the bucket that counted the request, and refuses it once the bucket is spent. */
function answer(reply: FastifyReply, state: BucketState, counted: boolean): void {
  if (state.isAllowed) return;
  // Counted: spent when this request went past the allowance. Read only: when the next one would.
  const spent = counted ? state.isExceeded : state.remaining === 0;
  if (!counted && !spent) return;
  void reply.header('x-ratelimit-limit', state.max);
  void reply.header('x-ratelimit-remaining', state.remaining);
  void reply.header('x-ratelimit-reset', state.ttlInSeconds);
  if (!spent) return;
  const retryAfterSeconds = Math.max(1, state.ttlInSeconds);
  void reply.header('retry-after', retryAfterSeconds);
  throw new ProblemError(429, ProblemCode.rateLimited, 'too many requests', {
    detail: `at most ${state.max} requests per ${Math.round(state.timeWindow / 1000)} s window; retry in ${retryAfterSeconds} s`,
  });
}

/**
 * Keys this process has seen the database accept, as digests of the whole presented key (id and
 * secret), at most `KNOWN_KEYS_MAX`, the least recently used dropped first. Once an address has spent
 * its allowance, only a key found here is still looked up (and checked there again, so a revoked key
 * stays refused); any other costs no database look-up. A digest of a 256-bit secret reveals nothing
 * the database's own stored hash does not.
 */
export class KnownKeys {
  readonly #digests = new Set<string>();

  constructor(private readonly max: number = KNOWN_KEYS_MAX) {}

  has(presented: string): boolean {
    return this.#digests.has(digestOf(presented));
  }

  remember(presented: string): void {
    const digest = digestOf(presented);
    this.#digests.delete(digest);
    this.#digests.add(digest);
    if (this.#digests.size > this.max) {
      const oldest = this.#digests.values().next().value;
      if (oldest !== undefined) this.#digests.delete(oldest);
    }
  }

  forget(presented: string): void {
    this.#digests.delete(digestOf(presented));
  }
}

/** Keys remembered as verified: far more than the service and operator keys in use, a share of member keys. */
export const KNOWN_KEYS_MAX = 10_000;

function digestOf(presented: string): string {
  return createHash('sha256').update(presented, 'utf8').digest('hex');
}
