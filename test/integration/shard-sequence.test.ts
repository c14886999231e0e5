import fc from 'fast-check';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerProcesses, partitionOf, type Command } from '../../src/ledger/index.js';
import { LedgerPublisher, PublishValidationError, type Submitted } from '../../src/sdk/publisher.js';
import type { OutcomeNotice } from '../../src/wire/index.js';
import { PoisonCode } from '../../src/shards/parse.js';
import { ShardWorker } from '../../src/shards/worker.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { createTestNats, natsUrl, type TestNats } from '../support/nats.js';
import { waitFor } from '../support/wait.js';
import {
  EFFECTIVE_DATE,
  awaitOutcomes,
  checkEvents,
  commandOf,
  countOutcomes,
  drawPlan,
  ledgerBalances,
  money,
  outcomeMismatches,
  outcomeRows,
  planSeed,
  referenceBalances,
  replayReference,
  submitInOrder,
  verifyBreaks,
  waitForEvents,
} from '../support/shard-checks.js';
import { testShardWorker } from '../support/shard-worker.js';

/*
 * A random sequence of commands (fast-check, seed printed) through the SDK, JetStream and two in-process
 * shard workers (the second joins mid-way, so partitions are handed over while commands flow), with
 * duplicates, out-of-order re-sends and reused commandIds; then the journal must hold exactly what the
 * reference ledger computes from the same sequence. Then poison messages straight onto a partition.
 */

const PARTITIONS = 4;
const POTS = 30;
const MEMBERS = 15;
const STEPS = 300;
const OUTCOME_TIMEOUT_MS = 30_000;
/** The command stream's duplicate window in this test (the least JetStream accepts); see shrinkDuplicateWindow. */
const DUPLICATE_WINDOW_MS = 100;

const potIdOf = (pot: number): string => `pot-${pot}`;
const memberOf = (pot: number): string => `member-${pot % MEMBERS}`;

type MoneyProcess = 'cash.deposit' | 'cash.withdraw' | 'charge.assess' | 'charge.repay';
type Step =
  | { readonly kind: 'money'; readonly process: MoneyProcess; readonly pot: number; readonly cents: number; readonly currency: string; readonly dup: boolean }
  | { readonly kind: 'transfer'; readonly pot: number; readonly cents: number; readonly toPrepaid: boolean; readonly dup: boolean }
  | { readonly kind: 'reverse'; readonly pot: number; readonly pick: number; readonly otherPot: boolean; readonly dup: boolean }
  | { readonly kind: 'close' | 'reopen' | 'bad-amount' | 'unknown-asset' | 'unknown-pot'; readonly pot: number; readonly dup: boolean }
  | { readonly kind: 'resend' | 'conflict'; readonly pick: number };

const pot = fc.integer({ min: 0, max: POTS - 1 });
const dup = fc.integer({ min: 0, max: 9 }).map((n) => n === 0);
const currency = fc.constantFrom('GBP', 'GBP', 'GBP', 'EUR');
const moneyStep = (process: MoneyProcess, maxCents: number) =>
  fc.record({ kind: fc.constant('money' as const), process: fc.constant(process), pot, cents: fc.integer({ min: 1, max: maxCents }), currency, dup });
const simple = (kind: 'close' | 'reopen' | 'bad-amount' | 'unknown-asset' | 'unknown-pot') => fc.record({ kind: fc.constant(kind), pot, dup });

const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  { weight: 30, arbitrary: moneyStep('cash.deposit', 50_000) },
  { weight: 18, arbitrary: moneyStep('cash.withdraw', 30_000) },
  { weight: 8, arbitrary: moneyStep('charge.assess', 20_000) },
  { weight: 8, arbitrary: moneyStep('charge.repay', 30_000) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('transfer' as const), pot, cents: fc.integer({ min: 1, max: 20_000 }), toPrepaid: fc.boolean(), dup }) },
  {
    weight: 8,
    arbitrary: fc.record({ kind: fc.constant('reverse' as const), pot, pick: fc.nat(), otherPot: fc.integer({ min: 0, max: 5 }).map((n) => n === 0), dup }),
  },
  { weight: 1, arbitrary: simple('close') },
  { weight: 1, arbitrary: simple('reopen') },
  { weight: 1, arbitrary: simple('bad-amount') },
  { weight: 1, arbitrary: simple('unknown-asset') },
  { weight: 1, arbitrary: simple('unknown-pot') },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('resend' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('conflict' as const), pick: fc.nat() }) },
);

