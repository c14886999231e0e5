import type pg from 'pg';
import type { CommandRequest, LedgerPublisher } from '../sdk/publisher.js';
import type { Log } from '../shards/log.js';

/** One command of a fan-out: a process and its request, with an id derived from what it is for. */
export interface FanOutCommand {
  readonly process: string;
  /** The id is required: a fan-out repeated after a crash must send the same ids again. */
  readonly request: CommandRequest<unknown> & { readonly commandId: string };
}

/** What one fan-out did: commands sent, and how their outcomes came out. */
export interface FanOut {
  readonly commands: number;
  readonly applied: number;
  /** Outcomes other than applied, each with its reason (the caller says whether that is a break). */
  readonly rejected: readonly { readonly commandId: string; readonly code: string; readonly reason: string }[];
}

export interface FanOutOptions {
  readonly pool: pg.Pool;
  readonly publisher: LedgerPublisher;
  readonly log: Log;
  /** How long the whole fan-out may take before it gives up (the caller retries it later). */
  readonly timeoutMs?: number;
  /** What sends it, for the audit trail (`dealing-desk`, `rebalancer`). */
  readonly source?: string;
}

/** The most commands one fan-out sends: a trade's orders at most (TRADE_ORDERS_MAX); its ids and pending set are held in memory. */
export const FAN_OUT_COMMANDS_MAX = 20_000_000;
/** The most commands one `submitMany` carries in a fan-out. */
const FAN_OUT_CHUNK = 5000;
/** Default limit of a whole fan-out. */
export const FAN_OUT_TIMEOUT_MS = 30 * 60 * 1000;
/** How long without a new outcome before the commands still without one are published again. */
const FAN_OUT_RESEND_AFTER_MS = 30_000;
/** How often the fan-out looks at its progress. */
const CHECK_EVERY_MS = 100;
/** Without an outcome notice for this long, the journal is asked about the commands still pending. */
const JOURNAL_CHECK_AFTER_MS = 2000;

/**
 * Publishes the commands in chunks (JetStream acknowledges each chunk), then follows the outcome
 * notices the workers publish after each commit, ticking off its commands as they come: no work per
 * command beyond a set deletion, and nothing that competes with the commits. Notices travel on core
 * NATS and can be lost, so when none has come for a while the journal is asked about the commands still
 * pending; those without an outcome after a longer while are published again under the same ids (a
 * message lost by the server is the only way to be missing; a repeat is answered from its recorded
 * outcome). At the end the journal confirms the count once and gives the rejections with their codes
 * and reasons; an id some other command used first (a conflict, known from its notice) is reported
 * as a rejection too, never counted as applied.
 */
export async function fanOut(options: FanOutOptions, commands: readonly FanOutCommand[]): Promise<FanOut> {
  if (commands.length > FAN_OUT_COMMANDS_MAX) throw new RangeError(`a fan-out of ${commands.length} commands, more than ${FAN_OUT_COMMANDS_MAX}`);
  const publish = async (batch: readonly FanOutCommand[]) => {
    const source = options.source;
    const sourced = source === undefined ? batch : batch.map((command) => ({ ...command, request: { source, ...command.request } }));
    for (let i = 0; i < sourced.length; i += FAN_OUT_CHUNK) await options.publisher.submitMany(sourced.slice(i, i + FAN_OUT_CHUNK));
  };
  const ids = commands.map(({ request }) => request.commandId);
  const pending = new Set(ids);
  // An id already used by another command is answered as a conflict: nothing of this fan-out applied under it.
  const conflicts = new Set<string>();
  const stopFollowing = options.publisher.onOutcome((notice) => {
    if (!pending.delete(notice.commandId)) return;
    if (notice.status === 'conflict') conflicts.add(notice.commandId);
  });
  try {
    await publish(commands);
    const deadline = Date.now() + (options.timeoutMs ?? FAN_OUT_TIMEOUT_MS);
    let left = pending.size;
    let progressAt = Date.now();
    let checkedAt = Date.now();
    while (pending.size > 0) {
      await new Promise((resolve) => setTimeout(resolve, CHECK_EVERY_MS));
      const now = Date.now();
      if (now > deadline) throw new Error(`${pending.size} of ${ids.length} commands of a fan-out have no outcome yet`);
      if (pending.size < left) {
        left = pending.size;
        progressAt = now;
        continue;
      }
      if (now - progressAt < JOURNAL_CHECK_AFTER_MS || now - checkedAt < JOURNAL_CHECK_AFTER_MS) continue;
      checkedAt = now;
      const found = await options.pool.query<{ command_id: string }>('SELECT command_id FROM command_outcomes WHERE command_id = ANY($1::text[])', [[...pending]]);
      for (const row of found.rows) pending.delete(row.command_id);
      if (pending.size < left) continue;
      if (now - progressAt > FAN_OUT_RESEND_AFTER_MS) {
        const missing = commands.filter(({ request }) => pending.has(request.commandId));
        options.log.warn({ missing: missing.length }, 'fan-out commands without an outcome: publishing them again under the same ids');
        await publish(missing);
        progressAt = Date.now();
      }
    }
  } finally {
    stopFollowing();
  }
  const counted = await options.pool.query<{ n: bigint }>('SELECT count(*) AS n FROM command_outcomes WHERE command_id = ANY($1::text[])', [ids]);
  const recorded = Number(counted.rows[0]?.n ?? 0n);
  if (recorded !== ids.length) throw new Error(`the journal holds outcomes for ${recorded} of ${ids.length} commands of a fan-out whose notices all came`);
  const { rows } = await options.pool.query<{ command_id: string; rejection_code: string; reason: string | null }>(
    "SELECT command_id, rejection_code, outcome->>'reason' AS reason FROM command_outcomes WHERE command_id = ANY($1::text[]) AND status = 'rejected'",
    [ids],
  );
  const rejected = [
    ...rows.map((row) => ({ commandId: row.command_id, code: row.rejection_code, reason: row.reason ?? '' })),
    ...[...conflicts].map((commandId) => ({ commandId, code: 'COMMAND_ID_CONFLICT', reason: 'the id was used by another command; this one was not applied' })),
  ];
  return { commands: commands.length, applied: commands.length - rejected.length, rejected };
}
