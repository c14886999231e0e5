import type pg from 'pg';
import type { RiskProfile } from '../ledger/index.js';
import type { LedgerPublisher, Sent } from '../sdk/publisher.js';
import type { Log } from '../shards/log.js';
import { pricesOn } from './prices.js';

export interface RebalancerOptions {
  readonly pool: pg.Pool;
  readonly publisher: LedgerPublisher;
  readonly profiles: readonly RiskProfile[];
  readonly log: Log;
  /** Pots per batch of commands. */
  readonly batch?: number;
  readonly outcomeTimeoutMs?: number;
  /** Called after each batch: pots done so far, of how many. */
  readonly onProgress?: (done: number, total: number) => void;
}

export interface RebalanceRun {
  readonly date: string;
  readonly pots: number;
  /** Pots re-balanced (including those already within their band). */
  readonly rebalanced: number;
  /** Pots whose re-balance was refused (orders in flight, already done, no price…), by code. */
  readonly deferred: Readonly<Record<string, number>>;
  readonly sells: number;
  readonly buys: number;
  /** Orders the pots refused to place (a break to look at), by code. */
  readonly legsRefused: Readonly<Record<string, number>>;
}

interface DecidedLeg {
  readonly side: 'sell' | 'buy';
  readonly fund: string;
  readonly units?: string;
  readonly amount?: string;
}

/**
 * The re-balancing fan-out: after a day's closing prices, one `pot.rebalance` command per pot that
 * follows a profile, through the pots' own partitions, in batches; then the orders each pot decided,
 * as `order.sell` and `order.buy` commands. Every id derives from the pot and the day
 * (`rebalance:<pot>:<day>`, `…:sell:<fund>`), so a run resumed after a crash — or run twice — re-sends
 * the same commands, which the ledger answers from their recorded outcomes: a pot is re-balanced at
 * most once per day, and its orders placed once.
 */
export class Rebalancer {
  readonly #profiles: ReadonlyMap<string, RiskProfile>;

  constructor(private readonly options: RebalancerOptions) {
    this.#profiles = new Map(options.profiles.map((profile) => [profile.id, profile]));
  }

  async run(date: string): Promise<RebalanceRun> {
    const prices = Object.fromEntries((await pricesOn(this.options.pool, date)).map((row) => [row.fund, row.price]));
    const counted = await this.options.pool.query<{ n: bigint }>("SELECT count(*) AS n FROM pots WHERE risk_profile IS NOT NULL AND status = 'open'");
    const total = Number(counted.rows[0]?.n ?? 0n);
    const batch = this.options.batch ?? 2000;
    const deferred: Record<string, number> = {};
    const legsRefused: Record<string, number> = {};
    let done = 0;
    let rebalanced = 0;
    let sells = 0;
    let buys = 0;
    let cursor = '';
    for (;;) {
      const { rows } = await this.options.pool.query<{ pot_id: string; member_id: string; risk_profile: string }>(
        `SELECT pot_id, member_id, risk_profile FROM pots
          WHERE risk_profile IS NOT NULL AND status = 'open' AND pot_id > $1
          ORDER BY pot_id LIMIT $2`,
        [cursor, batch],
      );
      if (rows.length === 0) break;
      cursor = rows[rows.length - 1]?.pot_id ?? cursor;
      const profileOfPot = new Map(rows.map((row) => [row.pot_id, this.#profiles.get(row.risk_profile)]));
      const commands = rows.flatMap((row) => {
        const profile = this.#profiles.get(row.risk_profile);
        if (profile === undefined) {
          deferred.UNKNOWN_PROFILE = (deferred.UNKNOWN_PROFILE ?? 0) + 1;
          return [];
        }
        const funds = Object.fromEntries(profile.targets.map((t) => [t.fund, prices[t.fund] ?? '0']));
        return [{ process: 'pot.rebalance', request: { commandId: `rebalance:${row.pot_id}:${date}`, memberId: row.member_id, potId: row.pot_id, payload: { date, profile, prices: funds } } }];
      });
      const decisions = await this.#send(commands);
      const legs: { process: string; request: { commandId: string; memberId: string; potId: string; payload: unknown } }[] = [];
      for (const { request, outcome } of decisions) {
        if (outcome.kind === 'rejected') {
          deferred[outcome.code ?? 'unknown'] = (deferred[outcome.code ?? 'unknown'] ?? 0) + 1;
          continue;
        }
        rebalanced += 1;
        for (const leg of outcome.movement?.potChange?.legs ?? []) {
          const id = `${request.commandId}:${leg.side}:${leg.fund}`;
          const profile = profileOfPot.get(request.potId);
          legs.push(
            leg.side === 'sell'
              ? { process: 'order.sell', request: { commandId: id, memberId: request.memberId, potId: request.potId, payload: { fund: leg.fund, units: leg.units } } }
              : { process: 'order.buy', request: { commandId: id, memberId: request.memberId, potId: request.potId, payload: { fund: leg.fund, amount: leg.amount, currency: profile?.currency ?? 'GBP' } } },
          );
        }
      }
      for (const { request, outcome } of await this.#send(legs)) {
        if (outcome.kind === 'rejected') legsRefused[outcome.code ?? 'unknown'] = (legsRefused[outcome.code ?? 'unknown'] ?? 0) + 1;
        else if (request.commandId.includes(':sell:')) sells += 1;
        else buys += 1;
      }
      done += rows.length;
      this.options.onProgress?.(done, total);
    }
    if (Object.keys(legsRefused).length > 0) this.options.log.error({ date, legsRefused }, 're-balancing orders were refused: breaks to investigate');
    return { date, pots: done, rebalanced, deferred, sells, buys, legsRefused };
  }

  async #send<R extends { commandId: string; memberId: string; potId: string; payload: unknown }>(commands: readonly { process: string; request: R }[]) {
    const sent: Sent[] = [];
    for (let i = 0; i < commands.length; i += 5000) sent.push(...(await this.options.publisher.submitMany(commands.slice(i, i + 5000))));
    const notices = await Promise.all(sent.map((s) => s.outcome(this.options.outcomeTimeoutMs)));
    return commands.map(({ request }, index) => ({
      request,
      outcome: (notices[index]?.outcome ?? { kind: 'rejected', code: 'NO_OUTCOME' }) as {
        kind: string;
        code?: string;
        movement?: { potChange?: { legs?: readonly DecidedLeg[] } };
      },
    }));
  }
}
