import { assetCatalog, DEFAULT_ASSETS } from '../src/ledger/index.js';
import { topInvestors } from '../src/pools/pools.js';
import { conditions, createBenchDatabase, numberFlag, round } from './support.js';

/**
 * `npm run bench -- pools [--json] [--investors N] [--pools M] [--runs R]` (issue 7): the top-investors
 * report (the Auptimate query: top N investors by number of distinct pools, with what they invested)
 * over millions of holdings. It loads N investor pots holding units of 1 to 5 of M pools (about 3N
 * rows) straight into `balances` (kind pool.units) — so the load also times the trigger that keeps the
 * `pool_investors` summary — then times the report as served (`topInvestors`: N rows of the summary's
 * index, then their holdings) against the plain aggregate over every holding, and checks both name the
 * same pots in the same order. The rows bypass the journal: this measures the report, not the ledger.
 */
export async function pools(options: Map<string, string>): Promise<Record<string, unknown>> {
  const investors = numberFlag(options, 'investors', 1_000_000);
  const poolCount = numberFlag(options, 'pools', 1000);
  const runs = numberFlag(options, 'runs', 5);
  const db = await createBenchDatabase('pools');
  const measured: Record<string, unknown> = { bench: 'pools', ...(await conditions(db.owner)), investors, pools: poolCount, runs, concurrency: 1 };
  log(`conditions: ${JSON.stringify(measured)}`);
  try {
    await db.owner.query(
      `INSERT INTO pools (pool_id, currency, name, member_id, pot_id, created_by)
       SELECT 'B' || g, 'GBP', 'bench pool ' || g, 'pool-B' || g, 'pool-B' || g, 'bench' FROM generate_series(1, $1) g`,
      [poolCount],
    );
    // Investor i holds 1 + (i*7 mod 5) pools, pool (i*31 + j*997) mod M for the j-th, 1.00 to 500.00 each.
    const loadStarted = performance.now();
    const chunk = 250_000;
    let rows = 0;
    for (let from = 1; from <= investors; from += chunk) {
      const to = Math.min(investors, from + chunk - 1);
      const inserted = await db.owner.query(
        `INSERT INTO balances (account_id, owner_type, pot_id, kind, asset, balance_minor, version, last_movement_id)
         SELECT 'pot:BI' || i || ':pool.units:POOL-B' || p, 'pot', 'BI' || i, 'pool.units', 'POOL-B' || p, 100 + ((i * 13 + j * 7) % 500) * 100, 1, 'bench'
           FROM generate_series($1::bigint, $2::bigint) i,
                LATERAL (SELECT DISTINCT j, 1 + ((i * 31 + j * 997) % $3) AS p FROM generate_series(0, (i * 7) % 5) j) held
         ON CONFLICT (account_id) DO NOTHING`,
        [from, to, poolCount],
      );
      rows += inserted.rowCount ?? 0;
      log(`loaded ${to}/${investors} investors (${rows} holdings)`);
    }
    const loadSec = (performance.now() - loadStarted) / 1000;
    await db.owner.query('ANALYZE balances');
    await db.owner.query('ANALYZE pool_investors');
    const assets = assetCatalog(DEFAULT_ASSETS);
    const time = async (run: () => Promise<unknown>): Promise<{ medianMs: number; result: unknown }> => {
      const samples: number[] = [];
      let result: unknown;
      for (let r = 0; r < runs; r += 1) {
        const started = performance.now();
        result = await run();
        samples.push(performance.now() - started);
      }
      samples.sort((a, b) => a - b);
      return { medianMs: round(samples[Math.floor(samples.length / 2)] ?? 0), result };
    };
    const served10 = await time(() => topInvestors(db.owner, assets, 10));
    const served100 = await time(() => topInvestors(db.owner, assets, 100));
    const aggregate = await time(async () =>
      (
        await db.owner.query<{ pot_id: string }>(
          "SELECT pot_id, count(*) AS pools FROM balances WHERE kind = 'pool.units' AND balance_minor > 0 GROUP BY pot_id ORDER BY count(*) DESC, pot_id LIMIT 100",
        )
      ).rows.map((row) => row.pot_id),
    );
    const servedPots = (served100.result as { potId: string }[]).map((investor) => investor.potId);
    const same = JSON.stringify(servedPots) === JSON.stringify(aggregate.result);
    Object.assign(measured, {
      holdings: rows,
      loadSec: round(loadSec),
      loadRowsPerSec: round(rows / loadSec),
      top10Ms: served10.medianMs,
      top100Ms: served100.medianMs,
      aggregateTop100Ms: aggregate.medianMs,
      sameAsAggregate: same,
      top3: (served10.result as unknown[]).slice(0, 3),
    });
    log(`report: top 10 in ${served10.medianMs} ms, top 100 in ${served100.medianMs} ms (median of ${runs}); the plain aggregate ${aggregate.medianMs} ms; same pots: ${same}`);
    return measured;
  } finally {
    await db.drop();
  }
}

function log(line: string): void {
  process.stderr.write(`[bench pools] ${line}\n`);
}
