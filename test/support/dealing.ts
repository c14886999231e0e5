import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import pino from 'pino';
import { CustodianSimulator } from '../../src/custodian/simulator.js';
import { NatsCustodian } from '../../src/custodian/nats.js';
import type { CustodianReport } from '../../src/custodian/messages.js';
import { BusinessClock, BusinessDays } from '../../src/dealing/business-day.js';
import { DealingDesk, type FanOut } from '../../src/dealing/desk.js';
import { closingPrice, loadPrices } from '../../src/dealing/prices.js';
import { assetCatalog, DEFAULT_ASSETS, ledgerProcesses } from '../../src/ledger/index.js';
import { LedgerPublisher } from '../../src/sdk/publisher.js';
import type { OutcomeNotice } from '../../src/wire/index.js';
import { createShardMetrics } from '../../src/shards/metrics.js';
import { names } from '../../src/shards/names.js';
import { ShardWorker } from '../../src/shards/worker.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { createTestNats, type TestNats } from './nats.js';

export const assets = assetCatalog(DEFAULT_ASSETS);
export const PARTITIONS = 4;

/**
 * The dealing cycle over the real system: a test database, a NATS prefix, a shard worker, the custodian
 * simulator and the dealing desk, all driven by a business clock the test sets.
 */
export class DealingStack {
  readonly clock = new BusinessClock(new Date('2026-06-01T08:00:00Z'));
  readonly reports: { report: CustodianReport; fanOut: FanOut | undefined }[] = [];
  readonly days: BusinessDays;

  private constructor(
    readonly db: TestDatabase,
    readonly nats: TestNats,
    readonly jsm: JetStreamManager,
    readonly worker: ShardWorker,
    readonly publisher: LedgerPublisher,
    readonly simulator: CustodianSimulator,
    readonly desk: DealingDesk,
  ) {
    desk.onHandled((report, fanOut) => this.reports.push({ report, fanOut }));
    this.days = new BusinessDays({ pool: db.service, jsm, names: names(nats.prefix), partitionCount: PARTITIONS, assets, desk, simulator, clock: this.clock });
  }

  /** The business clock's time: every command's producedAt. */
  set now(instant: Date) {
    this.clock.set(instant);
  }

  static async start(label: string): Promise<DealingStack> {
    const db = await createTestDatabase(label);
    const nats = await createTestNats(label);
    const log = pino({ level: 'warn' });
    const worker = new ShardWorker({
      pool: db.service, nc: nats.nc, prefix: nats.prefix, registry: ledgerProcesses, assets, partitionCount: PARTITIONS,
      metrics: createShardMetrics(), log,
    });
    await worker.start();
    // The publisher reads the stack's clock, which exists once the stack does.
    const holder = { stack: undefined as DealingStack | undefined };
    const publisher = await LedgerPublisher.connect({
      nc: nats.nc, prefix: nats.prefix, registry: ledgerProcesses, partitionCount: PARTITIONS, now: () => holder.stack?.clock.now() ?? new Date(),
    });
    const simulator = await CustodianSimulator.start({ nc: nats.nc, prefix: nats.prefix, assets, closingPrice: (fund, date) => closingPrice(db.service, fund, date) });
    const custodian = await NatsCustodian.connect(nats.nc, nats.prefix, () => undefined);
    const desk = new DealingDesk({ pool: db.service, publisher, custodian, assets, log });
    await desk.start();
    holder.stack = new DealingStack(db, nats, await jetstreamManager(nats.nc), worker, publisher, simulator, desk);
    return holder.stack;
  }

  async stop(): Promise<void> {
    await this.desk.stop();
    await this.simulator.stop();
    await this.publisher.close();
    await this.worker.stop();
    await this.nats.cleanup();
    await this.db.drop();
  }

  /** Sends a command at the business clock's time and returns its outcome. */
  async send(process: string, memberId: string, potId: string, payload: unknown, commandId?: string): Promise<OutcomeNotice['outcome']> {
    const sent = await this.publisher.submit(process, { memberId, potId, payload, ...(commandId === undefined ? {} : { commandId }) });
    return (await sent.outcome(30_000)).outcome;
  }

  async openPotWithCash(memberId: string, potId: string, cash: string): Promise<void> {
    await this.send('pot.open', memberId, potId, {});
    await this.send('cash.deposit', memberId, potId, { amount: cash, currency: 'GBP' });
  }

  async price(fund: string, date: string, price: string): Promise<void> {
    const loaded = await loadPrices(this.db.service, [{ fund, date, price }], 'test', assets);
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
  }

  /** The fund's cut-off on `date`: the clock moves there, every command before it commits, the desk aggregates and sends. */
  async cutoff(fund: string, date: string): Promise<string> {
    const trade = await this.days.cutoff(fund, date);
    if (trade === undefined) throw new Error(`nothing to deal in ${fund} on ${date}`);
    return trade.tradeId;
  }

  /** The custodian strikes `date`'s prices; resolves once the desk handled every report it sent. */
  async strike(date: string): Promise<FanOut[]> {
    return this.days.strike(date);
  }

  async settle(date: string): Promise<FanOut[]> {
    return this.days.settle(date);
  }

  /** The custodian repeats a report; resolves once the desk handled it again. */
  async repeat(report: CustodianReport): Promise<FanOut | undefined> {
    const before = this.reports.length;
    await this.simulator.repeat(report);
    await until(() => this.reports.length > before);
    return this.reports[before]?.fanOut;
  }

  /** Balances by account id, as committed. */
  async balances(): Promise<Map<string, bigint>> {
    const { rows } = await this.db.owner.query<{ account_id: string; balance_minor: bigint }>('SELECT account_id, balance_minor FROM balances WHERE balance_minor <> 0');
    return new Map(rows.map((row) => [row.account_id, row.balance_minor]));
  }

  /** The sum over every partition of one system account kind and asset. */
  async systemTotal(kind: string, asset: string): Promise<bigint> {
    const { rows } = await this.db.owner.query<{ total: bigint | null }>(
      "SELECT sum(balance_minor)::bigint AS total FROM balances WHERE owner_type = 'system' AND kind = $1 AND asset = $2",
      [kind, asset],
    );
    return rows[0]?.total ?? 0n;
  }
}

export async function until(condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
