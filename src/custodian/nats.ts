import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { ensureStream } from '../shards/streams.js';
import { custodianNames, type CustodianNames } from './names.js';
import { custodianReportSchema, tradeInstructionSchema, type CustodianAdapter, type CustodianReport, type TradeInstruction } from './messages.js';

export { custodianNames, type CustodianNames } from './names.js';

export async function provisionCustodianStream(nc: NatsConnection, prefix: string): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc);
  const cn = custodianNames(prefix);
  await ensureStream(jsm, cn.stream, [`${prefix}.custodian.*`]);
  return jsm;
}

/** A durable pull consumer of one subject: messages are redelivered until acknowledged. */
export async function durableMessages(js: JetStreamClient, jsm: JetStreamManager, stream: string, durable: string, subject: string) {
  const exists = await jsm.consumers.info(stream, durable).then(() => true, () => false);
  if (!exists) {
    await jsm.consumers.add(stream, {
      durable_name: durable,
      filter_subject: subject,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: 60_000_000_000,
      max_ack_pending: 1000,
    });
  }
  const consumer = await js.consumers.get(stream, durable);
  return consumer.consume({ max_messages: 100, expires: 5000 });
}

/** The Trust's side of the custodian, over NATS JetStream. */
export class NatsCustodian implements CustodianAdapter {
  readonly #js: JetStreamClient;
  #messages: Awaited<ReturnType<typeof durableMessages>> | undefined;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly names: CustodianNames,
    private readonly onMalformed: (message: JsMsg, problem: string) => void,
  ) {
    this.#js = jetstream(nc);
  }

  static async connect(nc: NatsConnection, prefix: string, onMalformed: (message: JsMsg, problem: string) => void): Promise<NatsCustodian> {
    const jsm = await provisionCustodianStream(nc, prefix);
    return new NatsCustodian(nc, jsm, custodianNames(prefix), onMalformed);
  }

  async placeTrade(instruction: TradeInstruction): Promise<void> {
    const body = JSON.stringify(tradeInstructionSchema.parse(instruction));
    await this.#js.publish(this.names.instructionSubject, body, { msgID: `place:${instruction.tradeId}` });
  }

  async *reports(): AsyncIterable<{ readonly report: CustodianReport; ack(): void; working(): void }> {
    this.#messages = await durableMessages(this.#js, this.jsm, this.names.stream, this.names.deskConsumer, this.names.reportSubject);
    for await (const message of this.#messages) {
      const parsed = parseJson(message, custodianReportSchema);
      if (!parsed.ok) {
        // Not a report: kept in the log, never retried, never allowed to stall the reports behind it.
        this.onMalformed(message, parsed.problem);
        message.term();
        continue;
      }
      yield { report: parsed.value, ack: () => message.ack(), working: () => message.working() };
    }
  }

  async close(): Promise<void> {
    await this.#messages?.close();
  }
}

export function parseJson<T>(message: JsMsg, schema: { safeParse(value: unknown): { success: true; data: T } | { success: false; error: { message: string } } }):
  | { ok: true; value: T }
  | { ok: false; problem: string } {
  let value: unknown;
  try {
    value = message.json<unknown>();
  } catch {
    return { ok: false, problem: 'not JSON' };
  }
  const parsed = schema.safeParse(value);
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, problem: parsed.error.message.slice(0, 500) };
}
