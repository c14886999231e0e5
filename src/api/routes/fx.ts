import type { FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type pg from 'pg';
import { z } from 'zod';
import { isoDate, type AssetCatalog } from '../../ledger/index.js';
import { ratesOf, recordRate } from '../../payments/rates.js';
import { principalOf } from '../auth.js';
import { ProblemCode, ProblemError, problemSchema, type RouteFailure } from '../problems.js';
import { memberIdSchema, potIdSchema } from '../schemas/index.js';

const currencyCode = z.string().regex(/^[A-Z]{3}$/, 'a currency code');
const rateText = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,11})(\.[0-9]{1,8})?$/, 'a positive decimal with at most 8 decimals, such as "1.17000000"')
  .refine((text) => /[1-9]/.test(text), 'a rate is greater than zero');
const rateSchema = z
  .object({ day: z.string(), base: z.string(), quote: z.string(), rate: z.string().describe('quote per one base'), recordedBy: z.string(), recordedAt: z.string() })
  .meta({ id: 'FxRate' });
const conversionId = z.string().regex(/^[A-Za-z0-9_.:-]{1,100}$/, 'letters, digits, _ . : and - only, 1 to 100 characters');
const conversionSchema = z
  .object({
    conversionId: z.string(),
    memberId: z.string(),
    potId: z.string(),
    amount: z.string().describe('What the pot bought, in currency'),
    currency: z.string(),
    exchange: z.object({ fromCurrency: z.string(), rate: z.string(), rateDay: z.string(), cost: z.string().describe('What the pot paid in fromCurrency, rounded up') }),
    status: z.enum(['applied', 'rejected', 'pending']),
    reason: z.string().optional(),
  })
  .meta({ id: 'Conversion' });

/** NATS or Postgres failed: the conversion id makes the same request safe to send again. */
const CONVERSION_UNAVAILABLE: RouteFailure = {
  title: 'the conversion could not be sent now; send the same request again',
  log: 'a conversion could not be sent now',
  component: 'fx',
};

/** Daily FX rates (operators record them) and conversions between a pot's currencies. */
const fxRoutesPlugin: FastifyPluginCallback<{ readonly pool: pg.Pool; readonly assets: AssetCatalog }> = (app, deps, done) => {
  const typed = app.withTypeProvider<ZodTypeProvider>();

  typed.put(
    '/fx-rates/:day/:base/:quote',
    {
      config: { roles: ['operator'] as const },
      schema: {
        operationId: 'recordFxRate',
        tags: ['fx'],
        summary: "Record a day's FX rate: `rate` units of quote per one base",
        description:
          'Recorded once per day and pair: the same rate again is 200, another rate for that day is 409 (payments have used it). ' +
          'A pair is quoted one way; the inverse is not derived.',
        params: z.strictObject({ day: isoDate, base: currencyCode, quote: currencyCode }),
        body: z.strictObject({ rate: rateText }),
        response: { 200: rateSchema, 201: rateSchema, 400: problemSchema, 409: problemSchema, 422: problemSchema },
      },
    },
    async (request, reply) => {
      const { day, base, quote } = request.params;
      for (const code of [base, quote]) {
        if (deps.assets.find(code)?.kind !== 'currency') {
          const errors = [{ path: 'params', message: `${code} is not a currency` }];
          throw new ProblemError(422, ProblemCode.validationFailed, `${code} is not a currency the ledger knows`, { errors });
        }
      }
      if (base === quote) {
        throw new ProblemError(422, ProblemCode.validationFailed, 'a rate is between two currencies', { errors: [{ path: 'params', message: 'base and quote are the same' }] });
      }
      const result = await recordRate(deps.pool, { day, base, quote, rate: request.body.rate, by: principalOf(request).keyId });
      if (result === 'conflict') throw new ProblemError(409, ProblemCode.rateRecorded, `another ${base}→${quote} rate is recorded for ${day}`);
      const recorded = (await ratesOf(deps.pool, day)).find((rate) => rate.base === base && rate.quote === quote);
      if (recorded === undefined) throw new Error(`rate ${base}/${quote} ${day} was recorded and cannot be read back`);
      return reply.code(result === 'recorded' ? 201 : 200).send(recorded);
    },
  );

  typed.get(
    '/fx-rates/:day',
    {
      config: { roles: ['service', 'operator'] as const },
      schema: {
        operationId: 'listFxRates',
        description: 'Every FX rate recorded for the day, each quoted one way (quote per one base), with who recorded it and when.',
        tags: ['fx'],
        summary: 'The FX rates recorded for a day',
        params: z.strictObject({ day: isoDate }),
        response: { 200: z.object({ rates: z.array(rateSchema).readonly() }), 400: problemSchema },
      },
    },
    async (request) => ({ rates: await ratesOf(deps.pool, request.params.day) }),
  );

  typed.post(
    '/conversions',
    {
      config: { roles: ['service', 'operator'] as const, whenUnavailable: CONVERSION_UNAVAILABLE },
      schema: {
        operationId: 'convertCurrency',
        tags: ['fx'],
        summary: "Convert a pot's cash from one currency into another at the latest recorded rate",
        description:
          'The pot buys `amount` of `currency` and pays amount ÷ rate of `fromCurrency`, rounded up (against the pot); ' +
          'both currencies move through the partition\'s fx.liquidity accounts in one movement. Idempotent by conversionId (the rate is fixed when first asked). ' +
          '200 applied; 422 when the ledger refuses it (insufficient funds) or no rate is recorded; 202 pending when no outcome came within the wait.',
        body: z.strictObject({ conversionId, memberId: memberIdSchema, potId: potIdSchema, amount: z.string().max(40), currency: currencyCode, fromCurrency: currencyCode }),
        response: { 200: conversionSchema, 202: conversionSchema, 400: problemSchema, 409: problemSchema, 422: problemSchema, 503: problemSchema },
      },
    },
    async (request, reply) => {
      const conversion = await app.conversions.convert(request.body, `key:${principalOf(request).keyId}`);
      if (conversion.status === 'rejected') {
        const extra = { detail: conversion.reason ?? '', commandId: `conversion:${conversion.conversionId}` };
        throw new ProblemError(422, ProblemCode.rejectedByLedger, 'the ledger rejected the conversion', extra);
      }
      return reply.code(conversion.status === 'pending' ? 202 : 200).send(conversion);
    },
  );
  done();
};

export const fxRoutes = fp(fxRoutesPlugin, { name: 'fx-routes', encapsulate: true, dependencies: ['fx-area'] });
