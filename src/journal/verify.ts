/**
 * `verify`: proves over the whole database that the journal is sound. Every check (verify-checks.ts) is
 * one SQL query that returns the rows breaking a rule (none when sound); the report names each break.
 */
import type pg from 'pg';
import { ACCOUNT_KINDS, type AccountKind } from '../ledger/index.js';
import type { Queryable } from './store.js';
import { invariantChecks, STRUCTURAL_CHECKS, type CheckQuery } from './verify-checks.js';

export { invariantChecks } from './verify-checks.js';

/** One check's result. */
export interface VerifyCheck {
  readonly name: string;
  readonly description: string;
  readonly ok: boolean;
  readonly breaks: number;
  /** Up to EXAMPLES_MAX breaking rows, as text. */
  readonly examples: readonly string[];
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly checks: readonly VerifyCheck[];
  readonly counts: { readonly movements: number; readonly entries: number; readonly accounts: number; readonly outcomes: number };
  readonly durationMs: number;
}

export const EXAMPLES_MAX = 10;
/**
 * The most checks one verify runs: one per structural rule and one per invariant of each account kind
 * (a few dozen today). Each check reads at most EXAMPLES_MAX rows, so a verify reads a bounded number
 * of rows however large the ledger.
 */
export const VERIFY_CHECKS_MAX = 1_000;

async function runCheck(db: Queryable, check: CheckQuery, kindsJson: string): Promise<VerifyCheck> {
  const parameters = check.takesKinds === true ? [kindsJson] : [];
  const { rows } = await db.query<{ total: bigint; break: string }>(
    `SELECT count(*) OVER () AS total, q.break FROM (${check.sql}) q LIMIT ${EXAMPLES_MAX}`,
    parameters,
  );
  const total = Number(rows[0]?.total ?? 0n);
  return { name: check.name, description: check.description, ok: total === 0, breaks: total, examples: rows.map((row) => row.break) };
}

/** Told after each check, so a caller can show how far a long verify has got. */
export type VerifyProgress = (done: number, total: number) => void;

/**
 * Runs every check in one REPEATABLE READ READ ONLY transaction, so all of them see the same
 * snapshot of a ledger that may be taking writes.
 */
export async function verifyLedger(
  pool: pg.Pool,
  kinds: readonly AccountKind[] = ACCOUNT_KINDS,
  onProgress?: VerifyProgress,
): Promise<VerifyReport> {
  const started = performance.now();
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const kindsJson = JSON.stringify(kinds.map((kind) => ({ owner: kind.owner, name: kind.name })));
    const queries = [...STRUCTURAL_CHECKS, ...invariantChecks(kinds)];
    if (queries.length > VERIFY_CHECKS_MAX) throw new RangeError(`verify: ${queries.length} checks, more than ${VERIFY_CHECKS_MAX}`);
    const checks: VerifyCheck[] = [];
    onProgress?.(0, queries.length);
    for (const query of queries) {
      checks.push(await runCheck(client, query, kindsJson));
      onProgress?.(checks.length, queries.length);
    }
    const { rows } = await client.query<{ movements: bigint; entries: bigint; accounts: bigint; outcomes: bigint }>(
      `SELECT (SELECT count(*) FROM movements) AS movements, (SELECT count(*) FROM entries) AS entries,
              (SELECT count(*) FROM balances) AS accounts, (SELECT count(*) FROM command_outcomes) AS outcomes`,
    );
    await client.query('COMMIT');
    const count = rows[0];
    return {
      ok: checks.every((check) => check.ok),
      checks,
      counts: {
        movements: Number(count?.movements ?? 0n),
        entries: Number(count?.entries ?? 0n),
        accounts: Number(count?.accounts ?? 0n),
        outcomes: Number(count?.outcomes ?? 0n),
      },
      durationMs: Math.round(performance.now() - started),
    };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}
