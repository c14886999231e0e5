import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { problemOf } from '../../src/api/problems.js';
import { ErrorCode } from '../../src/errors.js';
import { ledgerProcesses } from '../../src/ledger/index.js';
import { ConversionConflictError } from '../../src/payments/conversions.js';
import { PaymentConflictError, PaymentNotFoundError, PaymentNotInReviewError, PaymentRequestError } from '../../src/payments/desk.js';
import { ExchangeRequestError } from '../../src/payments/rates.js';
import { PoolRequestError } from '../../src/pools/pools.js';
import { StatementError } from '../../src/recon/statements.js';
import { LedgerPublisher } from '../../src/sdk/publisher.js';
import { bearer, buildTestApp, json, PARTITIONS, type TestApp } from '../support/api.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { createTestNats, natsUrl, type TestNats } from '../support/nats.js';

/**
 * The desks' domain errors answer exactly what the routes' own re-mapping answered before there was
 * one mapper: the same status, code, title and field errors.
 */
describe('domain errors as problems', () => {
  const cases = [
    { error: new PaymentConflictError('P-1'), status: 409, code: ErrorCode.idempotencyKeyReused, title: 'payment P-1 exists with other details' },
    { error: new PaymentNotFoundError('P-1'), status: 404, code: ErrorCode.notFound, title: 'payment P-1 was not found' },
    { error: new PaymentNotInReviewError('P-1', 'completed'), status: 409, code: ErrorCode.paymentNotInReview, title: 'payment P-1 is completed, not waiting for review' },
    { error: new PaymentRequestError('amount: too many decimals'), status: 422, code: ErrorCode.validationFailed, title: 'amount: too many decimals', body: true },
    { error: new ExchangeRequestError('no EUR→GBP rate'), status: 422, code: ErrorCode.validationFailed, title: 'no EUR→GBP rate', body: true },
    { error: new ConversionConflictError('C-1'), status: 409, code: ErrorCode.idempotencyKeyReused, title: 'conversion C-1 exists with other details' },
    { error: new PoolRequestError(404, 'no pool PA'), status: 404, code: ErrorCode.notFound, title: 'pool PA was not found' },
    { error: new PoolRequestError(409, 'pool PA exists with another name'), status: 409, code: ErrorCode.idempotencyKeyReused, title: 'pool PA exists with another name' },
    { error: new PoolRequestError(422, 'amount: pays more than zero'), status: 422, code: ErrorCode.validationFailed, title: 'amount: pays more than zero', body: true },
  ] as const;

  for (const { error, status, code, title, ...rest } of cases) {
    it(`${error.name} (${error.message}) is ${status} ${code}`, () => {
      const errors = 'body' in rest ? { errors: [{ path: 'body', message: error.message }] } : {};
      expect(problemOf(error)).toEqual({ type: `urn:potledger:problem:${code}`, title, status, code, ...errors });
    });
  }

  it('a statement that cannot be read lists each problem as a problem of the body', () => {
    const error = new StatementError(['as_of: required', 'line 3: units is not a decimal']);
    expect(error.message).toBe('the statement cannot be read: as_of: required; line 3: units is not a decimal');
    expect(problemOf(error)).toEqual({
      type: 'urn:potledger:problem:API_ERR_VALIDATION_FAILED',
      title: 'a statement cannot be read',
      status: 422,
      code: 'API_ERR_VALIDATION_FAILED',
      errors: [
        { path: 'body', message: 'as_of: required' },
        { path: 'body', message: 'line 3: units is not a decimal' },
      ],
    });
  });
});

