import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type pg from 'pg';
import type { Posting, ReferenceLedger } from '../../src/ledger/index.js';

/**
 * "Nothing applied twice", as a check that can fail. The journal's unique `command_id` makes a count of
 * movements per `command_id` meaningless (it is always one), so the effects of each command are counted
 * where a double application would really show:
 * - the journal: movements per command id, and every movement's command has an outcome naming that very
 *   movement (a second application under another movement or command id is a movement no outcome names);
 * - the outcomes: one per command id;
 * - the event stream: events per command id, read from the events' bodies (two events with different
 *   message ids for one command get past JetStream's duplicate window and past a count of message ids);
 * - the accounts: every account's postings in the journal, version by version, equal the postings of the
 *   pure core fed the command streams (a doubled effect is a posting the reference does not have, even
 *   when it carries no movement of its own).
 * The checker is pure over what was read (`ObservedLedger`), so a unit test can feed it a doubled
 * movement without running the chaos run (test/unit/chaos-effects.test.ts).
 */

export interface ObservedMovement {
  readonly movementId: string;
  readonly commandId: string;
}

export interface ObservedPosting {
  readonly movementId: string;
  readonly entryIndex: number;
  readonly side: 'debit' | 'credit';
  readonly account: string;
  readonly amountMinor: bigint;
  readonly balanceAfterMinor: bigint;
  readonly accountVersion: bigint;
}

export interface ObservedOutcome {
  readonly commandId: string;
  readonly status: 'applied' | 'corrected' | 'rejected';
  readonly movementId: string | null;
}

export interface ObservedEvent {
  /** The event's Nats-Msg-Id. */
  readonly messageId: string;
  /** The commandId in the event's body; undefined when the body names none. */
  readonly commandId: string | undefined;
}

/** What the ledger holds after a run: the journal's movements and entries, the outcomes and the event stream. */
export interface ObservedLedger {
  readonly movements: readonly ObservedMovement[];
  readonly postings: readonly ObservedPosting[];
  readonly outcomes: readonly ObservedOutcome[];
  readonly events: readonly ObservedEvent[];
}

export interface EffectCheck {
  /** Commands compared (every command id the reference, the journal or the event stream knows). */
  readonly commands: number;
  /** Command ids whose effects are counted more than once anywhere (movements, outcomes or events). */
  readonly doubled: readonly string[];
  /** Every difference, one line each (the first `EFFECT_PROBLEMS_MAX`). */
  readonly problems: readonly string[];
  /** How many differences there were in all. */
  readonly problemCount: number;
}

/** Most problem lines an effect check keeps (a broken run can differ on every account). */
export const EFFECT_PROBLEMS_MAX = 50;

interface Counts {
  movements: number;
  outcomes: number;
  events: number;
}

/** Compares each command's effects in the journal, outcomes and events with the reference run. */
export function checkEffects(observed: ObservedLedger, reference: ReferenceLedger): EffectCheck {
  const problems = new Problems();
  const doubled = new Set<string>();
  const counts = countEffects(observed, problems);
  const expected = reference.outcomes();
  for (const commandId of new Set([...expected.keys(), ...counts.keys()])) {
    const outcome = expected.get(commandId);
    const want: Counts = { movements: outcome === undefined || outcome.kind === 'rejected' ? 0 : 1, outcomes: 1, events: 1 };
    const got = counts.get(commandId) ?? { movements: 0, outcomes: 0, events: 0 };
    for (const what of ['movements', 'outcomes', 'events'] as const) {
      if (got[what] > 1) doubled.add(commandId);
      const unseen = outcome === undefined ? ' (the reference never saw this command)' : '';
      if (got[what] !== want[what]) problems.add(`${commandId}: ${got[what]} ${what}, expected ${want[what]}${unseen}`);
    }
  }
  movementsOfNoOutcome(observed, problems);
  comparePostings(observed.postings, referencePostings(reference), problems);
  return { commands: new Set([...expected.keys(), ...counts.keys()]).size, doubled: [...doubled], problems: problems.lines, problemCount: problems.count };
}

class Problems {
  readonly lines: string[] = [];
  count = 0;

  add(line: string): void {
    this.count += 1;
    if (this.lines.length < EFFECT_PROBLEMS_MAX) this.lines.push(line);
  }
}

function countEffects(observed: ObservedLedger, problems: Problems): Map<string, Counts> {
  const counts = new Map<string, Counts>();
  const of = (commandId: string) => {
    let entry = counts.get(commandId);
    if (entry === undefined) counts.set(commandId, (entry = { movements: 0, outcomes: 0, events: 0 }));
    return entry;
  };
  for (const movement of observed.movements) of(movement.commandId).movements += 1;
  for (const outcome of observed.outcomes) of(outcome.commandId).outcomes += 1;
  for (const event of observed.events) {
    if (event.commandId === undefined) problems.add(`event ${event.messageId} names no command`);
    else of(event.commandId).events += 1;
  }
  return counts;
}

