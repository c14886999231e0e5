import type { FastifyPluginCallback } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type pg from 'pg';
import { z } from 'zod';
import { acknowledgeAlert, listAlerts, readAlert } from '../../alerts/store.js';
import type { AssetCatalog } from '../../ledger/index.js';
import { principalOf } from '../auth.js';
import { notFound, ProblemCode, ProblemError, problemSchema } from '../problems.js';
import { text } from '../schemas/index.js';

const OPERATOR = ['operator'] as const;
const alertParams = z.strictObject({ alertId: z.string().regex(/^(threshold|spike):[A-Za-z0-9_.:-]{1,250}$/, 'an alert id') });

const alertSchema = z
  .object({
    seq: z.number().int(),
    alertId: z.string(),
    kind: z.enum(['threshold', 'spike']),
    scope: z.enum(['movement', 'pot', 'fund', 'pool']),
    scopeId: z.string(),
    potId: z.string().optional(),
    movementId: z.string().describe('The movement that raised it (for a spike: the one that crossed the line)'),
    asset: z.string().optional(),
    amount: z.string().optional().describe("The movement's largest entry in the asset (threshold)"),
    threshold: z.string().optional(),
    windowStart: z.string().optional(),
    count: z.number().int().optional().describe('Movements in the window when it fired (spike)'),
    historyTotal: z.number().int().optional().describe('Movements over the history it was compared with (spike)'),
    detectedAt: z.string().describe('When the event that raised it was stored'),
    acknowledgedAt: z.string().optional(),
    acknowledgedBy: z.string().optional().describe('The API key id that acknowledged it'),
    note: z.string().optional(),
  })
  .meta({ id: 'Alert' });

/** Alerts for operators: list, read, acknowledge once. */
export const alertRoutes: FastifyPluginCallback<{ readonly pool: pg.Pool; readonly assets: AssetCatalog }> = (app, deps, done) => {
  const typed = app.withTypeProvider<ZodTypeProvider>();
  typed.get(
    '/alerts',
    {
      config: { roles: OPERATOR },
      schema: {
        operationId: 'listAlerts',
        description: 'Open alerts (or all with ?all=true), oldest first, a page at a time: pass `next` as `after` for the following page.',
        tags: ['alerts'],
        summary: 'Alerts in the order they were raised: the open ones, or all',
        querystring: z.strictObject({
          all: z.enum(['true', 'false']).default('false').describe('Include acknowledged alerts'),
          after: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0).describe('The seq of the last alert of the previous page'),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
        }),
        response: { 200: z.object({ alerts: z.array(alertSchema).readonly(), next: z.number().int().optional() }), 400: problemSchema },
      },
    },
    async (request) => {
      const { all, after, limit } = request.query;
      const alerts = await listAlerts(deps.pool, deps.assets, { afterSeq: after, limit, open: all === 'false' });
      const last = alerts[alerts.length - 1];
      return { alerts, ...(alerts.length === limit && last !== undefined ? { next: last.seq } : {}) };
    },
  );

  typed.get(
    '/alerts/:alertId',
    {
      config: { roles: OPERATOR },
      schema: {
        operationId: 'getAlert',
        description: 'The alert with what raised it and, once acknowledged, who acknowledged it and the note.',
        tags: ['alerts'],
        summary: 'One alert',
        params: alertParams,
        response: { 200: alertSchema, 400: problemSchema, 404: problemSchema },
      },
    },
    async (request) => {
      const alert = await readAlert(deps.pool, deps.assets, request.params.alertId);
      if (alert === undefined) throw notFound(`alert ${request.params.alertId}`);
      return alert;
    },
  );

  typed.post(
    '/alerts/:alertId/acknowledgement',
    {
      config: { roles: OPERATOR },
      schema: {
        operationId: 'acknowledgeAlert',
        description: "An alert is acknowledged once, recorded with the operator's key id and an optional note; a second acknowledgement is 409.",
        tags: ['alerts'],
        summary: 'Acknowledge an alert, once, with a note',
        params: alertParams,
        body: z.strictObject({ note: text(2000).optional() }),
        response: { 200: alertSchema, 400: problemSchema, 404: problemSchema, 409: problemSchema },
      },
    },
    async (request) => {
      const done = await acknowledgeAlert(deps.pool, request.params.alertId, principalOf(request).keyId, request.body.note);
      if (done === 'unknown') throw notFound(`alert ${request.params.alertId}`);
      if (done === 'acknowledged already') throw new ProblemError(409, ProblemCode.alertAcknowledged, `alert ${request.params.alertId} is acknowledged already`);
      const alert = await readAlert(deps.pool, deps.assets, request.params.alertId);
      if (alert === undefined) throw new Error('an acknowledged alert cannot be read back');
      return alert;
    },
  );
  done();
};
