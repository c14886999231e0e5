/**
 * Reads a message of a partition's command stream: a command (with its reply subject and audit
 * headers), a close marker, or poison with the reason it is not a command. Pure: no I/O.
 */
import type { MsgHdrs } from '@nats-io/transport-node';
import {
  envelopeRejection,
  isCalendarDate,
  partitionOf,
  type Command,
  type ProcessRegistry,
} from '../ledger/index.js';
import { storableText } from '../journal/database.js';
import type { PoisonRecord } from '../journal/poison-records.js';
import { closeMarkerId, COMMAND_BYTES_MAX, HEADER } from '../wire/index.js';

/** How much of a poison message's body is kept in its record, for operators. */
const BODY_PREFIX_CHARS = 512;

/**
 * A message as read here: its stream sequence, body and headers. A JetStream message (JsMsg) is one;
 * tests build them without a server.
 */
export interface CommandMessage {
  readonly seq: number;
  readonly data: Uint8Array;
  readonly headers?: (Pick<MsgHdrs, 'get' | 'has'> & Iterable<[string, string[]]>) | undefined;
}

export const PoisonCode = {
  oversize: 'SHARD_ERR_OVERSIZE',
  notJson: 'SHARD_ERR_NOT_JSON',
  invalidCommand: 'SHARD_ERR_INVALID_COMMAND',
  messageId: 'SHARD_ERR_MESSAGE_ID',
  wrongPartition: 'SHARD_ERR_WRONG_PARTITION',
  /** The body holds a NUL character, which Postgres cannot store in text. */
  nulCharacter: 'SHARD_ERR_NUL_CHARACTER',
  /** JSON nested deeper than any command is (a recursion bomb for whatever walks it). */
  tooDeep: 'SHARD_ERR_TOO_DEEP',
  /** Reading the message failed in a way no rule above names (recorded rather than let stall the partition). */
  unreadable: 'SHARD_ERR_UNREADABLE',
  /** The journal refused the command's writes for good (a data error); set by the shard, not here. */
  storageRefused: 'SHARD_ERR_STORAGE_REFUSED',
  /** A close marker that is malformed (its date, its message id) or for a day nobody asked to close. */
  closeMarker: 'SHARD_ERR_CLOSE_MARKER',
} as const;

/** Who asked for a command and through what, from the publisher's headers (recorded with the outcome). */
export interface CommandAudit {
  readonly principal: string | undefined;
  readonly source: string | undefined;
}

/** An audit header as stored: printable, at most 128 characters; absent when empty. */
function auditHeader(message: CommandMessage, name: string): string | undefined {
  const value = message.headers?.get(name);
  if (value === undefined || value === '') return undefined;
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is replaced
  return storableText(value).replace(/[\x00-\x1f\x7f]/g, ' ').slice(0, 128);
}

export type Received =
  | { readonly kind: 'command'; readonly command: Command; readonly streamSeq: bigint; readonly reply: string | undefined; readonly audit: CommandAudit }
  | { readonly kind: 'close'; readonly businessDate: string; readonly streamSeq: bigint }
  | { readonly kind: 'poison'; readonly record: PoisonRecord };

/** True when a message is a close marker (it carries the Potledger-Close header), not a command. */
export function isCloseMarker(message: CommandMessage): boolean {
  return message.headers?.has(HEADER.close) === true;
}

function headersOf(message: CommandMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  if (message.headers === undefined) return headers;
  for (const [key, values] of message.headers) headers[storableText(key)] = storableText(values.join(',').slice(0, 256));
  return headers;
}

/** The deepest nesting a command's JSON may have; real commands stay under 10. */
export const COMMAND_DEPTH_MAX = 32;

/**
 * True when JSON text nests arrays and objects deeper than `max`: one pass over the text, brackets
 * inside strings skipped, no recursion (so a 64 KB bomb of brackets costs a scan, not the stack).
 */
export function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i += 1; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth += 1;
      if (depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth -= 1;
  }
  return false;
}

/** True when any string or key in a parsed JSON value holds a NUL character. */
function containsNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (Array.isArray(value)) return value.some(containsNul);
  if (typeof value === 'object' && value !== null) return Object.entries(value).some(([key, inner]) => key.includes('\u0000') || containsNul(inner));
  return false;
}

