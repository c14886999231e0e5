import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { catalogueMarkdown } from '../../src/cli/catalogue.js';
import { ledgerProcesses, parseAccountId, ReferenceLedger, type Command } from '../../src/ledger/index.js';
import type { PaymentData } from '../../src/payments/payment.js';
import { PAYMENT_SAGAS } from '../../src/payments/sagas.js';
import { decodeOutcome, isFanOutSpec, isFinalSpec, isPausedSpec, targetsOf, type CommandOutcome, type FanOutOutcome, type Saga, type StepCommand } from '../../src/sagas/index.js';
import { registered, sagas } from '../../src/sagas/registry.js';
import { checkProperty } from '../support/fast-check.js';
import { ASSETS, EFFECTIVE_DATE, PARTITION_COUNT, PRODUCED_AT } from './arbitraries.js';

/**
 * The property test every registered saga gets (src/sagas/registry.ts), generated from its definition:
 * random outcome sequences, with notices duplicated, dropped and delivered late (after the saga moved on,
 * as a second process driving the same saga would see them), and operator decisions on paused states.
 * A notice moves the saga only by compare-and-set on the state it was sent from, as the engine's store
 * does. Then the saga is finished with outcomes as they come. It ends in exactly one final state, never
 * moves backwards (every move goes to a state of a higher rank, one its state declares), and sends each
 * step (and each command of a fan-out) under one id only, distinct from every other step's.
 * For the payment sagas the commands also run through the pure core (a ReferenceLedger, in memory, no
 * NATS or Postgres) in worlds where the payer may lack the funds and the payee's pot may be closed:
 * the outcomes are the ledger's, and every clearing account the saga used nets to zero once it ends.
 */

type Notice = { readonly from: string; readonly outcome: CommandOutcome | FanOutOutcome };
type Choice = 'applied' | 'rejected' | 'conflict';
type Event =
  | { readonly type: 'send'; readonly choice: Choice; readonly appliedOf: number }
  | { readonly type: 'deliver'; readonly pick: number; readonly keep: boolean }
  | { readonly type: 'decide'; readonly pick: number };

const event: fc.Arbitrary<Event> = fc.oneof(
  fc.record({ type: fc.constant('send' as const), choice: fc.constantFrom<Choice>('applied', 'applied', 'rejected', 'conflict'), appliedOf: fc.nat() }),
  fc.record({ type: fc.constant('deliver' as const), pick: fc.nat(), keep: fc.boolean() }),
  fc.record({ type: fc.constant('decide' as const), pick: fc.nat() }),
);

/** What sending a step's commands comes to: chosen at random, or (for the ledger worlds) the ledger's answers. */
type Answerer = (commands: readonly (StepCommand & { readonly commandId: string })[], fanned: boolean, choice: Event & { type: 'send' }) => CommandOutcome | FanOutOutcome;

const chosen: Answerer = (commands, fanned, { choice, appliedOf }) => {
  const first = commands[0];
  if (fanned) {
    const applied = commands.length === 0 ? 0 : appliedOf % (commands.length + 1);
    return { kind: 'fanned-out', commands: commands.length, applied, rejected: commands.slice(applied).map(({ commandId }) => ({ commandId, code: 'LEDGER_ERR_X', reason: 'x' })) };
  }
  if (choice === 'applied' || first === undefined) return { kind: 'applied' };
  return choice === 'conflict' ? { kind: 'conflict', commandId: first.commandId } : { kind: 'rejected', code: 'LEDGER_ERR_INSUFFICIENT_FUNDS', reason: 'not enough' };
};

interface Walk {
  readonly state: string;
  readonly visited: readonly string[];
  /** Every id sent, by step and key. */
  readonly ids: ReadonlyMap<string, ReadonlySet<string>>;
}

/** The most moves the finishing loop makes: a saga has fewer states than this, and each move is forward. */
const FINISH_ROUNDS_MAX = 64;

