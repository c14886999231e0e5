import { parseArgs } from 'node:util';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pino from 'pino';
import { runCli } from '../cli/run-cli.js';
import { loadConfig } from '../config/config.js';
import { natsConnectOptions } from '../config/nats.js';
import { NatsCustodian } from '../custodian/nats.js';
import { CustodianSimulator } from '../custodian/simulator.js';
import { BusinessClock, BusinessDays, type DayReport } from '../dealing/business-day.js';
import { DealingDesk } from '../dealing/desk.js';
import { closingPrice, loadPrices } from '../dealing/prices.js';
import { createPool, urlAsRole } from '../journal/database.js';
import { insertMember } from '../journal/members.js';
import { ensureServiceRole, migrate } from '../journal/migrate.js';
import { balanceSheet } from '../journal/reads.js';
import { verifyLedger } from '../journal/verify.js';
import { addBusinessDays, assetCatalog, DEFAULT_ASSETS, formatAmount, ledgerProcesses, UK_CALENDAR } from '../ledger/index.js';
import { LedgerPublisher, type Sent } from '../sdk/publisher.js';
import { createShardMetrics } from '../shards/metrics.js';
import { names } from '../shards/names.js';
import { ShardWorker } from '../shards/worker.js';

/**
 * `npm run demo [-- --members N] [--days D] [--if-empty]`: a few business days of the Trust for a few
 * thousand members, through the whole running system (JetStream, a shard worker, Postgres, the dealing
 * desk and the custodian simulator over NATS), driven by a business clock. It prints what each day did
 * and ends with the balance sheet and `verify`. `--if-empty` does nothing on a ledger that holds
 * movements already (`./dev start` runs it so on a fresh database).
 */
const FUNDS = ['FUND-A', 'FUND-B', 'FUND-C'] as const;
const FIRST_DAY = '2026-06-01';
/** Requests submitted in one call: bounds the in-flight publishes and the acks awaited together. */
const PUBLISH_CHUNK_MAX = 2000;

await runCli(async (args) => {
  const { values } = parseArgs({
    args: [...args],
    options: { members: { type: 'string', default: '2000' }, days: { type: 'string', default: '3' }, 'if-empty': { type: 'boolean', default: false } },
    strict: true,
  });
  const members = wholeNumber(values.members, 'members', 1, 100_000);
  const dayCount = wholeNumber(values.days, 'days', 1, 20);
  const config = loadConfig();
  const owner = createPool(config.DATABASE_URL, { max: 2, applicationName: 'potledger-demo-migrate' });
  await migrate(owner);
  await ensureServiceRole(owner, config.DATABASE_SERVICE_ROLE, config.DATABASE_SERVICE_PASSWORD);
  const { rows } = await owner.query<{ any: boolean }>('SELECT EXISTS (SELECT 1 FROM movements) AS any');
  await owner.end();
  if (values['if-empty'] && rows[0]?.any === true) {
    say('demo: the ledger holds movements already; nothing to do');
    return 0;
  }

  const pool = createPool(urlAsRole(config.DATABASE_URL, config.DATABASE_SERVICE_ROLE, config.DATABASE_SERVICE_PASSWORD), { max: 10, applicationName: 'potledger-demo' });
  const nc = await connect(natsConnectOptions(config, 'potledger-demo'));
  const log = pino({ level: 'warn' });
  const assets = assetCatalog(DEFAULT_ASSETS);
  const clock = new BusinessClock(new Date(`${FIRST_DAY}T07:00:00.000Z`));
  const worker = new ShardWorker({
    pool, nc, prefix: config.NATS_PREFIX, registry: ledgerProcesses, assets, partitionCount: config.PARTITION_COUNT, metrics: createShardMetrics(), log,
  });
  const publisher = await LedgerPublisher.connect({
    nc, prefix: config.NATS_PREFIX, registry: ledgerProcesses, partitionCount: config.PARTITION_COUNT, now: () => clock.now(),
  });
  const simulator = await CustodianSimulator.start({
    nc, prefix: config.NATS_PREFIX, assets, closingPrice: (fund, date) => closingPrice(pool, fund, date),
  });
  const custodian = await NatsCustodian.connect(nc, config.NATS_PREFIX, () => undefined);
  const desk = new DealingDesk({ pool, publisher, custodian, assets, log, outcomeTimeoutMs: 120_000 });
  try {
    await worker.start();
    await desk.start();
    const days = new BusinessDays({
      pool, jsm: await jetstreamManager(nc), names: names(config.NATS_PREFIX), partitionCount: config.PARTITION_COUNT, assets, desk, simulator, clock,
    });
    const random = seeded(20260601);
    say(`demo: ${members} members, ${dayCount} business days from ${FIRST_DAY}, ${config.PARTITION_COUNT} partitions, NATS prefix ${config.NATS_PREFIX}`);

    const started = performance.now();
    for (let i = 0; i < members; i += 1) {
      await insertMember(pool, `DM-${i}`, {
        name: `Demo Member ${i}`,
        email: `member${i}@demo.example`,
        address: `${i} Demo Street`,
        riskProfile: ['cautious', 'balanced', 'adventurous'][i % 3] ?? 'balanced',
      });
    }
    await publish(publisher, Array.from({ length: members }, (_, i) => ({ process: 'pot.open', memberId: `DM-${i}`, potId: `DP-${i}`, payload: {} })));
    const deposits = Array.from({ length: members }, (_, i) => ({
      process: 'cash.deposit', memberId: `DM-${i}`, potId: `DP-${i}`, payload: { amount: randomPounds(random, 100, 4900), currency: 'GBP' },
    }));
    await publish(publisher, deposits);
    say(`day 0: ${members} members with pots and cash (${Math.round((performance.now() - started) / 100) / 10} s)`);

    // Prices in ten-thousandths, walking by -3 % to +3 % a day in whole steps (exact, no floating point).
    const prices = new Map<string, bigint>(FUNDS.map((fund, index) => [fund, 10_000n + BigInt(index) * 5_000n]));
    const reports: DayReport[] = [];
    for (let d = 0; d < dayCount; d += 1) {
      const date = addBusinessDays(UK_CALENDAR, FIRST_DAY, d);
      clock.set(`${date}T08:00:00.000Z`);
      const orders = Array.from({ length: members }, (_, i) => {
        const fund = FUNDS[Math.floor(random() * FUNDS.length)] ?? 'FUND-A';
        // From the second day on, a member in five sells all of a fund it may hold; the others buy.
        return d > 0 && random() < 0.2
          ? { process: 'order.sell', memberId: `DM-${i}`, potId: `DP-${i}`, payload: { fund, units: 'all' } }
          : { process: 'order.buy', memberId: `DM-${i}`, potId: `DP-${i}`, payload: { fund, amount: randomPounds(random, 10, 90), currency: 'GBP' } };
      });
      const placed = await publish(publisher, orders);
      for (const fund of FUNDS) {
        const moved = ((prices.get(fund) ?? 10_000n) * (9_700n + BigInt(Math.floor(random() * 600)))) / 10_000n;
        prices.set(fund, moved < 1_000n ? 1_000n : moved);
      }
      const loaded = await loadPrices(pool, FUNDS.map((fund) => ({ fund, date, price: formatAmount(prices.get(fund) ?? 10_000n, 4) })), 'demo', assets);
      if (!loaded.ok) throw new Error(`prices: ${JSON.stringify(loaded.problems)}`);
      const report = await days.run(date);
      reports.push(report);
      sayDay(report, placed, assets);
    }
    const sheet = await balanceSheet(pool, assets);
    say('balance sheet (totals per account kind and asset):');
    for (const line of sheet.lines) say(`  ${line.kind.padEnd(18)} ${line.owner.padEnd(6)} ${line.asset.padEnd(7)} ${line.total.padStart(22)}`);
    say(`  net per asset: ${Object.entries(sheet.netByAsset).map(([asset, net]) => `${asset} ${net}`).join(', ')}`);
    const verified = await verifyLedger(pool);
    const seconds = Math.round((performance.now() - started) / 1000);
    say(`verify: ${verified.ok ? 'passed' : 'FAILED'} (${verified.checks.length} checks over ${verified.counts.movements} movements) in ${seconds} s overall`);
    return verified.ok ? 0 : 1;
  } finally {
    await desk.stop();
    await simulator.stop();
    await publisher.close();
    await worker.stop();
    await nc.drain();
    await pool.end();
  }
});

