import type { Logger } from 'pino';

/** What the shards log through: pino's methods, so fastify's logger or a plain pino logger will do. */
export type Log = Pick<Logger, 'info' | 'warn' | 'error'>;