let db: TestDatabase;
let nats: TestNats;
let secondConnection: NatsConnection | undefined;
const workers: ShardWorker[] = [];
let publisher: LedgerPublisher | undefined;

function startWorker(nc: NatsConnection, name: string): Promise<ShardWorker> {
  const worker = testShardWorker({
    pool: db.service,
    nc,
    prefix: nats.prefix,
    partitionCount: PARTITIONS,
    log: pino({ level: 'warn', base: { worker: name } }),
    workerId: `${name}-${nats.prefix}`,
    ownership: { leaseTtlMs: 3000, tickMs: 250 },
  });
  workers.push(worker);
  return worker.start().then(() => worker);
}

/**
 * JetStream drops a message whose id it saw within the stream's duplicate window (2 minutes), so a
 * re-send inside the window never reaches a worker. To test the workers' own idempotency (what protects
 * the ledger after the window, e.g. a publisher retrying after an outage), the window of this test's
 * command stream is cut to 100 ms (the least JetStream accepts), and re-sends wait until it has passed.
 * Workers and publishers set it back when they provision the streams, so this runs after each started.
 */
async function shrinkDuplicateWindow(): Promise<void> {
  const jsm = await jetstreamManager(nats.nc);
  await jsm.streams.update(`${nats.prefix}-commands`, { duplicate_window: DUPLICATE_WINDOW_MS * 1_000_000 });
}

beforeAll(async () => {
  db = await createTestDatabase('shardseq');
  nats = await createTestNats('seq');
});

afterAll(async () => {
  await publisher?.close();
  for (const worker of workers) await worker.stop().catch(() => undefined);
  await secondConnection?.close().catch(() => undefined);
  await nats?.cleanup();
  await db?.drop();
});

