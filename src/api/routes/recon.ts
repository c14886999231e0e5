import type { FastifyPluginCallback } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type pg from 'pg';
import { z } from 'zod';
import type { AssetCatalog } from '../../ledger/index.js';
import { runReconciliation } from '../../recon/reconcile.js';
import { breaksCsv, readRun, resolveBreak, type StoredRun } from '../../recon/runs.js';
import { bankStatementJson, bankStatementOf, custodianStatementJson, custodianStatementOf } from '../../recon/statements.js';
import { notFound, problemSchema } from '../problems.js';
import { text } from '../schemas/index.js';

const OPERATOR = ['operator'] as const;
const runParams = z.strictObject({ runId: z.string().regex(/^R-[0-9-]{10}-[0-9a-f]{8}$/, 'a reconciliation run id') });

const breakSchema = z.object({
  seq: z.number().int(),
  kind: z.string(),
  asset: z.string(),
  reference: z.string().optional(),
  ledger: z.string(),
  statement: z.string(),
  difference: z.string(),
  value: z.string().optional(),
  valueCurrency: z.string().optional(),
  classification: z.enum(['timing', 'missing-trade', 'unexplained']),
  explanation: z.string(),
  resolution: z.string().optional(),
  resolvedAt: z.string().optional(),
});

/** A statement as a file was read by `potledger recon run`: its name and its text. */
const statementFileSchema = z.object({ file: z.string(), text: z.string() });

/** What the run was given, as given: the JSON statements of POST /recon, or the files of the CLI. */
const runInputsSchema = z
  .object({
    custodian: z.union([custodianStatementJson, statementFileSchema]).describe("The custodian's holdings statement"),
    bank: z.union([bankStatementJson, statementFileSchema]).describe("The bank's cash statement"),
  })
  .describe('The statements the run was given, as given');

const runCheckedSchema = z
  .object({ funds: z.number().int(), openTrades: z.number().int(), currencies: z.number().int() })
  .describe('How many funds, open trades and currencies were compared');

const runSchema = z
  .object({
    runId: z.string(),
    asOf: z.string().describe('The closed business day reconciled'),
    startedAt: z.string(),
    inputs: runInputsSchema,
    checked: runCheckedSchema,
    breaks: z.array(breakSchema).readonly(),
  })
  .meta({ id: 'ReconciliationRun', description: 'A reconciliation run: its inputs, what it checked, and every break' });

/** A stored run as the API declares it: its inputs and counts are JSON the service wrote itself, read back by their schemas. */
function runOf(run: StoredRun): z.output<typeof runSchema> {
  return { ...run, inputs: runInputsSchema.parse(run.inputs), checked: runCheckedSchema.parse(run.checked) };
}

/** Reconciliation for operators: run one from statements, read it, export it as CSV, note resolutions. */
export const reconRoutes: FastifyPluginCallback<{ readonly pool: pg.Pool; readonly reports: pg.Pool; readonly assets: AssetCatalog }> = (app, deps, done) => {
  const typed = app.withTypeProvider<ZodTypeProvider>();
  typed.post(
    '/recon',
    {
      config: { roles: OPERATOR },
      bodyLimit: 8 * 1024 * 1024,
      schema: {
        operationId: 'runReconciliation',
        tags: ['reconciliation'],
        summary: 'Reconcile a close against the custodian and bank statements (JSON)',
        description: 'Zero tolerance: every difference is a break with its size, its value at the latest price and a classification. Formats: docs/RECONCILIATION.md.',
        body: z.strictObject({ custodian: custodianStatementJson, bank: bankStatementJson }),
        response: { 200: runSchema, 400: problemSchema, 409: problemSchema, 422: problemSchema },
      },
    },
    async (request) => {
      // A statement that cannot be read is a StatementError, a domain error (422 with every problem).
      const statements = { custodian: custodianStatementOf(request.body.custodian, deps.assets), bank: bankStatementOf(request.body.bank, deps.assets) };
      // A day that is not closed, or statements of another day: ReconciliationRefusedError, a domain error (409).
      const run = await runReconciliation(deps.pool, { ...statements, inputs: request.body }, deps.assets);
      const stored = await readRun(deps.pool, run.runId, deps.assets);
      if (stored === undefined) throw new Error('the run was stored and cannot be read back');
      return runOf(stored);
    },
  );

  typed.get(
    '/recon/:runId',
    {
      config: { roles: OPERATOR },
      schema: {
        operationId: 'getReconciliationRun',
        description: "The run's inputs as given, what it checked, and every break with its size, value, classification, explanation and resolution.",
        tags: ['reconciliation'],
        summary: 'A reconciliation run and its breaks',
        params: runParams,
        response: { 200: runSchema, 404: problemSchema },
      },
    },
    async (request) => {
      const run = await readRun(deps.reports, request.params.runId, deps.assets);
      if (run === undefined) throw notFound(`reconciliation run ${request.params.runId}`);
      return runOf(run);
    },
  );

  typed.get(
    '/recon/:runId/breaks.csv',
    {
      config: { roles: OPERATOR },
      schema: {
        operationId: 'getReconciliationBreaksCsv',
        description: "The run's breaks as a CSV file with a header line, one break per line, for a spreadsheet.",
        tags: ['reconciliation'],
        summary: "A run's breaks as CSV",
        produces: ['text/csv'],
        params: runParams,
        response: { 200: z.string().describe('The breaks as CSV: a header line, then one break per line'), 404: problemSchema },
      },
    },
    async (request, reply) => {
      const run = await readRun(deps.reports, request.params.runId, deps.assets);
      if (run === undefined) throw notFound(`reconciliation run ${request.params.runId}`);
      return reply.type('text/csv; charset=utf-8').send(breaksCsv(run));
    },
  );

  typed.post(
    '/recon/:runId/breaks/:seq/resolution',
    {
      config: { roles: OPERATOR },
      schema: {
        operationId: 'resolveReconciliationBreak',
        description: "Records an operator's note on how the break was resolved; the break stays in the run as it was found.",
        tags: ['reconciliation'],
        summary: 'Record how a break was resolved',
        params: runParams.extend({ seq: z.coerce.number().int().min(1).max(1_000_000_000) }),
        body: z.strictObject({ note: text(2000) }),
        response: { 200: z.object({ resolved: z.literal(true) }), 404: problemSchema },
      },
    },
    async (request) => {
      const { runId, seq } = request.params;
      if (!(await resolveBreak(deps.pool, runId, seq, request.body.note))) throw notFound(`break ${seq} of run ${runId}`);
      return { resolved: true as const };
    },
  );
  done();
};
