import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerProcesses } from '../../src/ledger/index.js';
import { defineSaga, genericSagaStore, refusalReason, SagaEngine, type PotRef } from '../../src/sagas/index.js';
import { LedgerPublisher } from '../../src/sdk/publisher.js';
import { applyCommand, membersInThreePartitions, PARTITIONS, startApiStack, type ApiStack } from '../support/api.js';

/**
 * The saga engine against a real Postgres and nats-server (a shard worker applying the commands): two
 * engines driving the same saga at once move it once and apply each command once, through a single step
 * and a fan-out; a step that keeps failing is counted on its row, and past the retry bound a sweep leaves
 * it in its state, marked, instead of sending it again.
 */
let stack: ApiStack;
const members = membersInThreePartitions('SG');
const party = (member: string): PotRef => ({ memberId: member, potId: `${member}-pot` });

interface Funding {
  readonly payer: PotRef;
  readonly payees: readonly PotRef[];
  readonly amount: string;
}

const fundingSaga = defineSaga<Funding>()({
  name: 'test-funding',
  describe: 'A deposit, then a deposit to each payee at once (a test of the engine)',
  states: {
    funding: {
      step: 'deposit',
      process: 'cash.deposit',
      command: (data) => ({ pot: data.payer, payload: { amount: data.amount, currency: 'GBP' } }),
      to: ['funded', 'refused'],
      on: (outcome) => (outcome.kind === 'applied' ? { to: 'funded' } : { to: 'refused', reason: refusalReason(outcome) }),
    },
    funded: {
      step: 'spread',
      processes: ['cash.deposit'],
      fanOut: (data) => data.payees.map((pot) => ({ process: 'cash.deposit' as const, key: pot.potId, pot, payload: { amount: data.amount, currency: 'GBP' } })),
      to: ['done', 'partial'],
      on: (outcome) => (outcome.applied === outcome.commands ? { to: 'done' } : { to: 'partial', reason: `${outcome.rejected.length} refused` }),
    },
    done: { final: true },
    partial: { final: true },
    refused: { final: true },
  },
  examples: [{ payer: party('a'), payees: [party('b')], amount: '1.00' }],
});

const decode = (data: unknown): Funding => data as Funding;
const publishers: LedgerPublisher[] = [];

async function engine(attemptsMax?: number): Promise<{ engine: SagaEngine; registry: Registry }> {
  const publisher = await LedgerPublisher.connect({ nc: stack.nats.nc, prefix: stack.nats.prefix, registry: ledgerProcesses, partitionCount: PARTITIONS });
  publishers.push(publisher);
  const registry = new Registry();
  const options = { pool: stack.db.service, publisher, log: pino({ level: 'silent' }), source: 'saga-test', metrics: registry };
  return { engine: new SagaEngine(attemptsMax === undefined ? options : { ...options, attemptsMax }), registry };
}

async function counter(registry: Registry, name: string): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((candidate) => candidate.name === name);
  return (metric?.values ?? []).reduce((sum, value) => sum + Number(value.value), 0);
}

async function cash(member: string): Promise<bigint> {
  const { rows } = await stack.db.owner.query<{ balance_minor: bigint }>('SELECT balance_minor FROM balances WHERE account_id = $1', [`pot:${member}-pot:cash:GBP`]);
  return rows[0]?.balance_minor ?? 0n;
}

beforeAll(async () => {
  stack = await startApiStack('sagas');
  for (const member of Object.values(members)) await applyCommand(stack, 'pot.open', member, {}, `open-${member}`);
});
afterAll(async () => {
  for (const publisher of publishers) await publisher.close();
  await stack?.stop();
});

describe('the saga engine', () => {
  it('moves a saga once when two engines drive it at the same time, each command applied once', async () => {
    const store = genericSagaStore(stack.db.service, fundingSaga, decode);
    const data: Funding = { payer: party(members.payer), payees: [party(members.payee), party(members.closed)], amount: '2.50' };
    expect(await store.start('twice', 'funding', data)).toBe(true);
    expect(await store.start('twice', 'funding', data)).toBe(false);
    const [first, second] = await Promise.all([engine(), engine()]);
    if (first === undefined || second === undefined) throw new Error('two engines');
    const driven = await Promise.all([first.engine.drive(fundingSaga, store, 'twice'), second.engine.drive(fundingSaga, store, 'twice')]);
    expect(driven.map((record) => record?.state)).toEqual(['done', 'done']);
    // Two moves in all (funding → funded → done), each made by one engine only.
    expect((await counter(first.registry, 'potledger_saga_moves_total')) + (await counter(second.registry, 'potledger_saga_moves_total'))).toBe(2);
    expect([await cash(members.payer), await cash(members.payee), await cash(members.closed)]).toEqual([250n, 250n, 250n]);
    const { rows } = await stack.db.owner.query<{ command_id: string }>("SELECT command_id FROM command_outcomes WHERE command_id LIKE 'test-funding:twice:%' ORDER BY command_id");
    const expected = ['test-funding:twice:deposit', `test-funding:twice:spread:${members.closed}-pot`, `test-funding:twice:spread:${members.payee}-pot`];
    expect(rows.map((row) => row.command_id).sort()).toEqual(expected.sort());
    const { rows: sagaRows } = await stack.db.owner.query<{ state: string; attempts: number; finished: boolean }>(
      "SELECT state, attempts, finished_at IS NOT NULL AS finished FROM sagas WHERE saga = 'test-funding' AND id = 'twice'",
    );
    expect(sagaRows).toEqual([{ state: 'done', attempts: 0, finished: true }]);
  });

  it('counts a step that keeps failing, and past the retry bound a sweep marks it and sends it no more', async () => {
    const store = genericSagaStore(stack.db.service, fundingSaga, decode);
    // An amount the publisher refuses before publishing: the step fails on every attempt.
    await store.start('stuck', 'funding', { payer: party(members.payer), payees: [], amount: 'not an amount' });
    const { engine: bounded, registry } = await engine(3);
    const sweeps = [];
    for (let sweep = 0; sweep < 5; sweep += 1) sweeps.push((await bounded.sweep(fundingSaga, store, 10)).driven);
    expect(sweeps).toEqual([1, 1, 1, 0, 0]);
    const stuck = await store.load('stuck');
    expect(stuck).toMatchObject({ state: 'funding', attempts: 3 });
    expect(stuck?.error).toContain('step deposit');
    expect(await counter(registry, 'potledger_saga_exhausted_total')).toBe(1);
    expect(await counter(registry, 'potledger_saga_steps_sent_total')).toBe(3);
    const gauge = (await registry.getMetricsAsJSON()).find((metric) => metric.name === 'potledger_sagas');
    expect(gauge?.values.find((value) => value.labels.state === 'funding')?.value).toBe(1);
  });
});
