import fc from 'fast-check';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type pg from 'pg';
import { verifyLedger } from '../../src/journal/verify.js';
import { assetCatalog, DEFAULT_ASSETS, ledgerProcesses, ReferenceLedger, type Command } from '../../src/ledger/index.js';
import { PublishValidationError, type CommandRequest, type LedgerPublisher, type Submitted } from '../../src/sdk/publisher.js';
import type { OutcomeNotice } from '../../src/wire/index.js';
import { propertySettings } from './fast-check.js';
import { waitFor } from './wait.js';

/**
 * What the shard tests check after a run, the same way in every file: one outcome per commandId, the
 * same outcomes and balances as the reference ledger fed the published commands in order, `verify`, and
 * one event per outcome in the event stream.
 */

export const ASSETS = assetCatalog(DEFAULT_ASSETS);
export const EFFECTIVE_DATE = '2026-11-22';
/** producedAt of the commands fed to the reference (not part of a command's meaning). */
const PRODUCED_AT = '2026-11-22T09:00:00Z';

/** The seed of a test's random plan: FC_SEED when set (replay), else a fresh one; printed either way. */
export function planSeed(name: string): number {
  const { seed } = propertySettings({ ...process.env, FC_PATH: '' });
  console.log(`[plan] ${name} seed=${seed} (replay with FC_SEED=${seed})`);
  return seed;
}

/** One value of `arbitrary`, drawn with `seed`. */
export function drawPlan<T>(arbitrary: fc.Arbitrary<T>, seed: number): T {
  const [value] = fc.sample(arbitrary, { seed, numRuns: 1 });
  if (value === undefined) throw new Error('fast-check drew no value');
  return value;
}

