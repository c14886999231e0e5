import type pg from 'pg';
import {
  rebalanceDecision,
  readPrices,
  type AccountId,
  type AssetCatalog,
  type Rate,
  type RebalanceLeg,
  type RiskProfile,
} from '../ledger/index.js';
import type { LedgerPublisher } from '../sdk/publisher.js';
import type { Log } from '../shards/log.js';
import { fanOut, type FanOut, type FanOutCommand } from './fan-out.js';
import { pricesOn } from './prices.js';

export interface RebalancerOptions {
  readonly pool: pg.Pool;
  readonly publisher: LedgerPublisher;
  readonly profiles: readonly RiskProfile[];
  readonly assets: AssetCatalog;
  readonly log: Log;
  /** Pots read and screened per batch. */
  readonly batch?: number;
  /** Batches whose commands are in flight at once. */
  readonly concurrency?: number;
  /** How long one batch's fan-out may take. */
  readonly outcomeTimeoutMs?: number;
  /** Called as batches finish: pots done so far, of how many. */
  readonly onProgress?: (done: number, total: number) => void;
}

export interface RebalanceRun {
  readonly date: string;
  /** Pots that follow a profile, open. */
  readonly pots: number;
  /** Pots the snapshot shows within their band (or with every leg under the minimum): no command sent. */
  readonly screened: number;
  /** Pots that were already re-balanced for a later day: no command sent. */
  readonly later: number;
  /** Pots re-balanced for the day (`pot.rebalance` applied, or answered from the outcome it had). */
  readonly rebalanced: number;
  /** Pots whose re-balance was refused (orders in flight, no price…), by code. */
  readonly deferred: Readonly<Record<string, number>>;
  readonly sells: number;
  readonly buys: number;
  /** Buys the pots decided to make out of their sales' proceeds, placed by the dealing desk once the sales are priced. */
  readonly switches: number;
  /** Orders the pots refused to place (a break to look at), by code. */
  readonly legsRefused: Readonly<Record<string, number>>;
}

const BATCH_DEFAULT = 2000;
const CONCURRENCY_DEFAULT = 4;

interface PotRow {
  readonly pot_id: string;
  readonly member_id: string;
  readonly risk_profile: string;
  readonly rebalanced_on: string | null;
}

/**
 * The re-balancing fan-out, after a day's closing prices, over every open pot that follows a profile,
 * in batches of pots read in pot order:
 * 1. **Screening**: each pot's balance snapshot (as committed) goes through the same pure
 *    `rebalanceDecision` the pot itself runs; a pot within its band, or whose every leg is under the
 *    minimum, gets no command. The pot is the single writer and decides again on its live state; a
 *    pot that moves out of its band after it was screened is re-balanced on the next day's run.
 * 2. One `pot.rebalance` per remaining pot through its own partition, then the orders each pot decided
 *    (its movement's `rebalance` change), as `order.sell` and `order.buy`; each fan-out waits on the
 *    journal for its outcomes (`fanOut`). A few batches are in flight at once.
 *
 * Every id derives from the pot and the day (`rebalance:<pot>:<day>`, `…:sell:<fund>`), so a run resumed
 * after a crash — or run twice — sends the same commands, which the ledger answers from their recorded
 * outcomes: a pot already re-balanced for the day is sent again (its legs are placed once), one
 * re-balanced for a later day is skipped, and no pot is re-balanced twice for a day.
 */
export class Rebalancer {
  readonly #profiles: ReadonlyMap<string, RiskProfile>;

  constructor(private readonly options: RebalancerOptions) {
    this.#profiles = new Map(options.profiles.map((profile) => [profile.id, profile]));
  }

