import { DeliverPolicy, jetstream, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type pg from 'pg';
import { parseAmount, type AssetCatalog } from '../ledger/index.js';
import type { Log } from '../shards/log.js';
import { names as streamNames } from '../shards/names.js';
import { AlertDetector, type Alert, type AlertRules, type Observation } from './rules.js';
import { alertMessage, insertAlerts } from './store.js';

export interface AlertConsumerOptions {
  readonly pool: pg.Pool;
  readonly nc: NatsConnection;
  readonly prefix: string;
  readonly assets: AssetCatalog;
  readonly rules: AlertRules;
  readonly log: Log;
  /** Its name in `alert_checkpoints` (one per deployment). */
  readonly name?: string;
  /** Called after each event is handled (tests wait on it). */
  readonly onEvent?: (streamSeq: number) => void;
}

/** How often the consumer records where it has got to. */
const CHECKPOINT_EVERY_MS = 1000;

/** The subject alerts are published on: `<prefix>.alert.<kind>`. */
export const alertSubject = (prefix: string, kind: Alert['kind']): string => `${prefix}.alert.${kind}`;

/**
 * The alert consumer: reads the ledger's event stream (every committed movement, in stream order, with
 * the time JetStream stored it), runs the rules (`AlertDetector`), stores each alert and publishes it on
 * NATS. Nothing is acknowledged: it reads with an ordered consumer and records its own position in
 * Postgres every second. On a start it replays from two history spans before that position, so the
 * spike windows hold exactly what they held before the restart; alerts found again are already stored
 * (their ids are deterministic) and are neither stored nor published twice. The first start reads the
 * whole stream.
 */
export class AlertConsumer {
  readonly #detector: AlertDetector;
  readonly #name: string;
  #messages: ConsumerMessages | undefined;
  #loop: Promise<void> = Promise.resolve();
  #stopping = false;
  #position: { seq: number; atMs: number } | undefined;
  #savedAt = 0;
  #published = 0;

  constructor(private readonly options: AlertConsumerOptions) {
    this.#detector = new AlertDetector(options.rules);
    this.#name = options.name ?? 'alerts';
  }

  /** Alerts this consumer stored and published since it started. */
  get published(): number {
    return this.#published;
  }

  async start(): Promise<void> {
    const { rows } = await this.options.pool.query<{ event_at: Date }>('SELECT event_at FROM alert_checkpoints WHERE consumer = $1', [this.#name]);
    const checkpoint = rows[0]?.event_at;
    const { windowMs, historyWindows } = this.options.rules.spike;
    const from = checkpoint === undefined ? undefined : new Date(checkpoint.getTime() - 2 * historyWindows * windowMs - windowMs);
    const js = jetstream(this.options.nc);
    const consumer = await js.consumers.get(
      streamNames(this.options.prefix).eventStream,
      from === undefined ? { deliver_policy: DeliverPolicy.All } : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: from.toISOString() },
    );
    this.#messages = await consumer.consume({ max_messages: 1000 });
    this.#loop = this.#follow(this.#messages);
    this.options.log.info({ from: from?.toISOString() ?? 'the start of the stream' }, 'alert consumer following the ledger events');
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#messages?.close();
    await this.#loop;
    await this.#save(true);
  }

  async #follow(messages: ConsumerMessages): Promise<void> {
    try {
      for await (const message of messages) {
        if (this.#stopping) break;
        await this.#handle(message);
        this.options.onEvent?.(message.seq);
      }
    } catch (error) {
      if (!this.#stopping) this.options.log.error({ err: error }, 'the alert consumer stopped');
    }
  }

  async #handle(message: JsMsg): Promise<void> {
    const atMs = Math.floor(message.info.timestampNanos / 1_000_000);
    const observation = this.#observation(message, atMs);
    if (observation !== undefined) {
      const alerts = this.#detector.observe(observation);
      if (alerts.length > 0) {
        const stored = await insertAlerts(this.options.pool, alerts);
        for (const alert of alerts.filter((a) => stored.has(a.alertId))) {
          this.options.nc.publish(alertSubject(this.options.prefix, alert.kind), JSON.stringify(alertMessage(alert, this.options.assets)));
          this.#published += 1;
        }
      }
    }
    this.#position = { seq: message.seq, atMs };
    await this.#save(false);
  }

  /** The movement an event carries, or undefined for a rejection (or an event it cannot read: logged). */
  #observation(message: JsMsg, atMs: number): Observation | undefined {
    let event: { outcome?: { kind?: string; movement?: { movementId?: string; potId?: string; entries?: { asset?: string; amount?: string }[] } } };
    try {
      event = message.json();
    } catch {
      this.options.log.error({ seq: message.seq }, 'an event that is not JSON; skipped by the alert rules');
      return undefined;
    }
    const movement = event.outcome?.movement;
    if (event.outcome?.kind === 'rejected' || movement === undefined) return undefined;
    const entries: Observation['entries'][number][] = [];
    for (const entry of movement.entries ?? []) {
      const scale = this.options.assets.find(entry.asset ?? '')?.scale;
      const amount = scale === undefined ? undefined : parseAmount(entry.amount, scale);
      if (amount === undefined || !amount.ok || entry.asset === undefined) {
        this.options.log.error({ seq: message.seq, entry }, 'an event entry the alert rules cannot read; skipped');
        continue;
      }
      entries.push({ asset: entry.asset, amountMinor: amount.value });
    }
    if (movement.movementId === undefined || movement.potId === undefined) return undefined;
    return { movementId: movement.movementId, potId: movement.potId, atMs, entries };
  }

  async #save(force: boolean): Promise<void> {
    const position = this.#position;
    if (position === undefined || (!force && Date.now() - this.#savedAt < CHECKPOINT_EVERY_MS)) return;
    this.#savedAt = Date.now();
    await this.options.pool.query(
      `INSERT INTO alert_checkpoints (consumer, stream_seq, event_at) VALUES ($1, $2, $3)
       ON CONFLICT (consumer) DO UPDATE SET stream_seq = EXCLUDED.stream_seq, event_at = EXCLUDED.event_at, updated_at = now()`,
      [this.#name, position.seq, new Date(position.atMs)],
    );
  }
}