/** A poison record for a message, with every text made storable. */
export function poisonOf(message: CommandMessage, code: string, reason: string): PoisonRecord {
  return {
    streamSeq: BigInt(message.seq),
    code,
    reason: storableText(reason).slice(0, 2000),
    headers: headersOf(message),
    bodyBytes: message.data.length,
    bodyPrefix: storableText(Buffer.from(message.data.subarray(0, BODY_PREFIX_CHARS)).toString('utf8')),
  };
}

/**
 * Reads a message of partition `partition` as a command, or says why it is poison: oversize, not
 * JSON, a malformed envelope, a message id that is not the commandId, or a member of another partition.
 */
export function readMessage(message: CommandMessage, partition: number, partitionCount: number, registry: ProcessRegistry): Received {
  try {
    return read(message, partition, partitionCount, registry);
  } catch (error) {
    return { kind: 'poison', record: poisonOf(message, PoisonCode.unreadable, `unreadable: ${error instanceof Error ? error.message : String(error)}`) };
  }
}

function read(message: CommandMessage, partition: number, partitionCount: number, registry: ProcessRegistry): Received {
  if (isCloseMarker(message)) return readCloseMarker(message, partition);
  const poison = (code: string, reason: string): Received => ({ kind: 'poison', record: poisonOf(message, code, reason) });
  if (message.data.length > COMMAND_BYTES_MAX) return poison(PoisonCode.oversize, `${message.data.length} bytes; at most ${COMMAND_BYTES_MAX}`);
  const text = Buffer.from(message.data).toString('utf8');
  if (nestsDeeperThan(text, COMMAND_DEPTH_MAX)) return poison(PoisonCode.tooDeep, `JSON nested deeper than ${COMMAND_DEPTH_MAX} levels`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    return poison(PoisonCode.notJson, `not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (containsNul(body)) return poison(PoisonCode.nulCharacter, 'the command holds a NUL character, which the journal cannot store');
  const malformed = envelopeRejection(body);
  if (malformed !== undefined) return poison(PoisonCode.invalidCommand, `${malformed.reason}: ${JSON.stringify(malformed.details ?? {})}`);
  return readCommand(message, body as Command, partition, partitionCount, registry);
}

/** A close marker: its business date, or poison when the date or the message id is wrong. */
function readCloseMarker(message: CommandMessage, partition: number): Received {
  const poison = (reason: string): Received => ({ kind: 'poison', record: poisonOf(message, PoisonCode.closeMarker, reason) });
  const businessDate = message.headers?.get(HEADER.close) ?? '';
  if (!isCalendarDate(businessDate)) return poison(`a close marker for "${businessDate}", which is not a date (YYYY-MM-DD)`);
  const messageId = message.headers?.get(HEADER.messageId);
  if (messageId !== closeMarkerId(businessDate, partition)) return poison(`close marker id "${messageId ?? ''}" is not "${closeMarkerId(businessDate, partition)}"`);
  return { kind: 'close', businessDate, streamSeq: BigInt(message.seq) };
}

/** A well-formed command: poison still when its message id is not its commandId or it belongs to another partition. */
function readCommand(message: CommandMessage, command: Command, partition: number, partitionCount: number, registry: ProcessRegistry): Received {
  const poison = (code: string, reason: string): Received => ({ kind: 'poison', record: poisonOf(message, code, reason) });
  const messageId = message.headers?.get(HEADER.messageId);
  if (messageId !== command.commandId) {
    return poison(PoisonCode.messageId, `message id "${messageId ?? ''}" is not the commandId "${command.commandId}"`);
  }
  const key = registry.find(command.process)?.partitionKey(command) ?? command.memberId;
  const expected = partitionOf(key, partitionCount);
  if (expected !== partition) return poison(PoisonCode.wrongPartition, `the command belongs to partition ${expected}, not ${partition}`);
  const reply = message.headers?.get(HEADER.reply);
  return {
    kind: 'command',
    command,
    streamSeq: BigInt(message.seq),
    reply: reply === undefined || reply === '' ? undefined : reply,
    audit: { principal: auditHeader(message, HEADER.principal), source: auditHeader(message, HEADER.source) },
  };
}
