import fc from 'fast-check';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { assetCatalog, DEFAULT_ASSETS, LedgerAssertionError, ledgerProcesses, RejectionCode, type Command } from '../../src/ledger/index.js';
import { AccountBook, PotActor } from '../../src/actors/pot-actor.js';
import {
  accountsOf,
  assertItemsAdvance,
  planBatch,
  readBatch,
  snapshotOf,
  stateToLoad,
  type AccountBefore,
  type BatchPlan,
  type PlannerSetup,
  type PlanState,
} from '../../src/shards/batch-planner.js';
import { PoisonCode, type CommandMessage } from '../../src/shards/parse.js';
import { closeMarkerId, HEADER } from '../../src/wire/index.js';
import { checkProperty } from '../support/fast-check.js';

/*
 * The batch planner without NATS or Postgres: messages and loaded state in, items, poison, answers and
 * the state after out.
 */

const SETUP: PlannerSetup = { partition: 0, partitionCount: 1, registry: ledgerProcesses, assets: assetCatalog(DEFAULT_ASSETS) };
const EFFECTIVE_DATE = '2026-11-22';

function command(commandId: string, process: string, potId: string, payload: unknown): Command {
  return { commandId, process, memberId: `member-${potId}`, potId, payload, effectiveDate: EFFECTIVE_DATE, producedAt: '2026-11-22T09:00:00Z' };
}

const open = (id: string, potId: string): Command => command(id, 'pot.open', potId, {});
const deposit = (id: string, potId: string, amount: string): Command => command(id, 'cash.deposit', potId, { amount, currency: 'GBP' });
const withdraw = (id: string, potId: string, amount: string): Command => command(id, 'cash.withdraw', potId, { amount, currency: 'GBP' });

/** A message as the stream would carry the command (message id = commandId). */
function messageOf(seq: number, body: Command | string, messageId = typeof body === 'string' ? '' : body.commandId): CommandMessage {
  const headers = natsHeaders();
  if (messageId !== '') headers.set(HEADER.messageId, messageId);
  headers.set(HEADER.reply, `potledger.reply.test`);
  return { seq, data: new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body)), headers };
}

function closeMarker(seq: number, businessDate: string): CommandMessage {
  const headers = natsHeaders();
  headers.set(HEADER.close, businessDate);
  headers.set(HEADER.messageId, closeMarkerId(businessDate, 0));
  return { seq, data: new TextEncoder().encode(JSON.stringify({ close: businessDate, partition: 0 })), headers };
}

/** The state the shell would load for these messages from an empty journal (plus `recorded`). */
function emptyState(messages: readonly CommandMessage[], recorded: PlanState['recorded'] = new Map()): PlanState {
  const wanted = stateToLoad(SETUP, readBatch(SETUP, messages, new Map()));
  const pots = new Map(wanted.potIds.map((potId) => [potId, new PotActor(potId, undefined)]));
  return { pots, system: new AccountBook(), recorded, movements: new Map(), orders: new Map() };
}

/** A state as plain data, to compare two of them (actors hold functions of their own). */
function snapshotOfState(state: PlanState): unknown {
  return { ...state, pots: new Map([...state.pots].map(([potId, actor]) => [potId, snapshotOf(actor)])), system: accountsOf(state.system) };
}

function idsFrom(prefix: string): () => string {
  let next = 0;
  return () => `${prefix}-${(next += 1)}`;
}

function plan(messages: readonly CommandMessage[], state: PlanState, options: { closeRequested?: boolean; newMovementId?: () => string } = {}): BatchPlan {
  return planBatch(SETUP, readBatch(SETUP, messages, new Map()), state, {
    newMovementId: options.newMovementId ?? idsFrom('movement'),
    closeRequested: options.closeRequested ?? false,
    refused: new Map(),
  });
}

const balanceOf = (state: PlanState, potId: string, account: string): bigint | undefined => state.pots.get(potId)?.book.balances.get(account);