describe('a random command sequence through JetStream and shard workers', () => {
  it('commits exactly what the reference ledger computes, once per commandId, with one event per outcome', async () => {
    const seed = planSeed('shard-sequence');
    const steps = drawPlan(fc.array(stepArbitrary, { minLength: STEPS, maxLength: STEPS }), seed);

    await startWorker(nats.nc, 'first');
    publisher = await LedgerPublisher.connect({
      nc: nats.nc,
      prefix: nats.prefix,
      registry: ledgerProcesses,
      partitionCount: PARTITIONS,
      resendAfterMs: 1000,
      resendAfterMsMax: 3000,
      outcomeTimeoutMs: OUTCOME_TIMEOUT_MS,
    });
    await shrinkDuplicateWindow();

    const sent: Command[] = []; // every publication in order, re-sends and conflicts included
    const originals: Command[] = []; // each commandId once, first publication
    const outcomes = new Map<string, Promise<OutcomeNotice>>();
    const resendAnswers: Promise<OutcomeNotice>[] = [];
    const conflicts: { command: Command; submitted: Submitted; notice: Promise<OutcomeNotice> }[] = [];
    const opened = new Set<number>();
    /**
     * When a commandId last went out: the test's own publications, and every outcome wait of the SDK
     * that may have re-sent it (it re-sends until its answer arrives, so the time it settled bounds that).
     */
    const lastSentAt = new Map<string, number>();
    const sentNow = (commandId: string) => lastSentAt.set(commandId, Date.now());
    const waits = new Map<string, Promise<unknown>[]>();
    const tracked = <T,>(commandId: string, wait: Promise<T>): Promise<T> => {
      const settled = wait.finally(() => sentNow(commandId));
      waits.set(commandId, [...(waits.get(commandId) ?? []), settled.catch(() => undefined)]);
      return settled;
    };
    /**
     * Re-sends go out once JetStream has forgotten the id, so that they reach a worker: the window must
     * have passed since the last time the id went out (a re-send moves the window on).
     */
    const afterDuplicateWindow = (commandId: string) =>
      waitFor(`the duplicate window of ${commandId} to pass`, () => Date.now() - (lastSentAt.get(commandId) ?? 0) > 3 * DUPLICATE_WINDOW_MS);
    /** A conflict must reach a worker: also after every wait that may still re-send the id (the SDK's own re-sends) has settled. */
    const afterLastSend = async (commandId: string) => {
      await Promise.all(waits.get(commandId) ?? []);
      await afterDuplicateWindow(commandId);
    };
    let counter = 0;
    let resendsDelivered = 0;
    const nextId = (label: string): string => `seq-${(counter += 1)}-${label}`;

    const publish = async (command: Command): Promise<Submitted> => {
      const submitted = await submitInOrder(publisher!, command);
      sentNow(command.commandId);
      sent.push(command);
      if (!outcomes.has(command.commandId)) {
        originals.push(command);
        outcomes.set(command.commandId, tracked(command.commandId, submitted.outcome(OUTCOME_TIMEOUT_MS)));
      } else {
        resendAnswers.push(tracked(command.commandId, submitted.outcome(OUTCOME_TIMEOUT_MS)));
      }
      return submitted;
    };
    const command = (process: string, potNumber: number, payload: unknown, potId = potIdOf(potNumber)): Command =>
      commandOf(process, { commandId: nextId(process), memberId: memberOf(potNumber), potId, payload, effectiveDate: EFFECTIVE_DATE });
    const ensureOpen = async (potNumber: number): Promise<void> => {
      if (opened.has(potNumber)) return;
      opened.add(potNumber);
      await publish(command('pot.open', potNumber, {}));
    };
    const movementOf = async (target: Command): Promise<string | undefined> => {
      const notice = await outcomes.get(target.commandId);
      const outcome = notice?.outcome;
      return outcome === undefined || outcome.kind === 'rejected' ? undefined : outcome.movement.movementId;
    };

    /** The command a step publishes (opening its pot first); a re-send or a conflict publishes its own and gives none. */
    const commandOfStep = async (step: Step): Promise<Command | undefined> => {
      switch (step.kind) {
        case 'money': {
          await ensureOpen(step.pot);
          return command(step.process, step.pot, { amount: money(step.cents), currency: step.currency });
        }
        case 'transfer': {
          await ensureOpen(step.pot);
          const [source, target] = step.toPrepaid ? ['cash', 'cash.prepaid'] : ['cash.prepaid', 'cash'];
          return command('cash.transfer', step.pot, { amount: money(step.cents), currency: 'GBP', source, target });
        }
        case 'reverse': {
          await ensureOpen(step.pot);
          const candidates = originals.filter((c) => (step.otherPot || c.potId === potIdOf(step.pot)) && c.process !== 'movement.reverse');
          const target = candidates[step.pick % Math.max(1, candidates.length)];
          const movementId = (target === undefined ? undefined : await movementOf(target)) ?? `missing-${counter}`;
          return command('movement.reverse', step.pot, { movementId });
        }
        case 'close':
          await ensureOpen(step.pot);
          return command('pot.close', step.pot, {});
        case 'reopen':
          await ensureOpen(step.pot);
          return command('pot.open', step.pot, {});
        case 'bad-amount':
          await ensureOpen(step.pot);
          return command('cash.deposit', step.pot, { amount: '1.001', currency: 'GBP' });
        case 'unknown-asset':
          await ensureOpen(step.pot);
          return command('cash.deposit', step.pot, { amount: '10.00', currency: 'XYZ' });
        case 'unknown-pot':
          return command('cash.deposit', step.pot, { amount: '10.00', currency: 'GBP' }, `ghost-${step.pot}`);
        case 'resend': {
          // An earlier command again, after others: same commandId, same meaning.
          const earlier = originals[step.pick % originals.length];
          if (earlier === undefined) return undefined;
          await afterDuplicateWindow(earlier.commandId);
          const submitted = await publish(earlier);
          if (!submitted.duplicate) resendsDelivered += 1;
          return undefined;
        }
        case 'conflict': {
          // An earlier money command's id reused with another amount, once its outcome is known.
          const moneyCommands = originals.filter((c) => typeof (c.payload as { amount?: unknown }).amount === 'string' && c.process !== 'cash.transfer');
          const earlier = moneyCommands[step.pick % Math.max(1, moneyCommands.length)];
          if (earlier === undefined) return undefined;
          await afterLastSend(earlier.commandId);
          const payload = earlier.payload as { amount: string; currency: string };
          const variant: Command = { ...earlier, payload: { ...payload, amount: payload.amount === '1.00' ? '2.00' : '1.00' } };
          const submitted = await submitInOrder(publisher!, variant);
          sentNow(variant.commandId);
          sent.push(variant);
          conflicts.push({ command: variant, submitted, notice: tracked(variant.commandId, submitted.outcome(OUTCOME_TIMEOUT_MS)) });
          return undefined;
        }
      }
    };

    let secondStarted = false;
    for (const [index, step] of steps.entries()) {
      if (!secondStarted && index >= STEPS / 3) {
        // A second worker joins: it takes over some partitions (graceful handover) while commands flow.
        secondStarted = true;
        secondConnection = await connect({ servers: natsUrl(), name: 'potledger-test-seq-2' });
        await startWorker(secondConnection, 'second');
        await shrinkDuplicateWindow();
      }
      const published = await commandOfStep(step);
      if (published !== undefined) {
        await publish(published);
        if ('dup' in step && step.dup) await publish(published); // at once, again
      }
    }

    const notices = await awaitOutcomes(outcomes);
    await Promise.all(resendAnswers);
    const conflictNotices = await Promise.all(conflicts.map((c) => c.notice));
    expect(notices.size).toBe(originals.length);
    console.log(
      `[shard-sequence] ${sent.length} publications, ${originals.length} distinct commands, ${sent.length - originals.length - conflicts.length} re-sends ` +
        `(${resendsDelivered} of the later re-sends reached a worker), ` +
        `${conflicts.length} conflicts; owners: ${workers.map((w) => `${w.workerId}=${w.ownedPartitions().join(',')}`).join(' ')}`,
    );

    // Exactly one outcome per distinct commandId, and nothing else in the journal.
    const rows = await outcomeRows(db.owner);
    expect(await countOutcomes(db.owner, originals.map((c) => c.commandId))).toBe(originals.length);
    expect(rows.size).toBe(originals.length);

    // The reused commandIds were answered as conflicts and changed nothing.
    for (const [index, conflict] of conflicts.entries()) {
      expect(conflict.submitted.duplicate, `conflict ${conflict.command.commandId} was dropped by JetStream's duplicate window`).toBe(false);
      expect(conflictNotices[index]?.status, `conflict ${conflict.command.commandId}`).toBe('conflict');
    }

    // Same outcomes and balances as the reference ledger fed the same publications in order.
    const reference = replayReference(sent, rows, PARTITIONS);
    expect(outcomeMismatches(reference, rows)).toEqual([]);
    expect(await ledgerBalances(db.owner)).toEqual(referenceBalances(reference));
    const kinds = [...rows.values()].reduce<Record<string, number>>((acc, row) => ({ ...acc, [row.status]: (acc[row.status] ?? 0) + 1 }), {});
    console.log(`[shard-sequence] outcomes by kind: ${JSON.stringify(kinds)}`);
    expect(kinds.applied).toBeGreaterThan(0);
    expect(kinds.rejected).toBeGreaterThan(0);

    expect(await verifyBreaks(db.owner)).toEqual({ ok: true, breaks: [] });

    // One event per applied, corrected or rejected outcome; none for replays and conflicts.
    await waitForEvents(nats.nc, `${nats.prefix}-events`, db.owner);
    expect(await checkEvents(nats.nc, `${nats.prefix}-events`, rows)).toEqual({ missing: [], repeated: [], unexpected: [] });
  });

  it('records poison messages (or rejects them as commands) and keeps the partition going', async () => {
    expect(publisher).toBeDefined();
    const memberId = 'member-poison';
    const partition = partitionOf(memberId, PARTITIONS);
    const raw = rawPublisher(partition);
    const envelope = envelopeFor(memberId, 'pot-poison');
    const otherMember = memberOutside(partition);

    const poison: { name: string; seq: number; code: string }[] = [];
    const rejected: { name: string; commandId: string; code: string }[] = [];
    poison.push({ name: 'not JSON', seq: await raw('{"commandId": "half', 'poison-not-json'), code: PoisonCode.notJson });
    poison.push({ name: 'JSON without envelope', seq: await raw(JSON.stringify({ hello: 'world' }), 'poison-no-envelope'), code: PoisonCode.invalidCommand });
    poison.push({ name: 'JSON array', seq: await raw('[1,2,3]', 'poison-array'), code: PoisonCode.invalidCommand });
    poison.push({
      name: 'malformed envelope (date)',
      seq: await raw(JSON.stringify(envelope('poison-bad-date', { effectiveDate: '2026-02-30' })), 'poison-bad-date'),
      code: PoisonCode.invalidCommand,
    });
    const oversize = JSON.stringify(envelope('poison-oversize', { payload: { amount: '1.00', currency: 'GBP', padding: 'x'.repeat(70 * 1024) } }));
    poison.push({ name: 'oversize (> 64 KiB)', seq: await raw(oversize, 'poison-oversize'), code: PoisonCode.oversize });
    poison.push({
      name: 'wrong partition',
      seq: await raw(JSON.stringify(envelope('poison-wrong-partition', { memberId: otherMember })), 'poison-wrong-partition'),
      code: PoisonCode.wrongPartition,
    });
    poison.push({ name: 'message id ≠ commandId', seq: await raw(JSON.stringify(envelope('poison-id-a')), 'poison-id-b'), code: PoisonCode.messageId });
    poison.push({ name: 'no message id', seq: await raw(JSON.stringify(envelope('poison-no-id'))), code: PoisonCode.messageId });
    await raw(JSON.stringify(envelope('poison-unknown-process', { process: 'no.such-process' })), 'poison-unknown-process');
    rejected.push({ name: 'unknown process', commandId: 'poison-unknown-process', code: 'LEDGER_ERR_UNKNOWN_PROCESS' });
    await raw(JSON.stringify(envelope('poison-unknown-pot', { potId: 'pot-never-opened' })), 'poison-unknown-pot');
    rejected.push({ name: 'unknown pot', commandId: 'poison-unknown-pot', code: 'LEDGER_ERR_POT_NOT_FOUND' });
    await raw(JSON.stringify(envelope('poison-bad-payload', { payload: { amount: -1 } })), 'poison-bad-payload');
    rejected.push({ name: 'payload off its schema', commandId: 'poison-bad-payload', code: 'LEDGER_ERR_INVALID_PAYLOAD' });

    // The SDK refuses what it can tell is wrong before publishing.
    await expect(publisher!.submit('cash.deposit', { memberId: 'not a member id', potId: 'p', payload: { amount: '1.00', currency: 'GBP' } })).rejects.toBeInstanceOf(
      PublishValidationError,
    );
    await expect(publisher!.submit('no.such-process', { memberId, potId: 'p', payload: {} })).rejects.toBeInstanceOf(PublishValidationError);

    // Valid commands behind them on the same partition are applied: the partition did not stall.
    const open = await publisher!.submit('pot.open', { memberId, potId: 'pot-poison', payload: {}, effectiveDate: EFFECTIVE_DATE });
    expect(open.partition).toBe(partition);
    const deposit = await publisher!.submit('cash.deposit', { memberId, potId: 'pot-poison', payload: { amount: '7.50', currency: 'GBP' }, effectiveDate: EFFECTIVE_DATE });
    expect((await open.outcome(20_000)).outcome.kind).toBe('applied');
    expect((await deposit.outcome(20_000)).outcome.kind).toBe('applied');

    const { rows: poisonRows } = await db.owner.query<{ stream_seq: bigint; code: string }>(
      'SELECT stream_seq, code FROM poison_messages WHERE partition = $1 ORDER BY stream_seq',
      [partition],
    );
    const poisonBySeq = new Map(poisonRows.map((row) => [Number(row.stream_seq), row.code]));
    expect(poison.map((p) => ({ name: p.name, code: poisonBySeq.get(p.seq) }))).toEqual(poison.map((p) => ({ name: p.name, code: p.code })));
    expect(poisonRows).toHaveLength(poison.length);

    const outcomes = await outcomeRows(db.owner);
    expect(rejected.map((r) => ({ name: r.name, code: outcomes.get(r.commandId)?.rejectionCode }))).toEqual(rejected.map((r) => ({ name: r.name, code: r.code })));
    for (const id of ['poison-not-json', 'poison-oversize', 'poison-wrong-partition', 'poison-id-a', 'poison-id-b', 'poison-no-id', 'poison-bad-date']) {
      expect(outcomes.has(id), `${id} has no outcome`).toBe(false);
    }
    const { rows: balance } = await db.owner.query<{ balance_minor: bigint }>("SELECT balance_minor FROM balances WHERE account_id = 'pot:pot-poison:cash:GBP'");
    expect(balance).toEqual([{ balance_minor: 750n }]);
    expect(await verifyBreaks(db.owner)).toEqual({ ok: true, breaks: [] });
    // The checkpoint covers everything up to the deposit: nothing of the partition is left behind.
    const { rows: owner } = await db.owner.query<{ checkpoint_seq: bigint }>('SELECT checkpoint_seq FROM partition_owners WHERE partition = $1', [partition]);
    expect(owner[0]?.checkpoint_seq).toBeGreaterThanOrEqual(BigInt(deposit.streamSeq));
  });

  /*
   * Postgres text and jsonb cannot hold U+0000. A message that carries one must not make the group commit
   * fail for ever (the partition would stall): the worker records it as poison (SHARD_ERR_NUL_CHARACTER, or
   * SHARD_ERR_NOT_JSON when it is not JSON at all). Each case runs on a partition of its own, followed there
   * by a valid pot.open that must be applied. (Runs last: a partition it stalled would stay stalled.)
   */
  it('a NUL character in a message does not stall its partition', async () => {
    expect(publisher).toBeDefined();
    // Where the worker could either refuse the message as poison or record a rejection, either will do.
    const recordedEitherWay = expect.stringMatching(/^(poison SHARD_ERR_|rejected LEDGER_ERR_)/) as unknown as string;
    const cases: { name: string; memberId: string; send: (raw: RawPublish, envelope: EnvelopeOf) => Promise<unknown>; expected: string }[] = [];
    const members = membersOnDistinctPartitions(4, 'member-nul');
    const [binary, process, payloadKey, envelopeKey] = members;
    if (binary === undefined || process === undefined || payloadKey === undefined || envelopeKey === undefined) throw new Error('not enough partitions');
    cases.push({
      name: 'binary body with a NUL byte (not JSON)',
      memberId: binary,
      send: (raw) => raw(new Uint8Array([0xff, 0xfe, 0x00, 0x01, 0x7b]), 'nul-binary'),
      expected: `poison ${PoisonCode.notJson}`,
    });
    cases.push({
      name: 'JSON object with a NUL key (no envelope)',
      memberId: envelopeKey,
      send: (raw) => raw(JSON.stringify({ '\u0000': 1 }), 'nul-envelope-key'),
      expected: `poison ${PoisonCode.nulCharacter}`,
    });
    cases.push({
      name: 'unknown process whose name holds a NUL',
      memberId: process,
      send: (raw, envelope) => raw(JSON.stringify(envelope('nul-process', { process: 'cash.deposit\u0000' })), 'nul-process'),
      expected: recordedEitherWay,
    });
    cases.push({
      name: 'payload with a NUL key',
      memberId: payloadKey,
      send: (raw, envelope) => raw(JSON.stringify(envelope('nul-payload-key', { payload: { amount: '1.00', currency: 'GBP', '\u0000': 'x' } })), 'nul-payload-key'),
      expected: recordedEitherWay,
    });

    const results = await Promise.all(
      cases.map(async ({ name, memberId, send }) => {
        const partition = partitionOf(memberId, PARTITIONS);
        const seq = await send(rawPublisher(partition), envelopeFor(memberId, `pot-${memberId}`));
        const open = await publisher!.submit('pot.open', { memberId, potId: `pot-${memberId}`, payload: {}, effectiveDate: EFFECTIVE_DATE });
        const after = await open.outcome(10_000).then(
          (notice) => notice.outcome.kind,
          (error: unknown) => `stalled: ${String(error).slice(0, 80)}`,
        );
        const { rows: poisonRows } = await db.owner.query<{ code: string }>('SELECT code FROM poison_messages WHERE partition = $1 AND stream_seq = $2', [
          partition,
          String(seq),
        ]);
        const { rows: outcomeRowsFound } = await db.owner.query<{ rejection_code: string }>(
          "SELECT rejection_code FROM command_outcomes WHERE command_id IN ('nul-process', 'nul-payload-key') AND partition = $1",
          [partition],
        );
        const recorded =
          poisonRows[0] !== undefined
            ? `poison ${poisonRows[0].code}`
            : outcomeRowsFound[0] !== undefined
              ? `rejected ${outcomeRowsFound[0].rejection_code}`
              : 'nothing recorded';
        return { name, recorded, nextCommand: after };
      }),
    );
    expect(results).toEqual(cases.map(({ name, expected }) => ({ name, recorded: expected, nextCommand: 'applied' })));
  });
});

