import { randomUUID } from 'node:crypto';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { headers as natsHeaders, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { z } from 'zod';
import { commandFingerprint, envelopeRejection, partitionOf, reject, RejectionCode, type Command, type Process, type ProcessRegistry } from '../ledger/index.js';
import { ConnectionBreaks, ConnectionBrokeError } from '../shards/connection-breaks.js';
import { names as namesFor, type Names } from '../shards/names.js';
import { provisionStreams, STREAM_LIMITS_DEFAULT, type StreamLimits } from '../shards/streams.js';
import { COMMAND_BYTES_MAX, HEADER, type OutcomeLookupReply, type OutcomeNotice } from '../wire/index.js';

/** The command was refused before publication: it would only have become a recorded rejection. */
export class PublishValidationError extends Error {
  readonly code = 'SDK_ERR_INVALID_COMMAND';
  constructor(message: string, readonly issues: readonly string[] = []) {
    super(message);
    this.name = 'PublishValidationError';
  }
}

/** No outcome was seen within the time allowed; the command may still be applied later (same id). */
export class OutcomeTimeoutError extends Error {
  readonly code = 'SDK_ERR_OUTCOME_TIMEOUT';
  constructor(readonly commandId: string, timeoutMs: number) {
    super(`no outcome for command ${commandId} within ${timeoutMs} ms; re-send it with the same commandId`);
    this.name = 'OutcomeTimeoutError';
  }
}

export interface CommandRequest<P> {
  readonly memberId: string;
  readonly potId: string;
  readonly payload: P;
  /** Assigned (a UUID) when absent. Re-use it to retry: the ledger applies a commandId at most once. */
  readonly commandId?: string;
  /** The business date; today (UTC) when absent. */
  readonly effectiveDate?: string;
  /** Who asked for it (an API key id, say), for the audit trail; not part of the command's identity. */
  readonly principal?: string;
  /** Through what it came, for the audit trail: the publisher's `source` when absent. */
  readonly source?: string;
}

/** Who asked for a command and through what: NATS headers the worker records with its outcome. */
interface Audit {
  readonly principal: string | undefined;
  readonly source: string;
}

/** A command JetStream has stored. */
export interface Sent {
  readonly commandId: string;
  readonly partition: number;
  /** Resolves with the committed outcome, re-sending the command until it is known. */
  outcome(timeoutMs?: number): Promise<OutcomeNotice>;
}

export interface Submitted extends Sent {
  /** The stream sequence JetStream stored it at. */
  readonly streamSeq: number;
  /** JetStream had this commandId already within its dedupe window. */
  readonly duplicate: boolean;
}

/** The most commands one `submitMany` call publishes. */
export const SUBMIT_MANY_MAX = 10_000;
/** How many times submitMany sends its commands again when the connection breaks during the call. */
const SUBMIT_MANY_ATTEMPTS = 5;

export interface PublisherOptions {
  readonly nc: NatsConnection;
  readonly prefix: string;
  readonly registry: ProcessRegistry;
  readonly partitionCount: number;
  /** First wait before asking for the outcome and re-sending; doubles up to resendAfterMsMax. */
  readonly resendAfterMs?: number;
  readonly resendAfterMsMax?: number;
  readonly outcomeTimeoutMs?: number;
  /** Today's date for commands that give none (tests pin it); the UTC date of `now` by default. */
  readonly today?: () => string;
  /**
   * The clock that stamps `producedAt`: the wall clock by default; the business clock in tests and the
   * demo. Orders deal in the cycle of the first cut-off after their `producedAt`.
   */
  readonly now?: () => Date;
  readonly streamLimits?: Partial<StreamLimits>;
  /**
   * Create the streams, or bring them up to date (true, the default), or only check that the command
   * stream exists (false): what the NATS user `publisher` may do, which leaves provisioning to the
   * workers (src/config/nats-permissions.ts).
   */
  readonly provisionStreams?: boolean;
  /** What this publisher is, for the audit trail (`api`, `payments-desk`, …); `sdk` by default. */
  readonly source?: string;
}

type CamelCase<S extends string> = S extends `${infer Head}.${infer Tail}`
  ? `${Head}${Capitalize<CamelCase<Tail>>}`
  : S extends `${infer Head}-${infer Tail}`
    ? `${Head}${Capitalize<CamelCase<Tail>>}`
    : S;

/** One method per process: `cash.deposit` → `cashDeposit(request)`, typed by the process's payload schema. */
export type ProcessMethods<Ps extends readonly Process[]> = {
  readonly [P in Ps[number] as CamelCase<P['name']>]: (request: CommandRequest<z.input<P['payload']>>) => Promise<Submitted>;
};

export function camelCase(name: string): string {
  return name.replace(/[.-]([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
}

/**
 * The publisher SDK for internal services (the API, the rebalancer, the custodian adapter): validates
 * a command before publishing, assigns its commandId, publishes it to its partition's subject with the
 * commandId as JetStream message id, and can await its outcome, re-sending with the same id until it
 * is known (the ledger applies it once, whatever the number of sends).
 */
export class LedgerPublisher {
  readonly names: Names;
  readonly #js: JetStreamClient;
  readonly #inbox: string;
  readonly #waiting = new Map<string, Set<(notice: OutcomeNotice) => void>>();
  readonly #listeners = new Set<(notice: OutcomeNotice) => void>();
  #subscription: Subscription | undefined;
  readonly #breaks: ConnectionBreaks;

  private constructor(private readonly options: PublisherOptions) {
    this.names = namesFor(options.prefix);
    this.#js = jetstream(options.nc);
    this.#inbox = `${options.prefix}.reply.${randomUUID()}`;
    this.#breaks = new ConnectionBreaks(options.nc);
  }

  static async connect(options: PublisherOptions): Promise<LedgerPublisher> {
    const publisher = new LedgerPublisher(options);
    if (options.provisionStreams === false) await expectCommandStream(options.nc, publisher.names);
    else await provisionStreams(options.nc, publisher.names, { ...STREAM_LIMITS_DEFAULT, ...options.streamLimits });
    publisher.#subscription = options.nc.subscribe(publisher.#inbox);
    void publisher.#listen(publisher.#subscription);
    return publisher;
  }

  /** Typed methods, one per registered process. */
  methods<Ps extends readonly Process[]>(processes: Ps): ProcessMethods<Ps> {
    const methods: Record<string, (request: CommandRequest<unknown>) => Promise<Submitted>> = {};
    for (const process of processes) methods[camelCase(process.name)] = (request) => this.submit(process.name, request);
    return methods as ProcessMethods<Ps>;
  }

  /** Calls `listener` with every outcome notice this publisher receives (for dashboards, benchmarks). */
  onOutcome(listener: (notice: OutcomeNotice) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): Promise<void> {
    this.#subscription?.unsubscribe();
    return Promise.resolve();
  }

  /** Validates and publishes a command; returns once JetStream has stored it. */
  async submit(processName: string, request: CommandRequest<unknown>): Promise<Submitted> {
    const command = this.#command(processName, request);
    const partition = this.#validate(command);
    const body = JSON.stringify(command);
    if (Buffer.byteLength(body) > COMMAND_BYTES_MAX) throw new PublishValidationError(`the command is larger than ${COMMAND_BYTES_MAX} bytes`);
    const audit = this.#audit(request);
    const ack = await this.#publish(command, partition, body, audit);
    return {
      commandId: command.commandId,
      partition,
      streamSeq: ack.seq,
      duplicate: ack.duplicate,
      outcome: (timeoutMs) => this.awaitOutcome(command, partition, body, timeoutMs, audit),
    };
  }

  /**
   * Validates and publishes many commands (a fan-out such as the rebalancer's) with one JetStream
   * acknowledgement for all: every command but the last goes out as a plain publish, the last one
   * waits for its acknowledgement. One connection delivers in order and the stream stores in order, so
   * that acknowledgement confirms them all, unless the connection broke during the call: then the call
   * sends them all again (same ids), and what was lost is stored after what was not (across a break the
   * order within one call is not kept). If it fails, re-send the whole call (same commandIds: the ledger
   * applies each once). Nothing is published when any command is invalid.
   */
  async submitMany(requests: readonly { readonly process: string; readonly request: CommandRequest<unknown> }[]): Promise<Sent[]> {
    if (requests.length > SUBMIT_MANY_MAX) throw new PublishValidationError(`at most ${SUBMIT_MANY_MAX} commands per call`);
    const prepared = requests.map(({ process, request }) => {
      const command = this.#command(process, request);
      const partition = this.#validate(command);
      const body = JSON.stringify(command);
      if (Buffer.byteLength(body) > COMMAND_BYTES_MAX) throw new PublishValidationError(`command ${command.commandId} is larger than ${COMMAND_BYTES_MAX} bytes`);
      return { command, partition, body, audit: this.#audit(request) };
    });
    const last = prepared[prepared.length - 1];
    if (last === undefined) return [];
    // A connection that breaks during the call may have lost plain messages before the acknowledged
    // last one: then the whole call goes again (same ids: JetStream and the ledger drop the repeats).
    for (let attempt = 1; ; attempt += 1) {
      const breaks = this.#breaks.count;
      for (const { command, partition, body, audit } of prepared.slice(0, -1)) {
        const headers = this.#headers(command, audit);
        headers.set(HEADER.messageId, command.commandId);
        this.options.nc.publish(this.names.commandSubject(partition), body, { headers });
      }
      await this.#publish(last.command, last.partition, last.body, last.audit);
      if (prepared.length === 1 || this.#breaks.count === breaks) break;
      if (attempt >= SUBMIT_MANY_ATTEMPTS) throw new ConnectionBrokeError(`${prepared.length} commands`);
    }
    return prepared.map(({ command, partition, body, audit }) => ({
      commandId: command.commandId,
      partition,
      outcome: (timeoutMs) => this.awaitOutcome(command, partition, body, timeoutMs, audit),
    }));
  }

  /** Asks the workers for a command's recorded outcome (and, given its fingerprint, whether it is that command). */
  async lookup(commandId: string, fingerprint?: string): Promise<OutcomeLookupReply> {
    const request = fingerprint === undefined ? { commandId } : { commandId, fingerprint };
    const reply = await this.options.nc.request(this.names.outcomeLookupSubject, JSON.stringify(request), { timeout: 2000 });
    return reply.json<OutcomeLookupReply>();
  }

  async awaitOutcome(
    command: Command,
    partition: number,
    body: string,
    timeoutMs = this.options.outcomeTimeoutMs ?? 60_000,
    audit: Audit = { principal: undefined, source: this.options.source ?? 'sdk' },
  ): Promise<OutcomeNotice> {
    const deadline = Date.now() + timeoutMs;
    let waitMs = this.options.resendAfterMs ?? 2000;
    let resolveNotice: (notice: OutcomeNotice) => void = () => undefined;
    const noticed = new Promise<OutcomeNotice>((resolve) => (resolveNotice = resolve));
    const listeners = this.#waiting.get(command.commandId) ?? new Set();
    listeners.add(resolveNotice);
    this.#waiting.set(command.commandId, listeners);
    try {
      while (Date.now() < deadline) {
        const notice = await Promise.race([noticed, sleep(Math.min(waitMs, deadline - Date.now())).then(() => undefined)]);
        if (notice !== undefined) return notice;
        const known = await this.lookup(command.commandId, commandFingerprint(command)).catch(() => undefined);
        if (known?.known === true && known.sameCommand === false) {
          const conflict = reject(RejectionCode.idempotencyConflict, `command ${command.commandId} was used before with another payload`);
          return { commandId: command.commandId, status: 'conflict', replayed: false, outcome: conflict };
        }
        if (known?.known === true) return { commandId: command.commandId, status: 'answered', replayed: true, outcome: known.outcome };
        await this.#publish(command, partition, body, audit).catch(() => undefined);
        waitMs = Math.min(waitMs * 2, this.options.resendAfterMsMax ?? 10_000);
      }
      throw new OutcomeTimeoutError(command.commandId, timeoutMs);
    } finally {
      listeners.delete(resolveNotice);
      if (listeners.size === 0) this.#waiting.delete(command.commandId);
    }
  }

  /** The time the publisher stamps on commands (`producedAt`): its clock when given one. */
  now(): Date {
    return this.#now();
  }

  #now(): Date {
    return this.options.now?.() ?? new Date();
  }

  #command(process: string, request: CommandRequest<unknown>): Command {
    return {
      commandId: request.commandId ?? randomUUID(),
      process,
      memberId: request.memberId,
      potId: request.potId,
      payload: request.payload,
      effectiveDate: request.effectiveDate ?? this.options.today?.() ?? this.#now().toISOString().slice(0, 10),
      producedAt: this.#now().toISOString(),
    };
  }

  /** The command's partition, after checking everything the worker would reject it for. */
  #validate(command: Command): number {
    const malformed = envelopeRejection(command);
    if (malformed !== undefined) throw new PublishValidationError(malformed.reason, (malformed.details?.issues as string[] | undefined) ?? []);
    const process = this.options.registry.find(command.process);
    if (process === undefined) throw new PublishValidationError(`no process is registered as "${command.process}"`);
    const payload = process.payload.safeParse(command.payload);
    if (!payload.success) {
      throw new PublishValidationError(
        `the payload does not fit ${process.name}`,
        payload.error.issues.map((issue) => `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`),
      );
    }
    commandFingerprint(command); // plain JSON only
    return partitionOf(process.partitionKey(command), this.options.partitionCount);
  }

  #headers(command: Command, audit: Audit) {
    const headers = natsHeaders();
    if (audit.principal !== undefined) headers.set(HEADER.principal, audit.principal);
    headers.set(HEADER.source, audit.source);
    headers.set(HEADER.member, command.memberId);
    headers.set(HEADER.pot, command.potId);
    headers.set(HEADER.process, command.process);
    headers.set(HEADER.reply, this.#inbox);
    return headers;
  }

  async #publish(command: Command, partition: number, body: string, audit: Audit) {
    return this.#js.publish(this.names.commandSubject(partition), body, { msgID: command.commandId, headers: this.#headers(command, audit) });
  }

  #audit(request: CommandRequest<unknown>): Audit {
    return { principal: request.principal, source: request.source ?? this.options.source ?? 'sdk' };
  }

  async #listen(subscription: Subscription): Promise<void> {
    for await (const message of subscription) {
      try {
        const notice = message.json<OutcomeNotice>();
        for (const resolve of this.#waiting.get(notice.commandId) ?? []) resolve(notice);
        for (const listener of this.#listeners) listener(notice);
      } catch {
        // not a notice: ignore
      }
    }
  }
}

/** The command stream exists (a worker provisioned it); otherwise an error that says so. */
async function expectCommandStream(nc: NatsConnection, ledger: Names): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.info(ledger.commandStream).catch((error: unknown) => {
    const why = error instanceof Error ? error.message : String(error);
    throw new Error(`the command stream ${ledger.commandStream} cannot be read (${why}): start a worker first, it creates the streams`, { cause: error });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