describe('the batch planner', () => {
  it('plans a batch of fresh commands in stream order, each on the state the earlier ones left', () => {
    const messages = [open('c1', 'pot-a'), deposit('c2', 'pot-a', '10.00'), withdraw('c3', 'pot-a', '4.00')].map((c, i) => messageOf(i + 1, c));
    const result = plan(messages, emptyState(messages));
    expect(result.items.map((i) => [i.command.commandId, i.outcome.kind, i.streamSeq])).toEqual([
      ['c1', 'applied', 1n],
      ['c2', 'applied', 2n],
      ['c3', 'applied', 3n],
    ]);
    expect(result.answers.map((a) => [a.command.commandId, a.answer.kind, a.reply])).toEqual([
      ['c1', 'answered', 'potledger.reply.test'],
      ['c2', 'answered', 'potledger.reply.test'],
      ['c3', 'answered', 'potledger.reply.test'],
    ]);
    expect(result.poison).toEqual([]);
    expect(result.close).toBeUndefined();
    expect(balanceOf(result.after, 'pot-a', 'pot:pot-a:cash:GBP')).toBe(600n);
    expect(result.after.pots.get('pot-a')?.pot?.status).toBe('open');
    expect(result.after.recorded.get('c3')?.outcome.kind).toBe('applied');
  });

  it('answers a commandId repeated within the batch from its first outcome, and applies it once', () => {
    const first = deposit('dup', 'pot-a', '10.00');
    const messages = [open('c1', 'pot-a'), first, first].map((c, i) => messageOf(i + 1, c));
    const result = plan(messages, emptyState(messages));
    expect(result.items.map((i) => i.command.commandId)).toEqual(['c1', 'dup']);
    const repeat = result.answers[2]?.answer;
    expect(repeat).toEqual({ kind: 'answered', outcome: result.items[1]?.outcome, replayed: true });
    expect(balanceOf(result.after, 'pot-a', 'pot:pot-a:cash:GBP')).toBe(1000n);
  });

  it('answers a commandId recorded before from its recorded outcome, not applying it again', () => {
    const earlier = plan([messageOf(1, open('c1', 'pot-a')), messageOf(2, deposit('c2', 'pot-a', '10.00'))], emptyState([messageOf(1, open('c1', 'pot-a'))]));
    const messages = [messageOf(3, deposit('c2', 'pot-a', '10.00'))];
    const result = plan(messages, earlier.after);
    expect(result.items).toEqual([]);
    expect(result.answers.map((a) => a.answer)).toEqual([{ kind: 'answered', outcome: earlier.items[1]?.outcome, replayed: true }]);
    expect(balanceOf(result.after, 'pot-a', 'pot:pot-a:cash:GBP')).toBe(1000n);
  });

  it('answers the same commandId with another payload as a conflict, recording nothing', () => {
    const messages = [open('c1', 'pot-a'), deposit('c2', 'pot-a', '10.00'), deposit('c2', 'pot-a', '99.00')].map((c, i) => messageOf(i + 1, c));
    const result = plan(messages, emptyState(messages));
    expect(result.items.map((i) => i.command.commandId)).toEqual(['c1', 'c2']);
    const conflict = result.answers[2]?.answer;
    expect(conflict?.kind).toBe('conflict');
    expect(conflict?.kind === 'conflict' && conflict.rejection.code).toBe(RejectionCode.idempotencyConflict);
  });

  it('isolates an unreadable message as poison and plans the rest of the batch', () => {
    const messages = [messageOf(1, open('c1', 'pot-a')), messageOf(2, '{ not json', 'junk'), messageOf(3, deposit('c3', 'pot-a', '1.00'))];
    const result = plan(messages, emptyState(messages));
    expect(result.poison.map((p) => [p.streamSeq, p.code])).toEqual([[2n, PoisonCode.notJson]]);
    expect(result.items.map((i) => [i.command.commandId, i.outcome.kind])).toEqual([
      ['c1', 'applied'],
      ['c3', 'applied'],
    ]);
  });

  it('commits a close marker that ends the batch when its close was requested, and keeps it as poison otherwise', () => {
    const messages = [messageOf(1, open('c1', 'pot-a')), closeMarker(2, EFFECTIVE_DATE)];
    const requested = plan(messages, emptyState(messages), { closeRequested: true });
    expect(requested.close).toEqual({ businessDate: EFFECTIVE_DATE, streamSeq: 2n });
    expect(requested.poison).toEqual([]);
    expect(stateToLoad(SETUP, readBatch(SETUP, messages, new Map())).closeDate).toBe(EFFECTIVE_DATE);
    const unasked = plan(messages, emptyState(messages), { closeRequested: false });
    expect(unasked.close).toBeUndefined();
    expect(unasked.poison.map((p) => [p.streamSeq, p.code])).toEqual([[2n, PoisonCode.closeMarker]]);
    expect(unasked.items.map((i) => i.command.commandId)).toEqual(['c1']);
  });

  it('asserts that a close marker ends its batch (the reader cuts batches there): a bug, not poison', () => {
    const messages = [closeMarker(1, EFFECTIVE_DATE), messageOf(2, open('c1', 'pot-a'))];
    expect(() => readBatch(SETUP, messages, new Map())).toThrow(LedgerAssertionError);
  });

  it('records a rejection as the outcome, with no postings, and the pot unchanged', () => {
    const messages = [open('c1', 'pot-a'), deposit('c2', 'pot-a', '5.00'), withdraw('c3', 'pot-a', '6.00')].map((c, i) => messageOf(i + 1, c));
    const result = plan(messages, emptyState(messages));
    const rejected = result.items[2];
    expect(rejected?.outcome.kind).toBe('rejected');
    expect(rejected?.outcome.kind === 'rejected' && rejected.outcome.code).toBe(RejectionCode.insufficientFunds);
    expect(rejected?.postings).toEqual([]);
    expect(balanceOf(result.after, 'pot-a', 'pot:pot-a:cash:GBP')).toBe(500n);
  });

  it('answers a command the journal refused with its refusal, and keeps its message as poison', () => {
    const messages = [open('c1', 'pot-a'), deposit('c2', 'pot-a', '5.00')].map((c, i) => messageOf(i + 1, c));
    const refused = new Map([[2n, { sqlState: '22009', message: 'time zone displacement out of range', answer: 'rejection' as const }]]);
    const result = planBatch(SETUP, readBatch(SETUP, messages, refused), emptyState(messages), { newMovementId: idsFrom('m'), closeRequested: false, refused });
    expect(result.items.map((i) => [i.command.commandId, i.outcome.kind === 'rejected' ? i.outcome.code : i.outcome.kind])).toEqual([
      ['c1', 'applied'],
      ['c2', RejectionCode.storageRefused],
    ]);
    expect(result.poison.map((p) => [p.streamSeq, p.code])).toEqual([[2n, PoisonCode.storageRefused]]);
  });

  it('asserts, before the journal sees them, that postings balance per asset and versions advance by one', () => {
    const messages = [open('c1', 'pot-a'), deposit('c2', 'pot-a', '5.00')].map((c, i) => messageOf(i + 1, c));
    const { items } = plan(messages, emptyState(messages));
    const state = new Map<string, AccountBefore>();
    expect(() => assertItemsAdvance(items, state)).not.toThrow();
    const deposited = items[1];
    if (deposited === undefined) throw new Error('no deposit planned');
    const skipped = { ...deposited, postings: deposited.postings.map((p, i) => (i === 0 ? { ...p, accountVersion: p.accountVersion + 1n } : p)) };
    expect(() => assertItemsAdvance([items[0]!, skipped], state)).toThrow(LedgerAssertionError);
    const larger = (p: (typeof deposited.postings)[number]) => ({ ...p, amountMinor: p.amountMinor + 1n, balanceAfterMinor: p.balanceAfterMinor + 1n });
    const unbalanced = { ...deposited, postings: deposited.postings.map((p, i) => (i === 0 ? larger(p) : p)) };
    expect(() => assertItemsAdvance([items[0]!, unbalanced], state)).toThrow(LedgerAssertionError);
    // Loaded as if a posting were already there: the planned version 1 no longer follows from it.
    const loadedAhead = new Map(deposited.postings.filter((p) => !p.account.startsWith('pot:')).map((p) => [p.account, { balanceMinor: 0n, version: 1n }]));
    expect(() => assertItemsAdvance(items, loadedAhead)).toThrow(LedgerAssertionError);
  });
});