type RawPublish = (body: string | Uint8Array, msgID?: string) => Promise<number>;
type EnvelopeOf = (commandId: string, overrides?: Partial<Command>) => Command;

/** Publishes straight to the partition's command subject, bypassing the SDK's checks; returns the stream sequence. */
function rawPublisher(partition: number): RawPublish {
  const js = jetstream(nats.nc);
  const subject = `${nats.prefix}.cmd.${partition}`;
  return async (body, msgID) => (await js.publish(subject, body, msgID === undefined ? {} : { msgID })).seq;
}

function envelopeFor(memberId: string, potId: string): EnvelopeOf {
  return (commandId, overrides = {}) => ({
    commandId,
    process: 'cash.deposit',
    memberId,
    potId,
    payload: { amount: '1.00', currency: 'GBP' },
    effectiveDate: EFFECTIVE_DATE,
    producedAt: '2026-11-22T09:00:00Z',
    ...overrides,
  });
}

function memberOutside(partition: number): string {
  const member = Array.from({ length: 100 }, (_, i) => `member-elsewhere-${i}`).find((m) => partitionOf(m, PARTITIONS) !== partition);
  if (member === undefined) throw new Error('no member outside the partition');
  return member;
}

/** `count` member ids, each on another partition. */
function membersOnDistinctPartitions(count: number, prefix: string): string[] {
  const byPartition = new Map<number, string>();
  for (let i = 0; byPartition.size < count && i < 1000; i += 1) {
    const member = `${prefix}-${i}`;
    const partition = partitionOf(member, PARTITIONS);
    if (!byPartition.has(partition)) byPartition.set(partition, member);
  }
  return [...byPartition.values()];
}
