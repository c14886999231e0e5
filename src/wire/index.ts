/**
 * The wire between publishers and shard workers: the message headers a command carries, the largest
 * command body, the outcome notice a publisher is sent, the event published for every outcome, the
 * outcome look-up reply, and how each of them is encoded. Both sides (src/sdk, src/shards) import this
 * module and nothing of each other; it imports only the ledger core.
 */
import { outcomeToWire, type Answer, type AssetCatalog, type Outcome, type WireOutcome } from '../ledger/index.js';

/** The largest command body a worker reads; larger ones are recorded as poison (and the SDK refuses to send them). */
export const COMMAND_BYTES_MAX = 64 * 1024;

/** Message headers a command (or an event, or a close marker) carries beside its JSON body. */
export const HEADER = {
  messageId: 'Nats-Msg-Id',
  member: 'Potledger-Member',
  pot: 'Potledger-Pot',
  process: 'Potledger-Process',
  /** Where the worker publishes the outcome once committed (core NATS, best effort). */
  reply: 'Potledger-Reply',
  /** Who asked for the command (an API key id, a service's name): recorded in the audit trail. */
  principal: 'Potledger-Principal',
  /** Through what it came (api, payments-desk, dealing-desk, rebalancer, pools, sdk): recorded in the audit trail. */
  source: 'Potledger-Source',
  /** Marks a close marker (its value is the business date), not a command: see src/shards/close-day.ts. */
  close: 'Potledger-Close',
  /** On an event: the kind of its outcome (applied, corrected, rejected), so a consumer can filter without parsing. */
  outcome: 'Potledger-Outcome',
} as const;

/** The message id of the close marker of `businessDate` on `partition`: a repeat is deduplicated. */
export function closeMarkerId(businessDate: string, partition: number): string {
  return `close:${businessDate}:p${partition}`;
}

/** What the publisher learns about its command once the outcome is known. */
export interface OutcomeNotice {
  readonly commandId: string;
  readonly status: 'answered' | 'conflict';
  readonly replayed: boolean;
  readonly outcome: WireOutcome;
}

/** The notice of one answer: the recorded (or replayed) outcome, or the conflict's rejection. */
export function outcomeNotice(commandId: string, answer: Answer, assets: AssetCatalog): OutcomeNotice {
  return {
    commandId,
    status: answer.kind,
    replayed: answer.kind === 'answered' && answer.replayed,
    outcome: outcomeToWire(answer.kind === 'answered' ? answer.outcome : answer.rejection, assets),
  };
}

/** A notice as sent on the wire (JSON). */
export function encodeOutcomeNotice(notice: OutcomeNotice): string {
  return JSON.stringify(notice);
}

/** The event published after commit for every new outcome (applied, corrected or rejected). */
export interface LedgerEvent {
  readonly commandId: string;
  readonly partition: number;
  readonly outcomeSeq: string;
  readonly outcome: WireOutcome;
}

/** The event of one recorded outcome, at outbox sequence `outcomeSeq` of `partition`. */
export function ledgerEvent(commandId: string, partition: number, outcomeSeq: bigint, outcome: Outcome, assets: AssetCatalog): LedgerEvent {
  return { commandId, partition, outcomeSeq: outcomeSeq.toString(), outcome: outcomeToWire(outcome, assets) };
}

/**
 * The JetStream message id of an event: the movement id, or `rejected-<commandId>` for a rejection (which
 * has no movement). A republished event carries the same id, so the event stream deduplicates it.
 */
export function eventMessageId(event: LedgerEvent): string {
  return event.outcome.kind === 'rejected' ? `${REJECTED_EVENT_PREFIX}${event.commandId}` : event.outcome.movement.movementId;
}

const REJECTED_EVENT_PREFIX = 'rejected-';

/** What an event message id names: a movement id, or (for `rejected-<commandId>`) a command id. */
export function eventMessageIdTarget(messageId: string): { readonly movementId: string; readonly commandId: string } {
  return { movementId: messageId, commandId: messageId.startsWith(REJECTED_EVENT_PREFIX) ? messageId.slice(REJECTED_EVENT_PREFIX.length) : messageId };
}

/**
 * The answer of the outcome lookup service (`<prefix>.outcome.get`, request `{ commandId, fingerprint? }`).
 * With a fingerprint, `sameCommand` says whether the recorded command is the one asked about, or
 * another command under the same id (a conflict).
 */
export type OutcomeLookupReply =
  | { readonly commandId: string; readonly known: true; readonly outcome: WireOutcome; readonly sameCommand?: boolean }
  | { readonly commandId: string; readonly known: false };