/** A process without a publisher (a read-only API) answers 503 where a route needs a service that sends commands. */
describe('a read-only API', () => {
  let db: TestDatabase;
  let api: TestApp;

  beforeAll(async () => {
    db = await createTestDatabase('read_only_api');
    api = await buildTestApp(db.service, undefined, { config: { LOG_LEVEL: 'silent' } });
  }, 60_000);
  afterAll(async () => {
    await api?.app.close();
    await db?.drop();
  });

  const party = { memberId: 'M-1', potId: 'M-1-pot' };
  const payee = { memberId: 'M-2', potId: 'M-2-pot' };
  const asks = [
    { method: 'POST', url: '/payments', payload: { paymentId: 'P-1', payer: party, payee, amount: '1.00', currency: 'GBP' } },
    { method: 'GET', url: '/payments/P-1' },
    { method: 'GET', url: '/payments' },
    { method: 'POST', url: '/holds', payload: { holdId: 'H-1', payer: party, payee, amount: '1.00', currency: 'GBP', expiresAt: '2099-01-01T00:00:00Z' } },
    { method: 'POST', url: '/holds/H-1/post', payload: { paymentId: 'P-2', amount: '1.00' } },
    { method: 'POST', url: '/pools', payload: { poolId: 'PA', currency: 'GBP', name: 'Pool A' } },
    { method: 'GET', url: '/pools/PA' },
    { method: 'POST', url: '/conversions', payload: { conversionId: 'C-1', ...party, amount: '1.00', currency: 'EUR', fromCurrency: 'GBP' } },
  ] as const;

  for (const ask of asks) {
    it(`${ask.method} ${ask.url} is 503 API_ERR_UNAVAILABLE`, async () => {
      const payload = 'payload' in ask ? { payload: ask.payload } : {};
      const response = await api.app.inject({ method: ask.method, url: ask.url, headers: bearer(api.keys.operator), ...payload });
      expect(response.statusCode, response.body).toBe(503);
      expect(json(response)).toMatchObject({ code: 'API_ERR_UNAVAILABLE', title: 'this process does not publish commands' });
    });
  }

  it('reads a hold without a publisher (404 for none), and voids none', async () => {
    const read = await api.app.inject({ method: 'GET', url: '/holds/H-1', headers: bearer(api.keys.operator) });
    expect(read.statusCode).toBe(404);
    expect(json(read)).toMatchObject({ code: 'API_ERR_NOT_FOUND', title: 'hold H-1 was not found' });
    const voided = await api.app.inject({ method: 'POST', url: '/holds/H-1/void', headers: bearer(api.keys.operator) });
    expect(voided.statusCode).toBe(404);
  });
});

/**
 * NATS breaks while a desk drives a request: the route answers its own 503 (the same request is safe to
 * send again), as each route's own re-mapping did before the one mapper.
 */
describe('a desk that meets a broken NATS', () => {
  let db: TestDatabase;
  let nats: TestNats;
  let api: TestApp;

  beforeAll(async () => {
    db = await createTestDatabase('broken_nats_api');
    nats = await createTestNats('brokennats');
    // A connection of the publisher's own, closed below; `nats` keeps one to clean the streams up.
    const nc = await connect({ servers: natsUrl(), name: 'potledger-test-broken' });
    const publisher = await LedgerPublisher.connect({ nc, prefix: nats.prefix, registry: ledgerProcesses, partitionCount: PARTITIONS });
    api = await buildTestApp(db.service, publisher, { config: { LOG_LEVEL: 'silent' } });
    await nc.close();
  }, 60_000);
  afterAll(async () => {
    await api?.app.close();
    await nats?.cleanup();
    await db?.drop();
  });

  const payer = { memberId: 'M-1', potId: 'M-1-pot' };
  const payee = { memberId: 'M-2', potId: 'M-2-pot' };

  it('POST /payments is 503 with the payments title', async () => {
    const payload = { paymentId: 'P-1', payer, payee, amount: '1.00', currency: 'GBP' };
    const response = await api.app.inject({ method: 'POST', url: '/payments', headers: bearer(api.keys.service), payload });
    expect(response.statusCode, response.body).toBe(503);
    expect(json(response)).toMatchObject({ code: 'API_ERR_UNAVAILABLE', title: 'the payment could not be driven now; send the same request again, or GET it later' });
  });

  it('POST /pools is 503 with the pools title', async () => {
    const response = await api.app.inject({ method: 'POST', url: '/pools', headers: bearer(api.keys.operator), payload: { poolId: 'PA', currency: 'GBP', name: 'Pool A' } });
    expect(response.statusCode, response.body).toBe(503);
    expect(json(response)).toMatchObject({ code: 'API_ERR_UNAVAILABLE', title: 'the request could not be carried out now; send the same request again' });
  });

  it('POST /conversions is 503 with the conversions title', async () => {
    const today = new Date().toISOString().slice(0, 10);
    const rate = await api.app.inject({ method: 'PUT', url: `/fx-rates/${today}/GBP/EUR`, headers: bearer(api.keys.operator), payload: { rate: '1.17000000' } });
    expect(rate.statusCode, rate.body).toBe(201);
    const payload = { conversionId: 'C-1', ...payer, amount: '1.00', currency: 'EUR', fromCurrency: 'GBP' };
    const response = await api.app.inject({ method: 'POST', url: '/conversions', headers: bearer(api.keys.service), payload });
    expect(response.statusCode, response.body).toBe(503);
    expect(json(response)).toMatchObject({ code: 'API_ERR_UNAVAILABLE', title: 'the conversion could not be sent now; send the same request again' });
  });
});
