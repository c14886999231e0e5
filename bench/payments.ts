import { connect } from '@nats-io/transport-node';
import pino from 'pino';
import { fanOut, type FanOutCommand } from '../src/dealing/fan-out.js';
import { assetCatalog, DEFAULT_ASSETS, ledgerProcesses, partitionOf } from '../src/ledger/index.js';
import { PaymentsDesk, type Payment } from '../src/payments/desk.js';
import { LedgerPublisher } from '../src/sdk/publisher.js';
import {
  conditions,
  createBenchDatabase,
  deleteBenchStreams,
  freePort,
  numberFlag,
  percentile,
  requireEnv,
  round,
  startWorker,
  stopWorker,
  waitForPartitionOwners,
} from './support.js';

/**
 * `npm run bench -- payments [--json] [--pots N] [--payments N] [--window W] [--partitions P]`
 * (issue 7): payments between pots in different partitions, end to end — the payments desk records
 * each, sends the payer's debit, then the payee's credit, each a command through its pot's partition
 * to a shard worker running as a service process (`src/main.ts`), committed to Postgres — with `--window`
 * payments in flight at once. Each payment's latency runs from the request to its `completed` status.
 * The payment-system requirement (200 payments/s, each under 5 s) is the floor, not the target.
 */
/** The desk's Postgres connections: as many as a service process has by default (DATABASE_POOL_MAX). */
const DESK_CONNECTIONS = 20;

export async function payments(options: Map<string, string>): Promise<Record<string, unknown>> {
  const pots = numberFlag(options, 'pots', 2000);
  const count = numberFlag(options, 'payments', 20_000);
  const window = Math.max(1, numberFlag(options, 'window', 200));
  const partitions = numberFlag(options, 'partitions', 64);
  // The desk gets as many connections as a service process has by default (DATABASE_POOL_MAX).
  const db = await createBenchDatabase('payments', DESK_CONNECTIONS);
  const prefix = `benchpay${db.name.slice(-6)}`;
  const measured: Record<string, unknown> = {
    bench: 'payments',
    ...(await conditions(db.owner)),
    pots,
    payments: count,
    window,
    partitions,
    workers: 1,
    deskConnections: DESK_CONNECTIONS,
  };
  log(`conditions: ${JSON.stringify(measured)}`);
  const nc = await connect({ servers: requireEnv('NATS_URL'), name: 'potledger-bench-payments' });
  const port = await freePort();
  const worker = await startWorker(
    { DATABASE_URL: db.ownerUrl, NATS_PREFIX: prefix, PARTITION_COUNT: String(partitions), HTTP_PORT: String(port), LOG_LEVEL: 'warn' },
    { readyUrl: `http://127.0.0.1:${port}/health/ready` },
  );
  try {
    await waitForPartitionOwners(db.owner, partitions);
    const publisher = await LedgerPublisher.connect({ nc, prefix, registry: ledgerProcesses, partitionCount: partitions });
    const quiet = pino({ level: 'warn' }, pino.destination(2));
    const assets = assetCatalog(DEFAULT_ASSETS);
    const pot = (i: number) => ({ memberId: `BM${i}`, potId: `BP${i}` });
    const setUp = async (process: string, payload: unknown) => {
      const commands: FanOutCommand[] = Array.from({ length: pots }, (_, i) => ({ process, request: { commandId: `${process}:${i}`, ...pot(i), payload } }));
      const done = await fanOut({ pool: db.service, publisher, log: quiet }, commands);
      if (done.rejected.length > 0) throw new Error(`set-up: ${process} rejected ${JSON.stringify(done.rejected.slice(0, 3))}`);
    };
    await setUp('pot.open', {});
    await setUp('cash.deposit', { amount: '1000000.00', currency: 'GBP' });
    log(`set-up: ${pots} pots opened and funded`);

    // Payer i pays the next pot in another partition, 0.01 to 9.99 GBP.
    const payeeOf = (i: number) => {
      for (let k = 1; k < pots; k += 1) {
        const j = (i + k) % pots;
        if (partitionOf(pot(j).memberId, partitions) !== partitionOf(pot(i).memberId, partitions)) return j;
      }
      return (i + 1) % pots;
    };
    const desk = new PaymentsDesk({ pool: db.service, publisher, assets, log: quiet });
    const latencies: number[] = [];
    const statuses: Record<string, number> = {};
    let next = 0;
    const started = performance.now();
    const lane = async () => {
      for (;;) {
        const i = next;
        next += 1;
        if (i >= count) return;
        const from = i % pots;
        const begun = performance.now();
        const payment: Payment = await desk.send({
          paymentId: `bench-${i}`,
          payer: pot(from),
          payee: pot(payeeOf(from)),
          amount: `${(i % 9) + 1}.${String(i % 100).padStart(2, '0')}`,
          currency: 'GBP',
        });
        latencies.push(performance.now() - begun);
        statuses[payment.status] = (statuses[payment.status] ?? 0) + 1;
      }
    };
    await Promise.all(Array.from({ length: window }, () => lane()));
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    const { rows } = await db.owner.query<{ total: bigint | null }>("SELECT sum(balance_minor)::bigint AS total FROM balances WHERE kind = 'payments.clearing'");
    const figures = {
      seconds: round(seconds, 2),
      paymentsPerSec: round(count / seconds, 1),
      commandsPerSec: round((2 * count) / seconds, 1),
      p50Ms: round(percentile(latencies, 0.5), 1),
      p99Ms: round(percentile(latencies, 0.99), 1),
      maxMs: round(latencies[latencies.length - 1] ?? Number.NaN, 1),
      statuses,
      clearingMinor: String(rows[0]?.total ?? 0n),
    };
    Object.assign(measured, figures);
    log(
      `payments: ${count} in ${round(seconds, 2)} s (${figures.paymentsPerSec}/s), p50 ${figures.p50Ms} ms, p99 ${figures.p99Ms} ms, max ${figures.maxMs} ms; ` +
        `${JSON.stringify(statuses)}; clearing ${figures.clearingMinor}`,
    );
    await publisher.close();
    return measured;
  } finally {
    await stopWorker(worker);
    await nc.close();
    await db.drop();
    await deleteBenchStreams(prefix);
  }
}

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}