  async run(date: string): Promise<RebalanceRun> {
    const { pool } = this.options;
    const priceText = Object.fromEntries((await pricesOn(pool, date)).map((row) => [row.fund, row.price]));
    const prices = readPrices(priceText);
    if (typeof prices === 'string') throw new Error(`the closing prices of ${date}: ${prices}`);
    const counted = await pool.query<{ n: bigint }>("SELECT count(*) AS n FROM pots WHERE risk_profile IS NOT NULL AND status = 'open'");
    const total = Number(counted.rows[0]?.n ?? 0n);
    const tally = new Tally(date, total);
    const inFlight = new Set<Promise<void>>();
    const concurrency = Math.max(1, this.options.concurrency ?? CONCURRENCY_DEFAULT);
    let cursor = '';
    for (;;) {
      const { rows } = await pool.query<PotRow>(
        `SELECT pot_id, member_id, risk_profile, rebalanced_on::text AS rebalanced_on FROM pots
          WHERE risk_profile IS NOT NULL AND status = 'open' AND pot_id > $1
          ORDER BY pot_id LIMIT $2`,
        [cursor, this.options.batch ?? BATCH_DEFAULT],
      );
      if (rows.length === 0) break;
      cursor = rows[rows.length - 1]?.pot_id ?? cursor;
      const commands = await this.#screen(rows, date, priceText, prices, tally);
      const batch = this.#deal(commands, tally)
        .then(() => {
          tally.done += rows.length;
          this.options.onProgress?.(tally.done, total);
        })
        .finally(() => inFlight.delete(batch));
      inFlight.add(batch);
      if (inFlight.size >= concurrency) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    if (Object.keys(tally.legsRefused).length > 0) this.options.log.error({ date, legsRefused: tally.legsRefused }, 're-balancing orders were refused: breaks to investigate');
    return tally.report();
  }

  /** The `pot.rebalance` commands of the pots of one batch that the snapshot says should trade. */
  async #screen(rows: readonly PotRow[], date: string, priceText: Readonly<Record<string, string>>, prices: ReadonlyMap<string, Rate>, tally: Tally): Promise<FanOutCommand[]> {
    const { rows: held } = await this.options.pool.query<{ pot_id: string; account_id: AccountId; balance_minor: bigint }>(
      'SELECT pot_id, account_id, balance_minor FROM balances WHERE pot_id = ANY($1::text[]) AND balance_minor <> 0',
      [rows.map((row) => row.pot_id)],
    );
    const balancesOf = new Map<string, Map<AccountId, bigint>>();
    for (const row of held) {
      const balances = balancesOf.get(row.pot_id) ?? new Map<AccountId, bigint>();
      balances.set(row.account_id, row.balance_minor);
      balancesOf.set(row.pot_id, balances);
    }
    const commands: FanOutCommand[] = [];
    for (const row of rows) {
      const profile = this.#profiles.get(row.risk_profile);
      if (profile === undefined) {
        tally.defer('UNKNOWN_PROFILE');
        continue;
      }
      if (row.rebalanced_on !== null && row.rebalanced_on > date) {
        tally.later += 1;
        continue;
      }
      // A pot re-balanced for the day already is sent again, so that its legs are surely placed.
      if (row.rebalanced_on !== date) {
        const decision = rebalanceDecision(profile, row.pot_id, balancesOf.get(row.pot_id) ?? new Map(), prices, this.options.assets);
        if (decision.kind === 'within-band' || decision.legs.length === 0) {
          tally.screened += 1;
          continue;
        }
      }
      const funds = Object.fromEntries(profile.targets.map((t) => [t.fund, priceText[t.fund] ?? '0']));
      commands.push({
        process: 'pot.rebalance',
        request: { commandId: `rebalance:${row.pot_id}:${date}`, memberId: row.member_id, potId: row.pot_id, payload: { date, profile, prices: funds } },
      });
    }
    return commands;
  }

  /** Sends one batch's re-balances, then the orders the pots decided. */
  async #deal(commands: readonly FanOutCommand[], tally: Tally): Promise<void> {
    if (commands.length === 0) return;
    const decided = await this.#fanOut(commands);
    for (const { code } of decided.rejected) tally.defer(code);
    const deferred = new Set(decided.rejected.map((r) => r.commandId));
    const currencyOf = new Map(commands.map(({ request }) => [request.commandId, (request.payload as { profile: RiskProfile }).profile.currency]));
    const applied = commands.map(({ request }) => request.commandId).filter((id) => !deferred.has(id));
    tally.rebalanced += applied.length;
    const { rows } = await this.options.pool.query<{ command_id: string; member_id: string; pot_id: string; pot_change: { legs?: readonly RebalanceLeg[] } | null }>(
      `SELECT o.command_id, m.member_id, m.pot_id, m.pot_change
         FROM command_outcomes o JOIN movements m ON m.movement_id = o.movement_id
        WHERE o.command_id = ANY($1::text[]) AND o.status = 'applied'`,
      [applied],
    );
    const legs: FanOutCommand[] = [];
    for (const row of rows) {
      const currency = currencyOf.get(row.command_id);
      if (currency === undefined) throw new Error(`a re-balance outcome ${row.command_id} that this batch did not send`);
      for (const leg of row.pot_change?.legs ?? []) {
        // A switch leg waits for the sales' pricing: the dealing desk places it then (`DealingDesk`).
        if (leg.side === 'buy' && leg.funding === 'proceeds') {
          tally.switches += 1;
          continue;
        }
        const commandId = `${row.command_id}:${leg.side}:${leg.fund}`;
        const envelope = { commandId, memberId: row.member_id, potId: row.pot_id };
        legs.push(
          leg.side === 'sell'
            ? { process: 'order.sell', request: { ...envelope, payload: { fund: leg.fund, units: leg.units } } }
            : { process: 'order.buy', request: { ...envelope, payload: { fund: leg.fund, amount: leg.amount, currency } } },
        );
      }
    }
    if (legs.length === 0) return;
    const placed = await this.#fanOut(legs);
    const refused = new Set(placed.rejected.map((r) => r.commandId));
    for (const { code } of placed.rejected) tally.legsRefused[code] = (tally.legsRefused[code] ?? 0) + 1;
    for (const { process, request } of legs) {
      if (refused.has(request.commandId)) continue;
      if (process === 'order.sell') tally.sells += 1;
      else tally.buys += 1;
    }
  }

  #fanOut(commands: readonly FanOutCommand[]): Promise<FanOut> {
    const { pool, publisher, log, outcomeTimeoutMs } = this.options;
    return fanOut({ pool, publisher, log, source: 'rebalancer', ...(outcomeTimeoutMs === undefined ? {} : { timeoutMs: outcomeTimeoutMs }) }, commands);
  }
}

/** What a run has done so far. */
class Tally {
  done = 0;
  screened = 0;
  later = 0;
  rebalanced = 0;
  sells = 0;
  buys = 0;
  switches = 0;
  readonly deferred: Record<string, number> = {};
  readonly legsRefused: Record<string, number> = {};

  constructor(
    readonly date: string,
    readonly pots: number,
  ) {}

  defer(code: string): void {
    this.deferred[code] = (this.deferred[code] ?? 0) + 1;
  }

  report(): RebalanceRun {
    const { date, pots, screened, later, rebalanced, deferred, sells, buys, switches, legsRefused } = this;
    return { date, pots, screened, later, rebalanced, deferred, sells, buys, switches, legsRefused };
  }
}