/** A movement is one command's only effect: its command's outcome must name this very movement. */
function movementsOfNoOutcome(observed: ObservedLedger, problems: Problems): void {
  const named = new Map(observed.outcomes.map((outcome) => [outcome.commandId, outcome.movementId]));
  for (const movement of observed.movements) {
    const movementId = named.get(movement.commandId);
    if (movementId !== movement.movementId) {
      problems.add(`movement ${movement.movementId} of ${movement.commandId}: the command's outcome names ${movementId ?? 'no movement'}`);
    }
  }
}

type KeyedPosting = Omit<ObservedPosting, 'accountVersion'>;

/** The reference's postings with the movement each belongs to (its outcomes in the order they were applied). */
export function referencePostings(reference: ReferenceLedger): ObservedPosting[] {
  const postings: readonly Posting[] = reference.postings();
  const tagged: ObservedPosting[] = [];
  for (const outcome of reference.outcomes().values()) {
    if (outcome.kind === 'rejected') continue;
    const count = outcome.movement.entries.length * 2;
    for (const posting of postings.slice(tagged.length, tagged.length + count)) {
      tagged.push({
        movementId: outcome.movement.movementId,
        entryIndex: posting.entryIndex,
        side: posting.side,
        account: posting.account,
        amountMinor: posting.amountMinor,
        balanceAfterMinor: posting.balanceAfterMinor,
        accountVersion: posting.accountVersion,
      });
    }
  }
  if (tagged.length !== postings.length) throw new Error(`the reference's postings (${postings.length}) are not its applied movements' (${tagged.length})`);
  return tagged;
}

/** Account by account, version by version: the same posting in the journal and in the reference. */
function comparePostings(journal: readonly ObservedPosting[], reference: readonly ObservedPosting[], problems: Problems): void {
  const key = (posting: ObservedPosting) => `${posting.account}@${posting.accountVersion}`;
  const show = (posting: KeyedPosting | undefined) =>
    posting === undefined ? 'nothing' : `${posting.side} ${posting.amountMinor} by ${posting.movementId}#${posting.entryIndex} to ${posting.balanceAfterMinor}`;
  const expected = new Map<string, KeyedPosting>();
  for (const posting of reference) expected.set(key(posting), posting);
  const seen = new Set<string>();
  for (const posting of journal) {
    const at = key(posting);
    const want = expected.get(at);
    if (seen.has(at)) problems.add(`${at}: posted twice in the journal (${show(posting)})`);
    else if (want === undefined || show(want) !== show(posting)) problems.add(`${at}: journal ${show(posting)}, reference ${show(want)}`);
    seen.add(at);
  }
  for (const [at, want] of expected) if (!seen.has(at)) problems.add(`${at}: journal nothing, reference ${show(want)}`);
}

/** Reads the journal's movements, entries and outcomes and every event of `eventStream`. */
export async function readObservedLedger(owner: pg.Pool, nc: NatsConnection, eventStream: string): Promise<ObservedLedger> {
  const { rows: movements } = await owner.query<{ movement_id: string; command_id: string }>('SELECT movement_id, command_id FROM movements ORDER BY seq');
  const { rows: entries } = await owner.query<{
    movement_id: string; entry_index: number; side: 'debit' | 'credit'; account_id: string; amount_minor: bigint; balance_after_minor: bigint; account_version: bigint;
  }>('SELECT movement_id, entry_index, side, account_id, amount_minor, balance_after_minor, account_version FROM entries');
  const { rows: outcomes } = await owner.query<{ command_id: string; status: ObservedOutcome['status']; movement_id: string | null }>(
    'SELECT command_id, status, movement_id FROM command_outcomes',
  );
  return {
    movements: movements.map((row) => ({ movementId: row.movement_id, commandId: row.command_id })),
    postings: entries.map((row) => ({
      movementId: row.movement_id, entryIndex: row.entry_index, side: row.side, account: row.account_id,
      amountMinor: BigInt(row.amount_minor), balanceAfterMinor: BigInt(row.balance_after_minor), accountVersion: BigInt(row.account_version),
    })),
    outcomes: outcomes.map((row) => ({ commandId: row.command_id, status: row.status, movementId: row.movement_id })),
    events: await streamEvents(nc, eventStream),
  };
}

/** Every message of the event stream: its message id and the commandId its body names. */
async function streamEvents(nc: NatsConnection, stream: string): Promise<ObservedEvent[]> {
  const info = await (await jetstreamManager(nc)).streams.info(stream);
  const events: ObservedEvent[] = [];
  if (info.state.messages === 0) return events;
  const consumer = await jetstream(nc).consumers.get(stream);
  const messages = await consumer.consume({ max_messages: 1000 });
  try {
    for await (const message of messages) {
      events.push({ messageId: message.headers?.get('Nats-Msg-Id') ?? `(no id, seq ${message.seq})`, commandId: commandIdOf(message.string()) });
      if (message.seq >= info.state.last_seq) break;
    }
  } finally {
    await messages.close().catch(() => undefined);
  }
  return events;
}

function commandIdOf(body: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(body);
    const commandId = typeof parsed === 'object' && parsed !== null ? (parsed as { commandId?: unknown }).commandId : undefined;
    return typeof commandId === 'string' ? commandId : undefined;
  } catch {
    return undefined;
  }
}