function walk(saga: Saga, id: string, data: unknown, events: readonly Event[], answer: Answerer, decisionPick: number): Walk {
  let state = saga.startsIn(data);
  const visited = [state];
  const ids = new Map<string, Set<string>>();
  const notices: Notice[] = [];
  const move = (from: string, to: string | undefined): void => {
    if (to === undefined || state !== from) return; // compare-and-set: a late or repeated notice moves nothing
    expect(targetsOf(saga.spec(from))).toContain(to);
    expect(saga.rank(to)).toBeGreaterThan(saga.rank(from));
    state = to;
    visited.push(to);
  };
  const send = (choice: Event & { type: 'send' }): Notice | undefined => {
    const spec = saga.spec(state);
    if (isFinalSpec(spec) || isPausedSpec(spec)) return undefined;
    const commands = saga.commands(state, id, data);
    for (const command of commands) {
      const key = `${spec.step}:${command.key ?? ''}`;
      ids.set(key, new Set([...(ids.get(key) ?? []), command.commandId]));
    }
    if (commands.length === 0 && !isFanOutSpec(spec)) return undefined;
    return { from: state, outcome: answer(commands, isFanOutSpec(spec), choice) };
  };
  const deliver = (notice: Notice): void => {
    const next = saga.transition(notice.from, notice.outcome, data);
    move(notice.from, 'to' in next ? next.to : undefined);
  };
  const decide = (pick: number): void => {
    const spec = saga.spec(state);
    if (!isPausedSpec(spec)) return;
    const decisions = Object.keys(spec.paused.decisions);
    const decided = saga.decide(state, { decision: decisions[pick % decisions.length] ?? 'none', by: 'operator' }, data);
    move(state, decided?.to);
  };
  for (const step of events) {
    if (step.type === 'send') {
      const notice = send(step);
      if (notice !== undefined) notices.push(notice);
    } else if (step.type === 'deliver') {
      const notice = notices[step.pick % Math.max(notices.length, 1)];
      if (notice !== undefined) deliver(notice);
      if (notice !== undefined && !step.keep) notices.splice(notices.indexOf(notice), 1);
    } else {
      decide(step.pick);
    }
  }
  // Late notices of earlier steps arrive now: they must move nothing.
  for (const notice of notices) if (notice.from !== state) deliver(notice);
  for (let round = 0; round < FINISH_ROUNDS_MAX && !saga.isFinal(state); round += 1) {
    if (saga.paused.includes(state)) decide(decisionPick);
    else {
      const notice = send({ type: 'send', choice: 'applied', appliedOf: Number.MAX_SAFE_INTEGER });
      if (notice === undefined) break;
      deliver(notice);
      deliver(notice); // a duplicated notice
    }
  }
  return { state, visited, ids };
}

function expectWellWalked(saga: Saga, walked: Walk): void {
  expect(saga.isFinal(walked.state), `${saga.name} ends in a final state, not ${walked.state}`).toBe(true);
  expect(walked.visited.filter((state) => saga.isFinal(state))).toEqual([walked.state]);
  for (let at = 1; at < walked.visited.length; at += 1) expect(saga.rank(walked.visited[at] ?? '')).toBeGreaterThan(saga.rank(walked.visited[at - 1] ?? ''));
  const owners = new Map<string, string>();
  for (const [step, ids] of walked.ids) {
    expect([...ids], `step ${step} of ${saga.name} is sent under one id`).toHaveLength(1);
    for (const commandId of ids) {
      expect(owners.get(commandId) ?? step, `${commandId} is the id of one step only`).toBe(step);
      owners.set(commandId, step);
    }
  }
}

describe('every registered saga', () => {
  it('is in the catalogue', () => {
    const catalogue = catalogueMarkdown();
    for (const saga of sagas.list()) expect(catalogue).toContain(`### \`${saga.name}\` saga`);
  });

  for (const saga of sagas.list()) {
    it(`${saga.name}: ends in one final state, never moves backwards, sends each step under one id (random outcomes, duplicated and late notices)`, () => {
      checkProperty(
        `saga ${saga.name}`,
        fc.property(fc.nat({ max: saga.examples.length - 1 }), fc.array(event, { maxLength: 24 }), fc.nat(), (example, events, decisionPick) => {
          expectWellWalked(saga, walk(saga, `S-${example}`, saga.examples[example], events, chosen, decisionPick));
        }),
      );
    });
  }
});

// ---------------------------------------------------------------------------------------------------
// The payment sagas through the pure core

/** A world for one payment: the commands that set up its pots, funded enough or not, the payee open or closed. */
interface World {
  readonly funded: boolean;
  readonly payeeClosed: boolean;
}

function envelope(commandId: string, process: string, pot: { readonly memberId: string; readonly potId: string }, payload: unknown): Command {
  return { commandId, process, memberId: pot.memberId, potId: pot.potId, payload, effectiveDate: EFFECTIVE_DATE, producedAt: PRODUCED_AT };
}