/** Commands over three pots: opens, deposits, withdrawals (some rejected), repeats and conflicts of earlier ids, and junk. */
const batchArbitrary = fc
  .array(
    fc.oneof(
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('open' as const), pot: fc.integer({ min: 0, max: 2 }) }) },
      {
        weight: 5,
        arbitrary: fc.record({ kind: fc.constantFrom('deposit' as const, 'withdraw' as const), pot: fc.integer({ min: 0, max: 2 }), cents: fc.integer({ min: 1, max: 5000 }) }),
      },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('repeat' as const), of: fc.nat(), changed: fc.boolean() }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('junk' as const) }) },
    ),
    { minLength: 1, maxLength: 30 },
  )
  .map((steps) => {
    const commands: Command[] = [];
    const messages: CommandMessage[] = [];
    steps.forEach((step, index) => {
      const seq = index + 1;
      if (step.kind === 'junk') return void messages.push(messageOf(seq, '[1, 2', `junk-${seq}`));
      let next: Command;
      if (step.kind === 'repeat') {
        const earlier = commands[step.of % Math.max(commands.length, 1)];
        if (earlier === undefined) return void messages.push(messageOf(seq, '{}', `empty-${seq}`));
        next = step.changed ? { ...earlier, payload: { amount: '0.01', currency: 'GBP' } } : earlier;
      } else if (step.kind === 'open') next = open(`c${seq}`, `pot-${step.pot}`);
      else next = (step.kind === 'deposit' ? deposit : withdraw)(`c${seq}`, `pot-${step.pot}`, `${Math.floor(step.cents / 100)}.${String(step.cents % 100).padStart(2, '0')}`);
      commands.push(next);
      messages.push(messageOf(seq, next));
    });
    return messages;
  });

describe('the batch planner, as a property', () => {
  it('plans a batch in one piece as it plans it in two, the first half’s results fed back as loaded state', () => {
    checkProperty(
      'batch planner: one piece = two halves',
      fc.property(batchArbitrary, fc.nat(), (messages, cutSeed) => {
        const cut = cutSeed % (messages.length + 1);
        // Two states alike: planning advances the actors it is handed.
        const whole = plan(messages, emptyState(messages), { newMovementId: idsFrom('m') });
        const ids = idsFrom('m');
        const first = plan(messages.slice(0, cut), emptyState(messages), { newMovementId: ids });
        const second = plan(messages.slice(cut), first.after, { newMovementId: ids });
        expect([...first.items, ...second.items]).toEqual(whole.items);
        expect([...first.answers, ...second.answers]).toEqual(whole.answers);
        expect([...first.poison, ...second.poison]).toEqual(whole.poison);
        expect(snapshotOfState(second.after)).toEqual(snapshotOfState(whole.after));
      }),
      { numRuns: 200 },
    );
  });
});
