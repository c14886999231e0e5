import type { FastifyBaseLogger } from 'fastify';
import fp from 'fastify-plugin';
import type pg from 'pg';
import type { Registry } from 'prom-client';
import type { AssetCatalog } from '../ledger/index.js';
import { convert, type Conversion, type ConversionRequest } from '../payments/conversions.js';
import { PaymentsDesk, type PaymentSettings } from '../payments/desk.js';
import { PoolsService } from '../pools/pools.js';
import type { LedgerPublisher } from '../sdk/publisher.js';
import { HoldCommands } from './holds.js';
import { ProblemCode, ProblemError } from './problems.js';

/**
 * Builds, once per process, every service the routes call, and hands each area's to its routes: one
 * fastify-plugin per area decorates the app (fastify's plugin guide), so the route plugins, encapsulated
 * each, find it as `app.<service>`. One payments desk serves the payment and hold routes, the pools
 * service, and the service's resume sweep (src/main.ts).
 *
 * A process without a publisher (a read-only API) has none of the services that send commands: reading
 * one of them answers 503 API_ERR_UNAVAILABLE, as its routes did before any work.
 */

/** Conversions between a pot's currencies, with what they need bound once. */
export interface Conversions {
  convert(request: ConversionRequest, principal: string): Promise<Conversion>;
}

/** Every service of the routes; those that send commands are absent without a publisher. */
export interface ApiServices {
  readonly payments: PaymentsDesk | undefined;
  readonly pools: PoolsService | undefined;
  readonly conversions: Conversions | undefined;
  readonly holds: HoldCommands;
}

export interface ServiceOptions {
  readonly pool: pg.Pool;
  readonly publisher: LedgerPublisher | undefined;
  readonly assets: AssetCatalog;
  /** How long a step or command waits for its outcome (API_WAIT_TIMEOUT_MS). */
  readonly waitTimeoutMs: number;
  readonly settings: PaymentSettings;
  /** The app's logger: each service logs through a child naming its component. */
  readonly log: FastifyBaseLogger;
  /** The registry served at /metrics: the payments desk's saga metrics go there. */
  readonly metrics: Registry;
}

export function buildServices(options: ServiceOptions): ApiServices {
  const { pool, publisher, assets, waitTimeoutMs, settings } = options;
  const holds = new HoldCommands({ pool, publisher, assets, waitTimeoutMs });
  if (publisher === undefined) return { payments: undefined, pools: undefined, conversions: undefined, holds };
  const payments = new PaymentsDesk({
    ...settings,
    pool,
    publisher,
    assets,
    log: options.log.child({ component: 'payments' }),
    stepTimeoutMs: waitTimeoutMs,
    metrics: options.metrics,
  });
  const pools = new PoolsService({ pool, publisher, assets, log: options.log.child({ component: 'pools' }), waitMs: waitTimeoutMs, desk: payments });
  const rateMaxAgeDays = settings.rateMaxAgeDays === undefined ? {} : { rateMaxAgeDays: settings.rateMaxAgeDays };
  const conversions: Conversions = {
    convert: (request, principal) => convert({ pool, publisher, assets, waitMs: waitTimeoutMs, ...rateMaxAgeDays }, request, principal),
  };
  return { payments, pools, conversions, holds };
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The payments desk (payments, holds' posts, reviews); 503 when the process does not publish commands. */
    readonly paymentsDesk: PaymentsDesk;
    /** Investment pools; 503 when the process does not publish commands. */
    readonly poolsService: PoolsService;
    /** FX conversions; 503 when the process does not publish commands. */
    readonly conversions: Conversions;
    /** Placing, voiding and reading holds. */
    readonly holdCommands: HoldCommands;
  }
}

/** A decoration that is the service, or answers 503 when this process has none (it does not publish commands). */
function provide<T>(service: T | undefined): { getter: () => T } {
  return {
    getter: () => {
      if (service === undefined) throw new ProblemError(503, ProblemCode.unavailable, 'this process does not publish commands');
      return service;
    },
  };
}

/** The payments area: the payments desk, for the payment and hold routes. */
export const paymentsArea = fp<{ readonly desk: PaymentsDesk | undefined; readonly holds: HoldCommands }>(
  (app, options, done) => {
    app.decorate('paymentsDesk', provide(options.desk));
    app.decorate('holdCommands', options.holds);
    done();
  },
  { name: 'payments-area' },
);

/** The pools area: the pools service. */
export const poolsArea = fp<{ readonly service: PoolsService | undefined }>(
  (app, options, done) => {
    app.decorate('poolsService', provide(options.service));
    done();
  },
  { name: 'pools-area' },
);

/** The FX area: conversions. */
export const fxArea = fp<{ readonly conversions: Conversions | undefined }>(
  (app, options, done) => {
    app.decorate('conversions', provide(options.conversions));
    done();
  },
  { name: 'fx-area' },
);