/** The set-up commands of each payment kind's world (the payment example's parties, amount and currency). */
function setUp(kind: string, payment: PaymentData, world: World): Command[] {
  const { payer, payee, currency } = payment;
  const paid = payment.exchange?.fromCurrency ?? currency;
  const funds = world.funded ? '1000.00' : '1.00';
  const opened = [envelope('open-payer', 'pot.open', payer, {}), envelope('open-payee', 'pot.open', payee, {})];
  const closed = world.payeeClosed ? [envelope('close-payee', 'pot.close', payee, {})] : [];
  const poolId = typeof payment.detail.poolId === 'string' ? payment.detail.poolId : 'NONE';
  switch (kind) {
    case 'payment':
      return [...opened, envelope('fund', 'cash.deposit', payer, { amount: funds, currency: paid }), ...closed];
    case 'hold':
      return [
        ...opened,
        envelope('fund', 'cash.deposit', payer, { amount: funds, currency }),
        envelope('place', 'hold.place', payer, { holdId: payment.holdId, payee, amount: payment.amount, currency, expiresAt: '2026-04-30T00:00:00Z' }),
        ...closed,
      ];
    case 'subscription':
      return [...opened, envelope('fund', 'cash.deposit', payer, { amount: funds, currency }), ...closed];
    case 'redemption': {
      // The investor (payee) holds units it subscribed for (fewer than it redeems when not "funded"); the pool has cash.
      const units = world.funded ? '100.00' : '1.00';
      return [
        ...opened,
        envelope('fund-investor', 'cash.deposit', payee, { amount: '1000.00', currency }),
        envelope('subscribe', 'pool.subscribe', payee, { paymentId: 'setup', poolId, amount: units, currency }),
        envelope('credit-pool', 'payment.credit', payer, { paymentId: 'setup', payer: payee, amount: units, currency }),
        envelope('fund-pool', 'cash.deposit', payer, { amount: '50.00', currency }),
        ...closed,
      ];
    }
    case 'distribution':
      return [
        ...opened,
        envelope('fund-pool', 'cash.deposit', payer, { amount: '1000.00', currency }),
        envelope('distribute', 'pool.distribute', payer, { distributionId: 'D1', poolId, amount: payment.amount, currency }),
        ...closed,
      ];
    default:
      throw new Error(`no ledger world for payment kind ${kind}: add one here`);
  }
}

function clearingSums(ledger: ReferenceLedger): Map<string, bigint> {
  const sums = new Map<string, bigint>();
  for (const [account, balance] of ledger.balances()) {
    const parsed = parseAccountId(account);
    if (parsed?.kind === 'payments.clearing') sums.set(parsed.asset, (sums.get(parsed.asset) ?? 0n) + balance);
  }
  return sums;
}

describe('the payment sagas through the pure core', () => {
  /** How the walks ended, by saga and final state: the worlds must reach every way a payment ends. */
  const ends = new Map<string, number>();
  afterAll(() => {
    console.log(`[sagas through the core] ends: ${JSON.stringify(Object.fromEntries(ends))}`);
  });

  for (const kind of PAYMENT_SAGAS) {
    const saga = registered(kind);
    it(`${saga.name}: ends in one final state with every clearing account it used at zero (funds or not, payee open or closed)`, () => {
      checkProperty(
        `saga ${saga.name} through the core`,
        fc.property(
          fc.nat({ max: saga.examples.length - 1 }),
          fc.record({ funded: fc.boolean(), payeeClosed: fc.boolean() }),
          fc.array(event, { maxLength: 24 }),
          fc.nat(),
          (example, world, events, decisionPick) => {
            const payment = kind.examples[example];
            if (payment === undefined) throw new Error('no example');
            const ledger = new ReferenceLedger(ledgerProcesses, ASSETS, PARTITION_COUNT);
            for (const command of setUp(saga.name, payment, world)) ledger.execute(command, `m-${command.commandId}`);
            // The ledger answers each command; a repeat is answered from its first outcome (same id).
            const answer: Answerer = (commands) => {
              const [command] = commands;
              if (command === undefined) throw new Error('a payment step sends one command');
              const answered = ledger.execute(envelope(command.commandId, command.process, command.pot, command.payload), `m-${command.commandId}`);
              const { commandId } = command;
              if (answered.kind === 'conflict') return decodeOutcome({ commandId, status: 'conflict', outcome: answered.rejection });
              return decodeOutcome({ commandId, status: 'answered', outcome: answered.outcome });
            };
            const walked = walk(saga, payment.paymentId, payment, events, answer, decisionPick);
            expectWellWalked(saga, walked);
            ends.set(`${saga.name} ${walked.state}`, (ends.get(`${saga.name} ${walked.state}`) ?? 0) + 1);
            const sums = clearingSums(ledger);
            expect(Object.fromEntries(sums), `clearing after ${walked.visited.join(' → ')}`).toEqual(Object.fromEntries([...sums.keys()].map((asset) => [asset, 0n])));
          },
        ),
        { numRuns: 300 },
      );
    });
  }
});