/** Publishes requests in chunks and waits for their outcomes; returns how many applied and how many were refused, by code. */
async function publish(publisher: LedgerPublisher, requests: readonly { process: string; memberId: string; potId: string; payload: unknown }[]) {
  const sent: Sent[] = [];
  for (let i = 0; i < requests.length; i += PUBLISH_CHUNK_MAX) {
    sent.push(...(await publisher.submitMany(requests.slice(i, i + PUBLISH_CHUNK_MAX).map(({ process, ...request }) => ({ process, request })))));
  }
  const refused = new Map<string, number>();
  let applied = 0;
  for (const notice of await Promise.all(sent.map((s) => s.outcome(120_000)))) {
    const { outcome } = notice;
    if (outcome.kind === 'rejected') refused.set(outcome.code, (refused.get(outcome.code) ?? 0) + 1);
    else applied += 1;
  }
  return { applied, refused };
}

function sayDay(report: DayReport, placed: { applied: number; refused: Map<string, number> }, assets: ReturnType<typeof assetCatalog>): void {
  const refused = [...placed.refused].map(([code, n]) => `${n} ${code}`).join(', ');
  say(`day ${report.date}: ${placed.applied} orders placed${refused === '' ? '' : ` (${refused})`}`);
  for (const trade of report.trades) {
    const cash = formatAmount(trade.buyCashMinor, assets.find(trade.currency)?.scale ?? 2);
    const units = formatAmount(trade.sellUnitsMinor, assets.find(trade.fund)?.scale ?? 6);
    say(`  trade ${trade.tradeId}: ${trade.orders} orders, buy ${cash} ${trade.currency}, sell ${units} units, settles ${trade.settlementDate}`);
  }
  for (const waiting of report.waitingForPrice) say(`  waiting: ${waiting}`);
  const count = (fanOuts: DayReport['priced']) => fanOuts.reduce((sum, f) => sum + f.applied, 0);
  const breaks = [...report.priced, ...report.settled].reduce((sum, f) => sum + f.rejected.length, 0);
  say(
    `  priced: ${count(report.priced)} allocations applied; settled: ${count(report.settled)} settlements applied; ` +
      `${breaks} breaks; ${report.snapshotAccounts} accounts snapshotted at the close`,
  );
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

function wholeNumber(text: string, name: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`--${name} must be a whole number from ${min} to ${max}`);
  return value;
}

/** A small deterministic generator (mulberry32), so every demo tells the same story. */
/** An amount in pounds and pence: `poundsMin` plus up to `poundsSpan` whole pounds, then the pence (two draws, in that order). */
function randomPounds(random: () => number, poundsMin: number, poundsSpan: number): string {
  const pounds = poundsMin + Math.floor(random() * poundsSpan);
  const pence = String(Math.floor(random() * 100)).padStart(2, '0');
  return `${pounds}.${pence}`;
}

function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