/** A small seeded generator for choices made while a test runs (which worker to kill). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Cents as a decimal string of a 2-decimal currency: 1234 → "12.34". */
export function money(cents: number): string {
  return `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;
}

/** The command the publisher sends for `request` (what the reference ledger is fed). */
export function commandOf(processName: string, request: CommandRequest<unknown> & { commandId: string }): Command {
  return {
    commandId: request.commandId,
    process: processName,
    memberId: request.memberId,
    potId: request.potId,
    payload: request.payload,
    effectiveDate: request.effectiveDate ?? EFFECTIVE_DATE,
    producedAt: PRODUCED_AT,
  };
}

/**
 * Publishes through the SDK and returns once JetStream stored it; a failed publish (a timeout while a
 * worker dies, say) is retried with the same commandId before anything else is published, so the
 * commands of a member reach the stream in the order of the plan.
 */
export async function submitInOrder(publisher: LedgerPublisher, command: Command, attempts = 10): Promise<Submitted> {
  const request = {
    commandId: command.commandId,
    memberId: command.memberId,
    potId: command.potId,
    payload: command.payload,
    effectiveDate: command.effectiveDate,
  };
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await publisher.submit(command.process, request);
    } catch (error) {
      if (error instanceof PublishValidationError || attempt >= attempts) throw error;
    }
  }
}

export interface OutcomeRow {
  readonly commandId: string;
  readonly status: 'applied' | 'corrected' | 'rejected';
  readonly movementId: string | null;
  readonly rejectionCode: string | null;
  readonly partition: number | null;
  readonly seq: bigint;
}

export async function outcomeRows(pool: pg.Pool): Promise<Map<string, OutcomeRow>> {
  const { rows } = await pool.query<{
    command_id: string;
    status: OutcomeRow['status'];
    movement_id: string | null;
    rejection_code: string | null;
    partition: number | null;
    seq: bigint;
  }>('SELECT command_id, status, movement_id, rejection_code, partition, seq FROM command_outcomes ORDER BY seq');
  return new Map(
    rows.map((row) => [
      row.command_id,
      { commandId: row.command_id, status: row.status, movementId: row.movement_id, rejectionCode: row.rejection_code, partition: row.partition, seq: row.seq },
    ]),
  );
}

export async function countOutcomes(pool: pg.Pool, commandIds?: readonly string[]): Promise<number> {
  const { rows } =
    commandIds === undefined
      ? await pool.query<{ n: bigint }>('SELECT count(*) AS n FROM command_outcomes')
      : await pool.query<{ n: bigint }>('SELECT count(*) AS n FROM command_outcomes WHERE command_id = ANY($1::text[])', [commandIds]);
  return Number(rows[0]?.n ?? 0n);
}

/** Every non-zero balance of the ledger (pots and system accounts), as decimal text of minor units. */
export async function ledgerBalances(pool: pg.Pool): Promise<Record<string, string>> {
  const { rows } = await pool.query<{ account_id: string; balance_minor: bigint }>(
    'SELECT account_id, balance_minor FROM balances WHERE balance_minor <> 0 ORDER BY account_id',
  );
  return Object.fromEntries(rows.map((row) => [row.account_id, row.balance_minor.toString()]));
}

export function referenceBalances(reference: ReferenceLedger): Record<string, string> {
  return Object.fromEntries([...reference.balances()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([account, balance]) => [account, balance.toString()]));
}

/**
 * The reference ledger fed `commands` in the order given (re-sends and conflicts included: it answers
 * those from the first outcome, as the journal does). Movement ids are the journal's own, so a reversal's
 * payload names the same movement in both.
 */
export function replayReference(commands: readonly Command[], rows: ReadonlyMap<string, OutcomeRow>, partitionCount: number): ReferenceLedger {
  const reference = new ReferenceLedger(ledgerProcesses, ASSETS, partitionCount);
  for (const command of commands) reference.execute(command, rows.get(command.commandId)?.movementId ?? `reference-${command.commandId}`);
  return reference;
}

/** Where the journal's outcomes differ from the reference's (kind, rejection code), one line each. */
export function outcomeMismatches(reference: ReferenceLedger, rows: ReadonlyMap<string, OutcomeRow>): string[] {
  const problems: string[] = [];
  for (const [commandId, outcome] of reference.outcomes()) {
    const row = rows.get(commandId);
    if (row === undefined) {
      problems.push(`${commandId}: no outcome in the journal (reference: ${outcome.kind})`);
      continue;
    }
    const expected = outcome.kind === 'rejected' ? `rejected ${outcome.code}` : outcome.kind;
    const actual = row.status === 'rejected' ? `rejected ${row.rejectionCode ?? ''}` : row.status;
    if (expected !== actual) problems.push(`${commandId}: journal ${actual}, reference ${expected}`);
  }
  return problems;
}

/** The message id of the event of an outcome (the movement id, or `rejected-<commandId>`). */
export function eventIdOf(row: OutcomeRow): string {
  return row.status === 'rejected' ? `rejected-${row.commandId}` : (row.movementId ?? `missing-movement-${row.commandId}`);
}

/** How many messages of the stream carry each message id (read with an ordered consumer). */
export async function streamMessageIds(nc: NatsConnection, stream: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream);
  if (info.state.messages === 0) return counts;
  const last = info.state.last_seq;
  const consumer = await jetstream(nc).consumers.get(stream);
  const messages = await consumer.consume({ max_messages: 1000 });
  try {
    for await (const message of messages) {
      const id = message.headers?.get('Nats-Msg-Id') ?? `(no id, seq ${message.seq})`;
      counts.set(id, (counts.get(id) ?? 0) + 1);
      if (message.seq >= last) break;
    }
  } finally {
    await messages.close().catch(() => undefined);
  }
  return counts;
}

export interface EventCheck {
  /** Outcomes whose event is not in the stream. */
  readonly missing: string[];
  /** Message ids in the stream more than once. */
  readonly repeated: string[];
  /** Events in the stream that no outcome explains. */
  readonly unexpected: string[];
}

/** Compares the event stream with the outcomes: exactly one event per outcome, none else. */
export async function checkEvents(nc: NatsConnection, stream: string, rows: ReadonlyMap<string, OutcomeRow>): Promise<EventCheck> {
  const counts = await streamMessageIds(nc, stream);
  const expected = new Set([...rows.values()].map(eventIdOf));
  return {
    missing: [...expected].filter((id) => !counts.has(id)),
    repeated: [...counts].filter(([, n]) => n > 1).map(([id, n]) => `${id} ×${n}`),
    unexpected: [...counts.keys()].filter((id) => !expected.has(id)),
  };
}

/** Waits until the event stream holds at least as many messages as there are outcomes (events follow commits). */
export async function waitForEvents(nc: NatsConnection, stream: string, pool: pg.Pool, timeoutMs = 20_000): Promise<void> {
  const jsm = await jetstreamManager(nc);
  let seen = 0;
  let wanted = 0;
  await waitFor(
    'one event per outcome in the event stream',
    async () => {
      wanted = await countOutcomes(pool);
      seen = (await jsm.streams.info(stream)).state.messages;
      return seen >= wanted;
    },
    { timeoutMs, intervalMs: 100, describe: () => `${seen} events for ${wanted} outcomes` },
  );
}

/** The failing checks of `verify`, by name (empty when the ledger is sound). */
export async function verifyBreaks(owner: pg.Pool): Promise<{ ok: boolean; breaks: string[] }> {
  const report = await verifyLedger(owner);
  return { ok: report.ok, breaks: report.checks.filter((check) => !check.ok).map((check) => `${check.name}: ${check.examples.join(' | ')}`) };
}

/** Awaits every outcome (the SDK re-sends until each is known), failing with the ones still unknown. */
export async function awaitOutcomes(pending: ReadonlyMap<string, Promise<OutcomeNotice>>): Promise<Map<string, OutcomeNotice>> {
  const settled = await Promise.allSettled([...pending].map(async ([commandId, outcome]) => [commandId, await outcome] as const));
  const failed = settled.flatMap((result) => (result.status === 'rejected' ? [String(result.reason)] : []));
  if (failed.length > 0) throw new Error(`${failed.length} outcomes never became known, e.g.:\n${failed.slice(0, 5).join('\n')}`);
  return new Map(settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : [])));
}

/** partition_owners as a map partition → owner. */
export async function partitionOwners(pool: pg.Pool): Promise<Map<number, { epoch: bigint; workerId: string }>> {
  const { rows } = await pool.query<{ partition: number; epoch: bigint; worker_id: string }>(
    'SELECT partition, epoch, worker_id FROM partition_owners ORDER BY partition',
  );
  return new Map(rows.map((row) => [row.partition, { epoch: row.epoch, workerId: row.worker_id }]));
}
